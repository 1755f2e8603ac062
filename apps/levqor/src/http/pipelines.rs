//! Pipelines: plan from plain words, CRUD with immutable versions, runs (and dry
//! runs), run records and webhook triggers. The flow lives in
//! [`crate::services::pipelines`]; these handlers map HTTP in and out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};
use levqor_core::Cursor;
use levqor_jobs::JobId;
use levqor_pipelines::{PipelineId, PipelinesError, Resolution, StoredPipeline, StoredRun, pipeline_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::idempotency::{self, Start};
use super::json::{Json, JsonBody, OptionalJson};
use crate::services::pipelines::{Created, PipelineServiceError, Recorder, Started};
use crate::state::AppState;

/// The body of `POST /api/v1/plan`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// What the pipeline should do, in plain words (1–2000 characters).
    #[schema(example = "when someone fills out the contact form, create a task in Notion and notify me on Slack")]
    pub description: String,
}

/// One step of a stored pipeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepDto {
    /// `s1`, `s2`, … by position.
    pub id: String,
    pub connector: String,
    pub action: String,
    /// May contain `{{input.…}}` and `{{steps.<id>.output.…}}` placeholders.
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
}

/// A stored pipeline version.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineDto {
    pub id: String,
    /// The version shown (the latest).
    pub version: u32,
    pub latest_version: u32,
    pub description: String,
    /// `manual`, `webhook` or `schedule`.
    pub trigger: String,
    /// 5-field cron (UTC) of a `schedule` pipeline.
    pub schedule: Option<String>,
    pub steps: Vec<StepDto>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredPipeline> for PipelineDto {
    fn from(p: StoredPipeline) -> Self {
        Self {
            id: p.id.to_string(),
            version: p.version,
            latest_version: p.latest_version,
            description: p.pipeline.description,
            trigger: p.pipeline.trigger.as_str().to_owned(),
            schedule: p.pipeline.schedule,
            steps: p
                .pipeline
                .steps
                .into_iter()
                .map(|s| StepDto { id: s.id, connector: s.connector, action: s.action, params: s.params })
                .collect(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A stored pipeline, as `POST /api/v1/pipelines` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineCreated {
    /// Always `ok`.
    pub status: String,
    pub id: String,
    pub pipeline: PipelineDto,
    /// Credits one run costs at most.
    pub estimated_cost: i64,
    /// For a `webhook` pipeline: `/hooks/{id}/{token}`, shown only now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// What was inferred (a `schedule` from the description, AI steps working
    /// on the run's input) and placeholder values still to fill in (a run
    /// refuses a step that holds one).
    pub warnings: Vec<String>,
}

/// A new version, as `PUT /api/v1/pipelines/{id}` answers: the pipeline and
/// the validation's warnings.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineUpdated {
    #[serde(flatten)]
    pub pipeline: PipelineDto,
    pub warnings: Vec<String>,
}

impl From<Created> for PipelineCreated {
    fn from(c: Created) -> Self {
        Self {
            status: "ok".into(),
            id: c.stored.id.to_string(),
            estimated_cost: c.estimated_cost.get(),
            webhook_url: c.webhook_url,
            warnings: c.warnings,
            pipeline: c.stored.into(),
        }
    }
}

/// What `POST /api/v1/plan` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Planned {
    /// Always `ok`.
    pub status: String,
    pub pipeline: PipelineDto,
    /// `openai` or `rules`.
    pub planner: String,
    pub estimated_cost: i64,
    /// Guessed values, a fallback from OpenAI to the rules.
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineList {
    pub pipelines: Vec<PipelineDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    pub cursor: Option<String>,
    /// 1–100; default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineDeleted {
    pub id: String,
    pub deleted: bool,
}

/// The body of `POST /api/v1/run`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    pub pipeline_id: String,
    /// The run's input, for `{{input.…}}`; default `{}`.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// Validate and render every step against the input and return the estimate;
    /// calls nothing and charges nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A queued run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunAccepted {
    pub job_id: String,
    /// Always `queued`.
    pub status: String,
    /// Credits reserved (the estimate); the run is charged what it used.
    pub cost: i64,
}

/// What a dry run would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunDto {
    pub dry_run: bool,
    /// Every step rendered.
    pub ok: bool,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Value>,
    pub estimated_cost: i64,
}

/// One step of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunStepDto {
    pub id: String,
    pub connector: String,
    pub action: String,
    /// `pending`, `succeeded`, `failed` or `skipped`.
    pub status: String,
    pub attempts: u32,
    #[schema(value_type = Option<Object>)]
    pub params: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub error: Option<String>,
    pub duration_ms: Option<u64>,
    pub credits: i64,
}

/// A run, step by step.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDto {
    pub job_id: String,
    pub pipeline_id: String,
    pub version: u32,
    /// `running`, `succeeded`, `failed`, or `unknown`: stopped at a step whose
    /// outcome is unknown until it is resumed (`POST /api/v1/runs/{job_id}/resume`).
    pub status: String,
    #[schema(value_type = Object)]
    pub input: Value,
    pub steps: Vec<RunStepDto>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn enum_str(v: &impl Serialize) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

impl From<StoredRun> for RunDto {
    fn from(r: StoredRun) -> Self {
        Self {
            job_id: r.job_id.to_string(),
            pipeline_id: r.pipeline_id.to_string(),
            version: r.version,
            status: enum_str(&r.state.status()),
            input: r.input,
            steps: r
                .state
                .steps
                .into_iter()
                .map(|s| RunStepDto {
                    status: enum_str(&s.status),
                    id: s.id,
                    connector: s.connector,
                    action: s.action,
                    attempts: s.attempts,
                    params: s.params.map(Value::Object),
                    output: s.output,
                    error: s.error,
                    duration_ms: s.duration_ms,
                    credits: s.credits.get(),
                })
                .collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RunListQuery {
    /// Only the runs of this pipeline.
    pub pipeline_id: Option<String>,
    pub cursor: Option<String>,
    /// 1–100; default 50.
    pub limit: Option<u32>,
}

/// What a webhook trigger answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookAccepted {
    pub job_id: String,
    /// Always `queued`.
    pub status: String,
}

fn pipeline_id(raw: &str) -> Result<PipelineId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("no such pipeline"))
}

/// Plain words → a validated, stored pipeline. The planner is OpenAI when
/// `OPENAI_API_KEY` is set (falling back to the rules, said in `planner` and
/// `warnings`), the rules otherwise.
#[utoipa::path(post, path = "/api/v1/plan", tag = "pipelines", request_body = PlanBody,
    responses((status = 201, body = Planned), (status = 400, description = "blank or too long description", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "nothing to do was found in the description", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn plan(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<PlanBody>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let planned = state.pipelines.plan(owner, &body.description).await?;
    let created = PipelineCreated::from(planned.created);
    Ok(HttpResponse::Created().json(Planned {
        status: "ok".into(),
        pipeline: created.pipeline,
        planner: planned.planner.as_str().to_owned(),
        estimated_cost: created.estimated_cost,
        warnings: planned.warnings,
        webhook_url: created.webhook_url,
    }))
}

/// The JSON Schema of a pipeline document.
#[utoipa::path(get, path = "/api/v1/pipelines/schema", tag = "pipelines",
    responses((status = 200, description = "JSON Schema (draft 2020-12)", body = Object)))]
pub async fn schema() -> HttpResponse {
    HttpResponse::Ok().json(pipeline_schema())
}

/// Store a pipeline from a JSON document (the original `{trigger, schedule?,
/// actions: [{type, connector, params}]}` shape or the normalised `steps`);
/// 400 with every problem's field path. As the original wrote them: a
/// `schedule` trigger without a cron gets one inferred from the description,
/// an AI step without `text` works on the run's input, and placeholder values
/// (`your_…`, `<…>`, `[Post 1]`) are accepted; each is said in `warnings`, and
/// a run refuses a step that still holds a placeholder.
#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines", request_body = Object,
    responses((status = 201, body = PipelineCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    Json(doc): Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let svc = state.pipelines.clone();
    let created = web::block(move || svc.create(&owner, &doc)).await??;
    Ok(HttpResponse::Created().json(PipelineCreated::from(created)))
}

/// The caller's pipelines (latest versions), newest first.
#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines", params(ListQuery),
    responses((status = 200, body = PipelineList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let cursor = query.cursor.map(Cursor);
    let svc = state.pipelines.clone();
    let page = web::block(move || svc.list(&owner, cursor.as_ref(), limit)).await??;
    Ok(HttpResponse::Ok().json(PipelineList {
        pipelines: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|c| c.0),
    }))
}

/// The latest version of one of the caller's pipelines.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}", tag = "pipelines", params(("id" = String, Path, description = "pipeline id")),
    responses((status = 200, body = PipelineDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let id = pipeline_id(&id)?;
    let svc = state.pipelines.clone();
    let found = web::block(move || svc.get(&owner, &id)).await??;
    Ok(HttpResponse::Ok().json(PipelineDto::from(found)))
}

/// Store a new immutable version of one of the caller's pipelines (validated as
/// on create, with `warnings`); runs already started stay pinned to their version.
#[utoipa::path(put, path = "/api/v1/pipelines/{id}", tag = "pipelines", params(("id" = String, Path, description = "pipeline id")),
    request_body = Object,
    responses((status = 200, body = PipelineUpdated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    Json(doc): Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let id = pipeline_id(&id)?;
    let svc = state.pipelines.clone();
    let (stored, warnings) = web::block(move || svc.update(&owner, &id, &doc)).await??;
    Ok(HttpResponse::Ok().json(PipelineUpdated { pipeline: PipelineDto::from(stored), warnings }))
}

/// Delete one of the caller's pipelines (runs keep their pinned version).
#[utoipa::path(delete, path = "/api/v1/pipelines/{id}", tag = "pipelines", params(("id" = String, Path, description = "pipeline id")),
    responses((status = 200, body = PipelineDeleted), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let id = pipeline_id(&id)?;
    let shown = id.to_string();
    let svc = state.pipelines.clone();
    let audit = super::audit::context(&caller);
    web::block(move || svc.delete(&owner, &id, &audit)).await??;
    Ok(HttpResponse::Ok().json(PipelineDeleted { id: shown, deleted: true }))
}

/// Run the latest version of one of the caller's pipelines: reserves the
/// estimated cost (402 `insufficient_credits` before anything is queued) and
/// queues a `pipeline:<id>` job. With `dry_run`, renders every step and returns
/// the estimate (200) without calling or charging anything.
#[utoipa::path(post, path = "/api/v1/run", tag = "pipelines", request_body = RunBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for 24 h; the run starts once")),
    responses((status = 202, body = RunAccepted), (status = 200, description = "a dry run", body = DryRunDto),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 402, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "the same Idempotency-Key is in flight", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, description = "the Idempotency-Key was used with another body", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn run(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: JsonBody<RunBody>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let claimed = match idempotency::start(&state, &req, &caller.0, &body.bytes).await? {
        Start::Answer(response) => return Ok(response),
        Start::Run(claimed) => Some(claimed),
        Start::Unkeyed => None,
    };
    let answer = start_or_dry_run(&state, owner, body.value, claimed.as_ref()).await;
    if let Some(c) = claimed {
        match &answer {
            // A started run's answer was committed with it.
            Ok(r) if r.status() == StatusCode::ACCEPTED => {}
            Ok(r) => idempotency::finish(&state, c, r.status(), None).await,
            Err(e) => idempotency::finish(&state, c, e.status_code(), None).await,
        }
    }
    answer
}

async fn start_or_dry_run(
    state: &web::Data<AppState>,
    owner: levqor_core::UserId,
    body: RunBody,
    claimed: Option<&idempotency::Claimed>,
) -> Result<HttpResponse, ApiError> {
    let id = pipeline_id(&body.pipeline_id)?;
    let input = body.input.unwrap_or_else(|| json!({}));
    if !input.is_object() {
        return Err(ApiError::invalid_field("input", "must be a JSON object"));
    }
    if body.dry_run {
        let svc = state.pipelines.clone();
        let dry = web::block(move || svc.dry_run(&owner, &id, &input)).await??;
        let steps = dry.steps.iter().filter_map(|s| serde_json::to_value(s).ok()).collect();
        return Ok(HttpResponse::Ok().json(DryRunDto {
            dry_run: true,
            ok: dry.ok,
            steps,
            estimated_cost: dry.estimated_cost.get(),
        }));
    }
    let accepted = |started: &Started| RunAccepted {
        job_id: started.job_id.to_string(),
        status: "queued".into(),
        cost: started.cost.get(),
    };
    let record = claimed.cloned().map(|c| {
        Box::new(move |started: &Started| c.recorded(StatusCode::ACCEPTED, &json!(accepted(started)))) as Box<Recorder>
    });
    let registry = state.registry.clone();
    let started = state.pipelines.start_run(owner, id, input, &|w| registry.contains(w), record.as_deref()).await?;
    if let Some(waker) = &state.waker {
        waker.wake();
    }
    Ok(HttpResponse::Accepted().json(accepted(&started)))
}

/// A run of one of the caller's pipelines, step by step: status, rendered
/// params, output, error, duration and credits of each.
#[utoipa::path(get, path = "/api/v1/runs/{job_id}", tag = "pipelines", params(("job_id" = String, Path, description = "the run's job id")),
    responses((status = 200, body = RunDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get_run(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let id: JobId = id.parse().map_err(|_| ApiError::not_found("no such run"))?;
    let svc = state.pipelines.clone();
    let run = web::block(move || svc.get_run(&owner, &id)).await?.map_err(|e| match e {
        PipelineServiceError::Pipelines(PipelinesError::NotFound) => ApiError::not_found("no such run"),
        other => other.into(),
    })?;
    Ok(HttpResponse::Ok().json(RunDto::from(run)))
}

/// The body of `POST /api/v1/runs/{job_id}/resume`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeBody {
    /// The step whose outcome is unknown; default: the run's one such step.
    pub step: Option<String>,
    /// `skip` (the service did act, or it does not matter: go on after the
    /// step) or `send_again` (send the step once more).
    #[schema(value_type = String, example = "send_again")]
    pub resolution: Resolution,
}

/// Resume a run stopped at a step whose outcome is unknown (a write that got a
/// 5xx or no answer, so the service may have acted): skip the step or send it
/// again, and the run's job is queued again.
#[utoipa::path(post, path = "/api/v1/runs/{job_id}/resume", tag = "pipelines",
    params(("job_id" = String, Path, description = "the run's job id")), request_body = ResumeBody,
    responses((status = 202, body = RunDto), (status = 400, description = "no such step, or its outcome is not unknown", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the run's job is not failed or dead", body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn resume_run(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    Json(body): Json<ResumeBody>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let id: JobId = id.parse().map_err(|_| ApiError::not_found("no such run"))?;
    let (svc, o, j) = (state.pipelines.clone(), owner.clone(), id.clone());
    let run = web::block(move || svc.resolve_step(&o, &j, body.step.as_deref(), body.resolution)).await?.map_err(
        |e| match e {
            PipelineServiceError::Pipelines(PipelinesError::NotFound) => ApiError::not_found("no such run"),
            other => other.into(),
        },
    )?;
    // The decision is stored first, so the run the job picks up sees it.
    state.jobs.retry(owner, id).await?;
    Ok(HttpResponse::Accepted().json(RunDto::from(run)))
}

/// The caller's runs, of one pipeline or all, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "pipelines", params(RunListQuery),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list_runs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<RunListQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let query = query.into_inner();
    let pipeline = query
        .pipeline_id
        .as_deref()
        .map(|p| p.parse::<PipelineId>().map_err(|_| ApiError::invalid_field("pipeline_id", "is not a pipeline id")))
        .transpose()?;
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let cursor = query.cursor.map(Cursor);
    let svc = state.pipelines.clone();
    let page = web::block(move || svc.list_runs(&owner, pipeline.as_ref(), cursor.as_ref(), limit)).await??;
    Ok(HttpResponse::Ok().json(RunList {
        runs: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|c| c.0),
    }))
}

/// A webhook trigger: queues a run of the pipeline with the JSON body (default
/// `{}`) as input, charged to the pipeline's owner. The token is the secret
/// returned once when the pipeline was created; a wrong one is a 404.
#[utoipa::path(post, path = "/hooks/{pipeline_id}/{token}", tag = "pipelines",
    params(("pipeline_id" = String, Path, description = "pipeline id"), ("token" = String, Path, description = "the webhook secret")),
    request_body = Object,
    responses((status = 202, body = HookAccepted), (status = 400, body = ErrorBody), (status = 402, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn hook(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    OptionalJson(body): OptionalJson<Option<Value>>,
) -> Result<HttpResponse, ApiError> {
    let (id, token) = path.into_inner();
    let id = pipeline_id(&id)?;
    let input = body.unwrap_or_else(|| json!({}));
    let registry = state.registry.clone();
    let started = state.pipelines.webhook(id, token, input, &|w| registry.contains(w)).await?;
    if let Some(waker) = &state.waker {
        waker.wake();
    }
    Ok(HttpResponse::Accepted().json(HookAccepted { job_id: started.job_id.to_string(), status: "queued".into() }))
}
