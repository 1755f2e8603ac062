//! The pipeline document: the original service's shape (`trigger`, `schedule`,
//! `actions: [{type, connector, params}]`) as accepted on input, and the
//! normalised [`Pipeline`] (steps with ids, mapped onto real connector actions).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What starts a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Trigger {
    #[serde(rename = "manual")]
    Manual,
    #[serde(rename = "schedule")]
    Schedule,
    #[serde(rename = "webhook")]
    Webhook,
    #[serde(rename = "email.received")]
    EmailReceived,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [Trigger::Manual, Trigger::Schedule, Trigger::Webhook, Trigger::EmailReceived];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::Webhook => "webhook",
            Trigger::EmailReceived => "email.received",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated, normalised pipeline. Built by [`crate::validate_document`];
/// serialises as `{description, trigger, schedule?, steps: [{id, connector,
/// action, params}]}`, which the validator accepts back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub description: String,
    pub trigger: Trigger,
    /// A 5-field cron expression (UTC); present exactly when `trigger` is `schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    pub steps: Vec<Step>,
}

/// One step: a connector action with its params (aliases already renamed to
/// the canonical names; may contain `{{…}}` placeholders).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `s1`, `s2`, … by position.
    pub id: String,
    pub connector: String,
    pub action: String,
    pub params: Map<String, Value>,
    /// When the step's outcome is unknown (a write got a 5xx or no answer),
    /// retry it by the job's back-off instead of stopping the run for the user
    /// to decide. Only for steps whose repetition is harmless.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry_unknown: bool,
}

impl Step {
    /// `connector.action`.
    pub fn qualified_action(&self) -> String {
        format!("{}.{}", self.connector, self.action)
    }
}

impl Pipeline {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The pipeline as a JSON document (the normalised shape).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The id of the step at `index` (0-based): `s1`, `s2`, ….
pub fn step_id(index: usize) -> String {
    format!("s{}", index + 1)
}

/// The original service's action types and the connector actions they map to.
pub const ACTION_TYPES: &[(&str, &str, &str)] = &[
    ("sendSlack", "slack", "post_message"),
    ("createPage", "notion", "create_page"),
    ("sendEmail", "gmail", "send_email"),
    ("summarize", "ai", "summarize"),
    ("filter", "builtin", "filter"),
    ("transform", "builtin", "transform"),
    ("log", "builtin", "log"),
    // Not in the original, but natural for the same document shape.
    ("sendTelegram", "telegram", "send_message"),
    ("classify", "ai", "classify"),
    ("httpRequest", "http", "request"),
];

/// Other names the original (and LLMs) used for a connector, accepted next to
/// an action `type`.
pub const CONNECTOR_SYNONYMS: &[(&str, &str)] = &[
    ("email", "gmail"),
    ("mail", "gmail"),
    ("openai", "ai"),
    ("llm", "ai"),
    ("core", "builtin"),
    ("logic", "builtin"),
    ("system", "builtin"),
];

/// `(connector, action)` for an original action type.
pub fn action_for_type(kind: &str) -> Option<(&'static str, &'static str)> {
    ACTION_TYPES.iter().find(|(t, _, _)| *t == kind).map(|(_, c, a)| (*c, *a))
}

/// Longest accepted `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// The JSON Schema of the pipeline document (`GET /api/v1/pipelines/schema`).
/// Semantic rules (known connectors and actions, params, references, step
/// limit, cron) are checked by [`crate::validate_document`] on top of it.
pub fn pipeline_schema() -> Value {
    let types: Vec<&str> = ACTION_TYPES.iter().map(|(t, _, _)| *t).collect();
    let triggers: Vec<&str> = Trigger::ALL.iter().map(|t| t.as_str()).collect();
    let step = json!({
        "type": "object",
        "additionalProperties": false,
        "description": "One step. Either `type` (an original action type) or `connector` + `action`.",
        "properties": {
            "id": {"type": "string", "description": "optional; must be `s<position>` (s1, s2, …)"},
            "type": {"type": "string", "description": "an original action type, or `connector.action`", "examples": types},
            "connector": {"type": "string", "minLength": 1, "maxLength": 64},
            "action": {"type": "string", "minLength": 1, "maxLength": 64},
            "params": {
                "type": "object",
                "description": "the action's params (see GET /api/v1/connectors); strings may use {{input.path}} and {{steps.<id>.output.path}} of earlier steps"
            },
            "retry_unknown": {
                "type": "boolean",
                "default": false,
                "description": "when a write's outcome is unknown (the service answered 5xx or not at all), send it again by the job's back-off instead of stopping the run at this step for you to resume (skip or send again)"
            }
        },
        "anyOf": [{"required": ["type"]}, {"required": ["connector", "action"]}]
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://levqor.dev/schemas/pipeline.json",
        "title": "Levqor pipeline",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string", "description": "ignored on input; the server assigns ids"},
            "name": {"type": "string", "maxLength": 200},
            "description": {"type": "string", "maxLength": MAX_DESCRIPTION_CHARS},
            "trigger": {"enum": triggers, "default": "manual"},
            "schedule": {"type": ["string", "null"], "description": "5-field cron expression (UTC), required when trigger is `schedule`", "examples": ["0 17 * * 5"]},
            "actions": {"type": "array", "minItems": 1, "items": step},
            "steps": {"type": "array", "minItems": 1, "items": step, "description": "the normalised spelling of `actions`"}
        },
        "oneOf": [{"required": ["actions"]}, {"required": ["steps"]}]
    })
}
