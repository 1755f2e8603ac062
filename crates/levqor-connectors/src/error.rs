//! What can go wrong when a connector runs, and whether trying again could help.

use serde::Serialize;

/// A connector failure. Messages never contain credential values: they name the
/// field or quote the upstream service's own error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    #[error("no connector named `{name}`")]
    UnknownConnector { name: String, valid: Vec<String> },
    #[error("unknown action `{action}`; valid actions: {}", valid.join(", "))]
    UnknownAction { action: String, valid: Vec<String> },
    #[error("missing credential `{field}`")]
    MissingCredentials { field: String },
    #[error("the credentials were rejected: {message}")]
    InvalidCredentials { message: String },
    #[error("invalid params: `{field}` {problem}")]
    InvalidParams { field: String, problem: String },
    #[error("the service refused the request (HTTP {status}): {message}")]
    UpstreamRefused { status: u16, message: String },
    #[error("the service is rate-limiting us{}", retry_after.map(|s| format!(" (retry after {s} s)")).unwrap_or_default())]
    RateLimited { retry_after: Option<u64> },
    #[error("the service did not answer in time")]
    Timeout,
    /// A write that is not safe to repeat got a 5xx answer, or no answer: the
    /// service may or may not have acted, so it was not sent again. Retryable,
    /// but a retry may repeat the action.
    #[error("outcome unknown, the service may have acted ({0}); sending it again may repeat it")]
    OutcomeUnknown(String),
    #[error("network error: {0}")]
    Network(String),
    #[error("the response is larger than {limit} bytes")]
    ResponseTooLarge { limit: usize },
    #[error("unexpected response from the service: {0}")]
    UnexpectedResponse(String),
}

impl ConnectorError {
    pub fn invalid_params(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::InvalidParams { field: field.into(), problem: problem.into() }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        Self::MissingCredentials { field: field.into() }
    }

    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::UnexpectedResponse(message.into())
    }

    /// Whether another attempt later could succeed. Upstream 5xx answers, rate
    /// limits, timeouts and network failures are transient; everything the caller
    /// must fix (credentials, params, a 4xx) is not. An unexpected answer is not
    /// retried either: the same service will most likely say the same thing.
    pub fn retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Timeout | Self::Network(_) | Self::OutcomeUnknown(_) => true,
            Self::UpstreamRefused { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether the failure leaves open if the service acted (a retry may repeat it).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::OutcomeUnknown(_))
    }

    /// The wait the service asked for, for a rate limit.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::RateLimited { retry_after } => retry_after.map(std::time::Duration::from_secs),
            _ => None,
        }
    }

    /// A stable snake_case code for API answers and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownConnector { .. } => "invalid_connector",
            Self::UnknownAction { .. } => "unknown_action",
            Self::MissingCredentials { .. } => "missing_credentials",
            Self::InvalidCredentials { .. } => "invalid_credentials",
            Self::InvalidParams { .. } => "invalid_params",
            Self::UpstreamRefused { .. } => "upstream_refused",
            Self::RateLimited { .. } => "upstream_rate_limited",
            Self::Timeout => "upstream_timeout",
            Self::OutcomeUnknown(_) => "upstream_outcome_unknown",
            Self::Network(_) => "upstream_unreachable",
            Self::ResponseTooLarge { .. } => "upstream_response_too_large",
            Self::UnexpectedResponse(_) => "upstream_unexpected_response",
        }
    }

    /// True when the fault lies with the remote service or the network rather
    /// than with the caller's input (an HTTP layer maps these to 502/504).
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            Self::UpstreamRefused { .. }
                | Self::RateLimited { .. }
                | Self::Timeout
                | Self::OutcomeUnknown(_)
                | Self::Network(_)
                | Self::ResponseTooLarge { .. }
                | Self::UnexpectedResponse(_)
        )
    }

    /// A serialisable summary: `{"error": code, "message", "retryable", "details"?}`.
    pub fn to_report(&self) -> ErrorReport {
        let details = match self {
            Self::UnknownConnector { valid, .. } | Self::UnknownAction { valid, .. } => {
                Some(serde_json::json!({ "valid": valid }))
            }
            Self::InvalidParams { field, problem } => Some(serde_json::json!([{ "field": field, "problem": problem }])),
            Self::MissingCredentials { field } => Some(serde_json::json!({ "field": field })),
            Self::UpstreamRefused { status, .. } => Some(serde_json::json!({ "upstream_status": status })),
            Self::RateLimited { retry_after: Some(s) } => Some(serde_json::json!({ "retry_after": s })),
            _ => None,
        };
        ErrorReport { error: self.code(), message: self.to_string(), retryable: self.retryable(), details }
    }
}

/// [`ConnectorError`] as JSON, for API answers and job results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    pub error: &'static str,
    pub message: String,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classes() {
        assert!(ConnectorError::Timeout.retryable());
        assert!(ConnectorError::Network("reset".into()).retryable());
        assert!(ConnectorError::RateLimited { retry_after: None }.retryable());
        assert!(ConnectorError::OutcomeUnknown("HTTP 503".into()).retryable());
        let refused = |status| ConnectorError::UpstreamRefused { status, message: "x".into() };
        assert!(refused(503).retryable());
        assert!(!refused(404).retryable());
        assert!(!ConnectorError::missing("token").retryable());
        assert!(!ConnectorError::invalid_params("text", "is required").retryable());
        assert!(!ConnectorError::unexpected("junk").retryable());
        assert!(!ConnectorError::ResponseTooLarge { limit: 1 }.retryable());
    }

    #[test]
    fn messages_name_the_field() {
        let err = ConnectorError::invalid_params("labels[1]", "must be a string");
        assert_eq!(err.to_string(), "invalid params: `labels[1]` must be a string");
        let report = err.to_report();
        assert_eq!(report.error, "invalid_params");
        assert_eq!(report.details.unwrap()[0]["field"], "labels[1]");
    }
}
