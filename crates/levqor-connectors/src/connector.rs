//! The interface every connector implements, and what a call to one carries.

use std::fmt;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::Repeat;
use crate::error::ConnectorError;
use crate::schema;

/// What [`Connector::run_task`] returns: owned, so callers can time it out or
/// drop it.
pub type TaskFuture = BoxFuture<'static, Result<Value, ConnectorError>>;

/// A service Levqor can act on (Slack, Notion, …), with a fixed set of actions.
pub trait Connector: Send + Sync + 'static {
    /// The name callers use (`slack`).
    fn name(&self) -> &'static str;

    /// One sentence for the catalogue.
    fn description(&self) -> &'static str;

    /// Every action with its parameter schema and the credentials it needs.
    fn actions(&self) -> Vec<ActionSpec>;

    /// Runs one action. Implementations validate the call (action, credentials,
    /// params) before any network traffic, and fail closed: a missing credential
    /// or an answer they do not recognise is an error, never a success.
    fn run_task(&self, call: TaskCall) -> TaskFuture;
}

/// One action of a connector, as listed in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// The JSON Schema of `params` (the subset [`crate::schema`] checks).
    pub params: Value,
    /// Credential fields that must be present and non-empty.
    pub credentials: Vec<&'static str>,
    /// Credential fields that are used when present.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub optional_credentials: Vec<&'static str>,
    /// Older spellings accepted for a parameter (`databaseId` for
    /// `database_id`), so pipeline documents of the original service keep working.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<(&'static str, &'static str)>,
    /// Whether the action's request may be sent again when its outcome is
    /// unclear (a 5xx, a timeout). `once` unless the action says otherwise.
    pub repeat: Repeat,
}

impl ActionSpec {
    pub fn new(name: &'static str, description: &'static str, params: Value) -> Self {
        Self {
            name,
            description,
            params,
            credentials: Vec::new(),
            optional_credentials: Vec::new(),
            aliases: Vec::new(),
            repeat: Repeat::Once,
        }
    }

    /// A read, or a write the service de-duplicates: retried on 5xx and timeouts.
    pub fn safe_to_repeat(mut self) -> Self {
        self.repeat = Repeat::Safe;
        self
    }

    pub fn credentials(mut self, fields: &[&'static str]) -> Self {
        self.credentials = fields.to_vec();
        self
    }

    pub fn optional_credentials(mut self, fields: &[&'static str]) -> Self {
        self.optional_credentials = fields.to_vec();
        self
    }

    /// `(old, canonical)` pairs.
    pub fn aliases(mut self, pairs: &[(&'static str, &'static str)]) -> Self {
        self.aliases = pairs.to_vec();
        self
    }
}

/// One call: which action, its params, and the credentials to use.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskCall {
    pub action: String,
    #[serde(default = "empty_object")]
    pub params: Value,
    #[serde(default)]
    pub credentials: Credentials,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl TaskCall {
    pub fn new(action: impl Into<String>, params: Value, credentials: Credentials) -> Self {
        Self { action: action.into(), params, credentials }
    }
}

/// Credential fields as a JSON object. `Debug` shows the field names only, so a
/// stray `{:?}` cannot leak a token into a log.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Credentials(Map<String, Value>);

impl Credentials {
    pub fn new() -> Self {
        Self::default()
    }

    /// From a JSON value: an object, or null for none.
    pub fn from_value(value: Value) -> Result<Self, ConnectorError> {
        match value {
            Value::Object(map) => Ok(Self(map)),
            Value::Null => Ok(Self::default()),
            _ => Err(ConnectorError::InvalidCredentials { message: "credentials must be a JSON object".into() }),
        }
    }

    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.0.insert(field.to_owned(), value.into());
        self
    }

    /// A present, non-blank string field.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
    }

    /// The raw value of a field (numbers such as `expires_at` are allowed).
    pub fn get_value(&self, field: &str) -> Option<&Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    /// A field that must be there: fail closed otherwise.
    pub fn require(&self, field: &str) -> Result<&str, ConnectorError> {
        self.get(field).ok_or_else(|| ConnectorError::missing(field))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying object, for a caller that stores credentials (encrypted).
    pub fn into_inner(self) -> Map<String, Value> {
        self.0
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, "<redacted>"))).finish()
    }
}

/// The checks every connector runs before any network traffic: the action
/// exists, aliases are renamed, the params match the schema, and every required
/// credential is present. Returns the action's spec.
pub fn prepare(specs: &[ActionSpec], call: &mut TaskCall) -> Result<ActionSpec, ConnectorError> {
    let Some(spec) = specs.iter().find(|s| s.name == call.action) else {
        return Err(ConnectorError::UnknownAction {
            action: call.action.chars().take(64).collect(),
            valid: specs.iter().map(|s| s.name.to_owned()).collect(),
        });
    };
    if call.params.is_null() {
        call.params = empty_object();
    }
    if let Value::Object(params) = &mut call.params {
        for (old, canonical) in &spec.aliases {
            if !params.contains_key(*canonical)
                && let Some(value) = params.remove(*old)
            {
                params.insert((*canonical).to_owned(), value);
            }
        }
    }
    schema::validate(&spec.params, &call.params)?;
    for field in &spec.credentials {
        call.credentials.require(field)?;
    }
    Ok(spec.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn specs() -> Vec<ActionSpec> {
        vec![
            ActionSpec::new(
                "say",
                "says",
                json!({"type": "object", "required": ["text"], "additionalProperties": false,
                       "properties": {"text": {"type": "string", "minLength": 1}}}),
            )
            .credentials(&["token"])
            .aliases(&[("message", "text")]),
        ]
    }

    #[test]
    fn debug_hides_values() {
        let creds = Credentials::new().with("token", "xoxb-secret");
        let shown = format!("{creds:?}");
        assert!(shown.contains("token") && !shown.contains("xoxb"), "{shown}");
    }

    #[test]
    fn prepare_checks_in_order() {
        let creds = Credentials::new().with("token", "t");
        let mut call = TaskCall::new("nope", json!({}), creds.clone());
        assert!(matches!(
            prepare(&specs(), &mut call),
            Err(ConnectorError::UnknownAction { valid, .. }) if valid == ["say"]
        ));

        let mut call = TaskCall::new("say", json!({}), creds.clone());
        assert!(matches!(
            prepare(&specs(), &mut call),
            Err(ConnectorError::InvalidParams { field, .. }) if field == "text"
        ));

        let mut call = TaskCall::new("say", json!({"message": "hi"}), Credentials::new());
        assert_eq!(prepare(&specs(), &mut call), Err(ConnectorError::missing("token")));
        assert_eq!(call.params, json!({"text": "hi"}), "alias renamed");

        let blank = Credentials::new().with("token", "  ");
        let mut call = TaskCall::new("say", json!({"text": "hi"}), blank);
        assert_eq!(prepare(&specs(), &mut call), Err(ConnectorError::missing("token")));
    }
}
