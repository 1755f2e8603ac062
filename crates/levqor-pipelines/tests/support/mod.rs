//! Shared test helpers: the live catalogue and a minimal fake OpenAI server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod openai;

use levqor_connectors::{ConnectorConfig, ConnectorRegistry};
use levqor_pipelines::Catalogue;

pub fn catalogue() -> Catalogue {
    Catalogue::from_registry(&ConnectorRegistry::with_defaults(&ConnectorConfig::default()).unwrap())
}
