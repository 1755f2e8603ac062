//! Jobs: durable intake, status, listing, cancel, retry, and queue health.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};
use levqor_core::{Cursor, Page};
use levqor_jobs::Intake;
use levqor_jobs::{IntakeRequest, Job, JobFilter, JobId, JobState, Priority};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::idempotency::{self, Start};
use super::json::JsonBody;
use crate::services::jobs::Arrival;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PriorityDto {
    Low,
    Normal,
    High,
}

/// The body of `POST /api/v1/intake`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeBody {
    /// A built-in workflow (`echo`, `http.request`, `connector`, …) or `pipeline:<id>`.
    /// `connector` takes `{"connector", "action", "params", "connection"?}` where
    /// `connection` names a stored connection (id or name; default: the only one
    /// for the connector); inline `credentials` are refused (400).
    #[schema(example = "echo")]
    pub workflow: String,
    /// The job's input, a JSON object; at most 200 KiB as JSON.
    pub payload: Value,
    /// Gets a signed POST of the job's status document when the job ends.
    pub callback_url: Option<String>,
    pub priority: Option<PriorityDto>,
    /// 1–20; default 3.
    pub max_attempts: Option<u32>,
    /// 1–3600 seconds per attempt; default 300.
    pub timeout_s: Option<u32>,
    /// Do not start before this time (RFC 3339).
    pub run_at: Option<DateTime<Utc>>,
}

impl IntakeBody {
    fn into_request(self) -> IntakeRequest {
        IntakeRequest {
            workflow: self.workflow,
            payload: self.payload,
            callback_url: self.callback_url,
            priority: self.priority.map(|p| match p {
                PriorityDto::Low => Priority::Low,
                PriorityDto::Normal => Priority::Normal,
                PriorityDto::High => Priority::High,
            }),
            max_attempts: self.max_attempts,
            timeout_s: self.timeout_s,
            run_at: self.run_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub job_id: String,
    /// Always `queued`.
    pub status: String,
}

/// A job's status document.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStatus {
    pub job_id: String,
    /// `queued`, `running`, `succeeded`, `failed` (will retry), `dead` or `cancelled`.
    pub status: String,
    pub workflow: String,
    pub priority: String,
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub result: Option<Value>,
    pub error: Option<String>,
}

impl From<Job> for JobStatus {
    fn from(j: Job) -> Self {
        Self {
            job_id: j.id.to_string(),
            status: j.state.as_str().to_owned(),
            workflow: j.workflow,
            priority: j.priority.as_str().to_owned(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            result: j.result,
            error: j.error,
        }
    }
}

/// Queue a job. Answers 202 only once the job is durably stored.
#[utoipa::path(post, path = "/api/v1/intake", tag = "jobs", request_body = IntakeBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for 24 h")),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "the same Idempotency-Key is in flight", body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "the Idempotency-Key was used with another body", body = ErrorBody),
        (status = 429, description = "rate limited, or LEVQOR_MAX_QUEUED_PER_USER of the caller's jobs are waiting", body = ErrorBody),
        (status = 503, description = "the job could not be stored; nothing was queued", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn intake(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: JsonBody<IntakeBody>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let claimed = match idempotency::start(&state, &req, &caller.0, &body.bytes).await? {
        Start::Answer(response) => return Ok(response),
        Start::Run(claimed) => Some(claimed),
        Start::Unkeyed => None,
    };
    let arrival = Arrival { request: body.value.into_request(), body_len: body.bytes.len() };
    let submitted = match state.jobs.admit(&owner, arrival).await {
        Ok(new) => {
            let answer = json!(Accepted { job_id: new.id.to_string(), status: "queued".into() });
            let recorded = claimed.as_ref().map(|c| c.recorded(StatusCode::ACCEPTED, &answer));
            state.intake.submit(Intake { job: new, recorded }).await.map(|_| answer).map_err(ApiError::from)
        }
        Err(e) => Err(ApiError::from(e)),
    };
    match submitted {
        Ok(answer) => Ok(HttpResponse::Accepted().json(answer)),
        Err(e) => {
            // The one place a claimed key is given up: nothing was stored.
            if let Some(c) = claimed {
                idempotency::finish(&state, c, e.status_code(), None).await;
            }
            Err(e)
        }
    }
}

fn job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("no such job"))
}

/// A job's status (owner or admin).
#[utoipa::path(get, path = "/api/v1/status/{job_id}", tag = "jobs", params(("job_id" = String, Path, description = "job id")),
    responses((status = 200, body = JobStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn status(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = state.jobs.status(&caller.0, job_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(JobStatus::from(job)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only jobs in this state.
    pub status: Option<String>,
    /// Only jobs of this workflow.
    pub workflow: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobStatus>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The caller's jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let q = query.into_inner();
    let state_filter = q
        .status
        .map(|s| JobState::parse(&s).map_err(|e| ApiError::invalid_field("status", e.to_string())))
        .transpose()?;
    let filter = JobFilter { state: state_filter, workflow: q.workflow };
    let cursor = q.cursor.map(Cursor);
    let limit = Page::<Job>::clamp_limit(q.limit);
    let page = state.jobs.list(owner, filter, cursor, limit).await?;
    Ok(HttpResponse::Ok().json(JobList {
        jobs: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|c| c.0),
    }))
}

/// Cancel a queued, running or waiting job (owner).
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/cancel", tag = "jobs", params(("job_id" = String, Path, description = "job id")),
    responses((status = 200, body = JobStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the job already ended", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let job = state.jobs.cancel(owner, job_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(JobStatus::from(job)))
}

/// Queue a failed or dead job again, with a fresh set of attempts (owner).
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/retry", tag = "jobs", params(("job_id" = String, Path, description = "job id")),
    responses((status = 200, body = JobStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the job is not failed or dead", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let job = state.jobs.retry(owner, job_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(JobStatus::from(job)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueHealth {
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub dead: u64,
    pub cancelled: u64,
    /// How long the oldest due job has waited, in seconds (0 when none waits).
    pub oldest_queued_age_s: f64,
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// Workers in this process (0: API only).
    pub workers: usize,
}

/// Jobs per state and the age of the oldest waiting job.
#[utoipa::path(get, path = "/ops/queue_health", tag = "service", responses((status = 200, body = QueueHealth), (status = 503, body = ErrorBody)))]
pub async fn queue_health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (c, now) = state.jobs.counts().await?;
    let age = c.oldest_queued_at.map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
    Ok(HttpResponse::Ok().json(QueueHealth {
        queued: c.queued,
        running: c.running,
        succeeded: c.succeeded,
        failed: c.failed,
        dead: c.dead,
        cancelled: c.cancelled,
        oldest_queued_age_s: age,
        oldest_queued_at: c.oldest_queued_at,
        workers: state.settings.workers,
    }))
}
