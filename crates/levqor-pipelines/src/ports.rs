//! The storage ports of pipelines: stored, versioned pipelines
//! ([`PipelineRepo`]), the record of every run ([`RunRepo`]) and the
//! once-per-tick claims of the scheduler ([`ScheduleClaims`]).
//!
//! [`crate::memory::MemoryPipelines`] implements all three in memory;
//! `levqor-store` implements them on SQLite and PostgreSQL; both pass
//! [`crate::contract`] (feature `contract-tests`).
//!
//! Every call blocks; times are passed in (`now`), so callers decide the clock.

use levqor_core::{AuditContext, Cursor, FieldProblem, Page, StorageError, Timestamp, UserId};
use levqor_jobs::JobId;
use serde::Serialize;
use serde_json::Value;

use crate::document::{Pipeline, Trigger};
use crate::run::RunState;

levqor_core::define_id!(
    /// A stored pipeline. UUIDv7 like every Levqor id, so ids sort by creation
    /// time and a listing cursor is the last id seen.
    PipelineId
);

/// The prefix of a pipeline run's job workflow: `pipeline:<id>`.
pub const RUN_WORKFLOW_PREFIX: &str = "pipeline:";

/// The job workflow of a run of `pipeline`: `pipeline:<id>` (a run IS a job).
pub fn run_workflow(pipeline: &PipelineId) -> String {
    format!("{RUN_WORKFLOW_PREFIX}{pipeline}")
}

/// The pipeline a job workflow runs: `None` for a workflow that is no pipeline
/// run, `Some(None)` for `pipeline:` followed by something that is no id.
pub fn run_workflow_pipeline(workflow: &str) -> Option<Option<PipelineId>> {
    workflow.strip_prefix(RUN_WORKFLOW_PREFIX).map(|raw| raw.parse().ok())
}

/// Errors of the pipeline ports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelinesError {
    /// Also what a caller gets for another owner's pipeline or run, and for a
    /// deleted pipeline: existence is not revealed.
    #[error("not found")]
    NotFound,
    #[error("the request is invalid")]
    Invalid(Vec<FieldProblem>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl PipelinesError {
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem::new(field, problem)])
    }
}

/// One version of a stored pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredPipeline {
    pub id: PipelineId,
    pub owner: UserId,
    /// 1-based; the version this value shows (the latest, unless read with
    /// [`PipelineRepo::get_version`]).
    pub version: u32,
    /// The latest version of the pipeline.
    pub latest_version: u32,
    /// The document of `version`.
    pub pipeline: Pipeline,
    /// When version 1 was stored.
    pub created_at: Timestamp,
    /// When the pipeline last changed (a new version, a new webhook token, deletion).
    pub updated_at: Timestamp,
    /// When `version` was stored.
    pub version_created_at: Timestamp,
    /// Soft-deleted: gone from listings and [`PipelineRepo::get`], but every
    /// version stays readable for runs pinned to it.
    pub deleted: bool,
}

/// A pipeline the scheduler fires: its latest version's cron.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledPipeline {
    pub id: PipelineId,
    pub owner: UserId,
    pub version: u32,
    pub cron: String,
}

/// The cron of `pipeline` if it is a `schedule` pipeline.
pub fn schedule_of(pipeline: &Pipeline) -> Option<&str> {
    match pipeline.trigger {
        Trigger::Schedule => pipeline.schedule.as_deref(),
        _ => None,
    }
}

/// Stored pipelines, each an append-only list of immutable versions.
pub trait PipelineRepo: Send + Sync {
    /// Stores version 1 of a new pipeline of `owner`. `webhook_token_hash` is
    /// the hash of the secret in `POST /hooks/{pipeline_id}/{token}`.
    fn create(
        &self,
        owner: &UserId,
        pipeline: &Pipeline,
        webhook_token_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<StoredPipeline, PipelinesError>;

    /// Stores `pipeline` as version N+1 of the owner's pipeline `id`; earlier
    /// versions stay as they were. Concurrent calls get distinct, consecutive
    /// versions. `NotFound` for another owner's or a deleted pipeline.
    fn new_version(
        &self,
        owner: &UserId,
        id: &PipelineId,
        pipeline: &Pipeline,
        now: Timestamp,
    ) -> Result<StoredPipeline, PipelinesError>;

    /// The latest version of the owner's pipeline; `NotFound` for another
    /// owner's or a deleted pipeline.
    fn get(&self, owner: &UserId, id: &PipelineId) -> Result<StoredPipeline, PipelinesError>;

    /// Version `version` of pipeline `id`, whoever owns it and even if it is
    /// deleted (for the executor, which runs the version a run is pinned to).
    fn get_version(&self, id: &PipelineId, version: u32) -> Result<StoredPipeline, PipelinesError>;

    /// The owner's pipelines that are not deleted, newest first, after `cursor`.
    fn list(&self, owner: &UserId, cursor: Option<&Cursor>, limit: u32)
    -> Result<Page<StoredPipeline>, PipelinesError>;

    /// Soft-deletes the owner's pipeline. `NotFound` if it is another owner's
    /// or already deleted. Given an [`AuditContext`], appends a
    /// `pipeline.delete` audit entry in the same transaction.
    fn delete(
        &self,
        owner: &UserId,
        id: &PipelineId,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<(), PipelinesError>;

    /// Sets (or with `None` removes) the webhook token hash of the owner's pipeline.
    fn set_webhook_token(
        &self,
        owner: &UserId,
        id: &PipelineId,
        webhook_token_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<(), PipelinesError>;

    /// The latest version of pipeline `id` and its webhook token hash, for
    /// `POST /hooks/{pipeline_id}/{token}`. `NotFound` if the pipeline does
    /// not exist, is deleted or has no token.
    fn find_by_webhook(&self, id: &PipelineId) -> Result<(StoredPipeline, String), PipelinesError>;

    /// Every pipeline that is not deleted and whose latest version has a
    /// `schedule` trigger, in id order.
    fn scheduled(&self) -> Result<Vec<ScheduledPipeline>, PipelinesError>;
}

/// A run to store (see [`RunRepo::create_run`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The job that carries the run (workflow [`run_workflow`]).
    pub job_id: JobId,
    pub pipeline_id: PipelineId,
    /// The version the run is pinned to.
    pub version: u32,
    pub owner: UserId,
    pub input: Value,
    pub state: RunState,
    /// The ledger reservation holding the run's estimated cost.
    pub reservation_id: Option<String>,
    pub created_at: Timestamp,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRun {
    pub job_id: JobId,
    pub pipeline_id: PipelineId,
    pub version: u32,
    pub owner: UserId,
    pub input: Value,
    pub state: RunState,
    pub reservation_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl NewRun {
    pub fn to_run(&self) -> StoredRun {
        StoredRun {
            job_id: self.job_id.clone(),
            pipeline_id: self.pipeline_id.clone(),
            version: self.version,
            owner: self.owner.clone(),
            input: self.input.clone(),
            state: self.state.clone(),
            reservation_id: self.reservation_id.clone(),
            created_at: self.created_at,
            updated_at: self.created_at,
        }
    }
}

/// The record of every run, keyed by its job id.
pub trait RunRepo: Send + Sync {
    /// Stores a new run. `NotFound` if the owner has no such pipeline version
    /// (deleted pipelines included: a run may be re-created for a pinned
    /// version); `Invalid` if the state does not have the version's steps; a
    /// `Storage(Conflict)` for a job id that already has a run.
    fn create_run(&self, run: &NewRun) -> Result<StoredRun, PipelinesError>;

    /// `None` if the job carries no run.
    fn get_run(&self, job_id: &JobId) -> Result<Option<StoredRun>, PipelinesError>;

    /// Replaces the state of a run (after every step, so a retry resumes).
    /// `NotFound` if there is no such run; `Invalid` if `state` does not have
    /// the run's steps.
    fn save_state(&self, job_id: &JobId, state: &RunState, now: Timestamp) -> Result<(), PipelinesError>;

    /// The owner's runs, of one pipeline or all, newest first, after `cursor`.
    fn list_runs(
        &self,
        owner: &UserId,
        pipeline_id: Option<&PipelineId>,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<StoredRun>, PipelinesError>;
}

/// Once-per-tick claims of `schedule` pipelines, shared by every instance.
pub trait ScheduleClaims: Send + Sync {
    /// `true` for exactly one caller per pipeline and tick, across instances.
    fn claim_tick(&self, pipeline_id: &PipelineId, tick: Timestamp, now: Timestamp) -> Result<bool, PipelinesError>;

    /// Forgets claims of ticks before `before`; returns how many.
    fn purge_ticks(&self, before: Timestamp) -> Result<u64, PipelinesError>;
}

/// Everything pipelines store.
pub trait PipelineStore: PipelineRepo + RunRepo + ScheduleClaims {}

impl<T: PipelineRepo + RunRepo + ScheduleClaims> PipelineStore for T {}

/// The cursor after `id` in a listing of pipelines.
pub fn pipeline_cursor(id: &PipelineId) -> Cursor {
    Cursor(id.to_string())
}

pub fn parse_pipeline_cursor(cursor: &Cursor) -> Result<PipelineId, PipelinesError> {
    cursor.0.parse().map_err(|_| PipelinesError::invalid("cursor", "is not a cursor from this listing"))
}

/// The cursor after `id` in a listing of runs.
pub fn run_cursor(id: &JobId) -> Cursor {
    Cursor(id.to_string())
}

pub fn parse_run_cursor(cursor: &Cursor) -> Result<JobId, PipelinesError> {
    cursor.0.parse().map_err(|_| PipelinesError::invalid("cursor", "is not a cursor from this listing"))
}

/// `Ok` if `state` records the steps of `pipeline`.
pub fn check_state(state: &RunState, pipeline: &Pipeline) -> Result<(), PipelinesError> {
    if state.matches(pipeline) {
        Ok(())
    } else {
        Err(PipelinesError::invalid("state", "does not record the steps of the pipeline version"))
    }
}

/// `Ok` if `new` records the same steps as `old` (a run's state may change,
/// its steps may not).
pub fn check_same_steps(old: &RunState, new: &RunState) -> Result<(), PipelinesError> {
    let same = old.steps.len() == new.steps.len()
        && old
            .steps
            .iter()
            .zip(&new.steps)
            .all(|(a, b)| a.id == b.id && a.connector == b.connector && a.action == b.action);
    if same { Ok(()) } else { Err(PipelinesError::invalid("state", "does not record the steps of the run")) }
}

/// A version number as stored (`u32` ↔ the database's integer).
pub fn version_to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Splits `items` (one more than `limit` fetched) into a page.
pub fn page_of<T>(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Cursor) -> Page<T> {
    let limit = limit.max(1) as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor_of)
    } else {
        None
    };
    Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn ids_and_cursors_round_trip() {
        let id = PipelineId::new();
        assert_eq!(id.to_string().parse::<PipelineId>().unwrap(), id);
        assert_eq!(parse_pipeline_cursor(&pipeline_cursor(&id)).unwrap(), id);
        assert!(parse_pipeline_cursor(&Cursor("x".into())).is_err());
        assert_eq!(run_workflow(&id), format!("pipeline:{id}"));
        let later = PipelineId::new();
        assert!(later > id, "ids sort by creation time");
    }

    #[test]
    fn pages_split() {
        let page = page_of(vec![1, 2, 3], 2, |n| Cursor(n.to_string()));
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor, Some(Cursor("2".into())));
        assert_eq!(page_of(vec![1, 2], 2, |n| Cursor(n.to_string())).next_cursor, None);
    }
}
