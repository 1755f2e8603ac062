//! An in-memory [`JobQueue`]: for tests, and for running Levqor without a database
//! (jobs are then lost on restart, so never in production).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::TimeDelta;
use levqor_core::{Cursor, Page, StorageError, Timestamp, UserId};

use crate::error::JobsError;
use crate::id::{JobId, LeaseToken};
use crate::job::{Job, JobState};
use crate::new_job::NewJob;
use crate::queue::{
    ClaimRequest, ClaimedJob, FinishResult, JobFilter, JobQueue, Outcome, QueueCounts, job_cursor, parse_job_cursor,
};
use crate::retry::RetryPolicy;
use crate::rules;

#[derive(Default)]
pub struct MemoryQueue {
    jobs: Mutex<HashMap<JobId, Job>>,
    /// Worker processes and when each was last heard from.
    workers: Mutex<HashMap<String, Timestamp>>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn jobs(&self) -> Result<MutexGuard<'_, HashMap<JobId, Job>>, StorageError> {
        self.jobs.lock().map_err(|_| StorageError::Failure("in-memory queue poisoned".into()))
    }
}

/// The owner's job, or `NotFound` (also for another owner's job).
fn owned<'a>(jobs: &'a mut HashMap<JobId, Job>, owner: &UserId, id: &JobId) -> Result<&'a mut Job, JobsError> {
    jobs.get_mut(id).filter(|job| &job.owner == owner).ok_or(JobsError::NotFound)
}

impl JobQueue for MemoryQueue {
    fn enqueue(&self, job: &NewJob) -> Result<Job, JobsError> {
        Ok(self.enqueue_batch(std::slice::from_ref(job))?.remove(0))
    }

    fn enqueue_batch(&self, new: &[NewJob]) -> Result<Vec<Job>, JobsError> {
        let mut jobs = self.jobs()?;
        if new.iter().any(|n| jobs.contains_key(&n.id)) {
            return Err(StorageError::Conflict("a job with this id exists".into()).into());
        }
        let stored: Vec<Job> = new.iter().map(NewJob::to_job).collect();
        for job in &stored {
            jobs.insert(job.id.clone(), job.clone());
        }
        Ok(stored)
    }

    fn claim(&self, request: &ClaimRequest) -> Result<Vec<ClaimedJob>, JobsError> {
        let mut jobs = self.jobs()?;
        let mut due: Vec<&Job> = jobs.values().filter(|j| rules::is_due(j, request.now)).collect();
        due.sort_by(|a, b| rules::claim_order(a, b));

        let mut running: HashMap<&UserId, u32> = HashMap::new();
        if request.per_owner_limit.is_some() {
            for job in jobs.values().filter(|j| j.state == JobState::Running) {
                *running.entry(&job.owner).or_default() += 1;
            }
        }
        let mut picked = Vec::new();
        for job in due {
            if picked.len() >= request.limit as usize {
                break;
            }
            if let Some(max) = request.per_owner_limit {
                let count = running.entry(&job.owner).or_default();
                if *count >= max {
                    continue;
                }
                *count += 1;
            }
            picked.push(job.id.clone());
        }

        let mut claimed = Vec::with_capacity(picked.len());
        for id in picked {
            let Some(job) = jobs.get_mut(&id) else {
                continue;
            };
            let token = LeaseToken::generate_for(&request.worker);
            *job = rules::claim(job, token.clone(), request.lease, request.now)?;
            claimed.push(ClaimedJob { job: job.clone(), lease_token: token });
        }
        Ok(claimed)
    }

    fn heartbeat(&self, id: &JobId, token: &LeaseToken, extend_to: Timestamp) -> Result<bool, JobsError> {
        let mut jobs = self.jobs()?;
        match jobs.get_mut(id) {
            Some(job) if rules::holds_lease(job, token) => {
                job.lease_expires_at = Some(extend_to);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn complete(
        &self,
        id: &JobId,
        token: &LeaseToken,
        outcome: &Outcome,
        policy: &RetryPolicy,
        now: Timestamp,
    ) -> Result<FinishResult, JobsError> {
        let mut jobs = self.jobs()?;
        match jobs.get_mut(id) {
            Some(job) if rules::holds_lease(job, token) => {
                *job = rules::finish(job, outcome, policy, now, RetryPolicy::sample())?;
                Ok(FinishResult::Finished(Box::new(job.clone())))
            }
            _ => Ok(FinishResult::Stale),
        }
    }

    fn release(&self, id: &JobId, token: &LeaseToken, now: Timestamp) -> Result<bool, JobsError> {
        let mut jobs = self.jobs()?;
        match jobs.get_mut(id) {
            Some(job) if rules::holds_lease(job, token) => {
                *job = rules::release(job, now)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn cancel(&self, owner: &UserId, id: &JobId, now: Timestamp) -> Result<Job, JobsError> {
        let mut jobs = self.jobs()?;
        let job = owned(&mut jobs, owner, id)?;
        *job = rules::cancel(job, now)?;
        Ok(job.clone())
    }

    fn retry(&self, owner: &UserId, id: &JobId, now: Timestamp) -> Result<Job, JobsError> {
        let mut jobs = self.jobs()?;
        let job = owned(&mut jobs, owner, id)?;
        *job = rules::retry(job, now)?;
        Ok(job.clone())
    }

    fn rescue_expired(&self, policy: &RetryPolicy, now: Timestamp, limit: u32) -> Result<Vec<Job>, JobsError> {
        let mut jobs = self.jobs()?;
        let mut rescued = Vec::new();
        for job in jobs.values_mut() {
            if rescued.len() >= limit as usize {
                break;
            }
            let expired = job.state == JobState::Running && job.lease_expires_at.is_some_and(|at| at <= now);
            if expired {
                *job = rules::rescue(job, policy, now, RetryPolicy::sample())?;
                rescued.push(job.clone());
            }
        }
        Ok(rescued)
    }

    fn get(&self, id: &JobId) -> Result<Option<Job>, StorageError> {
        Ok(self.jobs()?.get(id).cloned())
    }

    fn list(
        &self,
        owner: &UserId,
        filter: &JobFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<Job>, JobsError> {
        let after = cursor.map(parse_job_cursor).transpose()?;
        let jobs = self.jobs()?;
        let mut mine: Vec<&Job> = jobs
            .values()
            .filter(|j| &j.owner == owner)
            .filter(|j| filter.state.is_none_or(|s| j.state == s))
            .filter(|j| filter.workflow.as_ref().is_none_or(|w| &j.workflow == w))
            .filter(|j| after.as_ref().is_none_or(|after| &j.id < after))
            .collect();
        mine.sort_by(|a, b| b.id.cmp(&a.id));
        let limit = limit.max(1) as usize;
        let next_cursor = (mine.len() > limit).then(|| job_cursor(&mine[limit - 1].id));
        let items = mine.into_iter().take(limit).cloned().collect();
        Ok(Page { items, next_cursor })
    }

    fn expire_lapsed_workers(&self, worker: &str, now: Timestamp, lapse: TimeDelta) -> Result<u64, StorageError> {
        let mut workers = self.workers.lock().map_err(|_| StorageError::Failure("in-memory queue poisoned".into()))?;
        workers.insert(worker.to_owned(), now);
        let lapsed: Vec<String> =
            workers.iter().filter(|(_, seen)| **seen < now - lapse).map(|(w, _)| w.clone()).collect();
        let mut expired = 0;
        let mut jobs = self.jobs()?;
        for gone in &lapsed {
            workers.remove(gone);
            let prefix = LeaseToken::prefix_of(gone);
            for job in jobs.values_mut() {
                if job.state == JobState::Running
                    && job.lease_token.as_ref().is_some_and(|t| t.as_str().starts_with(&prefix))
                {
                    job.lease_expires_at = Some(now);
                    expired += 1;
                }
            }
        }
        Ok(expired)
    }

    fn count_waiting(&self, owner: &UserId) -> Result<u64, StorageError> {
        let jobs = self.jobs()?;
        let waiting = jobs
            .values()
            .filter(|j| &j.owner == owner && matches!(j.state, JobState::Queued | JobState::Failed))
            .count();
        Ok(u64::try_from(waiting).unwrap_or(u64::MAX))
    }

    fn counts(&self, now: Timestamp) -> Result<QueueCounts, StorageError> {
        let jobs = self.jobs()?;
        let mut counts = QueueCounts::default();
        for job in jobs.values() {
            counts.add(job.state, 1);
            if job.state == JobState::Queued && job.run_at <= now {
                counts.oldest_queued_at = Some(counts.oldest_queued_at.map_or(job.run_at, |o| o.min(job.run_at)));
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    crate::queue_contract_tests!(crate::memory::MemoryQueue::new());
}
