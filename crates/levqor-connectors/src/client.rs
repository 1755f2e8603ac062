//! The HTTP plumbing every connector shares: a per-attempt timeout, bounded
//! retries with exponential back-off under a per-request [`Policy`] (rate
//! limits always, honouring the service's wait up to a cap; 5xx and timeouts
//! only for requests that are safe to repeat), and a response size cap
//! enforced while the body streams in.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Serialize;
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

/// Whether a request may be sent again when its first attempt may have
/// reached the service. Declared per action, next to the action
/// ([`crate::ActionSpec::repeat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeat {
    /// Reads, and writes the service de-duplicates: retried after a 5xx answer,
    /// a timeout or a broken connection.
    Safe,
    /// Writes that would act twice: after a 5xx answer, a timeout or a connection
    /// that broke after the request went out, the call ends with
    /// [`ConnectorError::OutcomeUnknown`] instead of sending it again (a 5xx can
    /// come after the service acted).
    Once,
}

/// A service asking us to slow down, read from its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// How long the service asked us to wait, if it said.
    pub wait: Option<Duration>,
    /// `false` for a limit that will not lift within a call (a daily quota):
    /// the call fails at once so the job backs off instead.
    pub retry_in_call: bool,
}

impl Throttle {
    pub fn wait(wait: Option<Duration>) -> Self {
        Self { wait, retry_in_call: true }
    }
}

/// Reads a rate limit out of an answer, in the service's own format.
pub type ThrottleProbe = fn(&Response) -> Option<Throttle>;

/// The standard HTTP form: a 429, with the wait in `Retry-After`.
pub fn http_429(response: &Response) -> Option<Throttle> {
    (response.status == StatusCode::TOO_MANY_REQUESTS.as_u16()).then(|| Throttle::wait(retry_after(&response.headers)))
}

/// How one request is retried: its [`Repeat`] and how its service signals a
/// rate limit.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub repeat: Repeat,
    pub throttle: ThrottleProbe,
}

impl Policy {
    /// `repeat` with the standard 429 + `Retry-After` rate limit.
    pub fn new(repeat: Repeat) -> Self {
        Self { repeat, throttle: http_429 }
    }

    pub fn with_throttle(mut self, throttle: ThrottleProbe) -> Self {
        self.throttle = throttle;
        self
    }
}

/// One attempt that produced no answer.
enum Failed {
    /// The request never left (connection refused, DNS): safe to send again.
    NotSent(ConnectorError),
    /// The request may have reached the service (timeout, broken connection).
    MaybeSent(ConnectorError),
    /// Neither: an error to return as is (size cap, SSRF refusal).
    Final(ConnectorError),
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

    /// Sends the request `build` makes under `policy`, with the configured
    /// attempts and timeout. `build` runs once per attempt.
    ///
    /// - A rate limit (as `policy.throttle` reads it) is retried for every
    ///   request, after the service's wait (or the back-off when it gave none),
    ///   up to the attempts; a wait beyond the back-off cap, a limit that does not
    ///   lift within a call, or the last attempt end in
    ///   [`ConnectorError::RateLimited`] with the wait.
    /// - A 5xx answer, a timeout or a broken connection is retried for
    ///   [`Repeat::Safe`]; for [`Repeat::Once`] it ends in
    ///   [`ConnectorError::OutcomeUnknown`] after the one attempt.
    /// - A connection that could not be opened is retried for both.
    ///
    /// Otherwise the answer comes back whatever its status;
    /// [`Response::error`] turns a failed one into an error.
    pub async fn send<F>(&self, policy: Policy, build: F) -> Result<Response, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_with(policy, self.settings.timeout, build).await
    }

    /// [`Self::send`] with an explicit per-attempt timeout.
    pub async fn send_with<F>(&self, policy: Policy, timeout: Duration, build: F) -> Result<Response, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let attempts = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let last = attempt >= attempts;
            let wait = match self.attempt(&build, timeout).await {
                Ok(response) => {
                    if let Some(throttle) = (policy.throttle)(&response) {
                        match self.wait_before(attempt, throttle.wait) {
                            Some(wait) if throttle.retry_in_call && !last => wait,
                            _ => return Err(rate_limited(throttle.wait)),
                        }
                    } else if response.status >= 500 {
                        match policy.repeat {
                            Repeat::Once => {
                                return Err(ConnectorError::OutcomeUnknown(format!(
                                    "HTTP {}: {}",
                                    response.status,
                                    response.snippet()
                                )));
                            }
                            Repeat::Safe if last => return Ok(response),
                            Repeat::Safe => self.backoff(attempt),
                        }
                    } else {
                        return Ok(response);
                    }
                }
                Err(Failed::Final(err)) => return Err(err),
                Err(Failed::NotSent(err)) if last => return Err(err),
                Err(Failed::NotSent(_)) => self.backoff(attempt),
                Err(Failed::MaybeSent(err)) => match policy.repeat {
                    Repeat::Once => return Err(ConnectorError::OutcomeUnknown(err.to_string())),
                    Repeat::Safe if last => return Err(err),
                    Repeat::Safe => self.backoff(attempt),
                },
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The exponential back-off before attempt `attempt + 1`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.settings.backoff_base.saturating_mul(factor).min(self.settings.backoff_cap)
    }

    /// How long to wait before the next attempt, or `None` to give up now
    /// because the service asked for a longer pause than the cap.
    fn wait_before(&self, attempt: u32, asked: Option<Duration>) -> Option<Duration> {
        match asked {
            Some(asked) if asked > self.settings.backoff_cap => None,
            Some(asked) => Some(asked),
            None => Some(self.backoff(attempt)),
        }
    }

    async fn attempt<F>(&self, build: &F, timeout: Duration) -> Result<Response, Failed>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let request = build(&self.client).timeout(timeout);
        let limit = self.settings.max_response_bytes;
        // The outer timeout also bounds a server that sends headers and then
        // trickles the body.
        match tokio::time::timeout(timeout, exchange(request, limit)).await {
            Ok(result) => result,
            Err(_) => Err(Failed::MaybeSent(ConnectorError::Timeout)),
        }
    }
}

/// The wait, in whole seconds rounded up, so a job backs off at least as long.
fn rate_limited(wait: Option<Duration>) -> ConnectorError {
    ConnectorError::RateLimited { retry_after: wait.map(|w| w.as_secs() + u64::from(w.subsec_nanos() > 0)) }
}

async fn exchange(request: reqwest::RequestBuilder, limit: usize) -> Result<Response, Failed> {
    let mut response = request.send().await.map_err(|e| {
        // Only a connection that was never opened proves nothing was sent.
        let not_sent = e.is_connect();
        match map_error(e) {
            err @ (ConnectorError::Network(_) | ConnectorError::Timeout) if not_sent => Failed::NotSent(err),
            err @ (ConnectorError::Network(_) | ConnectorError::Timeout) => Failed::MaybeSent(err),
            err => Failed::Final(err),
        }
    })?;
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(Failed::Final(ConnectorError::ResponseTooLarge { limit }));
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    // The answer has begun: the request reached the service.
    while let Some(chunk) = response.chunk().await.map_err(|e| Failed::MaybeSent(map_error(e)))? {
        if body.len() + chunk.len() > limit {
            return Err(Failed::Final(ConnectorError::ResponseTooLarge { limit }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, headers, body })
}

/// `Retry-After` as a delay (seconds or an HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
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
        assert_eq!(c.backoff(3), Duration::from_millis(400));
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

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(
            rate_limited(Some(Duration::from_millis(1500))),
            ConnectorError::RateLimited { retry_after: Some(2) }
        );
        assert_eq!(rate_limited(Some(Duration::from_secs(30))), ConnectorError::RateLimited { retry_after: Some(30) });
        assert_eq!(rate_limited(None), ConnectorError::RateLimited { retry_after: None });
    }
}
