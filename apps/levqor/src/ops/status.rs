//! The `/status` checks beyond the database: queue, scheduler, email, payments,
//! planner and backups. Each is `pass`, `warn` or `fail` with a detail that never
//! holds a secret.

use chrono::TimeDelta;
use levqor_core::Timestamp;
use levqor_jobs::QueueCounts;

use crate::config::ServeSettings;

/// A due job waiting longer than this warns; much longer fails.
pub const QUEUE_WARN_AFTER: TimeDelta = TimeDelta::minutes(5);
pub const QUEUE_FAIL_AFTER: TimeDelta = TimeDelta::hours(1);
/// The operations scheduler ticks twice a second; silent this long, it is stuck.
pub const SCHEDULER_WARN_AFTER: TimeDelta = TimeDelta::seconds(60);
pub const SCHEDULER_FAIL_AFTER: TimeDelta = TimeDelta::minutes(10);
/// A mail failure this recent warns.
pub const EMAIL_FAILURE_WINDOW: TimeDelta = TimeDelta::hours(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Pass,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub detail: String,
}

fn finding(level: Level, detail: impl Into<String>) -> Finding {
    Finding { level, detail: detail.into() }
}

pub fn queue(counts: &QueueCounts, now: Timestamp, workers_here: usize) -> Finding {
    let age = counts.oldest_queued_at.map(|at| now - at).unwrap_or_default();
    let detail = format!(
        "{} queued, {} running, oldest due job waiting {}s; {workers_here} workers in this process",
        counts.queued,
        counts.running,
        age.num_seconds().max(0)
    );
    let level = if age >= QUEUE_FAIL_AFTER {
        Level::Fail
    } else if age >= QUEUE_WARN_AFTER {
        Level::Warn
    } else {
        Level::Pass
    };
    finding(level, detail)
}

pub fn scheduler(last_tick: Option<Timestamp>, now: Timestamp) -> Finding {
    let Some(last) = last_tick else {
        return finding(Level::Fail, "the scheduler has not run in this process");
    };
    let age = now - last;
    let detail = format!("last tick {}s ago at {}", age.num_seconds().max(0), last.format("%Y-%m-%dT%H:%M:%SZ"));
    let level = if age >= SCHEDULER_FAIL_AFTER {
        Level::Fail
    } else if age >= SCHEDULER_WARN_AFTER {
        Level::Warn
    } else {
        Level::Pass
    };
    finding(level, detail)
}

pub fn email(transport: &str, last_failure: Option<(Timestamp, String)>, now: Timestamp) -> Finding {
    match last_failure {
        Some((at, why)) if now - at < EMAIL_FAILURE_WINDOW => finding(
            Level::Warn,
            format!("transport {transport}; last failure at {}: {why}", at.format("%Y-%m-%dT%H:%M:%SZ")),
        ),
        Some((at, _)) => {
            finding(Level::Pass, format!("transport {transport}; last failure at {}", at.format("%Y-%m-%dT%H:%M:%SZ")))
        }
        None => finding(Level::Pass, format!("transport {transport}; no failures")),
    }
}

pub fn payments(settings: &ServeSettings) -> Finding {
    let b = &settings.billing;
    match (b.stripe_secret_key.is_some(), b.stripe_webhook_secret.is_some()) {
        (true, true) => finding(Level::Pass, "Stripe checkout and webhook configured"),
        (false, false) => {
            finding(Level::Warn, "payments are not configured (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET)")
        }
        (true, false) => {
            finding(Level::Fail, "STRIPE_WEBHOOK_SECRET is not set: paid checkouts would never grant credits")
        }
        (false, true) => finding(Level::Fail, "STRIPE_SECRET_KEY is not set: purchases cannot start"),
    }
}

pub fn planner(settings: &ServeSettings) -> Finding {
    match settings.openai_api_key.as_deref().filter(|k| !k.trim().is_empty()) {
        Some(_) => finding(Level::Pass, format!("openai ({}), falling back to the rules", settings.openai_model)),
        None => finding(Level::Pass, "rules (OPENAI_API_KEY is not set)"),
    }
}

/// From the backend, whether `pg_dump` exists, and the last backup run.
pub fn backup(sqlite: bool, pg_dump: bool, last: Option<&levqor_store::ActivityRecord>, now: Timestamp) -> Finding {
    if !sqlite && !pg_dump {
        return finding(Level::Warn, "pg_dump is not installed: PostgreSQL backups are not taken");
    }
    match last {
        None => finding(Level::Pass, "no backup yet"),
        Some(r) if r.outcome == levqor_store::Outcome::Failed => {
            finding(Level::Warn, format!("the last backup failed at {}", r.started_at.format("%Y-%m-%dT%H:%M:%SZ")))
        }
        Some(r) if now - r.started_at > TimeDelta::hours(49) => {
            finding(Level::Warn, format!("no backup since {}", r.started_at.format("%Y-%m-%dT%H:%M:%SZ")))
        }
        Some(r) => finding(Level::Pass, format!("last run at {}", r.started_at.format("%Y-%m-%dT%H:%M:%SZ"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn thresholds() {
        let now = Utc::now();
        let mut c = QueueCounts::default();
        assert_eq!(queue(&c, now, 2).level, Level::Pass);
        c.oldest_queued_at = Some(now - TimeDelta::minutes(6));
        assert_eq!(queue(&c, now, 2).level, Level::Warn);
        c.oldest_queued_at = Some(now - TimeDelta::hours(2));
        assert_eq!(queue(&c, now, 2).level, Level::Fail);
        assert_eq!(scheduler(None, now).level, Level::Fail);
        assert_eq!(scheduler(Some(now), now).level, Level::Pass);
        assert_eq!(scheduler(Some(now - TimeDelta::minutes(2)), now).level, Level::Warn);
        assert_eq!(email("smtp", Some((now, "refused".into())), now).level, Level::Warn);
        assert_eq!(email("smtp", Some((now - TimeDelta::hours(3), "x".into())), now).level, Level::Pass);
        assert_eq!(backup(false, false, None, now).level, Level::Warn);
        assert_eq!(backup(true, false, None, now).level, Level::Pass);
    }
}
