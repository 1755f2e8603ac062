//! The HTTP plumbing every connector shares: a per-attempt timeout, bounded
//! retries with exponential back-off for 429/5xx answers (honouring
//! `Retry-After`), and a response size cap enforced while the body streams in.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

use crate::config::HttpSettings;
use crate::error::ConnectorError;

/// A complete answer: status, headers and the (size-capped) body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON; anything else is an unexpected answer.
    pub fn json(&self) -> Result<Value, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            ConnectorError::unexpected(format!("HTTP {} with a body that is not JSON: {}", self.status, self.snippet()))
        })
    }

    /// The body as JSON if it is JSON.
    pub fn json_opt(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The start of the body, for error messages.
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut out: String = text.chars().take(200).collect();
        if text.chars().count() > 200 {
            out.push('…');
        }
        out
    }

    /// `Retry-After` in whole seconds (a delay or an HTTP date).
    pub fn retry_after(&self) -> Option<u64> {
        retry_after(&self.headers).map(|d| d.as_secs())
    }

    /// The error for a failed answer, given the service's own message: 429 is a
    /// rate limit, 401 rejected credentials, anything else a refusal.
    pub fn error(&self, message: impl Into<String>) -> ConnectorError {
        match self.status {
            429 => ConnectorError::RateLimited { retry_after: self.retry_after() },
            401 => ConnectorError::InvalidCredentials { message: message.into() },
            status => ConnectorError::UpstreamRefused { status, message: message.into() },
        }
    }
}

/// A reqwest client plus the retry, timeout and size policy.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    settings: HttpSettings,
}

impl HttpClient {
    /// A client for the services' APIs. Redirects are not followed: none of them
    /// redirects API calls, and following one could carry a token elsewhere.
    pub fn new(settings: HttpSettings) -> Result<Self, ConnectorError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .user_agent(concat!("levqor-connectors/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Network(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self::with_client(client, settings))
    }

    /// Wraps a ready client (the SSRF-guarded one of the `http` connector).
    pub fn with_client(client: reqwest::Client, settings: HttpSettings) -> Self {
        Self { client, settings }
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Sends the request `build` makes, with the configured attempts and timeout.
    /// `build` runs once per attempt. Returns the last answer whatever its status;
    /// [`Response::error`] turns a failed one into an error.
    pub async fn send<F>(&self, build: F) -> Result<Response, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_with(self.settings.max_attempts, self.settings.timeout, build).await
    }

    /// [`Self::send`] with explicit attempts and timeout (e.g. 1 attempt for a
    /// non-idempotent request to an arbitrary URL).
    pub async fn send_with<F>(&self, attempts: u32, timeout: Duration, build: F) -> Result<Response, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let attempts = attempts.max(1);
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(&build, timeout).await;
            let last = attempt >= attempts;
            let wait = match &outcome {
                Ok(response) if is_retryable_status(response.status) && !last => {
                    self.wait_before(attempt, retry_after(&response.headers))
                }
                // Nothing was delivered when the connection failed, so even a
                // POST is safe to repeat. A timeout is not retried: the service
                // may have acted on the request.
                Err(ConnectorError::Network(_)) if !last => self.wait_before(attempt, None),
                _ => None,
            };
            match wait {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return outcome,
            }
        }
    }

    /// How long to wait before the next attempt, or `None` to give up now
    /// because the service asked for a longer pause than the cap.
    fn wait_before(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let cap = self.settings.backoff_cap;
        match retry_after {
            Some(asked) if asked > cap => None,
            Some(asked) => Some(asked),
            None => {
                let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
                Some(self.settings.backoff_base.saturating_mul(factor).min(cap))
            }
        }
    }

    async fn attempt<F>(&self, build: &F, timeout: Duration) -> Result<Response, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let request = build(&self.client).timeout(timeout);
        let limit = self.settings.max_response_bytes;
        // The outer timeout also bounds a server that sends headers and then
        // trickles the body.
        match tokio::time::timeout(timeout, exchange(request, limit)).await {
            Ok(result) => result,
            Err(_) => Err(ConnectorError::Timeout),
        }
    }
}

async fn exchange(request: reqwest::RequestBuilder, limit: usize) -> Result<Response, ConnectorError> {
    let mut response = request.send().await.map_err(map_error)?;
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(ConnectorError::ResponseTooLarge { limit });
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(map_error)? {
        if body.len() + chunk.len() > limit {
            return Err(ConnectorError::ResponseTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, headers, body })
}

fn is_retryable_status(status: u16) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS.as_u16() || status >= 500
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let seconds = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(seconds.unsigned_abs()))
}

/// A transport error as a [`ConnectorError`]. The URL is dropped from the
/// message because some services (Telegram) put the token in the path.
pub fn map_error(err: reqwest::Error) -> ConnectorError {
    if let Some(refused) = levqor_jobs::ssrf::find_ssrf_error(&err) {
        return ConnectorError::invalid_params("url", format!("target refused: {refused}"));
    }
    if err.is_timeout() {
        return ConnectorError::Timeout;
    }
    if err.is_builder() {
        // Nothing was sent: a credential or parameter cannot go into a request
        // (a newline in a token, say). The caller's to fix, not the service's.
        return ConnectorError::InvalidCredentials {
            message: "a credential or parameter holds characters an HTTP request cannot carry".into(),
        };
    }
    let err = err.without_url();
    ConnectorError::Network(error_chain(&err))
}

/// reqwest's top-level message hides the cause ("error sending request").
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
    use reqwest::header::HeaderValue;

    fn client() -> HttpClient {
        HttpClient::new(HttpSettings {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(1),
            ..HttpSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn back_off_doubles_up_to_the_cap() {
        let c = client();
        assert_eq!(c.wait_before(1, None), Some(Duration::from_millis(100)));
        assert_eq!(c.wait_before(2, None), Some(Duration::from_millis(200)));
        assert_eq!(c.wait_before(9, None), Some(Duration::from_secs(1)));
        assert_eq!(c.wait_before(1, Some(Duration::from_secs(1))), Some(Duration::from_secs(1)));
        assert_eq!(c.wait_before(1, Some(Duration::from_secs(2))), None);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn failed_answers_map_to_classes() {
        let response = |status| Response { status, headers: HeaderMap::new(), body: b"nope".to_vec() };
        assert_eq!(response(429).error("x"), ConnectorError::RateLimited { retry_after: None });
        assert!(matches!(response(401).error("x"), ConnectorError::InvalidCredentials { .. }));
        assert!(matches!(response(502).error("x"), ConnectorError::UpstreamRefused { status: 502, .. }));
        assert!(matches!(response(200).json(), Err(ConnectorError::UnexpectedResponse(_))));
    }
}
