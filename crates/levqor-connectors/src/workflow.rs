//! Connector failures as job failures, for the workflows that run connector
//! actions as durable jobs (the app's `connector` job and pipeline steps).

use levqor_jobs::JobError;

use crate::error::ConnectorError;

/// `code: message`, retryable exactly when [`ConnectorError::retryable`] says
/// so, except an unknown outcome: the write may have happened, so the job's
/// back-off does not send it again (its owner decides). A rate limit's wait
/// becomes the least back-off.
pub fn job_error(err: &ConnectorError) -> JobError {
    JobError {
        message: format!("{}: {err}", err.code()),
        retryable: err.retryable() && !err.outcome_unknown(),
        retry_after: err.retry_after(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_follows_the_error_and_unknown_outcomes_wait_for_the_owner() {
        assert!(job_error(&ConnectorError::Timeout).retryable);
        assert!(!job_error(&ConnectorError::missing("token")).retryable);
        let unknown = job_error(&ConnectorError::OutcomeUnknown("HTTP 503".into()));
        assert!(!unknown.retryable, "not sent again by itself");
        assert!(unknown.message.starts_with("upstream_outcome_unknown"), "{}", unknown.message);
        let limited = job_error(&ConnectorError::RateLimited { retry_after: Some(30) });
        assert_eq!(limited.retry_after, Some(std::time::Duration::from_secs(30)));
    }
}
