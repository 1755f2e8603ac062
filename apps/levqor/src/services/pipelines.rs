//! Pipelines use cases: plan, store and version pipelines, start runs (with the
//! credit reservation) and the `pipeline:<id>` workflow that executes them step
//! by step through the connectors. Handlers call these and only map HTTP.

use std::sync::Arc;

use chrono::TimeDelta;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use levqor_billing::{BillingError, Ledger, ReservationId, SpendingCap};
use levqor_core::{AuditContext, Clock, Credits, Cursor, FieldProblem, Page, StorageError, UserId};
use levqor_jobs::RecordedResponse;
use levqor_jobs::workflow::WorkflowFuture;
use levqor_jobs::{IntakeRequest, JobContext, JobError, JobId, NewJob, Workflow};
use levqor_pipelines::{
    Catalogue, CostRules, DryRun, Limits, NewRun, Pipeline, PipelineId, PipelineStore, PipelinesError, Plan, PlanError,
    Planner, PlannerKind, Resolution, RunState, RunStatus, Step, StepFailure, StepRunner, StepStatus, StoredPipeline,
    StoredRun, Trigger, Validated, check_document, dry_run, estimate_cost, execute_next, run_workflow,
};
use levqor_store::{RunStart, StartRunError, Store};
use rand::RngCore;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::connectors::{Connectors, CredentialSource, RunError, run_action};

/// How many plans pass between two [`PipelineService::forget_idle_planners`].
const TRIM_PLAN_LIMIT_EVERY: u32 = 1024;

/// How long a run's credits stay reserved before the sweeper returns them.
pub const RESERVATION_TTL: TimeDelta = TimeDelta::hours(6);

/// Why a pipelines use case refused.
#[derive(Debug, thiserror::Error)]
pub enum PipelineServiceError {
    #[error(transparent)]
    Pipelines(#[from] PipelinesError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Billing(#[from] BillingError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The caller planned too often (`PLAN_RATE` per minute); try again after
    /// this many seconds.
    #[error("too many plans; try again in {0} s")]
    RateLimited(u64),
}

fn invalid(problems: Vec<FieldProblem>) -> PipelineServiceError {
    PipelineServiceError::Pipelines(PipelinesError::Invalid(problems))
}

/// A stored pipeline and, for a new `webhook` pipeline, its secret URL (shown once).
#[derive(Debug, Clone)]
pub struct Created {
    pub stored: StoredPipeline,
    pub webhook_url: Option<String>,
    pub estimated_cost: Credits,
    /// What validation inferred or found left to fill in.
    pub warnings: Vec<String>,
}

/// A planned and stored pipeline.
#[derive(Debug, Clone)]
pub struct Planned {
    pub created: Created,
    pub planner: PlannerKind,
    pub warnings: Vec<String>,
}

/// A queued run.
#[derive(Debug, Clone)]
pub struct Started {
    pub job_id: JobId,
    pub cost: Credits,
}

/// Builds the answer to record for an `Idempotency-Key` from the run about to
/// start; it is committed in the run's start transaction.
pub type Recorder = dyn Fn(&Started) -> RecordedResponse + Send + Sync;

/// The hex SHA-256 of a webhook token, as stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Starts a run in one transaction: the credit reservation (within `cap`), the
/// run record and the job (see [`Store::start_run`]).
pub trait StartRun: Send + Sync {
    fn start_run(&self, start: &RunStart) -> Result<ReservationId, PipelineServiceError>;
}

impl StartRun for Store {
    fn start_run(&self, start: &RunStart) -> Result<ReservationId, PipelineServiceError> {
        match Store::start_run(self, start) {
            Ok(reservation) => Ok(reservation.id),
            Err(StartRunError::Billing(e)) => Err(e.into()),
            Err(StartRunError::Pipelines(e)) => Err(e.into()),
        }
    }
}

/// The pipelines use cases over the store, the ledger and the planner.
pub struct PipelineService {
    store: Arc<dyn PipelineStore>,
    starter: Arc<dyn StartRun>,
    ledger: Arc<dyn Ledger>,
    planner: Arc<dyn Planner>,
    catalogue: Catalogue,
    limits: Limits,
    rules: CostRules,
    max_run_cost: Option<Credits>,
    plan_limit: Option<governor::DefaultKeyedRateLimiter<UserId>>,
    /// Plans checked by `plan_limit` since it last forgot idle users.
    plans_since_trim: std::sync::atomic::AtomicU32,
    daily_cap: Option<Credits>,
    clock: Arc<dyn Clock>,
}

/// [`crate::services::blocking::blocking`] with this module's error type.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PipelineServiceError> + Send + 'static,
) -> Result<T, PipelineServiceError> {
    crate::services::blocking::blocking(f).await
}

impl PipelineService {
    pub fn new(
        store: Arc<dyn PipelineStore>,
        starter: Arc<dyn StartRun>,
        ledger: Arc<dyn Ledger>,
        planner: Arc<dyn Planner>,
        catalogue: Catalogue,
        rules: CostRules,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            starter,
            ledger,
            planner,
            catalogue,
            limits: Limits::default(),
            rules,
            max_run_cost: None,
            plan_limit: None,
            plans_since_trim: std::sync::atomic::AtomicU32::new(0),
            daily_cap: None,
            clock,
        }
    }

    /// Allows each user `per_minute` plans in any minute (`PLAN_RATE`), all
    /// usable in one burst.
    pub fn with_plan_rate(mut self, per_minute: u32) -> Self {
        let quota = governor::Quota::per_minute(
            std::num::NonZeroU32::new(per_minute.max(1)).unwrap_or(std::num::NonZeroU32::MIN),
        );
        self.plan_limit = Some(governor::RateLimiter::keyed(quota));
        self
    }

    /// Drops the plan-rate state of users whose quota is whole again (they are
    /// indistinguishable from users never seen), so the limiter's memory follows
    /// the users active in the last minute, not all users ever. Returns how
    /// many users it still tracks.
    pub fn forget_idle_planners(&self) -> usize {
        self.plan_limit.as_ref().map_or(0, |limit| {
            limit.retain_recent();
            limit.shrink_to_fit();
            limit.len()
        })
    }

    /// Refuses runs that would take a user's run spending of the day (UTC)
    /// past `cap` (`DAILY_CREDIT_CAP`); `0` means no cap.
    pub fn with_daily_cap(mut self, cap: Credits) -> Self {
        self.daily_cap = (cap > Credits::ZERO).then_some(cap);
        self
    }

    /// Refuses runs estimated above `cap` (`MAX_RUN_COST`).
    pub fn with_max_run_cost(mut self, cap: Credits) -> Self {
        self.max_run_cost = Some(cap);
        self
    }

    pub fn rules(&self) -> CostRules {
        self.rules
    }

    /// Plain words → a validated, stored pipeline.
    pub async fn plan(self: &Arc<Self>, owner: UserId, description: &str) -> Result<Planned, PipelineServiceError> {
        let description = levqor_pipelines::planner::check_description(description)?;
        if let Some(limit) = &self.plan_limit
            && let Err(not_until) = limit.check_key(&owner)
        {
            use governor::clock::{Clock as _, DefaultClock};
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(PipelineServiceError::RateLimited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)));
        }
        if self.plans_since_trim.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 >= TRIM_PLAN_LIMIT_EVERY {
            self.plans_since_trim.store(0, std::sync::atomic::Ordering::Relaxed);
            self.forget_idle_planners();
        }
        let Plan { pipeline, planner, mut warnings } = self.planner.plan(description).await?;
        warnings.extend(levqor_pipelines::original::placeholder_warnings(&pipeline));
        let svc = self.clone();
        let created = blocking(move || svc.store_new(&owner, &pipeline, Vec::new())).await?;
        Ok(Planned { created, planner, warnings })
    }

    /// Validates a pipeline document and stores it as version 1.
    pub fn create(&self, owner: &UserId, doc: &Value) -> Result<Created, PipelineServiceError> {
        let Validated { pipeline, warnings } = check_document(doc, &self.catalogue, &self.limits).map_err(invalid)?;
        self.store_new(owner, &pipeline, warnings)
    }

    fn store_new(
        &self,
        owner: &UserId,
        pipeline: &Pipeline,
        warnings: Vec<String>,
    ) -> Result<Created, PipelineServiceError> {
        let token = (pipeline.trigger == Trigger::Webhook).then(|| {
            let mut bytes = [0u8; 24];
            rand::rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        });
        let hash = token.as_deref().map(hash_token);
        let stored = self.store.create(owner, pipeline, hash.as_deref(), self.clock.now())?;
        let webhook_url = token.map(|t| format!("/hooks/{}/{t}", stored.id));
        let estimated_cost = estimate_cost(&stored.pipeline, &self.rules);
        Ok(Created { stored, webhook_url, estimated_cost, warnings })
    }

    pub fn list(
        &self,
        owner: &UserId,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<StoredPipeline>, PipelineServiceError> {
        Ok(self.store.list(owner, cursor, limit)?)
    }

    pub fn get(&self, owner: &UserId, id: &PipelineId) -> Result<StoredPipeline, PipelineServiceError> {
        Ok(self.store.get(owner, id)?)
    }

    /// Stores a new immutable version of the owner's pipeline; returns it with
    /// the validation's warnings.
    pub fn update(
        &self,
        owner: &UserId,
        id: &PipelineId,
        doc: &Value,
    ) -> Result<(StoredPipeline, Vec<String>), PipelineServiceError> {
        self.store.get(owner, id)?;
        let Validated { pipeline, warnings } = check_document(doc, &self.catalogue, &self.limits).map_err(invalid)?;
        Ok((self.store.new_version(owner, id, &pipeline, self.clock.now())?, warnings))
    }

    pub fn delete(&self, owner: &UserId, id: &PipelineId, audit: &AuditContext) -> Result<(), PipelineServiceError> {
        Ok(self.store.delete(owner, id, self.clock.now(), Some(audit))?)
    }

    pub fn estimate(&self, pipeline: &Pipeline) -> Credits {
        estimate_cost(pipeline, &self.rules)
    }

    /// Validates the latest version, renders every step against `input` and
    /// estimates the cost; calls nothing and charges nothing.
    pub fn dry_run(&self, owner: &UserId, id: &PipelineId, input: &Value) -> Result<DryRun, PipelineServiceError> {
        let stored = self.store.get(owner, id)?;
        Ok(dry_run(&stored.pipeline, input, &self.rules))
    }

    /// Queues a run of the latest version of the owner's pipeline: reserves the
    /// estimated cost (`InsufficientCredits` before anything is queued), stores the
    /// run pinned to the version and enqueues the job, in one transaction.
    pub async fn start_run(
        self: &Arc<Self>,
        owner: UserId,
        id: PipelineId,
        input: Value,
        is_known_workflow: &(dyn Fn(&str) -> bool + Sync),
        record: Option<&Recorder>,
    ) -> Result<Started, PipelineServiceError> {
        let svc = self.clone();
        let (o, i) = (owner.clone(), id.clone());
        let stored = blocking(move || Ok(svc.store.get(&o, &i)?)).await?;
        self.start_stored(stored, input, is_known_workflow, record).await
    }

    async fn start_stored(
        self: &Arc<Self>,
        stored: StoredPipeline,
        input: Value,
        is_known_workflow: &(dyn Fn(&str) -> bool + Sync),
        record: Option<&Recorder>,
    ) -> Result<Started, PipelineServiceError> {
        let cost = estimate_cost(&stored.pipeline, &self.rules);
        if let Some(cap) = self.max_run_cost
            && cost > cap
        {
            return Err(PipelinesError::invalid(
                "pipeline_id",
                format!("a run of this pipeline is estimated at {cost} credits, more than the {cap} allowed per run"),
            )
            .into());
        }
        let now = self.clock.now();
        let request = IntakeRequest {
            workflow: run_workflow(&stored.id),
            payload: json!({"pipeline_id": stored.id.to_string(), "version": stored.version, "input": input}),
            callback_url: None,
            priority: None,
            max_attempts: None,
            timeout_s: None,
            run_at: None,
        };
        let job = NewJob::from_intake(stored.owner.clone(), request, now, is_known_workflow).map_err(|problems| {
            // The input is the only part of the payload a caller controls.
            invalid(
                problems
                    .into_iter()
                    .map(|p| if p.field == "payload" { FieldProblem::new("input", p.problem) } else { p })
                    .collect(),
            )
        })?;
        let job_id = job.id.clone();
        let run = NewRun {
            job_id: job_id.clone(),
            pipeline_id: stored.id.clone(),
            version: stored.version,
            owner: stored.owner.clone(),
            input,
            state: RunState::new(&stored.pipeline),
            reservation_id: None,
            created_at: now,
        };
        let start = RunStart {
            reason: format!("run of pipeline {}", stored.id),
            recorded: record.map(|r| r(&Started { job_id: job_id.clone(), cost })),
            run,
            job,
            amount: cost,
            ttl: RESERVATION_TTL,
            // Checked inside the start's transaction, under the balance row's lock.
            cap: self.daily_cap.map(|limit| SpendingCap::daily(limit, now)),
        };
        let starter = self.starter.clone();
        blocking(move || starter.start_run(&start)).await?;
        Ok(Started { job_id, cost })
    }

    /// `POST /hooks/{pipeline_id}/{token}`: a run of the pipeline with `input`
    /// (a non-object body as `{"body": …}`), if the token's hash matches
    /// (compared in constant time). `NotFound` otherwise.
    pub async fn webhook(
        self: &Arc<Self>,
        id: PipelineId,
        token: String,
        input: Value,
        is_known_workflow: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Started, PipelineServiceError> {
        let svc = self.clone();
        let (stored, hash) = blocking(move || Ok(svc.store.find_by_webhook(&id)?)).await?;
        // Templates address the input by field: a body that is not an object is
        // passed as `{"body": …}`.
        let input = if input.is_object() { input } else { json!({ "body": input }) };
        let given = hash_token(&token);
        if !bool::from(given.as_bytes().ct_eq(hash.as_bytes())) {
            return Err(PipelinesError::NotFound.into());
        }
        self.start_stored(stored, input, is_known_workflow, None).await
    }

    /// Starts one run of every `schedule` pipeline whose cron fired in
    /// `(now - window, now]`, exactly once per pipeline and tick across every
    /// instance (the tick is claimed first; a claimed tick whose run cannot
    /// start, e.g. for want of credits, is not tried again). The run's input is
    /// `{"trigger": "schedule", "scheduled_at": <tick>}`. Returns the runs
    /// started and the problems met, per pipeline.
    pub async fn fire_schedules(
        self: &Arc<Self>,
        now: levqor_core::Timestamp,
        window: TimeDelta,
        is_known_workflow: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(Vec<Started>, Vec<String>), PipelineServiceError> {
        let svc = self.clone();
        let (due, mut problems) = blocking(move || {
            let (mut due, mut problems) = (Vec::new(), Vec::new());
            for p in svc.store.scheduled()? {
                let Some(tick) = levqor_pipelines::schedule::next_after(&p.cron, &(now - window)) else { continue };
                if tick > now {
                    continue;
                }
                match svc.store.claim_tick(&p.id, tick, now) {
                    Ok(true) => match svc.store.get_version(&p.id, p.version) {
                        Ok(stored) => due.push((stored, tick)),
                        Err(e) => problems.push(format!("pipeline {}: {e}", p.id)),
                    },
                    Ok(false) => {}
                    Err(e) => problems.push(format!("pipeline {}: {e}", p.id)),
                }
            }
            Ok((due, problems))
        })
        .await?;
        let mut started = Vec::new();
        for (stored, tick) in due {
            let id = stored.id.clone();
            let input = json!({"trigger": "schedule", "scheduled_at": tick});
            match self.start_stored(stored, input, is_known_workflow, None).await {
                Ok(run) => started.push(run),
                Err(e) => problems.push(format!("pipeline {id}: {e}")),
            }
        }
        Ok((started, problems))
    }

    /// Forgets schedule claims older than `before`.
    pub fn purge_ticks(&self, before: levqor_core::Timestamp) -> Result<u64, PipelineServiceError> {
        Ok(self.store.purge_ticks(before)?)
    }

    /// After a job ended (e.g. cancelled through the API): releases the run's
    /// reservation if it will not run again.
    pub fn job_ended(&self, job: &levqor_jobs::Job) -> Result<bool, PipelineServiceError> {
        release_ended_run(self.store.as_ref(), self.ledger.as_ref(), job, self.clock.now())
    }

    /// The owner's runs, of one pipeline or all, newest first.
    pub fn list_runs(
        &self,
        owner: &UserId,
        pipeline: Option<&PipelineId>,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<StoredRun>, PipelineServiceError> {
        Ok(self.store.list_runs(owner, pipeline, cursor, limit)?)
    }

    /// The owner's run carried by job `job_id`.
    pub fn get_run(&self, owner: &UserId, job_id: &JobId) -> Result<StoredRun, PipelineServiceError> {
        match self.store.get_run(job_id)? {
            Some(run) if run.owner == *owner => Ok(run),
            _ => Err(PipelinesError::NotFound.into()),
        }
    }

    /// Records the owner's decision for the step of run `job_id` whose outcome
    /// is unknown (`step`, or the run's one such step): skip it or send it
    /// again. The caller then queues the run's job again. Blocking.
    pub fn resolve_step(
        &self,
        owner: &UserId,
        job_id: &JobId,
        step: Option<&str>,
        resolution: Resolution,
    ) -> Result<StoredRun, PipelineServiceError> {
        let mut run = self.get_run(owner, job_id)?;
        let step =
            match step {
                Some(step) => step.to_owned(),
                None => {
                    run.state.steps.iter().find(|s| s.status == StepStatus::Unknown).map(|s| s.id.clone()).ok_or_else(
                        || PipelinesError::invalid("step", "the run has no step whose outcome is unknown"),
                    )?
                }
            };
        run.state.resolve(&step, resolution).map_err(|e| PipelinesError::invalid("step", e.to_string()))?;
        let now = self.clock.now();
        self.store.save_state(job_id, &run.state, now)?;
        run.updated_at = now;
        Ok(run)
    }
}

/// Returns the credits a run still holds once its job ended without success
/// (`dead` or `cancelled`); a later manual retry reserves again. Anything else,
/// and a job that carries no run, is left alone. Blocking.
pub fn release_ended_run(
    store: &dyn PipelineStore,
    ledger: &dyn Ledger,
    job: &levqor_jobs::Job,
    now: levqor_core::Timestamp,
) -> Result<bool, PipelineServiceError> {
    use levqor_jobs::JobState;
    if !job.workflow.starts_with(levqor_pipelines::RUN_WORKFLOW_PREFIX)
        || !matches!(job.state, JobState::Dead | JobState::Cancelled)
    {
        return Ok(false);
    }
    let Some(run) = store.get_run(&job.id)? else { return Ok(false) };
    let Some(id) = run.reservation_id.as_deref().and_then(|r| r.parse::<ReservationId>().ok()) else {
        return Ok(false);
    };
    match ledger.release(&id, now) {
        Ok(_) => Ok(true),
        Err(BillingError::ReservationNotHeld(_) | BillingError::NotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A finished-job hook (`WorkerConfig::on_finished`) that releases the
/// reservation of a pipeline run whose job ended `dead`, instead of holding the
/// credits until the sweeper sees the reservation expire.
pub fn release_hook(
    store: Arc<dyn PipelineStore>,
    ledger: Arc<dyn Ledger>,
    clock: Arc<dyn Clock>,
    log: slog::Logger,
) -> levqor_jobs::FinishedHook {
    Arc::new(move |job: &levqor_jobs::Job| {
        if !job.workflow.starts_with(levqor_pipelines::RUN_WORKFLOW_PREFIX) || job.state != levqor_jobs::JobState::Dead
        {
            return;
        }
        let (store, ledger, job, now, log) = (store.clone(), ledger.clone(), job.clone(), clock.now(), log.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = release_ended_run(store.as_ref(), ledger.as_ref(), &job, now) {
                slog::warn!(log, "could not release the credits of a dead run"; "job_id" => %job.id, "error" => %e);
            }
        });
    })
}

/// Runs steps through the connectors with the owner's stored connections.
struct ConnectorSteps {
    connectors: Connectors,
    owner: UserId,
}

impl StepRunner for ConnectorSteps {
    fn run<'a>(&'a self, step: &'a Step, params: Map<String, Value>) -> BoxFuture<'a, Result<Value, StepFailure>> {
        async move {
            let source = CredentialSource::Stored(None);
            run_action(&self.connectors, &self.owner, &step.connector, &step.action, Value::Object(params), source)
                .await
                .map(cap_output)
                .map_err(|e| {
                    let unknown = matches!(&e, RunError::Connector(c) if c.outcome_unknown());
                    let job = step_error(e);
                    if unknown {
                        // Retryable for a step that opted into `retry_unknown`.
                        StepFailure::new(job.message, true).outcome_unknown()
                    } else {
                        StepFailure::new(job.message, job.retryable).retry_after(job.retry_after)
                    }
                })
        }
        .boxed()
    }
}

/// The most of one step's output a run record keeps, as JSON.
pub const MAX_STEP_OUTPUT_BYTES: usize = 64 * 1024;

/// A step's output as stored: unchanged up to [`MAX_STEP_OUTPUT_BYTES`], else
/// a marker with its size and the start of its JSON (the step did run, so it
/// is not failed and run again for its size).
pub fn cap_output(output: Value) -> Value {
    let text = output.to_string();
    if text.len() <= MAX_STEP_OUTPUT_BYTES {
        return output;
    }
    let preview: String = text.chars().take(1024).collect();
    json!({"truncated": true, "bytes": text.len(), "preview": preview})
}

fn step_error(e: RunError) -> JobError {
    crate::connectors::job_error(e)
}

/// The `pipeline:<id>` workflow: executes the run the job carries, from where it
/// stopped, storing the state after every step; settles the reservation with the
/// actual cost on success.
pub struct PipelineJob {
    store: Arc<dyn PipelineStore>,
    ledger: Arc<dyn Ledger>,
    connectors: Connectors,
    rules: CostRules,
    clock: Arc<dyn Clock>,
    log: slog::Logger,
}

impl PipelineJob {
    pub fn new(
        store: Arc<dyn PipelineStore>,
        ledger: Arc<dyn Ledger>,
        connectors: Connectors,
        rules: CostRules,
        clock: Arc<dyn Clock>,
        log: slog::Logger,
    ) -> Self {
        Self { store, ledger, connectors, rules, clock, log }
    }
}

/// Settles a succeeded run's reservation with its actual `cost`. When the
/// reservation was already given back (its run outlived [`RESERVATION_TTL`] and
/// the sweeper released it), the cost is charged afresh, reserved and settled at
/// once, so the run is still billed exactly once; what cannot be charged is
/// logged. Blocking.
fn settle_run(
    ledger: &dyn Ledger,
    reservation: &ReservationId,
    owner: &UserId,
    cost: Credits,
    reason: &str,
    now: levqor_core::Timestamp,
    log: &slog::Logger,
) -> Result<(), BillingError> {
    use levqor_billing::ReservationState;
    match ledger.settle(reservation, cost, now) {
        Ok(_) | Err(BillingError::ReservationNotHeld(ReservationState::Settled)) => Ok(()),
        Err(BillingError::ReservationNotHeld(_)) => {
            slog::warn!(log, "a run finished after its credit reservation expired; charging its cost afresh";
                "reservation_id" => %reservation, "user_id" => %owner, "cost" => cost.get());
            let charged = ledger
                .reserve(owner, cost, reason, RESERVATION_TTL, now)
                .and_then(|late| ledger.settle(&late.id, cost, now));
            match charged {
                Ok(_) => Ok(()),
                Err(e @ BillingError::InsufficientCredits { .. }) => {
                    slog::error!(log, "a run's cost could not be charged after its reservation expired";
                        "reservation_id" => %reservation, "user_id" => %owner, "cost" => cost.get(), "error" => %e);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

fn storage(e: impl std::fmt::Display) -> JobError {
    JobError::retryable(format!("storage: {e}"))
}

impl Workflow for PipelineJob {
    fn name(&self) -> &str {
        levqor_pipelines::RUN_WORKFLOW_PREFIX
    }

    fn run(&self, ctx: JobContext) -> WorkflowFuture {
        let (store, ledger, clock, rules) = (self.store.clone(), self.ledger.clone(), self.clock.clone(), self.rules);
        let (connectors, log) = (self.connectors.clone(), self.log.clone());
        async move {
            let (s, job) = (store.clone(), ctx.job_id.clone());
            let loaded = tokio::task::spawn_blocking(move || {
                let run = s.get_run(&job)?.ok_or(PipelinesError::NotFound)?;
                let version = s.get_version(&run.pipeline_id, run.version)?;
                Ok::<_, PipelinesError>((run, version))
            })
            .await
            .map_err(storage)?;
            let (run, version) = match loaded {
                Ok(found) => found,
                Err(PipelinesError::NotFound) => return Err(JobError::permanent("no run is recorded for this job")),
                Err(e) => return Err(storage(e)),
            };
            let pipeline = version.pipeline;
            let mut state = run.state.clone();
            if state.status() == RunStatus::Failed {
                state.resume();
            }
            // The run's reservation, or (after it was released: a retry of a dead
            // or cancelled run) a fresh one for this attempt only.
            let recorded = run.reservation_id.as_deref().and_then(|r| r.parse::<ReservationId>().ok());
            let (l, owner, now) = (ledger.clone(), run.owner.clone(), clock.now());
            let estimate = levqor_pipelines::estimate_cost(&pipeline, &rules);
            let reason = format!("run of pipeline {}", run.pipeline_id);
            let held = tokio::task::spawn_blocking(move || {
                if let Some(id) = recorded
                    && l.reservation(&id)?.is_some_and(|r| r.state == levqor_billing::ReservationState::Held)
                {
                    return Ok((id, false));
                }
                l.reserve(&owner, estimate, &reason, RESERVATION_TTL, now).map(|r| (r.id, true))
            })
            .await
            .map_err(storage)?;
            let (reservation, fresh) = match held {
                Ok(held) => held,
                Err(e @ BillingError::InsufficientCredits { .. }) => {
                    return Err(JobError::permanent(format!("insufficient_credits: {e}")));
                }
                Err(e) => return Err(storage(e)),
            };
            let runner = ConnectorSteps { connectors, owner: run.owner.clone() };
            while execute_next(&pipeline, &run.input, &mut state, &runner, clock.as_ref(), &rules).await.is_some() {
                let (s, job, saved, now) = (store.clone(), ctx.job_id.clone(), state.clone(), clock.now());
                tokio::task::spawn_blocking(move || s.save_state(&job, &saved, now))
                    .await
                    .map_err(storage)?
                    .map_err(storage)?;
            }
            let outcome = levqor_pipelines::run::outcome(&state, Vec::new());
            if outcome.status != RunStatus::Succeeded {
                if fresh {
                    // Only this attempt knows the fresh reservation: give it back now.
                    let (l, now) = (ledger.clone(), clock.now());
                    let _ = tokio::task::spawn_blocking(move || l.release(&reservation, now)).await;
                }
                let step = outcome.failed_step.unwrap_or_default();
                let error = state.steps.iter().find(|s| s.id == step).and_then(|s| s.error.clone()).unwrap_or_default();
                let message = if outcome.status == RunStatus::Unknown {
                    format!(
                        "step {step} stopped with an unknown outcome ({error}); resume the run with skip or send_again"
                    )
                } else {
                    format!("step {step} failed: {error}")
                };
                return Err(JobError { message, retryable: outcome.retryable, retry_after: outcome.retry_after });
            }
            let cost = state.total_cost(&rules);
            let (now, owner, reason) = (clock.now(), run.owner.clone(), format!("run of pipeline {}", run.pipeline_id));
            tokio::task::spawn_blocking(move || {
                settle_run(ledger.as_ref(), &reservation, &owner, cost, &reason, now, &log)
            })
            .await
            .map_err(storage)?
            .map_err(storage)?;
            let steps: Vec<Value> =
                state.steps.iter().map(|s| json!({"id": s.id, "status": s.status, "output": s.output})).collect();
            Ok(json!({"status": "succeeded", "cost": cost, "steps": steps}))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use chrono::{TimeZone, Utc};
    use levqor_accounts::{ProfileChanges, UserRepo};
    use levqor_connectors::{ConnectorConfig, ConnectorRegistry};
    use levqor_core::{Email, SystemClock, Timestamp};
    use levqor_jobs::JobQueue;
    use levqor_pipelines::{RulePlanner, RunRepo};
    use levqor_store::testing::TestDb;

    use super::*;

    fn service(store: &Store) -> Arc<PipelineService> {
        let registry = ConnectorRegistry::with_defaults(&ConnectorConfig::default()).unwrap();
        let catalogue = Catalogue::from_registry(&registry);
        Arc::new(PipelineService::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(RulePlanner::new(catalogue.clone(), Limits::default())),
            catalogue,
            CostRules::default(),
            Arc::new(SystemClock),
        ))
    }

    fn user_with_credits(store: &Store, credits: i64) -> UserId {
        let email = Email::parse("scheduled@example.com").unwrap();
        let (user, _) = store
            .upsert_by_email(
                &email,
                &|_| Ok(ProfileChanges::default().create(email.clone(), Utc::now()).unwrap()),
                None,
            )
            .unwrap();
        store.adjust(&user.id, Credits::new(credits), "test", Utc::now(), None).unwrap();
        user.id
    }

    fn at(h: u32, m: u32, s: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, s).unwrap()
    }

    #[test]
    fn large_outputs_are_capped() {
        let small = json!({"ok": true});
        assert_eq!(cap_output(small.clone()), small);
        let big = json!({"text": "x".repeat(MAX_STEP_OUTPUT_BYTES)});
        let capped = cap_output(big);
        assert_eq!(capped["truncated"], true);
        assert!(capped["bytes"].as_u64().unwrap() > MAX_STEP_OUTPUT_BYTES as u64);
        assert_eq!(capped["preview"].as_str().unwrap().chars().count(), 1024);
    }

    #[tokio::test]
    async fn the_plan_limiter_forgets_idle_users() {
        let db = TestDb::sqlite();
        // 60 a minute: one plan's cell is back after 1 s, and governor keeps a key
        // one more cell's time.
        let svc = Arc::new(Arc::into_inner(service(&db.store)).unwrap().with_plan_rate(60));
        for _ in 0..3 {
            svc.plan(UserId::new(), "post to slack channel #general saying hello").await.unwrap();
        }
        assert_eq!(svc.forget_idle_planners(), 3, "just seen: kept");
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(svc.forget_idle_planners(), 0, "whole quota again: forgotten");
    }

    #[test]
    fn a_run_is_billed_once_even_after_its_reservation_expired() {
        use levqor_billing::MemoryLedger;
        let (ledger, log, now) = (MemoryLedger::new(), crate::telemetry::discard(), Utc::now());
        let owner = UserId::new();
        ledger.adjust(&owner, Credits::new(10), "test", now, None).unwrap();
        let ttl = RESERVATION_TTL;
        let settle = |id: &ReservationId| settle_run(&ledger, id, &owner, Credits::new(2), "run", now, &log);

        // Held: settled with the actual cost; settling again charges nothing more.
        let held = ledger.reserve(&owner, Credits::new(3), "run", ttl, now).unwrap();
        settle(&held.id).unwrap();
        settle(&held.id).unwrap();
        assert_eq!(ledger.balance(&owner).unwrap(), Credits::new(8));

        // Released by the sweeper before the run ended: charged afresh, once.
        let expired = ledger.reserve(&owner, Credits::new(3), "run", ttl, now).unwrap();
        ledger.release(&expired.id, now).unwrap();
        settle(&expired.id).unwrap();
        assert_eq!(ledger.balance(&owner).unwrap(), Credits::new(6));

        // Nothing left to charge: logged, the run's success stands.
        let broke = ledger.reserve(&owner, Credits::new(3), "run", ttl, now).unwrap();
        ledger.release(&broke.id, now).unwrap();
        ledger.adjust(&owner, Credits::new(-5), "test", now, None).unwrap();
        settle(&broke.id).unwrap();
        assert_eq!(ledger.balance(&owner).unwrap(), Credits::new(1));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_run_whose_last_lease_expired_gives_its_credits_back_sqlite() {
        last_lease_expired(TestDb::sqlite()).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_run_whose_last_lease_expired_gives_its_credits_back_postgres() {
        if let Some(db) = TestDb::postgres("levqor::services::pipelines::last_lease_expired") {
            last_lease_expired(db).await;
        }
    }

    /// A worker that claims the run's job and vanishes, on every attempt: the
    /// sweeper's rescue of the last one ends the job `dead`, and the finished-job
    /// hook gives the reservation back at once (not after its 6 h TTL).
    async fn last_lease_expired(db: TestDb) {
        use levqor_jobs::{ClaimRequest, JobState, SweeperConfig, sweeper::sweep_once};
        let svc = service(&db.store);
        let owner = user_with_credits(&db.store, 10);
        let doc = json!({"description": "notify", "trigger": "manual",
            "actions": [{"type": "sendSlack", "connector": "slack", "params": {"channel": "#a", "message": "hi"}}]});
        let created = svc.create(&owner, &doc).unwrap();
        let started = svc.start_run(owner.clone(), created.stored.id, json!({}), &|_| true, None).await.unwrap();
        assert_eq!(db.store.balance(&owner).unwrap(), Credits::new(10 - started.cost.get()), "reserved");

        let queue: Arc<dyn JobQueue> = Arc::new(db.store.clone());
        let store: Arc<dyn PipelineStore> = Arc::new(db.store.clone());
        let ledger: Arc<dyn Ledger> = Arc::new(db.store.clone());
        let hook = release_hook(store, ledger, Arc::new(SystemClock), crate::telemetry::discard());
        let config = SweeperConfig { on_finished: Some(hook), ..SweeperConfig::default() };
        let mut at = Utc::now() + TimeDelta::minutes(1);
        for _ in 0..20 {
            let request = ClaimRequest {
                worker: "gone".into(),
                limit: 1,
                lease: TimeDelta::seconds(30),
                per_owner_limit: None,
                now: at,
            };
            assert_eq!(queue.claim(&request).unwrap().len(), 1);
            let clock = levqor_core::ManualClock::new(at + TimeDelta::seconds(31));
            assert_eq!(sweep_once(&queue, &config, &clock).await, 1);
            if queue.get(&started.job_id).unwrap().unwrap().state == JobState::Dead {
                break;
            }
            at += TimeDelta::hours(1);
        }
        assert_eq!(queue.get(&started.job_id).unwrap().unwrap().state, JobState::Dead);
        for _ in 0..200 {
            if db.store.balance(&owner).unwrap() == Credits::new(10) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the credits of the dead run were not given back: {}", db.store.balance(&owner).unwrap());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn each_tick_fires_once_across_instances_sqlite() {
        ticks_once(TestDb::sqlite()).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn each_tick_fires_once_across_instances_postgres() {
        if let Some(db) = TestDb::postgres("levqor::services::pipelines::each_tick_fires_once") {
            ticks_once(db).await;
        }
    }

    async fn ticks_once(db: TestDb) {
        let other_store = Store::open(db.url(), &levqor_store::StoreOptions::default()).unwrap();
        let (one, two) = (service(&db.store), service(&other_store));
        let owner = user_with_credits(&db.store, 10);
        let doc = json!({"description": "every minute", "trigger": "schedule", "schedule": "* * * * *",
            "actions": [{"type": "sendSlack", "connector": "slack", "params": {"channel": "#a", "message": "tick"}}]});
        let created = one.create(&owner, &doc).unwrap();
        let known = |_: &str| true;
        let window = TimeDelta::seconds(60);

        let (started, problems) = one.fire_schedules(at(12, 0, 30), window, &known).await.unwrap();
        assert_eq!((started.len(), problems.len()), (1, 0), "{problems:?}");
        let job = JobQueue::get(&db.store, &started[0].job_id).unwrap().unwrap();
        assert_eq!(job.workflow, format!("pipeline:{}", created.stored.id));
        let run = db.store.get_run(&started[0].job_id).unwrap().unwrap();
        assert_eq!(run.input["trigger"], "schedule");

        // The same tick, again and from another instance: nothing more.
        assert!(one.fire_schedules(at(12, 0, 40), window, &known).await.unwrap().0.is_empty());
        assert!(two.fire_schedules(at(12, 0, 50), window, &known).await.unwrap().0.is_empty());
        // The next tick fires once, on whichever instance sees it first.
        assert_eq!(two.fire_schedules(at(12, 1, 5), window, &known).await.unwrap().0.len(), 1);
        assert!(one.fire_schedules(at(12, 1, 6), window, &known).await.unwrap().0.is_empty());
        assert_eq!(db.store.balance(&owner).unwrap(), Credits::new(8), "two runs reserved");
    }
}
