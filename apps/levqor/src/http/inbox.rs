//! Error reports and support messages over HTTP. The record is stored (fsynced)
//! before the answer; forwarding (Sentry, email) never changes the answer. The
//! rules live in `levqor-notifications`.

use actix_web::{HttpResponse, web};
use levqor_notifications::inbox::InboxError;
use levqor_notifications::{InboxHealth, NewErrorReport, NewSupportMessage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::json::Json;
use super::request_id;
use crate::state::AppState;

pub const ERRORS_REPORT: &str = "/api/v1/errors/report";
pub const SUPPORT_MESSAGE: &str = "/api/v1/support/message";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorReportRequest {
    /// At most 5000 characters.
    #[schema(example = "TypeError: x is undefined")]
    pub message: String,
    /// `debug`, `info`, `warning` (or `warn`), `error` (the default) or `fatal`;
    /// error and fatal reports are mailed to `RECEIVING_EMAIL`.
    #[schema(example = "error")]
    pub level: Option<String>,
    /// Kept up to 20000 characters (longer stacks are cut and marked).
    pub stack: Option<String>,
    /// The page, at most 2048 characters.
    pub url: Option<String>,
    /// At most 512 characters.
    #[serde(rename = "userAgent")]
    pub user_agent: Option<String>,
    /// At most 200 characters.
    pub release: Option<String>,
    /// Who saw it: an id string or an object (`id`, `email`, `username`); at most 2 KiB as JSON.
    #[schema(value_type = Object)]
    pub user: Option<Value>,
    /// Anything else, as an object of at most 16 KiB as JSON.
    #[schema(value_type = Object)]
    pub extra: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportMessageRequest {
    /// Where to answer.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At most 5000 characters.
    #[schema(example = "My run did not start.")]
    pub message: String,
    /// One line, at most 200 characters.
    pub subject: Option<String>,
    /// The page the message was sent from, at most 2048 characters.
    pub url: Option<String>,
}

/// The record was stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    pub ok: bool,
    /// The record's id (quote it in support conversations).
    pub id: String,
}

/// An inbox's health: where records go and how many arrived today.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxHealthDto {
    pub ok: bool,
    /// `jsonl`, or `jsonl+sentry` when error reports go to Sentry too.
    #[schema(example = "jsonl")]
    pub collector: &'static str,
    #[schema(example = "errors.jsonl")]
    pub file: &'static str,
    /// Whether records are forwarded by email (the address is not shown).
    pub email: bool,
    pub sentry: bool,
    /// The UTC day `today` counts.
    #[schema(example = "2026-11-30")]
    pub date: String,
    pub today: u64,
}

impl From<InboxHealth> for InboxHealthDto {
    fn from(h: InboxHealth) -> Self {
        Self {
            ok: h.ok,
            collector: h.collector,
            file: h.file,
            email: h.email,
            sentry: h.sentry,
            date: h.date,
            today: h.today,
        }
    }
}

impl From<InboxError> for ApiError {
    fn from(e: InboxError) -> Self {
        match e {
            InboxError::Invalid(details) => ApiError::invalid(details),
            // Nothing was accepted: the caller may send it again.
            InboxError::Storage(_) => ApiError::unavailable(e),
        }
    }
}

fn log_forwarding(state: &AppState, what: &str, stored: &levqor_notifications::Stored, request_id: &str) {
    for problem in &stored.problems {
        slog::warn!(state.log, "a stored record could not be forwarded"; "record" => what, "id" => &stored.id, "request_id" => request_id, "problem" => problem);
    }
}

/// Report an error seen in the site (public, `ERRORS_RATE` per minute per IP).
/// Appended to `errors.jsonl` and fsynced before the answer, then sent to Sentry
/// (with `SENTRY_DSN`) and, for `error` and `fatal`, mailed to `RECEIVING_EMAIL`;
/// a forwarding failure does not change the answer.
#[utoipa::path(post, path = "/api/v1/errors/report", tag = "support", request_body = ErrorReportRequest,
    responses((status = 201, body = Received), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, description = "the record could not be stored; send it again", body = ErrorBody)))]
pub async fn report_error(
    state: web::Data<AppState>,
    Json(body): Json<ErrorReportRequest>,
) -> Result<HttpResponse, ApiError> {
    let request_id = request_id::current();
    let new = NewErrorReport {
        message: body.message,
        level: body.level,
        stack: body.stack,
        url: body.url,
        user_agent: body.user_agent,
        release: body.release,
        user: body.user,
        extra: body.extra,
    };
    let (st, id) = (state.clone(), request_id.clone());
    let stored = web::block(move || st.inbox.report_error(new, &id)).await??;
    log_forwarding(&state, "error report", &stored, &request_id);
    Ok(HttpResponse::Created().json(Received { ok: true, id: stored.id }))
}

/// Send a message to support (public, `SUPPORT_RATE` per minute per IP). Appended
/// to `support.jsonl` and fsynced before the answer, then mailed to
/// `RECEIVING_EMAIL` with `Reply-To` set to the sender; a mail failure never loses
/// the message and does not change the answer.
#[utoipa::path(post, path = "/api/v1/support/message", tag = "support", request_body = SupportMessageRequest,
    responses((status = 201, body = Received), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, description = "the message could not be stored; send it again", body = ErrorBody)))]
pub async fn support_message(
    state: web::Data<AppState>,
    Json(body): Json<SupportMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let request_id = request_id::current();
    let new = NewSupportMessage { email: body.email, message: body.message, subject: body.subject, url: body.url };
    let (st, id) = (state.clone(), request_id.clone());
    let stored = web::block(move || st.inbox.support_message(new, &id)).await??;
    log_forwarding(&state, "support message", &stored, &request_id);
    Ok(HttpResponse::Created().json(Received { ok: true, id: stored.id }))
}

/// The error collector in use and today's (UTC) count of reports.
#[utoipa::path(get, path = "/api/v1/errors/health", tag = "support", responses((status = 200, body = InboxHealthDto)))]
pub async fn errors_health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(InboxHealthDto::from(state.inbox.errors_health()))
}

/// The support inbox in use and today's (UTC) count of messages.
#[utoipa::path(get, path = "/api/v1/support/health", tag = "support", responses((status = 200, body = InboxHealthDto)))]
pub async fn support_health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(InboxHealthDto::from(state.inbox.support_health()))
}
