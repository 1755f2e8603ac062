//! `http`: one request to a URL of the caller's choice, through levqor-jobs' SSRF
//! guard (private, loopback and link-local targets refused unless the
//! configuration allows them), with the shared size and time limits.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::FutureExt;
use levqor_jobs::TargetPolicy;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::{fail, parse, unsupported};
use crate::client::{HttpClient, Policy, Repeat};
use crate::config::ConnectorConfig;
use crate::connector::{ActionSpec, Connector, TaskCall, TaskFuture, prepare};
use crate::error::ConnectorError;

const MAX_TIMEOUT_S: u64 = 120;

#[derive(Debug, Clone)]
pub struct Http {
    client: HttpClient,
    policy: TargetPolicy,
}

impl Http {
    pub fn new(config: &ConnectorConfig) -> Result<Self, ConnectorError> {
        let policy = TargetPolicy { allow_private: config.allow_private_targets };
        let client = policy
            .client(Duration::from_secs(MAX_TIMEOUT_S))
            .map_err(|e| ConnectorError::Network(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client: HttpClient::with_client(client, config.http), policy })
    }
}

#[derive(Deserialize)]
struct RequestParams {
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<Value>,
    timeout_s: Option<u64>,
}

impl Connector for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn description(&self) -> &'static str {
        "Make one HTTP request to a public URL (SSRF-guarded, size and time limited)."
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![ActionSpec::new(
            "request",
            "Send one request; a JSON answer comes back as JSON, anything else as text.",
            json!({
                "type": "object",
                "required": ["method", "url"],
                "additionalProperties": false,
                "properties": {
                    "method": {"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                                         "get", "head", "post", "put", "patch", "delete", "options"]},
                    "url": {"type": "string", "minLength": 1, "maxLength": 2048},
                    "headers": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 8192}},
                    "body": {"description": "a string is sent as is, anything else as JSON"},
                    "timeout_s": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_S}
                }
            }),
        )]
    }

    fn run_task(&self, mut call: TaskCall) -> TaskFuture {
        if let Err(e) = prepare(&self.actions(), &mut call) {
            return fail(e);
        }
        let this = self.clone();
        async move {
            match call.action.as_str() {
                "request" => this.request(parse(&call.params)?).await,
                other => Err(unsupported(other)),
            }
        }
        .boxed()
    }
}

impl Http {
    async fn request(&self, p: RequestParams) -> Result<Value, ConnectorError> {
        let method = reqwest::Method::from_bytes(p.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| ConnectorError::invalid_params("method", "is not an HTTP method"))?;
        let url = Url::parse(&p.url).map_err(|_| ConnectorError::invalid_params("url", "is not a URL"))?;
        // IP literals never reach the guarded resolver, so check them here.
        self.policy
            .check_literal(&url)
            .map_err(|e| ConnectorError::invalid_params("url", format!("target refused: {e}")))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &p.headers {
            let field = format!("headers.{name}");
            if levqor_jobs::ssrf::refused_header(name) {
                return Err(ConnectorError::invalid_params(&field, "is set by Levqor, not by the request"));
            }
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConnectorError::invalid_params(&field, "is not a header name"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| ConnectorError::invalid_params(&field, "is not a header value"))?;
            headers.append(header, value);
        }
        let timeout = p.timeout_s.map(Duration::from_secs).unwrap_or(self.client.settings().timeout);
        // The action is `once` (any method may act); only methods that are safe
        // by HTTP's definition are retried after a 5xx or a timeout.
        let repeat = if matches!(method, reqwest::Method::GET | reqwest::Method::HEAD | reqwest::Method::OPTIONS) {
            Repeat::Safe
        } else {
            Repeat::Once
        };
        let response = self
            .client
            .send_with(Policy::new(repeat), timeout, |c| {
                let request = c.request(method.clone(), url.clone()).headers(headers.clone());
                match &p.body {
                    None => request,
                    Some(Value::String(text)) => request.body(text.clone()),
                    Some(json) => request.json(json),
                }
            })
            .await?;
        if !response.is_success() {
            return Err(response.error(response.snippet()));
        }
        let is_json =
            response.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
        let body = match is_json.then(|| response.json_opt()).flatten() {
            Some(json) => json,
            None => Value::String(String::from_utf8_lossy(&response.body).into_owned()),
        };
        let headers: BTreeMap<String, String> = response
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        Ok(json!({"status": response.status, "headers": headers, "body": body}))
    }
}
