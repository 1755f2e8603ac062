//! Rate limits with actix-governor: per client IP and global on writes, per client
//! IP on reads. A limited request gets the JSON 429 with `Retry-After`, the IETF
//! `RateLimit-Policy`/`RateLimit` fields and the original's `X-RateLimit-*`.

use std::net::IpAddr;
use std::time::Duration;

use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{GovernorConfig, GovernorConfigBuilder, KeyExtractor};
use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use governor::NotUntil;
use governor::clock::{Clock, DefaultClock, QuantaInstant};

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

#[derive(Debug, Clone)]
pub struct Limiter {
    /// Policy name in the `RateLimit` fields.
    name: &'static str,
    per_minute: u32,
    keying: Keying,
}

impl KeyExtractor for Limiter {
    type Key = LimitKey;
    type KeyExtractionError = ApiError;

    fn extract(&self, req: &ServiceRequest) -> Result<Self::Key, Self::KeyExtractionError> {
        match &self.keying {
            Keying::Global => Ok(LimitKey::All),
            Keying::ClientIp(trusted) => trusted
                .for_request(req)
                .map(LimitKey::Ip)
                .ok_or_else(|| ApiError::internal("request without a peer address")),
        }
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative.wait_time_from(DefaultClock::default().now());
        let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let reset_at = chrono::Utc::now().timestamp() + i64::try_from(retry_after).unwrap_or(i64::MAX / 2);
        ApiError::rate_limited(retry_after)
            .with_header(actix_web::http::header::RETRY_AFTER, retry_after.to_string())
            .with_header(hname("ratelimit-policy"), format!("\"{}\";q={};w=60", self.name, self.per_minute))
            .with_header(hname("ratelimit"), format!("\"{}\";r=0;t={retry_after}", self.name))
            .with_header(hname("x-ratelimit-limit"), self.per_minute.to_string())
            .with_header(hname("x-ratelimit-remaining"), "0")
            .with_header(hname("x-ratelimit-reset"), reset_at.to_string())
            .error_response()
    }
}

fn hname(name: &'static str) -> actix_web::http::header::HeaderName {
    actix_web::http::header::HeaderName::from_static(name)
}

/// No per-response headers: stacked limiters would overwrite each other's; the 429
/// answer carries the full set for the limit that was hit.
pub type LimiterConfig = GovernorConfig<Limiter, NoOpMiddleware>;

pub const WRITE_METHODS: [Method; 4] = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

/// A limiter allowing `per_minute` requests of `methods` in any minute, all of them
/// usable in one burst.
pub fn limiter(name: &'static str, per_minute: u32, keying: Keying, methods: Vec<Method>) -> Option<LimiterConfig> {
    let per_minute = per_minute.max(1);
    let period = Duration::from_secs(60) / per_minute;
    GovernorConfigBuilder::default()
        .period(period.max(Duration::from_nanos(1)))
        .burst_size(per_minute)
        .methods(methods)
        .key_extractor(Limiter { name, per_minute, keying })
        .finish()
}
