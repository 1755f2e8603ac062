//! Where the connectors send their requests and how patient they are.

use std::fmt;
use std::time::Duration;

/// Limits shared by every outbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// Per attempt, from connecting until the whole body is read.
    pub timeout: Duration,
    /// Attempts in all for a 429/5xx answer or a failed connection (1 = no retry).
    pub max_attempts: u32,
    /// First back-off wait; doubled on each retry.
    pub backoff_base: Duration,
    /// The longest wait between attempts. A `Retry-After` longer than this is
    /// not waited out: the call fails with [`crate::ConnectorError::RateLimited`]
    /// at once so a job scheduler can come back later instead of holding a worker.
    pub backoff_cap: Duration,
    /// Bodies beyond this many bytes are refused.
    pub max_response_bytes: usize,
}

/// The default [`HttpSettings::backoff_cap`], in milliseconds.
pub const WAIT_CAP_MS: u64 = 10_000;

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_millis(WAIT_CAP_MS),
            max_response_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Base URLs (the real services by default; a fake on loopback in tests, or a
/// proxy) and limits. Base URLs carry no trailing slash.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    pub slack_base: String,
    pub notion_base: String,
    pub gmail_base: String,
    pub gmail_token_url: String,
    pub telegram_base: String,
    pub openai_base: String,
    /// Without one, the `ai` connector answers from its local fallback.
    pub openai_api_key: Option<String>,
    pub openai_model: String,
    pub http: HttpSettings,
    /// Let the `http` connector reach private, loopback and link-local addresses.
    pub allow_private_targets: bool,
}

pub const SLACK_BASE: &str = "https://slack.com/api";
pub const NOTION_BASE: &str = "https://api.notion.com/v1";
pub const GMAIL_BASE: &str = "https://gmail.googleapis.com";
pub const GMAIL_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const TELEGRAM_BASE: &str = "https://api.telegram.org";
pub const OPENAI_BASE: &str = "https://api.openai.com/v1";
pub const OPENAI_MODEL: &str = "gpt-4o-mini";

impl Default for ConnectorConfig {
    fn default() -> Self {
        Self {
            slack_base: SLACK_BASE.into(),
            notion_base: NOTION_BASE.into(),
            gmail_base: GMAIL_BASE.into(),
            gmail_token_url: GMAIL_TOKEN_URL.into(),
            telegram_base: TELEGRAM_BASE.into(),
            openai_base: OPENAI_BASE.into(),
            openai_api_key: None,
            openai_model: OPENAI_MODEL.into(),
            http: HttpSettings::default(),
            allow_private_targets: false,
        }
    }
}

impl ConnectorConfig {
    /// Reads the variables of the configuration table in `API.md`
    /// (`SLACK_API_BASE`, `NOTION_API_BASE`, `GMAIL_API_BASE`, `GMAIL_TOKEN_URL`,
    /// `TELEGRAM_API_BASE`, `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `OPENAI_MODEL`,
    /// `LEVQOR_ALLOW_PRIVATE_TARGETS`, `CONNECTOR_WAIT_CAP_MS`) through `lookup`, e.g.
    /// `|k| std::env::var(k).ok()`. Unset or blank variables keep the defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let base =
            |key: &str, default: &str| get(key).unwrap_or_else(|| default.to_owned()).trim_end_matches('/').to_owned();
        Self {
            slack_base: base("SLACK_API_BASE", SLACK_BASE),
            notion_base: base("NOTION_API_BASE", NOTION_BASE),
            gmail_base: base("GMAIL_API_BASE", GMAIL_BASE),
            gmail_token_url: base("GMAIL_TOKEN_URL", GMAIL_TOKEN_URL),
            telegram_base: base("TELEGRAM_API_BASE", TELEGRAM_BASE),
            openai_base: base("OPENAI_BASE_URL", OPENAI_BASE),
            openai_api_key: get("OPENAI_API_KEY"),
            openai_model: get("OPENAI_MODEL").unwrap_or_else(|| OPENAI_MODEL.into()),
            http: HttpSettings {
                backoff_cap: get("CONNECTOR_WAIT_CAP_MS")
                    .and_then(|v| v.parse().ok())
                    .map_or(HttpSettings::default().backoff_cap, Duration::from_millis),
                ..HttpSettings::default()
            },
            allow_private_targets: get("LEVQOR_ALLOW_PRIVATE_TARGETS")
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")),
        }
    }

    /// Every base URL pointed at one server (tests, a local proxy).
    pub fn all_at(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            slack_base: format!("{base}/api"),
            notion_base: format!("{base}/v1"),
            gmail_base: base.to_owned(),
            gmail_token_url: format!("{base}/token"),
            telegram_base: base.to_owned(),
            openai_base: format!("{base}/v1"),
            ..Self::default()
        }
    }
}

impl fmt::Debug for ConnectorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorConfig")
            .field("slack_base", &self.slack_base)
            .field("notion_base", &self.notion_base)
            .field("gmail_base", &self.gmail_base)
            .field("gmail_token_url", &self.gmail_token_url)
            .field("telegram_base", &self.telegram_base)
            .field("openai_base", &self.openai_base)
            .field("openai_api_key", &self.openai_api_key.as_ref().map(|_| "<redacted>"))
            .field("openai_model", &self.openai_model)
            .field("http", &self.http)
            .field("allow_private_targets", &self.allow_private_targets)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_overrides_and_defaults() {
        let config = ConnectorConfig::from_lookup(|k| match k {
            "SLACK_API_BASE" => Some("http://127.0.0.1:9/api/".into()),
            "OPENAI_API_KEY" => Some("sk-secret".into()),
            "LEVQOR_ALLOW_PRIVATE_TARGETS" => Some("true".into()),
            "NOTION_API_BASE" => Some("  ".into()),
            "CONNECTOR_WAIT_CAP_MS" => Some("250".into()),
            _ => None,
        });
        assert_eq!(config.http.backoff_cap, Duration::from_millis(250));
        assert_eq!(config.slack_base, "http://127.0.0.1:9/api");
        assert_eq!(config.notion_base, NOTION_BASE);
        assert!(config.allow_private_targets);
        assert!(!format!("{config:?}").contains("sk-secret"));
    }
}
