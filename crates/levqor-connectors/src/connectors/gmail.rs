//! Gmail API: labels, message search and sending, with an OAuth access token
//! that is refreshed (refresh token + client credentials) when it has expired
//! or the API rejects it. A refreshed token is handed back in the result's
//! `refreshed_credentials` so the caller can store it.
//!
//! Reference: <https://developers.google.com/gmail/api/guides/handle-errors>:
//! usage limits come as 403 (or 429) with `error.errors[].reason`
//! `rateLimitExceeded` / `userRateLimitExceeded` (retry with exponential
//! back-off) or `dailyLimitExceeded` (not before the quota resets); 5xx
//! answers are "retry with exponential back-off", which a send does not do
//! by itself here because the message may have gone out.

mod message;

pub use message::build_message;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{endpoint, fail, parse, unsupported};
use crate::client::{HttpClient, Policy, Repeat, Response, Throttle, retry_after};
use crate::config::ConnectorConfig;
use crate::connector::{ActionSpec, Connector, Credentials, TaskCall, TaskFuture, prepare};
use crate::error::ConnectorError;

/// Usage-limit reasons that lift within seconds.
const RATE_LIMIT_REASONS: &[&str] = &["rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"];
/// Usage-limit reasons that last until the daily quota resets.
const DAILY_LIMIT_REASONS: &[&str] = &["dailyLimitExceeded"];

/// A token this close to its expiry is refreshed first rather than risked.
const EXPIRY_SKEW_S: i64 = 60;

#[derive(Debug, Clone)]
pub struct Gmail {
    client: HttpClient,
    base: String,
    token_url: String,
}

impl Gmail {
    pub fn new(config: &ConnectorConfig) -> Result<Self, ConnectorError> {
        Ok(Self {
            client: HttpClient::new(config.http)?,
            base: config.gmail_base.clone(),
            token_url: config.gmail_token_url.clone(),
        })
    }
}

#[derive(Deserialize)]
struct ListMessages {
    query: Option<String>,
    max_results: Option<u32>,
    page_token: Option<String>,
    label_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct SendEmail {
    to: Value,
    subject: String,
    body: String,
    cc: Option<Value>,
    from: Option<String>,
}

/// What the credentials say about the token.
struct Auth {
    access_token: String,
    /// `(refresh_token, client_id, client_secret)` when all three are there.
    refresh: Option<(String, String, String)>,
    expires_at: Option<DateTime<Utc>>,
}

impl Auth {
    fn from_credentials(credentials: &Credentials) -> Result<Self, ConnectorError> {
        let access_token = credentials.require("access_token")?.to_owned();
        let refresh =
            match (credentials.get("refresh_token"), credentials.get("client_id"), credentials.get("client_secret")) {
                (Some(r), Some(id), Some(secret)) => Some((r.into(), id.into(), secret.into())),
                _ => None,
            };
        let expires_at = match credentials.get_value("expires_at") {
            None => None,
            Some(value) => Some(parse_expiry(value).ok_or_else(|| ConnectorError::InvalidCredentials {
                message: "expires_at must be an RFC 3339 time or unix seconds".into(),
            })?),
        };
        Ok(Self { access_token, refresh, expires_at })
    }

    fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now + chrono::Duration::seconds(EXPIRY_SKEW_S))
    }
}

fn parse_expiry(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => DateTime::from_timestamp(n.as_i64()?, 0),
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| DateTime::from_timestamp(s.trim().parse().ok()?, 0)),
        _ => None,
    }
}

impl Connector for Gmail {
    fn name(&self) -> &'static str {
        "gmail"
    }

    fn description(&self) -> &'static str {
        "List labels, search messages and send email from a Gmail account (OAuth)."
    }

    fn actions(&self) -> Vec<ActionSpec> {
        let required = &["access_token"];
        let optional = &["refresh_token", "client_id", "client_secret", "expires_at"];
        let addresses = json!({"type": ["string", "array"], "minLength": 3, "maxLength": 10000,
                               "items": {"type": "string", "minLength": 3, "maxLength": 254},
                               "description": "one address, a comma-separated list, or an array"});
        vec![
            ActionSpec::new(
                "list_labels",
                "List the mailbox's labels.",
                json!({"type": "object", "additionalProperties": false, "properties": {}}),
            )
            .credentials(required)
            .optional_credentials(optional)
            .safe_to_repeat(),
            ActionSpec::new(
                "list_messages",
                "Search messages (ids and thread ids), Gmail search syntax.",
                json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "query": {"type": "string", "maxLength": 2000, "description": "e.g. from:ada is:unread"},
                        "max_results": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                        "page_token": {"type": "string", "maxLength": 500},
                        "label_ids": {"type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 200}}
                    }
                }),
            )
            .credentials(required)
            .optional_credentials(optional)
            .safe_to_repeat(),
            ActionSpec::new(
                "send_email",
                "Send a plain-text email as the account owner.",
                json!({
                    "type": "object",
                    "required": ["to", "subject", "body"],
                    "additionalProperties": false,
                    "properties": {
                        "to": addresses,
                        "cc": addresses,
                        "subject": {"type": "string", "minLength": 1, "maxLength": 900},
                        "body": {"type": "string", "maxLength": 1_000_000},
                        "from": {"type": "string", "minLength": 3, "maxLength": 254, "description": "a verified send-as alias; default: the account"}
                    }
                }),
            )
            .credentials(required)
            .optional_credentials(optional),
        ]
    }

    fn run_task(&self, mut call: TaskCall) -> TaskFuture {
        let spec = match prepare(&self.actions(), &mut call) {
            Ok(spec) => spec,
            Err(e) => return fail(e),
        };
        let this = self.clone();
        let policy = Policy::new(spec.repeat).with_throttle(usage_limits);
        async move {
            let mut auth = Auth::from_credentials(&call.credentials)?;
            let request = Request::from_call(&call)?;
            let mut refreshed = None;
            if auth.expired(Utc::now()) && auth.refresh.is_some() {
                refreshed = Some(this.refresh(&mut auth).await?);
            }
            let mut result = this.perform(policy, &auth.access_token, &request).await;
            if let Err(ConnectorError::InvalidCredentials { message }) = &result
                && refreshed.is_none()
            {
                if auth.refresh.is_none() {
                    return Err(ConnectorError::InvalidCredentials {
                        message: format!("{message} (no refresh_token, client_id and client_secret to renew it)"),
                    });
                }
                refreshed = Some(this.refresh(&mut auth).await?);
                result = this.perform(policy, &auth.access_token, &request).await;
            }
            let mut value = result?;
            if let (Some(credentials), Value::Object(map)) = (refreshed, &mut value) {
                map.insert("refreshed_credentials".into(), credentials);
            }
            Ok(value)
        }
        .boxed()
    }
}

/// One action's request, prepared once so a retry after a refresh sends the
/// very same thing.
enum Request {
    Labels,
    Messages(Vec<(String, String)>),
    Send(Value),
}

impl Request {
    fn from_call(call: &TaskCall) -> Result<Self, ConnectorError> {
        match call.action.as_str() {
            "list_labels" => Ok(Self::Labels),
            "list_messages" => {
                let p: ListMessages = parse(&call.params)?;
                let mut query = vec![("maxResults".to_owned(), p.max_results.unwrap_or(100).to_string())];
                if let Some(q) = p.query.filter(|q| !q.trim().is_empty()) {
                    query.push(("q".into(), q));
                }
                if let Some(token) = p.page_token {
                    query.push(("pageToken".into(), token));
                }
                for label in p.label_ids.unwrap_or_default() {
                    query.push(("labelIds".into(), label));
                }
                Ok(Self::Messages(query))
            }
            "send_email" => {
                let p: SendEmail = parse(&call.params)?;
                let to = message::addresses(Some(&p.to), "to")?;
                let cc = message::addresses(p.cc.as_ref(), "cc")?;
                let from = match p.from {
                    Some(from) => message::addresses(Some(&Value::String(from)), "from")?.into_iter().next(),
                    None => None,
                };
                let text = build_message(from.as_deref(), &to, &cc, &p.subject, &p.body, Utc::now())?;
                Ok(Self::Send(json!({"raw": message::raw(&text)})))
            }
            other => Err(unsupported(other)),
        }
    }
}

impl Gmail {
    async fn perform(&self, policy: Policy, token: &str, request: &Request) -> Result<Value, ConnectorError> {
        let users_me = |path: &str| endpoint(&self.base, &format!("gmail/v1/users/me/{path}"));
        match request {
            Request::Labels => {
                let url = users_me("labels");
                let answer = gmail_answer(&self.client.send(policy, |c| c.get(&url).bearer_auth(token)).await?)?;
                if !answer.get("labels").is_some_and(Value::is_array) {
                    return Err(ConnectorError::unexpected("Gmail listed no `labels`"));
                }
                Ok(answer)
            }
            Request::Messages(query) => {
                let url = users_me("messages");
                let mut answer =
                    gmail_answer(&self.client.send(policy, |c| c.get(&url).bearer_auth(token).query(query)).await?)?;
                let Value::Object(map) = &mut answer else {
                    return Err(ConnectorError::unexpected("Gmail's answer is not an object"));
                };
                // Gmail leaves `messages` out when nothing matched.
                map.entry("messages").or_insert_with(|| json!([]));
                Ok(answer)
            }
            Request::Send(body) => {
                let url = users_me("messages/send");
                let answer =
                    gmail_answer(&self.client.send(policy, |c| c.post(&url).bearer_auth(token).json(body)).await?)?;
                if answer.get("id").and_then(Value::as_str).is_none() {
                    return Err(ConnectorError::unexpected("Gmail sent no message id back"));
                }
                Ok(answer)
            }
        }
    }

    /// Trades the refresh token for a new access token; updates `auth` and
    /// returns what the caller should store.
    async fn refresh(&self, auth: &mut Auth) -> Result<Value, ConnectorError> {
        let Some((refresh_token, client_id, client_secret)) = &auth.refresh else {
            return Err(ConnectorError::missing("refresh_token"));
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
        ];
        let url = &self.token_url;
        // A repeated refresh only hands out another access token.
        let response = self.client.send(Policy::new(Repeat::Safe), |c| c.post(url).form(&form)).await?;
        let body = response.json_opt().unwrap_or(Value::Null);
        if !response.is_success() {
            let code = body.get("error").and_then(Value::as_str).unwrap_or("");
            let detail = body.get("error_description").and_then(Value::as_str).unwrap_or("");
            let message = format!("google token refresh: {code} {detail}").trim().to_owned();
            return Err(match (response.status, code) {
                (400 | 401, "invalid_grant" | "invalid_client" | "unauthorized_client") => {
                    ConnectorError::InvalidCredentials { message }
                }
                _ => response.error(message),
            });
        }
        let Some(access_token) = body.get("access_token").and_then(Value::as_str) else {
            return Err(ConnectorError::unexpected("the token endpoint answered without an access_token"));
        };
        let expires_at =
            body.get("expires_in").and_then(Value::as_i64).map(|s| Utc::now() + chrono::Duration::seconds(s));
        let mut stored = json!({"access_token": access_token});
        if let Some(at) = expires_at {
            stored["expires_at"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        // Google may rotate the refresh token; keep the new one if so.
        if let Some(rotated) = body.get("refresh_token").and_then(Value::as_str) {
            stored["refresh_token"] = json!(rotated);
        }
        auth.access_token = access_token.to_owned();
        auth.expires_at = expires_at;
        Ok(stored)
    }
}

/// Gmail's usage limits: a 403 or 429 whose `error.errors[].reason` (or, in
/// the newer shape, `error.details[].reason`) names one.
fn usage_limits(response: &Response) -> Option<Throttle> {
    if !matches!(response.status, 403 | 429) {
        return None;
    }
    let body = response.json_opt().unwrap_or(Value::Null);
    let reasons: Vec<&str> = ["/error/errors", "/error/details"]
        .iter()
        .filter_map(|at| body.pointer(at).and_then(Value::as_array))
        .flatten()
        .filter_map(|e| e.get("reason").and_then(Value::as_str))
        .collect();
    if reasons.iter().any(|r| DAILY_LIMIT_REASONS.contains(r)) {
        return Some(Throttle { wait: retry_after(&response.headers), retry_in_call: false });
    }
    if response.status == 429 || reasons.iter().any(|r| RATE_LIMIT_REASONS.contains(r)) {
        return Some(Throttle::wait(retry_after(&response.headers)));
    }
    None
}

/// Google's error shape: `{"error": {"code", "message", "status"}}`.
fn gmail_answer(response: &Response) -> Result<Value, ConnectorError> {
    if response.is_success() {
        return response.json();
    }
    let body = response.json_opt().unwrap_or(Value::Null);
    let message = match (
        body.pointer("/error/status").and_then(Value::as_str),
        body.pointer("/error/message").and_then(Value::as_str),
    ) {
        (Some(status), Some(message)) => format!("gmail: {status}: {message}"),
        (None, Some(message)) => format!("gmail: {message}"),
        _ => format!("gmail: {}", response.snippet()),
    };
    Err(response.error(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_formats() {
        assert_eq!(parse_expiry(&json!(1_700_000_000)), DateTime::from_timestamp(1_700_000_000, 0));
        assert_eq!(parse_expiry(&json!("2023-11-14T22:13:20Z")), DateTime::from_timestamp(1_700_000_000, 0));
        assert_eq!(parse_expiry(&json!("tomorrow")), None);
    }
}
