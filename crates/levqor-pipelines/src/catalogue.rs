//! The connectors and actions a pipeline may use: a snapshot of
//! [`ConnectorRegistry::catalogue`].

use levqor_connectors::{ActionSpec, ConnectorInfo, ConnectorRegistry};

#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    connectors: Vec<ConnectorInfo>,
}

impl Catalogue {
    pub fn new(connectors: Vec<ConnectorInfo>) -> Self {
        Self { connectors }
    }

    pub fn from_registry(registry: &ConnectorRegistry) -> Self {
        Self::new(registry.catalogue())
    }

    pub fn connectors(&self) -> &[ConnectorInfo] {
        &self.connectors
    }

    pub fn connector(&self, name: &str) -> Option<&ConnectorInfo> {
        self.connectors.iter().find(|c| c.name == name)
    }

    pub fn action(&self, connector: &str, action: &str) -> Option<&ActionSpec> {
        self.connector(connector)?.actions.iter().find(|a| a.name == action)
    }

    /// Connector names, in catalogue order.
    pub fn names(&self) -> Vec<&'static str> {
        self.connectors.iter().map(|c| c.name).collect()
    }
}

impl From<&ConnectorRegistry> for Catalogue {
    fn from(registry: &ConnectorRegistry) -> Self {
        Self::from_registry(registry)
    }
}
