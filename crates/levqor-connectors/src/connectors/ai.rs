//! `ai`: `summarize` and `classify` through OpenAI chat completions when an API
//! key is configured (or given as the `api_key` credential), otherwise through
//! the local engine. Every result says which engine answered (`"engine":
//! "openai"` or `"local"`), so nobody mistakes the fallback for a model.
//! The model's reply is checked: a classification must name one of the labels.
//!
//! The model is `OPENAI_MODEL`. Chat completions take `max_completion_tokens`
//! (`max_tokens` is deprecated, and the o-series and gpt-5 reasoning models
//! reject it, as they reject a `temperature` other than the default):
//! <https://platform.openai.com/docs/api-reference/chat/create>.

mod local;

use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{endpoint, fail, parse, unsupported};
use crate::client::{HttpClient, Policy, Repeat, Response};
use crate::config::ConnectorConfig;
use crate::connector::{ActionSpec, Connector, TaskCall, TaskFuture, prepare};
use crate::error::ConnectorError;

const DEFAULT_MAX_WORDS: usize = 60;
const TEMPERATURE: f64 = 0.2;
/// Reasoning models spend part of `max_completion_tokens` on hidden
/// reasoning; this much more keeps a short answer from being cut to nothing.
const REASONING_HEADROOM: usize = 4096;

#[derive(Clone)]
pub struct Ai {
    client: HttpClient,
    base: String,
    api_key: Option<String>,
    model: String,
}

impl std::fmt::Debug for Ai {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ai")
            .field("base", &self.base)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .finish()
    }
}

impl Ai {
    pub fn new(config: &ConnectorConfig) -> Result<Self, ConnectorError> {
        Ok(Self {
            client: HttpClient::new(config.http)?,
            base: config.openai_base.clone(),
            api_key: config.openai_api_key.clone().filter(|k| !k.trim().is_empty()),
            model: config.openai_model.clone(),
        })
    }
}

#[derive(Deserialize)]
struct Summarize {
    text: String,
    max_words: Option<usize>,
}

#[derive(Deserialize)]
struct Classify {
    text: String,
    labels: Vec<String>,
}

impl Connector for Ai {
    fn name(&self) -> &'static str {
        "ai"
    }

    fn description(&self) -> &'static str {
        "Summarise and classify text with OpenAI, or a local extractive engine without a key."
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            ActionSpec::new(
                "summarize",
                "Summarise a text in at most `max_words` words.",
                json!({
                    "type": "object",
                    "required": ["text"],
                    "additionalProperties": false,
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": 100_000},
                        "max_words": {"type": "integer", "minimum": 5, "maximum": 500, "default": DEFAULT_MAX_WORDS}
                    }
                }),
            )
            .optional_credentials(&["api_key"])
            // A completion changes nothing at the service: repeating costs tokens only.
            .safe_to_repeat(),
            ActionSpec::new(
                "classify",
                "Pick the one label that fits a text best.",
                json!({
                    "type": "object",
                    "required": ["text", "labels"],
                    "additionalProperties": false,
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": 20_000},
                        "labels": {"type": "array", "minItems": 2, "maxItems": 50,
                                   "items": {"type": "string", "minLength": 1, "maxLength": 100}}
                    }
                }),
            )
            .optional_credentials(&["api_key"])
            .safe_to_repeat(),
        ]
    }

    fn run_task(&self, mut call: TaskCall) -> TaskFuture {
        if let Err(e) = prepare(&self.actions(), &mut call) {
            return fail(e);
        }
        let this = self.clone();
        async move {
            let key = call.credentials.get("api_key").map(str::to_owned).or_else(|| this.api_key.clone());
            match (call.action.as_str(), key) {
                ("summarize", key) => {
                    let p: Summarize = parse(&call.params)?;
                    let max_words = p.max_words.unwrap_or(DEFAULT_MAX_WORDS);
                    match key {
                        Some(key) => this.summarize(&key, &p.text, max_words).await,
                        None => Ok(json!({
                            "summary": local::summarize(&p.text, max_words),
                            "engine": "local",
                        })),
                    }
                }
                ("classify", key) => {
                    let p: Classify = parse(&call.params)?;
                    match key {
                        Some(key) => this.classify(&key, &p.text, &p.labels).await,
                        None => {
                            let (label, scores) = local::classify(&p.text, &p.labels);
                            let scores: serde_json::Map<String, Value> =
                                scores.into_iter().map(|(l, n)| (l, json!(n))).collect();
                            Ok(json!({"label": label, "scores": scores, "engine": "local"}))
                        }
                    }
                }
                (other, _) => Err(unsupported(other)),
            }
        }
        .boxed()
    }
}

impl Ai {
    async fn summarize(&self, key: &str, text: &str, max_words: usize) -> Result<Value, ConnectorError> {
        let system = format!(
            "Summarise the user's text in at most {max_words} words. \
             Reply with the summary only, in the text's language."
        );
        let reply = self.complete(key, &system, text, max_words * 2 + 50).await?;
        let words: Vec<&str> = reply.split_whitespace().collect();
        if words.is_empty() {
            return Err(ConnectorError::unexpected("the model returned an empty summary"));
        }
        // The model is asked for a limit, not trusted to keep it.
        let summary = words.iter().take(max_words).copied().collect::<Vec<_>>().join(" ");
        Ok(json!({"summary": summary, "engine": "openai", "model": self.model}))
    }

    async fn classify(&self, key: &str, text: &str, labels: &[String]) -> Result<Value, ConnectorError> {
        let listed = labels.iter().map(|l| format!("- {l}")).collect::<Vec<_>>().join("\n");
        let system = format!(
            "Classify the user's text with exactly one of these labels:\n{listed}\n\
             Reply with the label only, spelled exactly as listed."
        );
        let reply = self.complete(key, &system, text, 30).await?;
        let label = match_label(&reply, labels).ok_or_else(|| {
            let shown: String = reply.chars().take(80).collect();
            ConnectorError::unexpected(format!("the model answered `{shown}`, not a label"))
        })?;
        Ok(json!({"label": label, "engine": "openai", "model": self.model}))
    }

    /// One chat completion; returns the first choice's text.
    async fn complete(&self, key: &str, system: &str, user: &str, max_tokens: usize) -> Result<String, ConnectorError> {
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user}
            ],
        });
        let visible = max_tokens.min(1024);
        if is_reasoning_model(&self.model) {
            body["max_completion_tokens"] = json!(visible + REASONING_HEADROOM);
        } else {
            body["max_completion_tokens"] = json!(visible);
            body["temperature"] = json!(TEMPERATURE);
        }
        let url = endpoint(&self.base, "chat/completions");
        let response =
            self.client.send(Policy::new(Repeat::Safe), |c| c.post(&url).bearer_auth(key).json(&body)).await?;
        if !response.is_success() {
            return Err(openai_error(&response));
        }
        let answer = response.json()?;
        answer
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .map(|s| s.trim().to_owned())
            .ok_or_else(|| ConnectorError::unexpected("the completion has no message content"))
    }
}

/// The o-series and gpt-5 models: they reason before answering and accept only
/// the default temperature.
pub fn is_reasoning_model(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
    let o_series = name.strip_prefix('o').is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    o_series || name.starts_with("gpt-5")
}

/// The label the reply names: exactly (ignoring case, quotes and a final
/// period), or else the only label the reply contains.
fn match_label(reply: &str, labels: &[String]) -> Option<String> {
    let cleaned = reply.trim().trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | '.' | '*')).trim().to_lowercase();
    if let Some(label) = labels.iter().find(|l| l.to_lowercase() == cleaned) {
        return Some(label.clone());
    }
    let contained: Vec<&String> = labels.iter().filter(|l| cleaned.contains(&l.to_lowercase())).collect();
    match contained.as_slice() {
        [only] => Some((*only).clone()),
        _ => None,
    }
}

/// OpenAI's error shape: `{"error": {"message", "type", "code"}}`.
fn openai_error(response: &Response) -> ConnectorError {
    let body = response.json_opt().unwrap_or(Value::Null);
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(|m| format!("openai: {m}"))
        .unwrap_or_else(|| format!("openai: {}", response.snippet()));
    response.error(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_models() {
        for model in ["o1", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "openai/o3"] {
            assert!(is_reasoning_model(model), "{model}");
        }
        for model in ["gpt-4o-mini", "gpt-4.1", "omni-moderation-latest"] {
            assert!(!is_reasoning_model(model), "{model}");
        }
    }

    #[test]
    fn label_matching() {
        let labels = vec!["spam".to_owned(), "not spam".to_owned()];
        assert_eq!(match_label("\"Spam\".", &labels).as_deref(), Some("spam"));
        assert_eq!(match_label("not spam", &labels).as_deref(), Some("not spam"));
        // "not spam" contains "spam" too: ambiguous unless exact.
        assert_eq!(match_label("It is not spam, I think", &labels), None);
        assert_eq!(match_label("The label is: spam!", &labels).as_deref(), Some("spam"));
        let labels = vec!["billing".to_owned(), "bug".to_owned()];
        assert_eq!(match_label("Label: billing", &labels).as_deref(), Some("billing"));
    }
}
