//! Operations settings (API.md § Configuration): the admin pages, `/metrics`,
//! backups and analytics. `Debug` says whether each token is set, never its value.

use clap::Args;

#[derive(Clone, Args)]
pub struct OpsSettings {
    /// Token that opens the admin pages (`/admin/*`) through their login form; unset: closed.
    #[arg(long, env = "ADMIN_TOKEN", value_name = "ADMIN_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub admin_token: Option<String>,

    /// Bearer token a Prometheus scraper may use for `/metrics` (admin keys work too).
    #[arg(long, env = "METRICS_TOKEN", value_name = "METRICS_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub metrics_token: Option<String>,

    /// Daily backup time, `HH:MM` in UTC.
    #[arg(long, env = "BACKUP_AT", value_name = "BACKUP_AT", default_value = "03:00", value_parser = parse_time_of_day)]
    pub backup_at: (u32, u32),

    /// Backups kept in LEVQOR_DATA_DIR/backups; older ones are deleted.
    #[arg(long, env = "BACKUP_KEEP", value_name = "BACKUP_KEEP", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub backup_keep: u32,

    /// Comma-separated analytics event types that count as a conversion.
    #[arg(
        long,
        env = "ANALYTICS_CONVERSIONS",
        value_name = "ANALYTICS_CONVERSIONS",
        value_delimiter = ',',
        default_value = "signup,purchase"
    )]
    pub analytics_conversions: Vec<String>,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self {
            admin_token: None,
            metrics_token: None,
            backup_at: (3, 0),
            backup_keep: 7,
            analytics_conversions: levqor_analytics::DEFAULT_CONVERSIONS.iter().map(|t| (*t).to_owned()).collect(),
        }
    }
}

impl std::fmt::Debug for OpsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "set" } else { "unset" };
        f.debug_struct("OpsSettings")
            .field("admin_token", &set(&self.admin_token))
            .field("metrics_token", &set(&self.metrics_token))
            .field("backup_at", &self.backup_at)
            .field("backup_keep", &self.backup_keep)
            .field("analytics_conversions", &self.analytics_conversions)
            .finish()
    }
}

/// Tokens are compared in constant time; short ones are refused, as a guessable
/// token is worse than none.
fn parse_token(raw: &str) -> Result<String, String> {
    let token = raw.trim();
    if token.len() < crate::config::MIN_ADMIN_KEY_LEN {
        return Err(format!("must be at least {} characters long", crate::config::MIN_ADMIN_KEY_LEN));
    }
    Ok(token.to_owned())
}

pub fn parse_time_of_day(raw: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{raw}` is not a time of day as HH:MM (UTC)");
    let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok((h, m))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_are_checked_and_tokens_hidden() {
        assert_eq!(parse_time_of_day("03:00").unwrap(), (3, 0));
        assert_eq!(parse_time_of_day("23:59").unwrap(), (23, 59));
        assert!(parse_time_of_day("24:00").is_err());
        assert!(parse_time_of_day("3").is_err());
        assert!(parse_token("short").is_err());
        let s = OpsSettings { admin_token: Some("a".repeat(30)), ..OpsSettings::default() };
        assert!(!format!("{s:?}").contains("aaaa"));
    }
}
