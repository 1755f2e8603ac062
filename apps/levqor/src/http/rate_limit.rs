//! Rate limits: per client IP and global on writes, per client IP on reads, each a
//! keyed governor (GCRA) limiter allowing `per_minute` requests in any minute, all
//! usable in one burst.
//!
//! One middleware checks every limiter that covers the request, in order, and
//! answers for all of them: a limited request gets the JSON 429 with `Retry-After`,
//! the IETF `RateLimit-Policy`/`RateLimit` fields and the original's `X-RateLimit-*`
//! for the limit it hit; any other answer (but another layer's 429) gets the same
//! fields, without `Retry-After`, for the limiter with the fewest requests remaining. Stacked
//! actix-governor layers cannot do that: each one overwrote the headers of the
//! layers inside it, so the outermost won instead of the tightest.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, ResponseError, web};
use governor::clock::{Clock, DefaultClock, QuantaInstant};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{NotUntil, Quota, RateLimiter};

use super::client_ip::TrustedProxies;
use super::error::ApiError;

/// What a limiter keys on.
#[derive(Debug, Clone)]
pub enum Keying {
    ClientIp(TrustedProxies),
    Global,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    Ip(IpAddr),
    All,
}

/// Which requests a limiter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// POST, PUT, PATCH, DELETE.
    Writes,
    /// GET, HEAD.
    Reads,
    /// POST to this one path, which then has its own per-IP throttle instead of
    /// the general per-IP write limit (the global write limit still counts it).
    Route(&'static str),
}

impl Applies {
    fn covers(self, method: &Method) -> bool {
        match self {
            Self::Writes => {
                method == Method::POST || method == Method::PUT || method == Method::PATCH || method == Method::DELETE
            }
            Self::Reads => method == Method::GET || method == Method::HEAD,
            Self::Route(_) => method == Method::POST,
        }
    }
}

/// The state-information middleware makes `check_key` return a snapshot with the
/// remaining burst capacity, which the headers of a passed request report.
type KeyedLimiter = RateLimiter<LimitKey, DefaultKeyedStateStore<LimitKey>, DefaultClock, StateInformationMiddleware>;

#[derive(Debug)]
pub struct Limiter {
    /// Policy name in the `RateLimit` fields.
    name: &'static str,
    per_minute: u32,
    /// The time one request's worth of quota takes to come back.
    period: Duration,
    keying: Keying,
    applies: Applies,
    governor: KeyedLimiter,
    /// Checks since the limiter last forgot idle keys.
    checks: std::sync::atomic::AtomicU32,
}

/// How many checks pass between two [`Limiter::forget_idle`].
const FORGET_IDLE_EVERY: u32 = 4096;

impl Limiter {
    /// A limiter allowing `per_minute` requests of the `applies` kind in any minute,
    /// all of them usable in one burst. `None` only for an impossible quota.
    pub fn new(name: &'static str, per_minute: u32, keying: Keying, applies: Applies) -> Option<Self> {
        let per_minute = per_minute.max(1);
        let period = (Duration::from_secs(60) / per_minute).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(per_minute)?);
        let governor = RateLimiter::keyed(quota).with_middleware();
        Some(Self { name, per_minute, period, keying, applies, governor, checks: Default::default() })
    }

    /// Drops the state of keys (client IPs) whose quota is whole again: they are
    /// indistinguishable from keys never seen, so memory follows the clients of the
    /// last minute, not every address ever. Returns how many keys are tracked.
    pub fn forget_idle(&self) -> usize {
        self.governor.retain_recent();
        self.governor.shrink_to_fit();
        self.governor.len()
    }

    /// Counts a check, now and then forgetting idle keys (amortised over many
    /// requests, so no request pays for more than one pass in thousands).
    fn count_check(&self) {
        use std::sync::atomic::Ordering;
        if self.checks.fetch_add(1, Ordering::Relaxed) + 1 >= FORGET_IDLE_EVERY {
            self.checks.store(0, Ordering::Relaxed);
            self.forget_idle();
        }
    }

    /// Whether this limiter counts `req`; `dedicated`: a route limiter covers it.
    fn counts(&self, req: &ServiceRequest, dedicated: bool) -> bool {
        match self.applies {
            Applies::Route(path) => path == req.path() && self.applies.covers(req.method()),
            Applies::Writes if dedicated && matches!(self.keying, Keying::ClientIp(_)) => false,
            applies => applies.covers(req.method()),
        }
    }

    fn key(&self, req: &ServiceRequest) -> Result<LimitKey, ApiError> {
        match &self.keying {
            Keying::Global => Ok(LimitKey::All),
            Keying::ClientIp(trusted) => trusted
                .for_request(req)
                .map(LimitKey::Ip)
                .ok_or_else(|| ApiError::internal("request without a peer address")),
        }
    }

    fn exceeded(&self, negative: &NotUntil<QuantaInstant>) -> HttpResponse {
        let retry_after = ceil_secs(negative.wait_time_from(DefaultClock::default().now()));
        let reset_at = chrono::Utc::now().timestamp().saturating_add_unsigned(retry_after);
        ApiError::rate_limited(retry_after)
            .with_header(header::RETRY_AFTER, retry_after.to_string())
            .with_header(RATELIMIT_POLICY, self.policy())
            .with_header(RATELIMIT, format!("\"{}\";r=0;t={retry_after}", self.name))
            .with_header(X_RATELIMIT_LIMIT, self.per_minute.to_string())
            .with_header(X_RATELIMIT_REMAINING, "0")
            .with_header(X_RATELIMIT_RESET, reset_at.to_string())
            .error_response()
    }

    fn policy(&self) -> String {
        format!("\"{}\";q={};w=60", self.name, self.per_minute)
    }
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Whole seconds, rounded up: a client that waits that long is never early.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Every limiter, in the order they are checked; shared by all workers.
#[derive(Debug)]
pub struct RateLimits(Vec<Limiter>);

impl RateLimits {
    pub fn new(limiters: Vec<Limiter>) -> Self {
        Self(limiters)
    }
}

/// Where one limiter stood for a request it let through.
struct Standing<'a> {
    limiter: &'a Limiter,
    remaining: u32,
}

impl Standing<'_> {
    fn write(&self, headers: &mut HeaderMap) {
        let l = self.limiter;
        // The quota is whole again once every used request's worth has come back:
        // at most `used × period` from now (the snapshot does not say how far into
        // the current period the bucket is, so this rounds up).
        let used = l.per_minute.saturating_sub(self.remaining);
        let reset_in = ceil_secs(l.period.saturating_mul(used));
        let reset_at = chrono::Utc::now().timestamp().saturating_add_unsigned(reset_in);
        let mut set = |name: HeaderName, value: String| {
            if let Ok(v) = HeaderValue::try_from(value) {
                headers.insert(name, v);
            }
        };
        set(RATELIMIT_POLICY, l.policy());
        set(RATELIMIT, format!("\"{}\";r={};t={reset_in}", l.name, self.remaining));
        headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(l.per_minute));
        headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(X_RATELIMIT_RESET, HeaderValue::from(reset_at));
    }
}

/// The rate-limit middleware (inside CORS, so 429s get CORS headers too).
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // Fail closed: without its limiters the server must not serve unlimited.
    let Some(limits) = req.app_data::<web::Data<RateLimits>>().cloned() else {
        return Err(ApiError::internal("rate limiters are not configured").into());
    };
    let mut tightest: Option<Standing<'_>> = None;
    let dedicated = limits.0.iter().any(|l| matches!(l.applies, Applies::Route(p) if p == req.path()));
    for limiter in limits.0.iter().filter(|l| l.counts(&req, dedicated)) {
        let key = limiter.key(&req)?;
        limiter.count_check();
        match limiter.governor.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                // Ties go to the limiter checked first.
                if tightest.as_ref().is_none_or(|t| remaining < t.remaining) {
                    tightest = Some(Standing { limiter, remaining });
                }
            }
            Err(negative) => return Ok(req.into_response(limiter.exceeded(&negative))),
        }
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    // A 429 from further in (the planning limit, an upstream service) keeps only
    // its own fields: ours would show requests remaining next to a refusal.
    if let Some(standing) = tightest
        && res.status() != StatusCode::TOO_MANY_REQUESTS
    {
        standing.write(res.headers_mut());
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        assert!(Applies::Writes.covers(&Method::DELETE));
        assert!(!Applies::Writes.covers(&Method::GET));
        assert!(Applies::Reads.covers(&Method::HEAD));
        assert!(!Applies::Reads.covers(&Method::OPTIONS));
        assert!(Applies::Route("/x").covers(&Method::POST));
        assert!(!Applies::Route("/x").covers(&Method::GET));
    }

    #[test]
    fn snapshots_count_down_to_a_refusal() {
        let l = Limiter::new("t", 3, Keying::Global, Applies::Reads).unwrap();
        let left: Vec<u32> =
            (0..3).map(|_| l.governor.check_key(&LimitKey::All).unwrap().remaining_burst_capacity()).collect();
        assert_eq!(left, [2, 1, 0]);
        assert!(l.governor.check_key(&LimitKey::All).is_err());
    }

    #[test]
    fn idle_clients_are_forgotten() {
        // 6,000 a minute: one request's worth comes back in 10 ms.
        let l = Limiter::new("t", 6000, Keying::Global, Applies::Reads).unwrap();
        for n in 0..3u8 {
            l.governor.check_key(&LimitKey::Ip(IpAddr::from([10, 0, 0, n]))).unwrap();
        }
        assert_eq!(l.governor.len(), 3);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(l.forget_idle(), 0);
    }
}
