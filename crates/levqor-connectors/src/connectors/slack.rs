//! Slack Web API: `chat.postMessage`, `conversations.list` (paginated) and the
//! external upload flow (`files.getUploadURLExternal` → upload →
//! `files.completeUploadExternal`). Slack answers HTTP 200 with `ok: false` for
//! most failures, so every answer's `ok` is checked.
//!
//! References: <https://api.slack.com/methods/chat.postMessage> (errors
//! `ratelimited`, `internal_error`, `fatal_error`: "it's possible some aspect
//! of the operation succeeded"), <https://api.slack.com/apis/rate-limits>
//! (HTTP 429 with `Retry-After` in seconds) and
//! <https://api.slack.com/web#posting_json> (JSON bodies must say
//! `charset=utf-8`, else a `missing_charset` warning).

use base64::Engine;
use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{endpoint, fail, parse, unsupported};
use crate::client::{HttpClient, Policy, Repeat, Response, Throttle, retry_after};
use crate::config::ConnectorConfig;
use crate::connector::{ActionSpec, Connector, TaskCall, TaskFuture, prepare};
use crate::error::ConnectorError;

/// `conversations.list` pages fetched per call at most (the caller can go on
/// from the returned `next_cursor`).
const MAX_PAGES: u32 = 20;

/// Slack's content type for JSON bodies.
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// Slack error codes after which the operation may have partly happened.
const MAYBE_DONE_ERRORS: &[&str] = &["internal_error", "fatal_error"];

/// Slack error codes that mean the token itself is bad.
const AUTH_ERRORS: &[&str] = &["not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired"];

#[derive(Debug, Clone)]
pub struct Slack {
    client: HttpClient,
    base: String,
}

impl Slack {
    pub fn new(config: &ConnectorConfig) -> Result<Self, ConnectorError> {
        Ok(Self { client: HttpClient::new(config.http)?, base: config.slack_base.clone() })
    }
}

#[derive(Deserialize)]
struct PostMessage {
    channel: String,
    text: String,
    thread_ts: Option<String>,
}

#[derive(Deserialize)]
struct ListChannels {
    types: Option<String>,
    exclude_archived: Option<bool>,
    limit: Option<u32>,
    max_pages: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct UploadFile {
    filename: String,
    content: Option<String>,
    content_base64: Option<String>,
    title: Option<String>,
    channel_id: Option<String>,
    initial_comment: Option<String>,
    thread_ts: Option<String>,
}

impl Connector for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn description(&self) -> &'static str {
        "Post messages, list channels and upload files in a Slack workspace (bot token)."
    }

    fn actions(&self) -> Vec<ActionSpec> {
        let token = &["token"];
        vec![
            ActionSpec::new(
                "post_message",
                "Post a message to a channel (chat.postMessage).",
                json!({
                    "type": "object",
                    "required": ["channel", "text"],
                    "additionalProperties": false,
                    "properties": {
                        "channel": {"type": "string", "minLength": 1, "maxLength": 200, "description": "channel id or #name"},
                        "text": {"type": "string", "minLength": 1, "maxLength": 40000},
                        "thread_ts": {"type": "string", "maxLength": 64, "description": "reply in this thread"}
                    }
                }),
            )
            .credentials(token)
            .aliases(&[("message", "text")]),
            ActionSpec::new(
                "list_channels",
                "List the channels the token can see (conversations.list, follows the cursor).",
                json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "types": {"type": "string", "maxLength": 100, "description": "e.g. public_channel,private_channel"},
                        "exclude_archived": {"type": "boolean", "default": true},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "page size"},
                        "max_pages": {"type": "integer", "minimum": 1, "maximum": MAX_PAGES, "default": 10},
                        "cursor": {"type": "string", "maxLength": 500}
                    }
                }),
            )
            .credentials(token)
            .safe_to_repeat(),
            ActionSpec::new(
                "upload_file",
                "Upload a file and optionally share it in a channel (files.getUploadURLExternal, files.completeUploadExternal).",
                json!({
                    "type": "object",
                    "required": ["filename"],
                    "additionalProperties": false,
                    "properties": {
                        "filename": {"type": "string", "minLength": 1, "maxLength": 255},
                        "content": {"type": "string", "maxLength": 1_000_000, "description": "text content (this or content_base64)"},
                        "content_base64": {"type": "string", "maxLength": 1_400_000, "description": "binary content, base64"},
                        "title": {"type": "string", "maxLength": 255},
                        "channel_id": {"type": "string", "minLength": 1, "maxLength": 64},
                        "initial_comment": {"type": "string", "maxLength": 4000},
                        "thread_ts": {"type": "string", "maxLength": 64}
                    }
                }),
            )
            .credentials(token)
            .aliases(&[("channel", "channel_id")]),
        ]
    }

    fn run_task(&self, mut call: TaskCall) -> TaskFuture {
        let spec = match prepare(&self.actions(), &mut call) {
            Ok(spec) => spec,
            Err(e) => return fail(e),
        };
        let this = self.clone();
        let repeat = spec.repeat;
        async move {
            let token = call.credentials.require("token")?;
            match call.action.as_str() {
                "post_message" => this.post_message(token, parse(&call.params)?, repeat).await,
                "list_channels" => this.list_channels(token, parse(&call.params)?, repeat).await,
                "upload_file" => this.upload_file(token, parse(&call.params)?, repeat).await,
                other => Err(unsupported(other)),
            }
        }
        .boxed()
    }
}

impl Slack {
    async fn post_message(&self, token: &str, p: PostMessage, repeat: Repeat) -> Result<Value, ConnectorError> {
        let mut body = json!({"channel": p.channel, "text": p.text});
        if let Some(ts) = p.thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let url = endpoint(&self.base, "chat.postMessage");
        let response = self.client.send(policy(repeat), |c| post_json(c, &url, token, &body)).await?;
        let answer = slack_answer(&response, repeat)?;
        if answer.get("ts").and_then(Value::as_str).is_none() {
            return Err(ConnectorError::unexpected("chat.postMessage answered ok without a message ts"));
        }
        Ok(answer)
    }

    async fn list_channels(&self, token: &str, p: ListChannels, repeat: Repeat) -> Result<Value, ConnectorError> {
        let url = endpoint(&self.base, "conversations.list");
        let limit = p.limit.unwrap_or(200).to_string();
        let exclude = p.exclude_archived.unwrap_or(true).to_string();
        let max_pages = p.max_pages.unwrap_or(10).clamp(1, MAX_PAGES);
        let mut cursor = p.cursor.unwrap_or_default();
        let mut channels = Vec::new();
        let mut pages = 0;
        while pages < max_pages {
            let mut query = vec![("limit", limit.as_str()), ("exclude_archived", exclude.as_str())];
            if let Some(types) = &p.types {
                query.push(("types", types.as_str()));
            }
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let response = self.client.send(policy(repeat), |c| c.get(&url).bearer_auth(token).query(&query)).await?;
            let answer = slack_answer(&response, repeat)?;
            let Some(page) = answer.get("channels").and_then(Value::as_array) else {
                return Err(ConnectorError::unexpected("conversations.list answered without `channels`"));
            };
            channels.extend(page.iter().cloned());
            pages += 1;
            cursor =
                answer.pointer("/response_metadata/next_cursor").and_then(Value::as_str).unwrap_or_default().to_owned();
            if cursor.is_empty() {
                break;
            }
        }
        Ok(json!({"channels": channels, "next_cursor": cursor, "pages": pages}))
    }

    async fn upload_file(&self, token: &str, p: UploadFile, repeat: Repeat) -> Result<Value, ConnectorError> {
        let bytes = match (&p.content, &p.content_base64) {
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| ConnectorError::invalid_params("content_base64", "is not base64"))?,
            (Some(_), Some(_)) => {
                return Err(ConnectorError::invalid_params("content", "give content or content_base64, not both"));
            }
            (None, None) => {
                return Err(ConnectorError::invalid_params("content", "is required (or content_base64)"));
            }
        };
        if bytes.is_empty() {
            return Err(ConnectorError::invalid_params("content", "must not be empty"));
        }

        // 1. Ask for an upload URL. Nothing is shared yet: a repeat only leaves
        // an unused upload slot behind.
        let url = endpoint(&self.base, "files.getUploadURLExternal");
        let length = bytes.len().to_string();
        let form = [("filename", p.filename.as_str()), ("length", length.as_str())];
        let response = self.client.send(policy(Repeat::Safe), |c| c.post(&url).bearer_auth(token).form(&form)).await?;
        let answer = slack_answer(&response, Repeat::Safe)?;
        let (Some(upload_url), Some(file_id)) =
            (answer.get("upload_url").and_then(Value::as_str), answer.get("file_id").and_then(Value::as_str))
        else {
            return Err(ConnectorError::unexpected(
                "files.getUploadURLExternal answered without upload_url or file_id",
            ));
        };
        let upload_url = url::Url::parse(upload_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or_else(|| ConnectorError::unexpected("Slack's upload_url is not an http(s) URL"))?;

        // 2. Send the bytes (the same bytes to the same file: safe to repeat).
        // The URL is pre-signed: the token is not sent along.
        let response = self
            .client
            .send(Policy::new(Repeat::Safe), |c| {
                c.post(upload_url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.clone())
            })
            .await?;
        if !response.is_success() {
            return Err(response.error(format!("slack upload: {}", response.snippet())));
        }

        // 3. Complete the upload, sharing it if a channel was given.
        let mut body = json!({
            "files": [{"id": file_id, "title": p.title.as_deref().unwrap_or(&p.filename)}]
        });
        for (key, value) in
            [("channel_id", &p.channel_id), ("initial_comment", &p.initial_comment), ("thread_ts", &p.thread_ts)]
        {
            if let Some(value) = value {
                body[key] = json!(value);
            }
        }
        // 3. is what shares the file: the action's own policy.
        let url = endpoint(&self.base, "files.completeUploadExternal");
        let response = self.client.send(policy(repeat), |c| post_json(c, &url, token, &body)).await?;
        let answer = slack_answer(&response, repeat)?;
        let files = answer
            .get("files")
            .filter(|f| f.is_array())
            .cloned()
            .ok_or_else(|| ConnectorError::unexpected("files.completeUploadExternal answered without files"))?;
        Ok(json!({"file_id": file_id, "files": files}))
    }
}

/// `repeat` with Slack's rate limits.
fn policy(repeat: Repeat) -> Policy {
    Policy::new(repeat).with_throttle(slack_throttle)
}

/// A JSON POST as Slack wants it: bearer token and `charset=utf-8`.
fn post_json(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> reqwest::RequestBuilder {
    // Set before `.json()`, which keeps a content type already there.
    client.post(url).bearer_auth(token).header(reqwest::header::CONTENT_TYPE, JSON_UTF8).json(body)
}

/// Slack rate-limits with HTTP 429 and `Retry-After`, and some methods answer
/// `ok: false, error: ratelimited` (the wait, if any, again in `Retry-After`).
fn slack_throttle(response: &Response) -> Option<Throttle> {
    let ratelimited = response.status == 429
        || response.json_opt().is_some_and(|b| b.get("error").and_then(Value::as_str) == Some("ratelimited"));
    ratelimited.then(|| Throttle::wait(retry_after(&response.headers)))
}

/// A Slack answer that is `ok: true`, or the error it describes.
fn slack_answer(response: &Response, repeat: Repeat) -> Result<Value, ConnectorError> {
    let body = response.json_opt();
    let code = body.as_ref().and_then(|b| b.get("error")).and_then(Value::as_str).map(str::to_owned);
    if !response.is_success() {
        let code = code.unwrap_or_else(|| response.snippet());
        return Err(response.error(format!("slack: {code}")));
    }
    let Some(body) = body else {
        return Err(response
            .json()
            .err()
            .unwrap_or_else(|| ConnectorError::unexpected("Slack answered with something that is not JSON")));
    };
    match body.get("ok") {
        Some(Value::Bool(true)) => Ok(body),
        Some(Value::Bool(false)) => {
            let code = code.unwrap_or_else(|| "unknown_error".to_owned());
            Err(if AUTH_ERRORS.contains(&code.as_str()) {
                ConnectorError::InvalidCredentials { message: format!("slack: {code}") }
            } else if repeat == Repeat::Once && MAYBE_DONE_ERRORS.contains(&code.as_str()) {
                ConnectorError::OutcomeUnknown(format!("slack: {code}"))
            } else if code == "ratelimited" {
                ConnectorError::RateLimited { retry_after: response.retry_after() }
            } else {
                ConnectorError::UpstreamRefused { status: response.status, message: format!("slack: {code}") }
            })
        }
        _ => Err(ConnectorError::unexpected("Slack answered without `ok`")),
    }
}
