//! `GET /metrics`: Prometheus text format, for an admin key or `METRICS_TOKEN`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use levqor_core::{Clock, SystemClock};
use levqor_jobs::JobQueue;
use subtle::ConstantTimeEq;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use crate::state::AppState;

fn bearer(req: &HttpRequest) -> Option<&str> {
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Prometheus metrics: requests by route template and status, latency histogram,
/// queue depth by state, job outcomes by workflow, credits granted and spent,
/// emails sent and failed, log lines dropped.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token_ok = match (state.settings.ops.metrics_token.as_deref(), bearer(&req)) {
        (Some(expected), Some(given)) => bool::from(expected.as_bytes().ct_eq(given.as_bytes())),
        _ => false,
    };
    if !token_ok {
        let caller = <Caller as actix_web::FromRequest>::extract(&req).await?;
        caller.0.require_admin()?;
    }
    let st = state.clone();
    let now = SystemClock.now();
    let (counts, credits) = web::block(move || {
        let counts = st.store.counts(now)?;
        let credits = st.store.credit_totals()?;
        Ok::<_, levqor_core::StorageError>((counts, credits))
    })
    .await??;
    let age = counts.oldest_queued_at.map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
    let mail = state.mail.health();
    let process = crate::ops::metrics::ProcessCounts {
        emails_sent: mail.sent,
        emails_failed: mail.failed,
        log_lines_dropped: crate::telemetry::dropped_lines(),
    };
    let text = crate::ops::metrics::render(&counts, age, credits, &process)
        .ok_or_else(|| ApiError::unavailable("another metrics recorder is installed in this process"))?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
