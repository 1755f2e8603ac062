//! Site analytics: `POST /api/v1/events` (public, per-IP limited like every
//! write, CORS for the site origins) and the admin summaries.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use levqor_analytics::{AnalyticsError, Bucket, ClientFingerprint, EventInput, Summary};
use levqor_core::{Clock, SystemClock};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::admin::AdminAccess;
use super::error::{ApiError, ErrorBody};
use super::json::Json;
use crate::state::AppState;

/// An event: the contract's `{type, props?, email?, ref?}` or the original's
/// `{type, payload, ref}` (`payload.email`, if present, is taken as the email).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    #[serde(rename = "type")]
    #[schema(example = "page_view")]
    pub event_type: String,
    /// A JSON object, at most 4096 bytes, 32 keys and 4 levels deep.
    #[schema(value_type = Option<Object>)]
    pub props: Option<serde_json::Value>,
    /// The original's name for `props`.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    /// Stored only as its keyed digest (HMAC-SHA256 under `LEVQOR_SECRET`).
    pub email: Option<String>,
    /// A referral code or campaign reference (at most 64 characters).
    #[serde(rename = "ref")]
    pub ref_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventStored {
    pub ok: bool,
}

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::Invalid(details) => ApiError::invalid(details),
            AnalyticsError::Storage(s) => s.into(),
        }
    }
}

/// Record an analytics event (public). Any email address, in `email` or inside
/// `props`, is stored only as a keyed digest; anonymous visitors are counted by a
/// keyed digest of address and user agent that changes every UTC day.
#[utoipa::path(post, path = "/api/v1/events", tag = "analytics", request_body = EventBody,
    responses((status = 201, body = EventStored), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn record(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<EventBody>,
) -> Result<HttpResponse, ApiError> {
    let ip = req.peer_addr().map(|peer| state.settings.trusted_proxies.client_ip(peer.ip(), req.headers()));
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(512)
        .collect();
    let client = ClientFingerprint { ip, user_agent };
    let input = EventInput {
        event_type: body.event_type,
        props: body.props,
        payload: body.payload,
        email: body.email,
        ref_code: body.ref_code,
    };
    let id = uuid::Uuid::now_v7().to_string();
    let svc = state.analytics.clone();
    web::block(move || svc.record(input, &client, id)).await??;
    if crate::ops::metrics::handle().is_some() {
        metrics::counter!(crate::ops::metrics::ANALYTICS_EVENTS).increment(1);
    }
    Ok(HttpResponse::Created().json(EventStored { ok: true }))
}

/// The same as `POST /api/v1/events` (the original's path).
#[utoipa::path(post, path = "/api/v1/metrics/track", tag = "analytics", request_body = EventBody,
    responses((status = 201, body = EventStored), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn track(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<EventBody>,
) -> Result<HttpResponse, ApiError> {
    record(state, req, body).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Start (RFC 3339); default: 7 days (bucket `day`) or 24 hours (bucket `hour`) before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
    /// `hour` or `day` (default `day`); buckets are UTC.
    pub bucket: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BucketDto {
    pub start: DateTime<Utc>,
    /// Events per type.
    pub counts: BTreeMap<String, u64>,
    pub total: u64,
    pub unique_visitors: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryDto {
    /// `hour` or `day`.
    pub bucket: &'static str,
    /// Start of the first bucket.
    pub from: DateTime<Utc>,
    /// End of the last bucket.
    pub to: DateTime<Utc>,
    pub buckets: Vec<BucketDto>,
    /// Events per type over the range.
    pub totals: BTreeMap<String, u64>,
    pub unique_visitors: u64,
    /// Visitors with at least one event of a conversion type.
    pub converted_visitors: u64,
    /// `converted_visitors / unique_visitors` (0 without visitors).
    pub conversion_rate: f64,
    /// The event types that count as conversions (`ANALYTICS_CONVERSIONS`).
    pub conversion_types: Vec<String>,
}

impl From<Summary> for SummaryDto {
    fn from(s: Summary) -> Self {
        Self {
            bucket: s.bucket.as_str(),
            from: s.from,
            to: s.to,
            buckets: s
                .buckets
                .into_iter()
                .map(|b| BucketDto {
                    start: b.start,
                    counts: b.counts,
                    total: b.total,
                    unique_visitors: b.unique_visitors,
                })
                .collect(),
            totals: s.totals,
            unique_visitors: s.unique_visitors,
            converted_visitors: s.converted_visitors,
            conversion_rate: s.conversion_rate,
            conversion_types: s.conversion_types,
        }
    }
}

pub(crate) async fn load_summary(state: &web::Data<AppState>, q: SummaryQuery) -> Result<Summary, ApiError> {
    let bucket = Bucket::parse(q.bucket.as_deref().unwrap_or("day"))?;
    let to = q.to.unwrap_or_else(|| SystemClock.now());
    let default_span = if bucket == Bucket::Hour { TimeDelta::hours(24) } else { TimeDelta::days(7) };
    let from = q.from.unwrap_or(to - default_span);
    let svc = state.analytics.clone();
    Ok(web::block(move || svc.summary(from, to, bucket)).await??)
}

/// Events per type per UTC bucket, unique visitors and the conversion rate (admin).
#[utoipa::path(get, path = "/api/v1/metrics/summary", tag = "analytics", params(SummaryQuery),
    responses((status = 200, body = SummaryDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn summary(
    state: web::Data<AppState>,
    _admin: AdminAccess,
    q: web::Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    let summary = load_summary(&state, q.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SummaryDto::from(summary)))
}

/// The analytics summary for the admin pages: the same document as
/// `/api/v1/metrics/summary`, reachable with an admin key or the admin session.
#[utoipa::path(get, path = "/admin/analytics", tag = "analytics", params(SummaryQuery),
    responses((status = 200, body = SummaryDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn admin_analytics(
    state: web::Data<AppState>,
    admin: AdminAccess,
    q: web::Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    summary(state, admin, q).await
}
