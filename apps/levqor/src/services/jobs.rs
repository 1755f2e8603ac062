//! Jobs as use cases. Intake: the payload's size and shape, a `connector` job's
//! payload, a `pipeline:` workflow that must name one of the caller's pipelines,
//! the per-user cap on waiting jobs, and building the job (the handler records
//! the Idempotency-Key answer and hands the job to the intake writer). Then
//! status with the visibility rule, listing, cancel (a cancelled run's credits
//! come back), retry, and queue counts.

use std::sync::Arc;

use levqor_accounts::Principal;
use levqor_connectors::ConnectorRegistry;
use levqor_core::{Clock, Cursor, FieldProblem, Page, StorageError, UserId};
use levqor_jobs::{
    CapReached, IntakeRequest, Job, JobFilter, JobId, JobQueue, JobsError, NewJob, QueueCounts, WaitingCap, Waker,
    WorkflowRegistry,
};
use levqor_pipelines::{PipelineRepo, PipelinesError, run_workflow_pipeline};
use serde_json::Value;

use super::blocking::blocking;

/// Why a job was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The payload is larger than a job may carry (a 413).
    #[error("the payload is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the job is invalid")]
    Invalid(Vec<FieldProblem>),
    /// Too many of the caller's jobs wait already (a 429).
    #[error(transparent)]
    CapReached(#[from] CapReached),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl IntakeError {
    fn field(field: &str, problem: impl Into<String>) -> Self {
        IntakeError::Invalid(vec![FieldProblem::new(field, problem)])
    }
}

/// An intake as it arrived: the request and the size of the body it came in.
pub struct Arrival {
    pub request: IntakeRequest,
    pub body_len: usize,
}

/// What happens when a job ends outside a worker (a cancel): a pipeline run
/// gives its reserved credits back. `Err` is logged; the cancel stands.
pub type EndedHook = Arc<dyn Fn(&Job) -> Result<(), String> + Send + Sync>;

pub struct JobsService {
    workflows: Arc<WorkflowRegistry>,
    connectors: Arc<ConnectorRegistry>,
    pipelines: Arc<dyn PipelineRepo>,
    queue: Arc<dyn JobQueue>,
    waiting: WaitingCap,
    clock: Arc<dyn Clock>,
    /// This process's workers, woken by a retry (`None`: API only).
    waker: Option<Waker>,
    ended: EndedHook,
    log: slog::Logger,
}

/// What [`JobsService`] is built from.
pub struct JobsPorts {
    pub workflows: Arc<WorkflowRegistry>,
    pub connectors: Arc<ConnectorRegistry>,
    pub pipelines: Arc<dyn PipelineRepo>,
    pub queue: Arc<dyn JobQueue>,
    pub waker: Option<Waker>,
    pub ended: EndedHook,
}

impl JobsService {
    pub fn new(ports: JobsPorts, max_waiting: u64, clock: Arc<dyn Clock>, log: slog::Logger) -> Self {
        Self {
            workflows: ports.workflows,
            connectors: ports.connectors,
            pipelines: ports.pipelines,
            queue: ports.queue,
            waiting: WaitingCap::new(max_waiting),
            clock,
            waker: ports.waker,
            ended: ports.ended,
            log,
        }
    }

    /// The job if `caller` may see it (its owner, or an admin); anyone else's
    /// reads as missing.
    pub async fn status(&self, caller: &Principal, id: JobId) -> Result<Job, JobsError> {
        let queue = self.queue.clone();
        let job = blocking(move || queue.get(&id).map_err(JobsError::from)).await?.ok_or(JobsError::NotFound)?;
        caller.may_access_user(&job.owner).map_err(|_| JobsError::NotFound)?;
        Ok(job)
    }

    pub async fn list(
        &self,
        owner: UserId,
        filter: JobFilter,
        cursor: Option<Cursor>,
        limit: u32,
    ) -> Result<Page<Job>, JobsError> {
        let queue = self.queue.clone();
        blocking(move || queue.list(&owner, &filter, cursor.as_ref(), limit)).await
    }

    /// Cancels the owner's job; a cancelled pipeline run's credits come back now
    /// (if that fails, the cancel stands and the reservation sweeper returns them).
    pub async fn cancel(&self, owner: UserId, id: JobId) -> Result<Job, JobsError> {
        let (queue, ended, now) = (self.queue.clone(), self.ended.clone(), self.clock.now());
        let (job, released) = blocking(move || {
            let job = queue.cancel(&owner, &id, now)?;
            let released = ended(&job);
            Ok::<_, JobsError>((job, released))
        })
        .await?;
        if let Err(e) = released {
            slog::warn!(self.log, "could not release the credits of a cancelled run"; "job_id" => %job.id, "error" => %e);
        }
        Ok(job)
    }

    /// Queues the owner's failed or dead job again, and wakes this process's workers.
    pub async fn retry(&self, owner: UserId, id: JobId) -> Result<Job, JobsError> {
        let (queue, now) = (self.queue.clone(), self.clock.now());
        let job = blocking(move || queue.retry(&owner, &id, now)).await?;
        if let Some(waker) = &self.waker {
            waker.wake();
        }
        Ok(job)
    }

    pub async fn counts(&self) -> Result<(QueueCounts, levqor_core::Timestamp), JobsError> {
        let (queue, now) = (self.queue.clone(), self.clock.now());
        let counts = blocking(move || queue.counts(now).map_err(JobsError::from)).await?;
        Ok((counts, now))
    }

    /// Checks an intake and builds its job. Touches the store only for a
    /// `pipeline:` workflow and, at most once a second per user, to count the
    /// user's waiting jobs.
    pub async fn admit(&self, owner: &UserId, arrival: Arrival) -> Result<NewJob, IntakeError> {
        let Arrival { request, body_len } = arrival;
        check_payload(&request.payload, body_len)?;
        if request.workflow.trim() == "connector" {
            crate::connectors::check_job_payload(&self.connectors, &request.payload)
                .map_err(|problem| IntakeError::Invalid(vec![problem]))?;
        }
        if let Some(pipeline) = run_workflow_pipeline(request.workflow.trim()) {
            // Someone else's pipeline reads exactly like one that does not exist.
            let no_such = || IntakeError::field("workflow", "names no pipeline of yours");
            let id = pipeline.ok_or_else(no_such)?;
            let (repo, o) = (self.pipelines.clone(), owner.clone());
            let found = blocking(move || match repo.get(&o, &id) {
                Ok(_) => Ok(true),
                Err(PipelinesError::NotFound) => Ok(false),
                Err(PipelinesError::Storage(e)) => Err(IntakeError::Storage(e)),
                Err(other) => Err(IntakeError::Storage(StorageError::Failure(other.to_string()))),
            })
            .await?;
            if !found {
                return Err(no_such());
            }
        }
        let now = self.clock.now();
        let new = NewJob::from_intake(owner.clone(), request, now, &|w| self.workflows.contains(w))
            .map_err(IntakeError::Invalid)?;
        if self.waiting.needs_count(owner, now) {
            let (queue, o) = (self.queue.clone(), owner.clone());
            let waiting = blocking(move || queue.count_waiting(&o)).await?;
            self.waiting.set_count(owner, waiting, now);
        }
        self.waiting.admit_counted(owner)?;
        Ok(new)
    }
}

/// `payload` is required and a JSON object, at most
/// [`levqor_jobs::new_job::MAX_PAYLOAD_BYTES`] as JSON. A body within that limit
/// holds a payload within it, so only larger bodies pay for measuring.
fn check_payload(payload: &Value, body_len: usize) -> Result<(), IntakeError> {
    if !payload.is_object() {
        return Err(IntakeError::field("payload", "must be a JSON object"));
    }
    let max = levqor_jobs::new_job::MAX_PAYLOAD_BYTES;
    if body_len > max && serde_json::to_vec(payload).map_or(usize::MAX, |v| v.len()) > max {
        return Err(IntakeError::TooLarge(max));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_payload_must_be_an_object_within_the_limit() {
        assert!(check_payload(&json!({}), 2).is_ok());
        for bad in [json!([]), json!(null), json!("x"), json!(1)] {
            assert!(matches!(check_payload(&bad, 10), Err(IntakeError::Invalid(p)) if p[0].field == "payload"));
        }
        let max = levqor_jobs::new_job::MAX_PAYLOAD_BYTES;
        let big = json!({"x": "y".repeat(max)});
        assert!(matches!(check_payload(&big, max + 20), Err(IntakeError::TooLarge(_))));
        // A body over the limit whose payload is within it (long other fields).
        assert!(check_payload(&json!({"x": 1}), max + 1).is_ok());
    }
}
