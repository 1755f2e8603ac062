//! The `http.request` built-in: one outbound HTTP call, SSRF-guarded.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::FutureExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::{JobContext, JobError, Workflow, WorkflowFuture};
use crate::ssrf::{TargetPolicy, find_ssrf_error};

/// Response bodies beyond this are cut (and marked `truncated`).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
const DEFAULT_TIMEOUT_S: u32 = 30;
const MAX_TIMEOUT_S: u32 = 300;

/// The job payload of `http.request`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestPayload {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A string is sent as is; any other JSON value is sent as JSON.
    #[serde(default)]
    pub body: Option<Value>,
    /// Capped at 300 s; the job's own `timeout_s` applies too.
    #[serde(default)]
    pub timeout_s: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct HttpRequest {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl HttpRequest {
    pub fn new(policy: TargetPolicy) -> Result<Self, reqwest::Error> {
        let client = policy.client(Duration::from_secs(u64::from(MAX_TIMEOUT_S)))?;
        Ok(Self { client, policy })
    }
}

impl Workflow for HttpRequest {
    fn name(&self) -> &str {
        "http.request"
    }

    fn run(&self, ctx: JobContext) -> WorkflowFuture {
        let client = self.client.clone();
        let policy = self.policy;
        async move {
            let request = build(&client, policy, ctx.payload)?;
            let response = request.send().await.map_err(|e| match find_ssrf_error(&e) {
                Some(refused) => JobError::permanent(format!("target refused: {refused}")),
                None => JobError::retryable(format!("request failed: {}", error_chain(&e))),
            })?;
            read_response(response).await
        }
        .boxed()
    }
}

fn build(client: &reqwest::Client, policy: TargetPolicy, payload: Value) -> Result<reqwest::RequestBuilder, JobError> {
    let p: HttpRequestPayload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent(format!("invalid payload: {e}")))?;
    let method = reqwest::Method::from_bytes(p.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| JobError::permanent("invalid payload: method is not an HTTP method"))?;
    let url = Url::parse(&p.url).map_err(|_| JobError::permanent("invalid payload: url is not a URL"))?;
    policy.check_literal(&url).map_err(|e| JobError::permanent(format!("target refused: {e}")))?;

    let mut headers = HeaderMap::new();
    for (name, value) in &p.headers {
        if crate::ssrf::refused_header(name) {
            return Err(JobError::permanent(format!(
                "invalid payload: header `{name}` is set by Levqor, not by the request"
            )));
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| JobError::permanent(format!("invalid payload: bad header name `{name}`")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| JobError::permanent(format!("invalid payload: bad value for header `{name}`")))?;
        headers.append(name, value);
    }
    let timeout = p.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S).clamp(1, MAX_TIMEOUT_S);
    let request = client.request(method, url).headers(headers).timeout(Duration::from_secs(u64::from(timeout)));
    Ok(match p.body {
        None => request,
        Some(Value::String(text)) => request.body(text),
        Some(json) => request.json(&json),
    })
}

async fn read_response(mut response: reqwest::Response) -> Result<Value, JobError> {
    let status = response.status();
    let headers: BTreeMap<String, String> = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let is_json =
        response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));

    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| JobError::retryable(format!("reading the response failed: {}", error_chain(&e))))?
    {
        let room = MAX_RESPONSE_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }

    if !status.is_success() {
        let retryable = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        return Err(JobError {
            message: format!("the target answered HTTP {}", status.as_u16()),
            retryable,
            retry_after: None,
        });
    }
    let body = match (is_json && !truncated).then(|| serde_json::from_slice::<Value>(&body)) {
        Some(Ok(json)) => json,
        _ => Value::String(String::from_utf8_lossy(&body).into_owned()),
    };
    Ok(json!({"status": status.as_u16(), "headers": headers, "body": body, "truncated": truncated}))
}

/// reqwest's top-level message hides the cause ("error sending request"); add it.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::JobId;
    use levqor_core::UserId;
    use levqor_testkit::{FakeServer, Reply};

    fn ctx(payload: Value) -> JobContext {
        JobContext { job_id: JobId::new(), owner: UserId::new(), workflow: "http.request".into(), payload, attempt: 1 }
    }

    fn open() -> HttpRequest {
        HttpRequest::new(TargetPolicy { allow_private: true }).unwrap()
    }

    #[tokio::test]
    async fn calls_the_target_and_returns_json() {
        let server = FakeServer::always(Reply::new(200, "application/json", r#"{"ok":true}"#)).await;
        let payload = json!({
            "method": "post",
            "url": format!("{}/hook?x=1", server.base()),
            "headers": {"X-Test": "yes"},
            "body": {"a": 1},
        });
        let result = open().run(ctx(payload)).await.unwrap();
        assert_eq!(result["status"], 200);
        assert_eq!(result["body"], json!({"ok": true}));
        assert_eq!(result["truncated"], false);
        let request = server.requests().remove(0);
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hook?x=1"));
        assert_eq!(request.headers["x-test"], "yes");
        assert_eq!(request.body, br#"{"a":1}"#);
    }

    #[tokio::test]
    async fn text_bodies_and_truncation() {
        let big = vec![b'x'; MAX_RESPONSE_BYTES + 10];
        let server = FakeServer::always(Reply::text(200, big)).await;
        let result = open().run(ctx(json!({"method": "GET", "url": format!("{}/", server.base())}))).await.unwrap();
        assert_eq!(result["truncated"], true);
        assert_eq!(result["body"].as_str().unwrap().len(), MAX_RESPONSE_BYTES);
    }

    #[tokio::test]
    async fn error_statuses_say_whether_to_retry() {
        for (status, retryable) in [(503, true), (429, true), (404, false), (400, false)] {
            let server = FakeServer::always(Reply::text(status, "no")).await;
            let err =
                open().run(ctx(json!({"method": "GET", "url": format!("{}/", server.base())}))).await.unwrap_err();
            assert_eq!(err.retryable, retryable, "{status}");
            assert!(err.message.contains(&status.to_string()));
        }
    }

    #[tokio::test]
    async fn private_targets_are_refused_by_default() {
        let guarded = HttpRequest::new(TargetPolicy::default()).unwrap();
        for url in ["http://127.0.0.1:9/", "http://169.254.169.254/latest/meta-data/", "http://localhost:9/"] {
            let err = guarded.run(ctx(json!({"method": "GET", "url": url}))).await.unwrap_err();
            assert!(!err.retryable, "{url}: {err}");
            assert!(err.message.starts_with("target refused"), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn bad_payloads_are_permanent_failures() {
        for payload in [
            json!({"url": "http://example.com/"}),
            json!({"method": "GET", "url": "not a url"}),
            json!({"method": "GET", "url": "ftp://example.com/"}),
            json!({"method": "GET", "url": "http://example.com/", "extra": 1}),
            json!({"method": "GET", "url": "http://example.com/", "headers": {"bad name": "x"}}),
        ] {
            let err = open().run(ctx(payload.clone())).await.unwrap_err();
            assert!(!err.retryable, "{payload}");
        }
    }

    #[tokio::test]
    async fn host_and_hop_by_hop_headers_are_refused() {
        for (name, value) in [("Host", "169.254.169.254"), ("transfer-encoding", "chunked"), ("Connection", "close")] {
            let payload = json!({"method": "GET", "url": "http://127.0.0.1:9/", "headers": {name: value}});
            let err = open().run(ctx(payload)).await.unwrap_err();
            assert!(!err.retryable, "{name}");
            assert!(err.message.contains("is set by Levqor"), "{name}: {err}");
        }
    }
}
