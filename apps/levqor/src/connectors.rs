//! Connectors in the app: the registry and the stored-connection service built
//! from configuration, one action run with inline or stored credentials (shared
//! by `POST /api/v1/connect/{name}` and the `connector` job), and that job's
//! workflow.

use std::sync::Arc;

use futures_util::FutureExt;
use levqor_connectors::{
    ConnectionError, ConnectionService, ConnectorError, ConnectorRegistry, Credentials, TaskCall, Vault,
};
use levqor_core::{StorageError, SystemClock, UserId};
use levqor_jobs::workflow::WorkflowFuture;
use levqor_jobs::{JobContext, JobError, Workflow};
use levqor_store::Store;
use serde::Deserialize;
use serde_json::Value;

use crate::config::ServeSettings;

/// The connectors of this process and the service over stored connections.
#[derive(Clone, Debug)]
pub struct Connectors {
    pub registry: Arc<ConnectorRegistry>,
    pub connections: ConnectionService,
}

impl Connectors {
    pub fn build(store: &Store, settings: &ServeSettings, secret: &[u8]) -> Result<Self, String> {
        let registry = Arc::new(
            ConnectorRegistry::with_defaults(&settings.connector_config())
                .map_err(|e| format!("cannot build the connectors: {e}"))?,
        );
        let vault = Vault::from_secret(secret).map_err(|e| e.to_string())?;
        let connections =
            ConnectionService::new(Arc::new(store.clone()), vault, registry.clone(), Arc::new(SystemClock));
        Ok(Self { registry, connections })
    }
}

/// Why a run failed: the connector's own error, or finding the stored connection.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

/// Where the credentials of one run come from.
#[derive(Debug)]
pub enum CredentialSource {
    /// Given with the request (never stored).
    Inline(Value),
    /// The owner's stored connection with this id or name; with `None`, the only
    /// stored connection for the connector, if the action needs credentials.
    Stored(Option<String>),
}

/// [`crate::services::blocking::blocking`] with this module's error type.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConnectionError> + Send + 'static,
) -> Result<T, ConnectionError> {
    crate::services::blocking::blocking(f).await
}

/// Runs one action for `owner`. A Gmail `refreshed_credentials` is taken out of
/// the result (replaced by `"credentials_refreshed": true`) and, when the run used
/// a stored connection, sealed and stored back.
pub async fn run_action(
    connectors: &Connectors,
    owner: &UserId,
    connector: &str,
    action: &str,
    params: Value,
    source: CredentialSource,
) -> Result<Value, RunError> {
    let needs_credentials = connectors
        .registry
        .get(connector)
        .and_then(|c| c.actions().into_iter().find(|a| a.name == action))
        .is_some_and(|a| !a.credentials.is_empty());
    let known = connectors.registry.get(connector).is_some();
    let (credentials, stored) = match source {
        CredentialSource::Inline(value) => (Credentials::from_value(value)?, None),
        CredentialSource::Stored(reference) if known && (reference.is_some() || needs_credentials) => {
            let (svc, owner, name) = (connectors.connections.clone(), owner.clone(), connector.to_owned());
            let (connection, credentials) = blocking(move || svc.resolve(&owner, &name, reference.as_deref())).await?;
            (credentials, Some(connection))
        }
        CredentialSource::Stored(_) => (Credentials::new(), None),
    };
    let call = TaskCall::new(action, params, credentials.clone());
    let mut result = connectors.registry.run(connector, call).await?;
    if let Value::Object(map) = &mut result
        && let Some(refreshed) = map.remove("refreshed_credentials")
    {
        map.insert("credentials_refreshed".into(), Value::Bool(true));
        if let Some(connection) = stored {
            let svc = connectors.connections.clone();
            // The action succeeded; a failure to store the new token only means the
            // next run refreshes again, so it does not fail this one.
            let _ = blocking(move || svc.store_refreshed(&connection, credentials, &refreshed)).await;
        }
    }
    Ok(result)
}

/// The payload of a `connector` job. Credentials are never part of it: a job
/// names a stored connection (or uses the owner's only one for the connector).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorJobPayload {
    pub connector: String,
    pub action: String,
    #[serde(default)]
    pub params: Value,
    /// A stored connection's id or name.
    #[serde(default)]
    pub connection: Option<String>,
}

/// The `connector` built-in workflow: one connector action as a durable job,
/// with the job owner's stored connection opened at run time.
#[derive(Debug, Clone)]
pub struct ConnectorJob {
    connectors: Connectors,
}

impl ConnectorJob {
    pub fn new(connectors: Connectors) -> Self {
        Self { connectors }
    }
}

impl Workflow for ConnectorJob {
    fn name(&self) -> &str {
        "connector"
    }

    fn run(&self, ctx: JobContext) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        async move {
            let payload: ConnectorJobPayload = serde_json::from_value(ctx.payload)
                .map_err(|e| JobError::permanent(format!("invalid payload: {e}")))?;
            let source = CredentialSource::Stored(payload.connection);
            run_action(&connectors, &ctx.owner, &payload.connector, &payload.action, payload.params, source)
                .await
                .map_err(job_error)
        }
        .boxed()
    }
}

/// A connector run's failure as a job error (`code: message`, retryable or not,
/// and the wait a rate limit asked for). An unknown outcome is not retried by
/// the job's back-off: the write may have happened.
pub fn job_error(err: RunError) -> JobError {
    match err {
        RunError::Connector(e) | RunError::Connection(ConnectionError::Connector(e)) => {
            levqor_connectors::job_error(&e)
        }
        RunError::Connection(e) => {
            let retryable =
                matches!(e, ConnectionError::Storage(StorageError::Unavailable(_) | StorageError::Conflict(_)));
            let code = match e {
                ConnectionError::NotFound => "connection_not_found",
                ConnectionError::NoneStored { .. } => "missing_credentials",
                ConnectionError::Ambiguous { .. } => "ambiguous_connection",
                ConnectionError::Vault(_) => "credentials_unreadable",
                _ => "connection_error",
            };
            JobError { message: format!("{code}: {e}"), retryable, retry_after: None }
        }
    }
}

/// Checks a `connector` job payload at intake, so a mistake is a 400 now rather
/// than a dead job later: the shape, a known connector and action, and no inline
/// credentials (they would be stored in the job row).
pub fn check_job_payload(registry: &ConnectorRegistry, payload: &Value) -> Result<(), levqor_core::FieldProblem> {
    use levqor_core::FieldProblem;
    if payload.get("credentials").is_some() {
        return Err(FieldProblem::new(
            "payload.credentials",
            "inline credentials are not accepted in job payloads (they would be stored with the job); store them with POST /api/v1/connections and pass `connection` (its id or name)",
        ));
    }
    let parsed: ConnectorJobPayload =
        serde_json::from_value(payload.clone()).map_err(|e| FieldProblem::new("payload", e.to_string()))?;
    let Some(connector) = registry.get(&parsed.connector) else {
        return Err(FieldProblem::new("payload.connector", format!("must be one of: {}", registry.names().join(", "))));
    };
    let actions: Vec<_> = connector.actions().into_iter().map(|a| a.name).collect();
    if !actions.contains(&parsed.action.as_str()) {
        return Err(FieldProblem::new("payload.action", format!("must be one of: {}", actions.join(", "))));
    }
    Ok(())
}
