//! Helpers for the connector tests: every connector pointed at a fake of its
//! service ([`levqor_testkit::FakeServer`] on loopback) with fast resilience
//! settings, and one-call runs through the registry.

use std::time::Duration;

use levqor_connectors::{ConnectorConfig, ConnectorError, ConnectorRegistry, Credentials, HttpSettings, TaskCall};
pub use levqor_testkit::{FakeServer, Recorded, Reply};
use serde_json::Value;

/// Every connector pointed at `server`, with millisecond back-off, a 2 s
/// timeout and a 64 KiB response cap so the resilience tests stay fast.
pub fn config(server: &FakeServer) -> ConnectorConfig {
    let mut config = ConnectorConfig::all_at(&server.base());
    config.http = HttpSettings {
        timeout: Duration::from_secs(2),
        max_attempts: 3,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
        max_response_bytes: 64 * 1024,
    };
    config.allow_private_targets = true;
    config
}

/// [`config`] with a back-off cap of `cap`: waits a service asks for up to it
/// are waited out, longer ones end the call.
pub fn config_with_cap(server: &FakeServer, cap: Duration) -> ConnectorConfig {
    let mut config = config(server);
    config.http.backoff_cap = cap;
    config
}

/// A response body from `tests/fixtures/` (see its README for the sources).
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub async fn run_with(
    config: &ConnectorConfig,
    connector: &str,
    action: &str,
    params: Value,
    credentials: Value,
) -> Result<Value, ConnectorError> {
    let registry = ConnectorRegistry::with_defaults(config).unwrap();
    let credentials = Credentials::from_value(credentials).unwrap();
    registry.run(connector, TaskCall::new(action, params, credentials)).await
}

pub async fn run(
    server: &FakeServer,
    connector: &str,
    action: &str,
    params: Value,
    credentials: Value,
) -> Result<Value, ConnectorError> {
    run_with(&config(server), connector, action, params, credentials).await
}
