//! The `connector` built-in workflow: one connector action as a durable job.

use std::sync::Arc;

use futures_util::FutureExt;
use levqor_jobs::workflow::WorkflowFuture;
use levqor_jobs::{JobContext, JobError, Workflow};
use serde::Deserialize;
use serde_json::Value;

use crate::connector::{Credentials, TaskCall};
use crate::error::ConnectorError;
use crate::registry::ConnectorRegistry;

/// The job payload: `{"connector", "action", "params"?, "credentials"?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorPayload {
    pub connector: String,
    pub action: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub credentials: Credentials,
}

/// Runs jobs named `connector`. A failure is retryable exactly when
/// [`ConnectorError::retryable`] says so, except an unknown outcome: the write
/// may have happened, so the job's back-off does not send it again (its owner
/// may retry the job by hand). A Gmail `refreshed_credentials` is
/// taken out of the result (job results are stored and shown to the owner;
/// tokens must not be) and replaced by `"credentials_refreshed": true`; a caller
/// that wants to store refreshed tokens runs the connector itself.
pub fn connector_workflow(registry: Arc<ConnectorRegistry>) -> ConnectorWorkflow {
    ConnectorWorkflow { registry }
}

#[derive(Debug, Clone)]
pub struct ConnectorWorkflow {
    registry: Arc<ConnectorRegistry>,
}

impl Workflow for ConnectorWorkflow {
    fn name(&self) -> &str {
        "connector"
    }

    fn run(&self, ctx: JobContext) -> WorkflowFuture {
        let registry = self.registry.clone();
        async move {
            let payload: ConnectorPayload = serde_json::from_value(ctx.payload)
                .map_err(|e| JobError::permanent(format!("invalid payload: {e}")))?;
            let call = TaskCall::new(payload.action, payload.params, payload.credentials);
            let mut result = registry.run(&payload.connector, call).await.map_err(job_error)?;
            if let Value::Object(map) = &mut result
                && map.remove("refreshed_credentials").is_some()
            {
                map.insert("credentials_refreshed".into(), Value::Bool(true));
            }
            Ok(result)
        }
        .boxed()
    }
}

fn job_error(err: ConnectorError) -> JobError {
    JobError {
        message: format!("{}: {err}", err.code()),
        retryable: err.retryable() && !err.outcome_unknown(),
        retry_after: err.retry_after(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectorConfig;
    use levqor_core::UserId;
    use levqor_jobs::JobId;
    use serde_json::json;

    fn ctx(payload: Value) -> JobContext {
        JobContext { job_id: JobId::new(), owner: UserId::new(), workflow: "connector".into(), payload, attempt: 1 }
    }

    fn workflow() -> ConnectorWorkflow {
        let registry = ConnectorRegistry::with_defaults(&ConnectorConfig::default()).unwrap();
        connector_workflow(Arc::new(registry))
    }

    #[tokio::test]
    async fn runs_an_action_as_a_job() {
        let w = workflow();
        assert_eq!(w.name(), "connector");
        let result =
            w.run(ctx(json!({"connector": "builtin", "action": "log", "params": {"message": "hi"}}))).await.unwrap();
        assert_eq!(result["message"], "hi");
    }

    #[tokio::test]
    async fn failures_are_permanent_unless_transient() {
        let w = workflow();
        for payload in [
            json!({"connector": "nope", "action": "x"}),
            json!({"connector": "slack", "action": "post_message", "params": {"channel": "#a", "text": "hi"}}),
            json!({"connector": "builtin"}),
        ] {
            let err = w.run(ctx(payload.clone())).await.unwrap_err();
            assert!(!err.retryable, "{payload}: {err}");
        }
        let err = w
            .run(ctx(
                json!({"connector": "slack", "action": "post_message", "params": {"channel": "#a", "text": "hi"}}),
            ))
            .await
            .unwrap_err();
        assert!(err.message.starts_with("missing_credentials"), "{err}");
        assert!(job_error(ConnectorError::Timeout).retryable);
        assert!(!job_error(ConnectorError::OutcomeUnknown("HTTP 503".into())).retryable, "not sent again by itself");
        let limited = job_error(ConnectorError::RateLimited { retry_after: Some(30) });
        assert_eq!(limited.retry_after, Some(std::time::Duration::from_secs(30)));
    }
}
