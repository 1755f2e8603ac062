//! The admin pages: a login form for `ADMIN_TOKEN` that sets an HttpOnly, Secure,
//! SameSite=Strict session cookie, and the dashboard (askama, server-rendered SVG
//! charts, no script, CSS from a file). An admin API key opens them too. Without
//! `ADMIN_TOKEN` the login form is closed.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::TimeDelta;
use levqor_core::{Clock, EmailHasher, SystemClock};
use levqor_jobs::JobQueue;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::auth::Caller;
use super::error::ApiError;
use crate::state::AppState;

pub const COOKIE: &str = "levqor_admin";
/// How long a sign-in lasts.
pub const SESSION: TimeDelta = TimeDelta::hours(12);
const CSS: &str = include_str!("../../../../static/admin/admin.css");

/// The signature over a session's expiry; it also covers a digest of the token,
/// so changing `ADMIN_TOKEN` ends every session.
fn session_signature(state: &AppState, token: &str, expires: i64) -> String {
    let hasher = EmailHasher::new(&state.ops.session_key);
    let token_digest = hasher.keyed(b"levqor.admin-token\0", token.as_bytes());
    hasher.keyed(b"levqor.admin-session\0", format!("{expires}:{token_digest}").as_bytes())
}

fn session_value(state: &AppState, token: &str, expires: i64) -> String {
    format!("{expires}.{}", session_signature(state, token, expires))
}

/// Whether the request carries a valid, unexpired session cookie.
fn has_session(state: &AppState, req: &HttpRequest) -> bool {
    let Some(token) = state.settings.ops.admin_token.as_deref() else { return false };
    let Some(cookie) = req.cookie(COOKIE) else { return false };
    let Some((expires, signature)) = cookie.value().split_once('.') else { return false };
    let Ok(expires) = expires.parse::<i64>() else { return false };
    if expires <= SystemClock.now().timestamp() {
        return false;
    }
    let expected = session_signature(state, token, expires);
    bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
}

/// An admin: the session cookie of the login form, or an admin API key.
#[derive(Debug, Clone, Copy)]
pub struct AdminAccess {
    /// Through the login form (the page offers to sign out).
    pub session: bool,
}

impl FromRequest for AdminAccess {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        if state.as_ref().is_some_and(|s| has_session(s, req)) {
            return Box::pin(async { Ok(AdminAccess { session: true }) });
        }
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            caller.await?.0.require_admin()?;
            Ok(AdminAccess { session: false })
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/login.html")]
struct LoginPage {
    problem: Option<&'static str>,
}

fn no_store<R: Responder>(r: R) -> actix_web::CustomizeResponder<R> {
    r.customize().insert_header((header::CACHE_CONTROL, "no-store"))
}

fn closed() -> ApiError {
    ApiError::not_found("the admin sign-in is closed: ADMIN_TOKEN is not set")
}

pub async fn login_form(state: web::Data<AppState>) -> Result<impl Responder, ApiError> {
    if state.settings.ops.admin_token.is_none() {
        return Err(closed());
    }
    Ok(no_store(LoginPage { problem: None }))
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// Checks the token (throttled per client IP), then sets the session cookie and
/// sends the browser to the dashboard.
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let Some(expected) = state.settings.ops.admin_token.clone() else { return Err(closed()) };
    let ip = req
        .peer_addr()
        .map(|peer| state.settings.trusted_proxies.client_ip(peer.ip(), req.headers()))
        .ok_or_else(|| ApiError::internal("request without a peer address"))?;
    if state.ops.login_limiter.check_key(&ip).is_err() {
        return Err(ApiError::rate_limited(60).with_header(header::RETRY_AFTER, "60"));
    }
    if !bool::from(expected.as_bytes().ct_eq(form.token.trim().as_bytes())) {
        let page = LoginPage { problem: Some("That token is not right.") };
        let mut res = no_store(page).respond_to(&req).map_into_boxed_body();
        *res.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
        return Ok(res);
    }
    let expires = (SystemClock.now() + SESSION).timestamp();
    let cookie = Cookie::build(COOKIE, session_value(&state, &expected, expires))
        .path("/admin")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(SESSION.num_seconds()))
        .finish();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/dashboard"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish())
}

pub async fn logout() -> HttpResponse {
    let mut gone =
        Cookie::build(COOKIE, "").path("/admin").http_only(true).secure(true).same_site(SameSite::Strict).finish();
    gone.make_removal();
    HttpResponse::SeeOther().insert_header((header::LOCATION, "/admin/login")).cookie(gone).finish()
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(CSS)
}

pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub cx: String,
    pub value_y: String,
    pub label: String,
    pub short: String,
    pub value: i64,
}

/// A bar chart, laid out here so the page needs no script.
pub struct Chart {
    pub title: String,
    pub tone: &'static str,
    pub width: u32,
    pub height: u32,
    pub baseline: u32,
    pub label_y: u32,
    pub bars: Vec<Bar>,
}

const CHART_W: u32 = 600;
const CHART_H: u32 = 200;
const PLOT_TOP: f64 = 16.0;
const PLOT_BOTTOM: f64 = 176.0;

impl Chart {
    /// `points` are (full label, short label, value); negative values draw as 0.
    pub fn bars(title: &str, tone: &'static str, points: Vec<(String, String, i64)>) -> Self {
        let max = points.iter().map(|p| p.2).max().unwrap_or(0).max(1) as f64;
        let n = points.len().max(1) as f64;
        let slot = f64::from(CHART_W) / n;
        let w = (slot * 0.7).max(1.0);
        let bars = points
            .into_iter()
            .enumerate()
            .map(|(i, (label, short, value))| {
                let h = (value.max(0) as f64 / max) * (PLOT_BOTTOM - PLOT_TOP);
                let x = i as f64 * slot + (slot - w) / 2.0;
                let y = PLOT_BOTTOM - h;
                Bar {
                    x: format!("{x:.1}"),
                    y: format!("{y:.1}"),
                    w: format!("{w:.1}"),
                    h: format!("{h:.1}"),
                    cx: format!("{:.1}", x + w / 2.0),
                    value_y: format!("{:.1}", (y - 3.0).max(10.0)),
                    label,
                    short,
                    value,
                }
            })
            .collect();
        Self {
            title: title.to_owned(),
            tone,
            width: CHART_W,
            height: CHART_H,
            baseline: PLOT_BOTTOM as u32,
            label_y: CHART_H - 8,
            bars,
        }
    }
}

pub struct InboxView {
    pub errors_today: u64,
    pub support_today: u64,
}

pub struct ActivityView {
    pub task: String,
    pub started: String,
    pub finished: String,
    pub outcome: &'static str,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/dashboard.html")]
pub struct Dashboard {
    pub range_label: String,
    pub generated_at: String,
    pub signed_in: bool,
    pub unique_visitors: u64,
    pub conversion_rate: String,
    pub queued: u64,
    pub oldest_queued: String,
    pub charts: Vec<Chart>,
    pub inboxes: Option<InboxView>,
    pub activity: Vec<ActivityView>,
}

/// Days the dashboard shows.
const DAYS: i64 = 14;

/// The dashboard; a browser without a session is sent to the login form (or gets
/// 401 when the form is closed).
pub async fn dashboard(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let access = match AdminAccess::extract(&req).await {
        Ok(access) => access,
        Err(e) if state.settings.ops.admin_token.is_some() && e.code() == "unauthorized" => {
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/admin/login"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish());
        }
        Err(e) => return Err(e),
    };
    let now = SystemClock.now();
    let today = now.timestamp().div_euclid(86_400);
    let first_day = today - DAYS + 1;
    let from = chrono::DateTime::from_timestamp(first_day * 86_400, 0).unwrap_or(chrono::DateTime::UNIX_EPOCH);
    let summary = super::analytics::load_summary(
        &state,
        super::analytics::SummaryQuery { from: Some(from), to: Some(now), bucket: Some("day".into()) },
    )
    .await?;
    let st = state.clone();
    let (daily, counts, activity) = web::block(move || {
        let daily = st.store.daily_ops(first_day, today + 1)?;
        let counts = st.store.counts(now)?;
        let activity = st.store.recent_activity(None, 12)?;
        Ok::<_, levqor_core::StorageError>((daily, counts, activity))
    })
    .await??;

    let day_label = |day: i64| {
        let d = chrono::DateTime::from_timestamp(day * 86_400, 0).unwrap_or(chrono::DateTime::UNIX_EPOCH);
        (d.format("%Y-%m-%d").to_string(), d.format("%d").to_string())
    };
    let per_day = |f: &dyn Fn(&levqor_store::DailyOps) -> i64| -> Vec<(String, String, i64)> {
        (first_day..=today)
            .map(|day| {
                let (label, short) = day_label(day);
                let value = daily.iter().find(|d| d.day == day).map_or(0, f);
                (label, short, value)
            })
            .collect()
    };
    let events: Vec<(String, String, i64)> = summary
        .buckets
        .iter()
        .map(|b| {
            (
                b.start.format("%Y-%m-%d").to_string(),
                b.start.format("%d").to_string(),
                i64::try_from(b.total).unwrap_or(i64::MAX),
            )
        })
        .collect();
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let queue: Vec<(String, String, i64)> = [
        ("queued", counts.queued),
        ("running", counts.running),
        ("succeeded", counts.succeeded),
        ("failed", counts.failed),
        ("dead", counts.dead),
        ("cancelled", counts.cancelled),
    ]
    .into_iter()
    .map(|(s, n)| (s.to_owned(), s.to_owned(), as_i64(n)))
    .collect();
    let mut charts = vec![
        Chart::bars("Analytics events per day", "", events),
        Chart::bars("Jobs per day", "", per_day(&|d| as_i64(d.jobs))),
        Chart::bars("Credits granted per day", "good", per_day(&|d| d.credits_granted)),
        Chart::bars("Credits spent per day", "warn", per_day(&|d| d.credits_spent)),
        Chart::bars("Queue by state", "", queue),
    ];
    let inboxes = state.ops.inboxes.today();
    if let Some((errors, support)) = inboxes {
        charts.push(Chart::bars(
            "Error reports and support messages today",
            "bad",
            vec![
                ("error reports".into(), "errors".into(), as_i64(errors)),
                ("support".into(), "support".into(), as_i64(support)),
            ],
        ));
    }
    let oldest = counts.oldest_queued_at.map_or(0, |at| (now - at).num_seconds().max(0));
    let page = Dashboard {
        range_label: format!("{} – {}", from.format("%Y-%m-%d"), now.format("%Y-%m-%d")),
        generated_at: now.format("%Y-%m-%d %H:%M:%S").to_string(),
        signed_in: access.session,
        unique_visitors: summary.unique_visitors,
        conversion_rate: format!("{:.1} %", summary.conversion_rate * 100.0),
        queued: counts.queued,
        oldest_queued: format!("{oldest} s"),
        charts,
        inboxes: inboxes.map(|(errors_today, support_today)| InboxView { errors_today, support_today }),
        activity: activity
            .into_iter()
            .map(|a| ActivityView {
                task: a.task,
                started: a.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                finished: a.finished_at.format("%H:%M:%S").to_string(),
                outcome: a.outcome.as_str(),
                detail: a.detail,
            })
            .collect(),
    };
    Ok(no_store(page).respond_to(&req).map_into_boxed_body())
}

/// The analytics, metrics and admin routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use super::{analytics, get, metrics};
    cfg.service(web::resource("/metrics").route(get().to(metrics::metrics)))
        .service(web::resource("/api/v1/events").route(web::post().to(analytics::record)))
        .service(web::resource("/api/v1/metrics/track").route(web::post().to(analytics::track)))
        .service(web::resource("/api/v1/metrics/summary").route(get().to(analytics::summary)))
        .service(web::resource("/admin/analytics").route(get().to(analytics::admin_analytics)))
        .service(web::resource("/admin/dashboard").route(get().to(dashboard)))
        .service(web::resource("/admin/login").route(get().to(login_form)).route(web::post().to(login)))
        .service(web::resource("/admin/logout").route(web::post().to(logout)))
        .service(web::resource("/admin/assets/admin.css").route(get().to(stylesheet)));
}
