//! Completion callbacks: when a job with a `callback_url` ends, its status document
//! is POSTed there, signed, from a spawned task so the worker never waits on it.
//!
//! Signature header: `X-Levqor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`. Receivers recompute it with the shared secret and refuse stale
//! timestamps ([`verify`]), which stops replays.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use levqor_core::{Clock, Timestamp};
use sha2::Sha256;
use tokio::task::JoinHandle;
use url::Url;

use crate::job::Job;
use crate::retry::RetryPolicy;
use crate::ssrf::{TargetPolicy, find_ssrf_error};
use crate::worker::FinishedHook;

pub const SIGNATURE_HEADER: &str = "X-Levqor-Signature";
/// How far a signature's timestamp may be from the receiver's clock by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so the fallback is never taken.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| HmacSha256::new(&Default::default()));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Levqor-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a signature header against `body`, in constant time. Several `v1=`
/// entries are accepted (any may match), so a sender can rotate secrets.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: Timestamp,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", tag)) => tags.push(hex::decode(tag).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let skew = now.timestamp().abs_diff(timestamp);
    if skew > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    let matches = tags.iter().any(|tag| mac(secret, timestamp, body).verify_slice(tag).is_ok());
    if matches { Ok(()) } else { Err(SignatureError::Mismatch) }
}

#[derive(Debug, Clone)]
pub struct CallbackConfig {
    /// Signs every callback (`LEVQOR_SECRET`).
    pub secret: Vec<u8>,
    pub targets: TargetPolicy,
    pub retry_policy: RetryPolicy,
    /// Deliveries tried at most, the first included.
    pub max_attempts: u32,
    /// Per delivery attempt.
    pub timeout: Duration,
}

impl CallbackConfig {
    pub fn new(secret: impl Into<Vec<u8>>, targets: TargetPolicy) -> Self {
        Self {
            secret: secret.into(),
            targets,
            retry_policy: RetryPolicy::default(),
            max_attempts: 5,
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the callback target is not allowed: {0}")]
    Refused(String),
    #[error("the callback target answered HTTP {0}")]
    Rejected(u16),
    #[error("the callback failed after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
}

/// Sends completion callbacks. Clone it freely; clones share the HTTP client.
#[derive(Clone)]
pub struct CallbackSender {
    client: reqwest::Client,
    config: Arc<CallbackConfig>,
    clock: Arc<dyn Clock>,
}

impl CallbackSender {
    pub fn new(config: CallbackConfig, clock: Arc<dyn Clock>) -> Result<Self, reqwest::Error> {
        let client = config.targets.client(config.timeout)?;
        Ok(Self { client, config: Arc::new(config), clock })
    }

    /// If `job` has ended and has a callback URL, delivers its status document
    /// from a spawned task (on the current tokio runtime) and returns that task.
    pub fn notify(&self, job: &Job) -> Option<JoinHandle<Result<u32, CallbackError>>> {
        let url = job.callback_url.clone().filter(|_| job.state.is_terminal())?;
        // The status document always serializes; an empty body would still be signed.
        let body = serde_json::to_vec(&job.status_doc()).unwrap_or_default();
        let sender = self.clone();
        Some(tokio::spawn(async move { sender.deliver(&url, body).await }))
    }

    /// A [`FinishedHook`] for [`crate::worker::WorkerConfig::on_finished`].
    pub fn hook(&self) -> FinishedHook {
        let sender = self.clone();
        Arc::new(move |job: &Job| {
            sender.notify(job);
        })
    }

    /// POSTs `body` to `url` until it is accepted (2xx), refused for good (another
    /// 4xx, or an SSRF refusal) or out of attempts. Returns the attempts used.
    pub async fn deliver(&self, url: &str, body: Vec<u8>) -> Result<u32, CallbackError> {
        let url = Url::parse(url).map_err(|e| CallbackError::Refused(e.to_string()))?;
        self.config.targets.check_literal(&url).map_err(|e| CallbackError::Refused(e.to_string()))?;
        let attempts = self.config.max_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let timestamp = self.clock.now().timestamp();
            let signature = sign(&self.config.secret, timestamp, &body);
            let sent = self
                .client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => return Ok(attempt),
                Ok(response) => {
                    let status = response.status();
                    let retry = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
                    if !retry {
                        return Err(CallbackError::Rejected(status.as_u16()));
                    }
                    last = format!("HTTP {}", status.as_u16());
                }
                Err(e) => {
                    if let Some(refused) = find_ssrf_error(&e) {
                        return Err(CallbackError::Refused(refused.to_string()));
                    }
                    last = e.to_string();
                }
            }
            if attempt < attempts {
                tokio::time::sleep(self.config.retry_policy.delay(attempt, RetryPolicy::sample())).await;
            }
        }
        Err(CallbackError::GaveUp { attempts, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobState, JobStatusDoc};
    use crate::new_job::{IntakeRequest, NewJob};
    use crate::retry::Jitter;
    use chrono::TimeDelta;
    use levqor_core::{SystemClock, UserId};
    use levqor_testkit::{FakeServer, Reply};
    use serde_json::json;

    const SECRET: &[u8] = b"test-secret";

    fn now() -> Timestamp {
        SystemClock.now()
    }

    #[test]
    fn signatures_verify_and_detect_tampering() {
        let t = now().timestamp();
        let header = sign(SECRET, t, b"{\"a\":1}");
        assert!(header.starts_with(&format!("t={t},v1=")));
        assert_eq!(header.len(), format!("t={t},v1=").len() + 64);
        assert_eq!(verify(SECRET, &header, b"{\"a\":1}", now(), DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify(SECRET, &header, b"{\"a\":2}", now(), DEFAULT_TOLERANCE), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", &header, b"{\"a\":1}", now(), DEFAULT_TOLERANCE), Err(SignatureError::Mismatch));
        let later = now() + TimeDelta::seconds(301);
        assert_eq!(verify(SECRET, &header, b"{\"a\":1}", later, DEFAULT_TOLERANCE), Err(SignatureError::Stale));
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz"] {
            assert_eq!(verify(SECRET, bad, b"", now(), DEFAULT_TOLERANCE), Err(SignatureError::Malformed), "{bad}");
        }
        let rotated = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(verify(SECRET, &rotated, b"{\"a\":1}", now(), DEFAULT_TOLERANCE), Ok(()));
    }

    #[test]
    fn the_signed_string_is_timestamp_dot_body() {
        let expected = {
            let mut mac = HmacSha256::new_from_slice(SECRET).unwrap();
            mac.update(b"1700000000.hello");
            hex::encode(mac.finalize().into_bytes())
        };
        assert_eq!(sign(SECRET, 1_700_000_000, b"hello"), format!("t=1700000000,v1={expected}"));
    }

    fn sender(allow_private: bool) -> CallbackSender {
        let config = CallbackConfig {
            retry_policy: RetryPolicy {
                base: Duration::from_millis(10),
                jitter: Jitter::None,
                ..RetryPolicy::default()
            },
            max_attempts: 3,
            ..CallbackConfig::new(SECRET, TargetPolicy { allow_private })
        };
        CallbackSender::new(config, Arc::new(SystemClock)).unwrap()
    }

    fn finished_job(callback_url: &str, state: JobState) -> Job {
        let request: IntakeRequest =
            serde_json::from_value(json!({"workflow": "echo", "callback_url": callback_url})).unwrap();
        let mut job = NewJob::from_intake(UserId::new(), request, now(), &|_| true).unwrap().to_job();
        job.state = state;
        job.result = Some(json!({"done": true}));
        job
    }

    #[tokio::test]
    async fn a_signed_callback_is_retried_until_accepted() {
        let server = FakeServer::sequence(vec![Reply::text(503, "busy"), Reply::text(204, "")]).await;
        let job = finished_job(&format!("{}/hooks/levqor", server.base()), JobState::Succeeded);
        let attempts = sender(true).notify(&job).unwrap().await.unwrap();
        assert_eq!(attempts, Ok(2));

        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        for request in requests {
            assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hooks/levqor"));
            assert_eq!(request.headers["content-type"], "application/json");
            let header = &request.headers["x-levqor-signature"];
            assert_eq!(verify(SECRET, header, &request.body, now(), DEFAULT_TOLERANCE), Ok(()));
            let doc: JobStatusDoc = serde_json::from_slice(&request.body).unwrap();
            assert_eq!((doc.job_id, doc.status), (job.id.clone(), JobState::Succeeded));
            assert_eq!(doc.result, Some(json!({"done": true})));
        }
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried_and_attempts_are_bounded() {
        let server = FakeServer::always(Reply::text(410, "gone")).await;
        let job = finished_job(&format!("{}/", server.base()), JobState::Dead);
        assert_eq!(sender(true).notify(&job).unwrap().await.unwrap(), Err(CallbackError::Rejected(410)));
        assert!(server.count() > 0);

        let server = FakeServer::always(Reply::text(500, "no")).await;
        let result = sender(true).deliver(&format!("{}/", server.base()), b"{}".to_vec()).await;
        assert!(matches!(result, Err(CallbackError::GaveUp { attempts: 3, .. })), "{result:?}");
    }

    #[tokio::test]
    async fn private_targets_are_refused_unless_allowed() {
        let guarded = sender(false);
        for url in ["http://127.0.0.1:9/", "http://localhost:9/", "http://[::1]:9/"] {
            let result = guarded.deliver(url, b"{}".to_vec()).await;
            assert!(matches!(result, Err(CallbackError::Refused(_))), "{url}: {result:?}");
        }
    }

    #[test]
    fn only_ended_jobs_with_a_url_are_sent() {
        let sender = sender(true);
        let mut job = finished_job("http://127.0.0.1:9/", JobState::Failed);
        assert!(sender.notify(&job).is_none(), "failed will retry: not the end");
        job.callback_url = None;
        job.state = JobState::Succeeded;
        assert!(sender.notify(&job).is_none());
    }
}
