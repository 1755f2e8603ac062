//! Telegram Bot API: `sendMessage`, `getMe`, `getUpdates`, at
//! `{base}/bot<token>/<method>`. The token is part of the URL, so it is checked
//! for shape (it must not be able to change the path) and never appears in
//! errors.
//!
//! References: <https://core.telegram.org/bots/api#making-requests> (`ok`,
//! `error_code`, `description`, `parameters`) and
//! <https://core.telegram.org/bots/api#responseparameters> (flood control: HTTP
//! 429 with the wait in `parameters.retry_after`, seconds, and no
//! `Retry-After` header).

use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{endpoint, fail, parse, unsupported};
use std::time::Duration;

use crate::client::{HttpClient, Policy, Response, Throttle, retry_after};
use crate::config::ConnectorConfig;
use crate::connector::{ActionSpec, Connector, TaskCall, TaskFuture, prepare};
use crate::error::ConnectorError;

#[derive(Debug, Clone)]
pub struct Telegram {
    client: HttpClient,
    base: String,
}

impl Telegram {
    pub fn new(config: &ConnectorConfig) -> Result<Self, ConnectorError> {
        Ok(Self { client: HttpClient::new(config.http)?, base: config.telegram_base.clone() })
    }
}

#[derive(Deserialize)]
struct SendMessage {
    chat_id: Value,
    text: String,
    parse_mode: Option<String>,
    disable_notification: Option<bool>,
}

#[derive(Deserialize)]
struct GetUpdates {
    offset: Option<i64>,
    limit: Option<u32>,
}

impl Connector for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn description(&self) -> &'static str {
        "Send messages and read updates as a Telegram bot (bot token)."
    }

    fn actions(&self) -> Vec<ActionSpec> {
        let token = &["bot_token"];
        vec![
            ActionSpec::new(
                "send_message",
                "Send a text message to a chat (sendMessage).",
                json!({
                    "type": "object",
                    "required": ["chat_id", "text"],
                    "additionalProperties": false,
                    "properties": {
                        "chat_id": {"type": ["integer", "string"], "description": "chat id or @channelusername"},
                        "text": {"type": "string", "minLength": 1, "maxLength": 4096},
                        "parse_mode": {"enum": ["MarkdownV2", "HTML", "Markdown"]},
                        "disable_notification": {"type": "boolean"}
                    }
                }),
            )
            .credentials(token)
            .aliases(&[("chatId", "chat_id"), ("message", "text")]),
            ActionSpec::new(
                "get_me",
                "Describe the bot (getMe); a cheap check that the token works.",
                json!({"type": "object", "additionalProperties": false, "properties": {}}),
            )
            .credentials(token)
            .safe_to_repeat(),
            ActionSpec::new(
                "get_updates",
                "Fetch pending updates (getUpdates, no long polling).",
                json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "offset": {"type": "integer"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100}
                    }
                }),
            )
            .credentials(token)
            // The same offset fetches the same updates.
            .safe_to_repeat(),
        ]
    }

    fn run_task(&self, mut call: TaskCall) -> TaskFuture {
        let spec = match prepare(&self.actions(), &mut call) {
            Ok(spec) => spec,
            Err(e) => return fail(e),
        };
        let this = self.clone();
        let policy = Policy::new(spec.repeat).with_throttle(flood_control);
        async move {
            let token = bot_token(call.credentials.require("bot_token")?)?;
            match call.action.as_str() {
                "send_message" => {
                    let p: SendMessage = parse(&call.params)?;
                    if p.chat_id.as_str().is_some_and(|s| s.trim().is_empty()) {
                        return Err(ConnectorError::invalid_params("chat_id", "must not be empty"));
                    }
                    let mut body = json!({"chat_id": p.chat_id, "text": p.text});
                    if let Some(mode) = p.parse_mode {
                        body["parse_mode"] = json!(mode);
                    }
                    if let Some(quiet) = p.disable_notification {
                        body["disable_notification"] = json!(quiet);
                    }
                    this.call(policy, token, "sendMessage", Some(body)).await
                }
                "get_me" => this.call(policy, token, "getMe", None).await,
                "get_updates" => {
                    let p: GetUpdates = parse(&call.params)?;
                    let mut body = json!({"timeout": 0});
                    if let Some(offset) = p.offset {
                        body["offset"] = json!(offset);
                    }
                    if let Some(limit) = p.limit {
                        body["limit"] = json!(limit);
                    }
                    this.call(policy, token, "getUpdates", Some(body)).await
                }
                other => Err(unsupported(other)),
            }
        }
        .boxed()
    }
}

impl Telegram {
    /// Calls `method` (GET without a body, POST JSON with one) and returns the
    /// answer's `result`.
    async fn call(
        &self,
        policy: Policy,
        token: &str,
        method: &str,
        body: Option<Value>,
    ) -> Result<Value, ConnectorError> {
        let url = endpoint(&self.base, &format!("bot{token}/{method}"));
        let response = self
            .client
            .send(policy, |c| match &body {
                Some(body) => c.post(&url).json(body),
                None => c.get(&url),
            })
            .await?;
        telegram_answer(&response)
    }
}

/// Telegram's flood control: `error_code` 429 with `parameters.retry_after`
/// in the body (a `Retry-After` header is honoured too, should one come).
fn flood_control(response: &Response) -> Option<Throttle> {
    let body = response.json_opt();
    let code = body.as_ref().and_then(|b| b.get("error_code")).and_then(Value::as_u64);
    if response.status != 429 && code != Some(429) {
        return None;
    }
    let wait = body
        .as_ref()
        .and_then(|b| b.pointer("/parameters/retry_after"))
        .and_then(Value::as_u64)
        .map(Duration::from_secs)
        .or_else(|| retry_after(&response.headers));
    Some(Throttle::wait(wait))
}

/// `<digits>:<letters, digits, _ or ->`: the shape of every bot token.
fn bot_token(raw: &str) -> Result<&str, ConnectorError> {
    let token = raw.trim();
    let valid = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !secret.is_empty()
            && secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if valid {
        Ok(token)
    } else {
        Err(ConnectorError::InvalidCredentials { message: "bot_token does not look like a Telegram bot token".into() })
    }
}

/// `{"ok": true, "result": …}` or `{"ok": false, "error_code", "description",
/// "parameters"?: {"retry_after"}}`.
fn telegram_answer(response: &Response) -> Result<Value, ConnectorError> {
    let body = response.json_opt();
    let ok = body.as_ref().and_then(|b| b.get("ok")).and_then(Value::as_bool);
    match (ok, body) {
        (Some(true), Some(mut body)) if response.is_success() => body
            .get_mut("result")
            .map(Value::take)
            .ok_or_else(|| ConnectorError::unexpected("Telegram answered ok without a result")),
        (Some(false), Some(body)) => Err(telegram_error(response, &body)),
        _ if !response.is_success() => Err(telegram_error(response, &Value::Null)),
        _ => Err(ConnectorError::unexpected(format!("Telegram answered HTTP {} without `ok`", response.status))),
    }
}

fn telegram_error(response: &Response, body: &Value) -> ConnectorError {
    let description =
        body.get("description").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| response.snippet());
    let code =
        body.get("error_code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(response.status);
    let message = format!("telegram: {description}");
    match code {
        401 => ConnectorError::InvalidCredentials { message },
        429 => ConnectorError::RateLimited {
            retry_after: body
                .pointer("/parameters/retry_after")
                .and_then(Value::as_u64)
                .or_else(|| response.retry_after()),
        },
        status => ConnectorError::UpstreamRefused { status, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        assert!(bot_token("123456:ABC-def_9").is_ok());
        for bad in ["", "abc", "123456:", ":abc", "12/../x:abc", "123:ab/c", "123:a?b"] {
            assert!(bot_token(bad).is_err(), "{bad}");
        }
    }
}
