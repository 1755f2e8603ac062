//! The connectors a process offers, by name, and their catalogue.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::FutureExt;
use serde::Serialize;

use crate::config::ConnectorConfig;
use crate::connector::{ActionSpec, Connector, TaskCall, TaskFuture};
use crate::connectors::{Ai, Builtin, Gmail, Http, Notion, Slack, Telegram};
use crate::error::ConnectorError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorRegistryError {
    #[error("a connector named `{0}` is already registered")]
    Duplicate(String),
}

/// One connector in the catalogue (`GET /api/v1/connectors`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub actions: Vec<ActionSpec>,
}

/// Connectors by name. Built once at start-up, then shared behind an `Arc`.
#[derive(Default, Clone)]
pub struct ConnectorRegistry {
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
}

impl ConnectorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every connector of this crate: `slack`, `notion`, `gmail`, `telegram`,
    /// `http`, `ai` and `builtin` (`filter`, `transform`, `log`).
    pub fn with_defaults(config: &ConnectorConfig) -> Result<Self, ConnectorError> {
        let mut registry = Self::new();
        let all: Vec<Arc<dyn Connector>> = vec![
            Arc::new(Slack::new(config)?),
            Arc::new(Notion::new(config)?),
            Arc::new(Gmail::new(config)?),
            Arc::new(Telegram::new(config)?),
            Arc::new(Http::new(config)?),
            Arc::new(Ai::new(config)?),
            Arc::new(Builtin),
        ];
        for connector in all {
            // The names above are distinct, so this cannot fail; stay total anyway.
            registry.register(connector).map_err(|e| ConnectorError::unexpected(e.to_string()))?;
        }
        Ok(registry)
    }

    pub fn register(&mut self, connector: Arc<dyn Connector>) -> Result<(), ConnectorRegistryError> {
        let name = connector.name();
        if self.connectors.contains_key(name) {
            return Err(ConnectorRegistryError::Duplicate(name.to_owned()));
        }
        self.connectors.insert(name, connector);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.connectors.get(name).cloned()
    }

    /// Sorted.
    pub fn names(&self) -> Vec<String> {
        self.connectors.keys().map(|n| (*n).to_owned()).collect()
    }

    /// Whether `connector` has an action named `action`.
    pub fn has_action(&self, connector: &str, action: &str) -> bool {
        self.get(connector).is_some_and(|c| c.actions().iter().any(|a| a.name == action))
    }

    /// Each connector with its actions and their parameter schemas, by name.
    pub fn catalogue(&self) -> Vec<ConnectorInfo> {
        self.connectors
            .values()
            .map(|c| ConnectorInfo { name: c.name(), description: c.description(), actions: c.actions() })
            .collect()
    }

    /// Runs `call` on the connector named `connector`; an unknown name is an
    /// [`ConnectorError::UnknownConnector`] listing the valid ones.
    pub fn run(&self, connector: &str, call: TaskCall) -> TaskFuture {
        match self.get(connector) {
            Some(c) => c.run_task(call),
            None => {
                let err = ConnectorError::UnknownConnector {
                    name: connector.chars().take(64).collect(),
                    valid: self.names(),
                };
                futures_util::future::ready(Err(err)).boxed()
            }
        }
    }
}

impl std::fmt::Debug for ConnectorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.connectors.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::KNOWN_KEYWORDS;
    use serde_json::Value;

    fn registry() -> ConnectorRegistry {
        ConnectorRegistry::with_defaults(&ConnectorConfig::default()).unwrap()
    }

    #[test]
    fn lists_the_original_connectors_and_actions() {
        let r = registry();
        assert_eq!(r.names(), ["ai", "builtin", "gmail", "http", "notion", "slack", "telegram"]);
        for (connector, actions) in [
            ("gmail", &["list_labels", "list_messages", "send_email"][..]),
            ("notion", &["search", "query_database", "create_page"]),
            ("slack", &["post_message", "list_channels", "upload_file"]),
            ("telegram", &["send_message", "get_me", "get_updates"]),
            ("http", &["request"]),
            ("ai", &["summarize", "classify"]),
            ("builtin", &["filter", "transform", "log"]),
        ] {
            for action in actions {
                assert!(r.has_action(connector, action), "{connector}.{action}");
            }
        }
        let mut again = r.clone();
        assert_eq!(again.register(Arc::new(Builtin)), Err(ConnectorRegistryError::Duplicate("builtin".into())));
    }

    fn walk(schema: &Value, at: &str) {
        let Some(map) = schema.as_object() else {
            return;
        };
        for (key, value) in map {
            assert!(KNOWN_KEYWORDS.contains(&key.as_str()), "{at}: `{key}`");
            match key.as_str() {
                "properties" => {
                    for (name, sub) in value.as_object().into_iter().flatten() {
                        walk(sub, &format!("{at}.{name}"));
                    }
                }
                "items" | "additionalProperties" => walk(value, &format!("{at}[]")),
                _ => {}
            }
        }
    }

    #[test]
    fn schemas_use_only_checked_keywords_and_serialise() {
        let catalogue = registry().catalogue();
        for connector in &catalogue {
            for action in &connector.actions {
                assert_eq!(action.params["type"], "object", "{}", action.name);
                walk(&action.params, &format!("{}.{}", connector.name, action.name));
            }
        }
        let json = serde_json::to_value(&catalogue).unwrap();
        assert_eq!(json[0]["name"], "ai");
        assert!(json[0]["actions"][0]["params"].is_object());
    }

    #[tokio::test]
    async fn unknown_connector_lists_valid_names() {
        let err = registry().run("smtp", TaskCall::new("x", Value::Null, Default::default())).await.unwrap_err();
        match err {
            ConnectorError::UnknownConnector { name, valid } => {
                assert_eq!(name, "smtp");
                assert!(valid.contains(&"slack".to_owned()));
            }
            other => panic!("{other:?}"),
        }
    }
}
