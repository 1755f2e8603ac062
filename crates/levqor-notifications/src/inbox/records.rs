//! Error reports and support messages: what a caller sends, checked once.

use levqor_core::{Email, FieldProblem};
use serde::Serialize;
use serde_json::Value;

pub const MAX_SUPPORT_MESSAGE_CHARS: usize = 5000;
pub const MAX_SUBJECT_CHARS: usize = 200;
pub const MAX_ERROR_MESSAGE_CHARS: usize = 5000;
/// Longer stacks are cut (and marked), not refused: a report is worth more than
/// the end of its stack.
pub const MAX_STACK_CHARS: usize = 20_000;
pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_USER_AGENT_CHARS: usize = 512;
pub const MAX_RELEASE_CHARS: usize = 200;
pub const MAX_USER_JSON_BYTES: usize = 2 * 1024;
pub const MAX_EXTRA_JSON_BYTES: usize = 16 * 1024;

/// How bad a reported error is (Sentry's levels); `warn` is read as `warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorLevel {
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
}

impl ErrorLevel {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "debug" => Self::Debug,
            "info" | "log" => Self::Info,
            "warning" | "warn" => Self::Warning,
            "error" => Self::Error,
            "fatal" | "critical" => Self::Fatal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Fatal => "fatal",
        }
    }

    /// Error and fatal reports are mailed to `RECEIVING_EMAIL`.
    pub fn alerts(self) -> bool {
        self >= Self::Error
    }
}

/// The body of `POST /api/v1/errors/report`, unchecked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewErrorReport {
    pub message: String,
    pub level: Option<String>,
    pub stack: Option<String>,
    pub url: Option<String>,
    pub user_agent: Option<String>,
    pub release: Option<String>,
    pub user: Option<Value>,
    pub extra: Option<Value>,
}

/// A checked error report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    pub message: String,
    pub level: ErrorLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stack_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(rename = "userAgent", skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

impl ErrorReport {
    pub fn parse(new: NewErrorReport) -> Result<Self, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let message = new.message.trim().to_owned();
        if message.is_empty() {
            problems.push(FieldProblem::new("message", "must not be empty"));
        }
        check_len(&mut problems, "message", Some(&message), MAX_ERROR_MESSAGE_CHARS);
        let level = match new.level.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            None => ErrorLevel::Error,
            Some(raw) => ErrorLevel::parse(raw).unwrap_or_else(|| {
                problems.push(FieldProblem::new("level", "must be debug, info, warning, error or fatal"));
                ErrorLevel::Error
            }),
        };
        let url = clean(new.url);
        check_len(&mut problems, "url", url.as_deref(), MAX_URL_CHARS);
        let user_agent = clean(new.user_agent);
        check_len(&mut problems, "userAgent", user_agent.as_deref(), MAX_USER_AGENT_CHARS);
        let release = clean(new.release);
        check_len(&mut problems, "release", release.as_deref(), MAX_RELEASE_CHARS);
        let user = new.user.filter(|v| !v.is_null());
        check_json(&mut problems, "user", user.as_ref(), MAX_USER_JSON_BYTES, false);
        let extra = new.extra.filter(|v| !v.is_null());
        check_json(&mut problems, "extra", extra.as_ref(), MAX_EXTRA_JSON_BYTES, true);
        let stack = new.stack.filter(|s| !s.trim().is_empty());
        let stack_truncated = stack.as_ref().is_some_and(|s| s.chars().count() > MAX_STACK_CHARS);
        let stack = stack.map(|s| s.chars().take(MAX_STACK_CHARS).collect());
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self { message, level, stack, stack_truncated, url, user_agent, release, user, extra })
    }
}

/// The body of `POST /api/v1/support/message`, unchecked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSupportMessage {
    pub email: String,
    pub message: String,
    pub subject: Option<String>,
    pub url: Option<String>,
}

/// A checked support message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupportMessage {
    pub email: Email,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl SupportMessage {
    pub fn parse(new: NewSupportMessage) -> Result<Self, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let email = Email::parse(&new.email).map_err(|e| problems.push(FieldProblem::new("email", e.to_string()))).ok();
        let message = new.message.trim().to_owned();
        if message.is_empty() {
            problems.push(FieldProblem::new("message", "must not be empty"));
        }
        check_len(&mut problems, "message", Some(&message), MAX_SUPPORT_MESSAGE_CHARS);
        let subject = clean(new.subject);
        check_len(&mut problems, "subject", subject.as_deref(), MAX_SUBJECT_CHARS);
        if subject.as_deref().is_some_and(|s| s.chars().any(char::is_control)) {
            problems.push(FieldProblem::new("subject", "must be one line"));
        }
        let url = clean(new.url);
        check_len(&mut problems, "url", url.as_deref(), MAX_URL_CHARS);
        match (email, problems.is_empty()) {
            (Some(email), true) => Ok(Self { email, message, subject, url }),
            _ => Err(problems),
        }
    }
}

fn clean(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn check_len(problems: &mut Vec<FieldProblem>, field: &str, value: Option<&str>, max: usize) {
    if value.is_some_and(|v| v.chars().count() > max) {
        problems.push(FieldProblem::new(field, format!("must be at most {max} characters")));
    }
}

fn check_json(problems: &mut Vec<FieldProblem>, field: &str, value: Option<&Value>, max: usize, object: bool) {
    let Some(value) = value else { return };
    if object && !value.is_object() {
        problems.push(FieldProblem::new(field, "must be an object"));
    } else if serde_json::to_vec(value).map_or(true, |v| v.len() > max) {
        problems.push(FieldProblem::new(field, format!("must be at most {max} bytes as JSON")));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn fields(problems: Vec<FieldProblem>) -> Vec<String> {
        problems.into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn support_limits() {
        let ok = NewSupportMessage {
            email: " Ada@Example.com ".into(),
            message: "x".repeat(MAX_SUPPORT_MESSAGE_CHARS),
            ..Default::default()
        };
        let parsed = SupportMessage::parse(ok.clone()).unwrap();
        assert_eq!(parsed.email.as_str(), "ada@example.com");
        let long = NewSupportMessage { message: "é".repeat(MAX_SUPPORT_MESSAGE_CHARS + 1), ..ok.clone() };
        assert_eq!(fields(SupportMessage::parse(long).unwrap_err()), ["message"]);
        let bad = NewSupportMessage {
            email: "nope".into(),
            message: "  ".into(),
            subject: Some("a\nb".into()),
            url: Some("u".repeat(MAX_URL_CHARS + 1)),
        };
        assert_eq!(fields(SupportMessage::parse(bad).unwrap_err()), ["email", "message", "subject", "url"]);
    }

    #[test]
    fn error_reports_default_to_error_and_cut_long_stacks() {
        let report = ErrorReport::parse(NewErrorReport {
            message: "TypeError".into(),
            stack: Some("s".repeat(MAX_STACK_CHARS + 10)),
            extra: Some(json!({"a": 1})),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(report.level, ErrorLevel::Error);
        assert!(report.level.alerts());
        assert!(report.stack_truncated);
        assert_eq!(report.stack.unwrap().len(), MAX_STACK_CHARS);
        assert_eq!(ErrorLevel::parse("WARN"), Some(ErrorLevel::Warning));
        assert!(!ErrorLevel::Warning.alerts());
        let bad = NewErrorReport {
            message: String::new(),
            level: Some("loud".into()),
            extra: Some(json!([1])),
            user: Some(json!("u".repeat(MAX_USER_JSON_BYTES))),
            ..Default::default()
        };
        assert_eq!(fields(ErrorReport::parse(bad).unwrap_err()), ["message", "level", "user", "extra"]);
    }
}
