//! The queue port: what jobs need from storage. `levqor-store` implements it on
//! SQLite and PostgreSQL; [`crate::memory::MemoryQueue`] implements it in memory.
//! [`crate::contract`] holds the cases every implementation must pass.
//!
//! Calls are blocking: async callers run them on a blocking pool. Every call that
//! depends on time takes `now`, so implementations never read a clock themselves.

use chrono::TimeDelta;
use levqor_core::{Cursor, Page, StorageError, Timestamp, UserId};
use serde::Serialize;

use crate::error::JobsError;
use crate::id::{JobId, LeaseToken};
use crate::job::{Job, JobState};
use crate::new_job::NewJob;
use crate::retry::RetryPolicy;
pub use crate::rules::Outcome;

/// What a worker asks for when claiming.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRequest {
    /// Who claims (for logs and diagnostics).
    pub worker: String,
    /// At most this many jobs.
    pub limit: u32,
    /// How long the lease lasts without a heartbeat.
    pub lease: TimeDelta,
    /// At most this many `running` jobs per owner, counting those already running.
    pub per_owner_limit: Option<u32>,
    pub now: Timestamp,
}

/// A job a worker now holds, with the token that proves it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub job: Job,
    pub lease_token: LeaseToken,
}

/// One finished attempt, for [`JobQueue::complete_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub id: JobId,
    pub lease_token: LeaseToken,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FinishResult {
    /// The job in its new state (`succeeded`, `failed` or `dead`).
    Finished(Box<Job>),
    /// The token no longer holds the lease (expired and rescued, or cancelled):
    /// nothing was changed.
    Stale,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub workflow: Option<String>,
}

/// For `/ops/queue_health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub dead: u64,
    pub cancelled: u64,
    /// The earliest `run_at` among queued jobs that are due: how long the oldest
    /// waiting job has waited. Jobs scheduled for later are not waiting yet.
    pub oldest_queued_at: Option<Timestamp>,
}

impl QueueCounts {
    pub fn add(&mut self, state: JobState, n: u64) {
        let slot = match state {
            JobState::Queued => &mut self.queued,
            JobState::Running => &mut self.running,
            JobState::Succeeded => &mut self.succeeded,
            JobState::Failed => &mut self.failed,
            JobState::Dead => &mut self.dead,
            JobState::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }
}

pub trait JobQueue: Send + Sync {
    /// Stores a new job; returns once it is durable.
    fn enqueue(&self, job: &NewJob) -> Result<Job, JobsError>;

    /// Stores many jobs in one commit (group commit). All or none.
    fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<Job>, JobsError> {
        jobs.iter().map(|job| self.enqueue(job)).collect()
    }

    /// Takes up to `limit` due jobs in claim order ([`crate::rules::claim_order`]),
    /// respecting the per-owner limit, and commits the leases before returning.
    fn claim(&self, request: &ClaimRequest) -> Result<Vec<ClaimedJob>, JobsError>;

    /// Extends a held lease. `false` if `token` no longer holds it (the worker
    /// should stop working on the job).
    fn heartbeat(&self, id: &JobId, token: &LeaseToken, extend_to: Timestamp) -> Result<bool, JobsError>;

    /// Ends an attempt, conditional on `token` holding the lease
    /// ([`crate::rules::finish`] decides the next state).
    fn complete(
        &self,
        id: &JobId,
        token: &LeaseToken,
        outcome: &Outcome,
        policy: &RetryPolicy,
        now: Timestamp,
    ) -> Result<FinishResult, JobsError>;

    /// Ends many attempts in one commit; one result per completion, in order.
    fn complete_batch(
        &self,
        completions: &[Completion],
        policy: &RetryPolicy,
        now: Timestamp,
    ) -> Result<Vec<FinishResult>, JobsError> {
        completions.iter().map(|c| self.complete(&c.id, &c.lease_token, &c.outcome, policy, now)).collect()
    }

    /// Gives a held job back to the queue without counting the attempt
    /// ([`crate::rules::release`]). `false` if `token` no longer holds it.
    fn release(&self, id: &JobId, token: &LeaseToken, now: Timestamp) -> Result<bool, JobsError>;

    /// The owner cancels a queued, failed or running job. Another owner's job is
    /// `NotFound`; a finished one is `Illegal`.
    fn cancel(&self, owner: &UserId, id: &JobId, now: Timestamp) -> Result<Job, JobsError>;

    /// The owner retries a failed or dead job ([`crate::rules::retry`]).
    fn retry(&self, owner: &UserId, id: &JobId, now: Timestamp) -> Result<Job, JobsError>;

    /// Fails (or kills) up to `limit` running jobs whose lease expired at or before
    /// `now` ([`crate::rules::rescue`]); returns them as they are now, so the
    /// ones that ended `dead` can be reported like any other finished job.
    fn rescue_expired(&self, policy: &RetryPolicy, now: Timestamp, limit: u32) -> Result<Vec<Job>, JobsError>;

    fn get(&self, id: &JobId) -> Result<Option<Job>, StorageError>;

    /// The owner's jobs, newest first, after `cursor` (see [`job_cursor`]).
    fn list(
        &self,
        owner: &UserId,
        filter: &JobFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<Job>, JobsError>;

    fn counts(&self, now: Timestamp) -> Result<QueueCounts, StorageError>;

    /// Records that worker process `worker` is alive at `now`, and expires at
    /// `now` the leases of every running job held by a worker not heard from
    /// since `now - lapse` (its process crashed or was killed), forgetting those
    /// workers; [`Self::rescue_expired`] then rescues the jobs. Returns how many
    /// leases were expired. Tokens name their worker ([`LeaseToken::generate_for`]).
    fn expire_lapsed_workers(&self, worker: &str, now: Timestamp, lapse: TimeDelta) -> Result<u64, StorageError>;

    /// How many of `owner`'s jobs wait to run (`queued`, or `failed` awaiting a
    /// retry): what [`crate::waiting_cap::WaitingCap`] holds against its cap.
    fn count_waiting(&self, owner: &UserId) -> Result<u64, StorageError>;
}

/// The cursor after `job` in a listing: its id, as ids sort by creation time.
pub fn job_cursor(job: &JobId) -> Cursor {
    Cursor(job.to_string())
}

pub fn parse_job_cursor(cursor: &Cursor) -> Result<JobId, JobsError> {
    cursor.0.parse().map_err(|_| JobsError::invalid("cursor", "is not a cursor from this listing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let id = JobId::new();
        assert_eq!(parse_job_cursor(&job_cursor(&id)), Ok(id));
        assert!(parse_job_cursor(&Cursor("x".into())).is_err());
    }

    #[test]
    fn counts_add_up_per_state() {
        let mut counts = QueueCounts::default();
        for state in JobState::ALL {
            counts.add(state, 2);
        }
        counts.add(JobState::Dead, 1);
        assert_eq!((counts.queued, counts.dead, counts.cancelled), (2, 3, 2));
    }
}
