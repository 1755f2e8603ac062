//! Cron expressions for `schedule` triggers: five fields (minute, hour, day of
//! month, month, day of week), UTC, as crontab(5) has them, or a nickname such
//! as `@daily`. Parsed by the `croner` crate.

use std::str::FromStr;

use croner::Cron;
use levqor_core::Timestamp;

/// Parses a 5-field cron expression; the error is one human sentence.
pub fn parse(expr: &str) -> Result<Cron, String> {
    let expr = expr.trim();
    let fields = expr.split_whitespace().count();
    if !expr.starts_with('@') && fields != 5 {
        return Err(format!(
            "`{}` is not a cron expression: expected 5 fields (minute hour day-of-month month day-of-week), found {fields}",
            expr.chars().take(100).collect::<String>()
        ));
    }
    Cron::from_str(expr)
        .map_err(|e| format!("`{}` is not a valid cron expression: {e}", expr.chars().take(100).collect::<String>()))
}

/// The first time strictly after `after` that `expr` fires, if it ever does.
pub fn next_after(expr: &str, after: &Timestamp) -> Option<Timestamp> {
    parse(expr).ok()?.find_next_occurrence(after, false).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn accepts_five_fields_and_nicknames_only() {
        for ok in ["0 17 * * 5", "*/15 * * * *", "0 9 * * 1-5", "0 0 1 * *", "@daily", "30 8 * * MON"] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "* * * *", "0 0 17 * * 5", "61 * * * *", "0 25 * * *", "every friday", "0 9 * * 8"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn next_friday_at_five() {
        // 2025-01-01 was a Wednesday.
        let start = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
        let next = next_after("0 17 * * 5", &start).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2025, 1, 3, 17, 0, 0).unwrap());
    }
}
