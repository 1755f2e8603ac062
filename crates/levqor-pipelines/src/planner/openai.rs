//! The OpenAI planner: one chat completion with a system prompt built from the
//! live connector catalogue and JSON output; the reply is validated, and sent
//! back once with the problems for repair. When OpenAI fails (timeout, 429,
//! 5xx, a refusal, prose) or the repaired plan is still invalid, the
//! rule-based planner answers and the plan says so.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use levqor_connectors::connectors::is_reasoning_model;
use levqor_connectors::{ConnectorError, HttpClient, HttpSettings, Policy, Repeat};
use levqor_core::FieldProblem;
use openai_api_rs::v1::chat_completion::MessageRole;
use serde_json::{Value, json};

use super::{Plan, PlanError, Planner, PlannerKind, RulePlanner, check_description};
use crate::catalogue::Catalogue;
use crate::document::{ACTION_TYPES, Trigger};
use crate::validate::{Limits, validate_document};

#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    pub api_key: String,
    /// Up to and including `/v1` (`OPENAI_BASE_URL`).
    pub base_url: String,
    pub model: String,
    /// Not sent to reasoning models (o-series, gpt-5), which accept only the default.
    pub temperature: f32,
    /// `max_completion_tokens`: `max_tokens` is deprecated in chat completions
    /// and the reasoning models refuse it. For those it includes their hidden
    /// reasoning, so they get [`REASONING_HEADROOM`] more.
    pub max_completion_tokens: u32,
    /// For the whole request, answer included.
    pub timeout: Duration,
}

impl OpenAiConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";
    pub const DEFAULT_MODEL: &'static str = "gpt-4o-mini";

    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            base_url: Self::DEFAULT_BASE_URL.into(),
            model: Self::DEFAULT_MODEL.into(),
            temperature: 0.1,
            max_completion_tokens: 1500,
            timeout: Duration::from_secs(20),
        }
    }

    /// From `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_MODEL`; `None` without a key.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let key = lookup("OPENAI_API_KEY").filter(|k| !k.trim().is_empty())?;
        let mut config = Self::new(key.trim());
        if let Some(base) = lookup("OPENAI_BASE_URL").filter(|b| !b.trim().is_empty()) {
            config.base_url = base.trim().trim_end_matches('/').to_owned();
        }
        if let Some(model) = lookup("OPENAI_MODEL").filter(|m| !m.trim().is_empty()) {
            config.model = model.trim().to_owned();
        }
        Some(config)
    }
}

/// What a reasoning model may spend on reasoning on top of the plan itself.
pub const REASONING_HEADROOM: u32 = 8192;

#[derive(Debug, Clone)]
pub struct OpenAiPlanner {
    config: OpenAiConfig,
    client: Arc<HttpClient>,
    catalogue: Catalogue,
    limits: Limits,
    rules: RulePlanner,
    system_prompt: String,
}

/// Why a reply could not be used.
enum Failure {
    /// Transport, status, refusal, prose: fall back at once.
    Unavailable(String),
    /// A JSON pipeline that does not validate: worth one repair.
    Invalid { reply: String, problems: Vec<FieldProblem> },
}

impl OpenAiPlanner {
    pub fn new(config: OpenAiConfig, catalogue: Catalogue, limits: Limits) -> Result<Self, String> {
        // openai-api-rs (10.x) cannot send `max_completion_tokens`, so the request
        // is built here and sent with the connectors' client: one attempt, since
        // any failure falls back to the rules at once.
        let settings = HttpSettings { timeout: config.timeout, max_attempts: 1, ..HttpSettings::default() };
        let client = HttpClient::new(settings).map_err(|e| e.to_string())?;
        let system_prompt = system_prompt(&catalogue, &limits);
        let rules = RulePlanner::new(catalogue.clone(), limits);
        Ok(Self { config, client: Arc::new(client), catalogue, limits, rules, system_prompt })
    }

    pub fn system_prompt(&self) -> &str {
        &self.system_prompt
    }

    /// One chat completion; `Err` says, for the fallback warning, why there is
    /// no reply to use.
    async fn complete(&self, messages: &[(MessageRole, String)]) -> Result<String, String> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|(role, text)| json!({"role": serde_json::to_value(role).unwrap_or(Value::Null), "content": text}))
            .collect();
        let mut request = json!({
            "model": self.config.model,
            "messages": messages,
            "response_format": {"type": "json_object"},
        });
        if is_reasoning_model(&self.config.model) {
            request["max_completion_tokens"] =
                json!(self.config.max_completion_tokens.saturating_add(REASONING_HEADROOM));
        } else {
            request["max_completion_tokens"] = json!(self.config.max_completion_tokens);
            request["temperature"] = json!(f64::from(self.config.temperature.clamp(0.0, 0.2)));
        }
        let url = format!("{}/chat/completions", self.config.base_url.trim_end_matches('/'));
        let key = &self.config.api_key;
        let response = self
            .client
            .send(Policy::new(Repeat::Safe), |c| c.post(&url).bearer_auth(key).json(&request))
            .await
            .map_err(describe)?;
        if !response.is_success() {
            return Err(describe_status(response.status));
        }
        let answer = response.json_opt().unwrap_or(Value::Null);
        if answer.pointer("/choices/0/message").is_none() {
            return Err("answered with something other than a chat completion".into());
        }
        answer
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| "refused to plan this description (its answer had no message)".to_owned())
    }

    fn check_reply(&self, reply: String) -> Result<crate::document::Pipeline, Failure> {
        let Some(doc) = extract_json(&reply) else {
            return Err(Failure::Unavailable("answered with prose instead of a JSON pipeline".into()));
        };
        validate_document(&doc, &self.catalogue, &self.limits).map_err(|problems| Failure::Invalid { reply, problems })
    }

    async fn attempt(&self, description: &str) -> Result<(crate::document::Pipeline, Vec<String>), String> {
        let mut messages =
            vec![(MessageRole::system, self.system_prompt.clone()), (MessageRole::user, description.to_owned())];
        let reply = self.complete(&messages).await?;
        let (reply, problems) = match self.check_reply(reply) {
            Ok(pipeline) => return Ok((pipeline, Vec::new())),
            Err(Failure::Unavailable(why)) => return Err(why),
            Err(Failure::Invalid { reply, problems }) => (reply, problems),
        };
        messages.push((MessageRole::assistant, reply));
        messages.push((MessageRole::user, repair_prompt(&problems)));
        let second = self.complete(&messages).await?;
        match self.check_reply(second) {
            Ok(pipeline) => Ok((pipeline, vec!["OpenAI's first plan was invalid and was repaired".into()])),
            Err(Failure::Unavailable(why)) => Err(format!("{why} when asked to repair its plan")),
            Err(Failure::Invalid { problems, .. }) => {
                Err(format!("planned an invalid pipeline twice ({})", summary(&problems)))
            }
        }
    }

    /// Plans with OpenAI; the rule-based planner answers when that fails.
    pub async fn plan_text(&self, description: &str) -> Result<Plan, PlanError> {
        let description = check_description(description)?;
        match self.attempt(description).await {
            Ok((pipeline, warnings)) => Ok(Plan { pipeline, planner: PlannerKind::OpenAi, warnings }),
            Err(why) => {
                let mut plan = self.rules.plan_text(description)?;
                plan.warnings.insert(0, format!("OpenAI {why}; the rule-based planner answered instead"));
                Ok(plan)
            }
        }
    }
}

impl Planner for OpenAiPlanner {
    fn plan<'a>(&'a self, description: &'a str) -> BoxFuture<'a, Result<Plan, PlanError>> {
        self.plan_text(description).boxed()
    }
}

/// Why a call failed, in words for the fallback warning.
fn describe(e: ConnectorError) -> String {
    match e {
        ConnectorError::Timeout => "timed out".into(),
        ConnectorError::RateLimited { .. } => describe_status(429),
        ConnectorError::UpstreamRefused { status, .. } => describe_status(status),
        ConnectorError::ResponseTooLarge { .. } | ConnectorError::UnexpectedResponse(_) => {
            "answered with something other than a chat completion".into()
        }
        _ => "could not be reached".into(),
    }
}

fn describe_status(status: u16) -> String {
    match status {
        429 => "is rate limiting requests (429)".into(),
        500..=599 => format!("answered with a server error ({status})"),
        status => format!("refused the request ({status})"),
    }
}

fn summary(problems: &[FieldProblem]) -> String {
    let shown: Vec<String> = problems.iter().take(3).map(|p| format!("{}: {}", p.field, p.problem)).collect();
    let more = problems.len().saturating_sub(3);
    if more > 0 { format!("{}; and {more} more", shown.join("; ")) } else { shown.join("; ") }
}

fn repair_prompt(problems: &[FieldProblem]) -> String {
    let list: Vec<String> = problems.iter().take(20).map(|p| format!("- {}: {}", p.field, p.problem)).collect();
    format!(
        "That pipeline is invalid:\n{}\nReply with the corrected pipeline as one JSON object only, using only the connectors, actions and params listed in the instructions.",
        list.join("\n")
    )
}

/// The JSON object in a model's reply: the whole reply, the inside of a
/// ```` ```json ```` fence, or the outermost `{…}`; a `{"pipeline": {…}}`
/// wrapper is unwrapped.
pub fn extract_json(reply: &str) -> Option<Value> {
    let trimmed = reply.trim();
    let fenced = trimmed.find("```").and_then(|start| {
        let rest = &trimmed[start + 3..];
        let body_start = rest.find('\n').unwrap_or(0);
        let rest = &rest[body_start..];
        rest.find("```").map(|end| rest[..end].trim())
    });
    let candidates = [
        Some(trimmed),
        fenced,
        trimmed.find('{').and_then(|s| trimmed.rfind('}').filter(|e| *e > s).map(|e| &trimmed[s..=e])),
    ];
    let value = candidates
        .into_iter()
        .flatten()
        .find_map(|c| serde_json::from_str::<Value>(c).ok().filter(Value::is_object))?;
    match value.get("pipeline") {
        Some(inner @ Value::Object(_)) if value.as_object().is_some_and(|o| o.len() == 1) => Some(inner.clone()),
        _ => Some(value),
    }
}

/// The instructions: the document format and every connector action with its
/// params, from the live catalogue.
pub fn system_prompt(catalogue: &Catalogue, limits: &Limits) -> String {
    let mut out = String::from(
        "You turn a plain-language description of an automation into a Levqor pipeline. \
         Reply with exactly one JSON object and nothing else, in this shape:\n\
         {\"description\": \"<short summary>\", \"trigger\": \"<trigger>\", \"schedule\": \"<5-field cron, UTC; only for trigger schedule>\", \
         \"actions\": [{\"connector\": \"<connector>\", \"action\": \"<action>\", \"params\": {…}}]}\n",
    );
    let triggers: Vec<&str> = Trigger::ALL.iter().map(|t| t.as_str()).collect();
    out.push_str(&format!(
        "Triggers: {} (a form submission or incoming HTTP call is `webhook`; \"every Friday at 5pm\" is `schedule` with \"0 17 * * 5\").\n",
        triggers.join(", ")
    ));
    out.push_str(&format!(
        "At most {} actions, in the order they run. String params may use {{{{input.<path>}}}} (the run input, e.g. the form fields) \
         and {{{{steps.s<N>.output.<path>}}}} (the output of an earlier action; the first action is s1).\n",
        limits.max_steps
    ));
    let types: Vec<String> = ACTION_TYPES.iter().map(|(t, c, a)| format!("{t} = {c}.{a}")).collect();
    out.push_str(&format!("Instead of connector and action you may give a `type`: {}.\n", types.join(", ")));
    out.push_str("Connectors and actions (params: name:type, * = required):\n");
    for connector in catalogue.connectors() {
        out.push_str(&format!("- {}: {}\n", connector.name, connector.description));
        for action in &connector.actions {
            let required: Vec<&str> = action.params["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let params: Vec<String> = action.params["properties"]
                .as_object()
                .map(|props| {
                    props
                        .iter()
                        .map(|(name, schema)| {
                            let ty = match &schema["type"] {
                                Value::String(t) => t.clone(),
                                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|"),
                                _ if schema.get("enum").is_some() => schema["enum"].to_string(),
                                _ => "any".into(),
                            };
                            let star = if required.contains(&name.as_str()) { "*" } else { "" };
                            format!("{name}{star}:{ty}")
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push_str(&format!(
                "  - {}.{}({}): {}\n",
                connector.name,
                action.name,
                params.join(", "),
                action.description
            ));
        }
    }
    out.push_str(
        "Use only these connectors, actions and params. When the description does not give a value a required param needs \
         (a channel, a database id, an address), use a template from the input such as {{input.email}}.",
    );
    let examples = worked_examples(catalogue, limits);
    if !examples.is_empty() {
        out.push_str("\nExamples:\n");
        for (description, doc) in examples {
            out.push_str(&format!("Description: {description}\nPipeline: {doc}\n"));
        }
    }
    out
}

/// Worked examples for the prompt, one per trigger family: an HTTP call, a
/// condition, an AI step feeding the next step. Each is checked against the
/// catalogue and only the ones that validate are shown, so the prompt never
/// teaches an action or a param the deployment does not have.
pub fn worked_examples(catalogue: &Catalogue, limits: &Limits) -> Vec<(&'static str, Value)> {
    let candidates = [
        (
            "When someone submits the signup form, post their email to #signups on Slack",
            json!({"description": "Post each signup to #signups", "trigger": "webhook", "actions": [
                {"connector": "slack", "action": "post_message", "params": {"channel": "#signups", "text": "New signup: {{input.email}}"}}
            ]}),
        ),
        (
            "Every weekday at 8:30 fetch https://api.example.com/report, summarize it and email the summary to ops@example.com",
            json!({"description": "Weekday report summary", "trigger": "schedule", "schedule": "30 8 * * 1-5", "actions": [
                {"connector": "http", "action": "request", "params": {"method": "GET", "url": "https://api.example.com/report"}},
                {"connector": "ai", "action": "summarize", "params": {"text": "{{steps.s1.output.body}}"}},
                {"connector": "gmail", "action": "send_email", "params": {"to": "ops@example.com", "subject": "Daily report", "body": "{{steps.s2.output.summary}}"}}
            ]}),
        ),
        (
            "If an email from billing@example.com arrives with an amount over 100, create a page in Notion database 0123456789abcdef0123456789abcdef and message Telegram chat 4242",
            json!({"description": "Large invoices to Notion and Telegram", "trigger": "email.received", "actions": [
                {"connector": "builtin", "action": "filter", "params": {"input": "{{input}}", "field": "from", "op": "contains", "value": "billing@example.com"}},
                {"connector": "builtin", "action": "filter", "params": {"input": "{{input}}", "field": "amount", "op": "gt", "value": 100}},
                {"connector": "notion", "action": "create_page", "params": {"database_id": "0123456789abcdef0123456789abcdef", "title": "{{input.subject}}", "content": "{{input.body}}"}},
                {"connector": "telegram", "action": "send_message", "params": {"chat_id": 4242, "text": "New invoice: {{steps.s3.output.url}}"}}
            ]}),
        ),
    ];
    candidates.into_iter().filter(|(_, doc)| validate_document(doc, catalogue, limits).is_ok()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn extracts_json_from_replies() {
        assert_eq!(extract_json(r#"{"a": 1}"#), Some(json!({"a": 1})));
        assert_eq!(extract_json("```json\n{\"a\": 1}\n```"), Some(json!({"a": 1})));
        assert_eq!(extract_json("Here you go:\n```\n{\"a\": 1}\n```\nEnjoy"), Some(json!({"a": 1})));
        assert_eq!(extract_json("Sure: {\"a\": {\"b\": 2}} done"), Some(json!({"a": {"b": 2}})));
        assert_eq!(extract_json(r#"{"pipeline": {"trigger": "manual"}}"#), Some(json!({"trigger": "manual"})));
        assert_eq!(extract_json("Sure! Here is your workflow: do the thing."), None);
        assert_eq!(extract_json("[1, 2]"), None);
    }

    #[test]
    fn examples_are_valid_for_the_catalogue_and_shown() {
        let catalogue = Catalogue::from_registry(
            &levqor_connectors::ConnectorRegistry::with_defaults(&levqor_connectors::ConnectorConfig::default())
                .unwrap(),
        );
        let limits = Limits::default();
        assert_eq!(worked_examples(&catalogue, &limits).len(), 3);
        let prompt = system_prompt(&catalogue, &limits);
        assert!(prompt.contains("Examples:") && prompt.contains("\"schedule\":\"30 8 * * 1-5\""), "{prompt}");
        // A deployment without Telegram is not taught Telegram.
        let fewer = Catalogue::new(catalogue.connectors().iter().filter(|c| c.name != "telegram").cloned().collect());
        assert_eq!(worked_examples(&fewer, &limits).len(), 2);
        assert!(!system_prompt(&fewer, &limits).contains("Telegram chat 4242"));
    }

    #[test]
    fn reads_the_environment() {
        assert_eq!(OpenAiConfig::from_lookup(|_| None), None);
        let c = OpenAiConfig::from_lookup(|k| match k {
            "OPENAI_API_KEY" => Some("sk-test".into()),
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1/".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((c.base_url.as_str(), c.model.as_str()), ("http://127.0.0.1:9/v1", "gpt-4o-mini"));
    }
}
