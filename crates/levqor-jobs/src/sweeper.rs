//! Rescues jobs whose worker stopped heartbeating (crashed, killed, partitioned):
//! their leases expire and they become `failed` (to retry) or `dead`.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use levqor_core::Clock;
use tokio::task::JoinHandle;

use crate::queue::JobQueue;
use crate::retry::RetryPolicy;
use crate::shutdown::Shutdown;
use crate::worker::{FinishedHook, Waker};

#[derive(Clone)]
pub struct SweeperConfig {
    pub every: Duration,
    /// Jobs rescued per queue call; the sweeper repeats while a call is full.
    pub batch: u32,
    pub retry_policy: RetryPolicy,
    /// Called for every rescued job that ended (`dead`: its last attempt's lease
    /// expired), like [`crate::worker::WorkerConfig::on_finished`] for jobs a
    /// worker finished.
    pub on_finished: Option<FinishedHook>,
    /// This process's worker id (its pool's): heartbeated on every sweep, so the
    /// other processes know it is alive.
    pub worker: Option<String>,
    /// A worker not heard from for this long is gone: its jobs' leases are
    /// expired at once and rescued, instead of waiting out whole leases.
    pub worker_lapse: Duration,
}

/// How long a silent worker process is given before its jobs are rescued.
pub const DEFAULT_WORKER_LAPSE: Duration = Duration::from_secs(10);

impl Default for SweeperConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(2),
            batch: 500,
            retry_policy: RetryPolicy::default(),
            on_finished: None,
            worker: None,
            worker_lapse: DEFAULT_WORKER_LAPSE,
        }
    }
}

impl std::fmt::Debug for SweeperConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SweeperConfig")
            .field("every", &self.every)
            .field("batch", &self.batch)
            .field("retry_policy", &self.retry_policy)
            .field("on_finished", &self.on_finished.is_some())
            .field("worker", &self.worker)
            .field("worker_lapse", &self.worker_lapse)
            .finish()
    }
}

pub struct Sweeper;

impl Sweeper {
    /// Runs until `shutdown`. `waker` (a pool's) is woken after a rescue, since the
    /// rescued jobs may be due again soon.
    pub fn start(
        queue: Arc<dyn JobQueue>,
        config: SweeperConfig,
        clock: Arc<dyn Clock>,
        shutdown: Shutdown,
        waker: Option<Waker>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let rescued = sweep_once(&queue, &config, clock.as_ref()).await;
                if let Some(waker) = waker.as_ref().filter(|_| rescued > 0) {
                    waker.wake();
                }
                tokio::select! {
                    () = tokio::time::sleep(config.every) => {}
                    () = shutdown.wait() => break,
                }
            }
        })
    }
}

/// One sweep: rescues every expired lease (in batches); returns how many.
pub async fn sweep_once(queue: &Arc<dyn JobQueue>, config: &SweeperConfig, clock: &dyn Clock) -> u64 {
    if let Some(worker) = config.worker.clone() {
        let (q, now) = (queue.clone(), clock.now());
        let lapse = TimeDelta::from_std(config.worker_lapse).unwrap_or(TimeDelta::seconds(10));
        // Storage trouble: the next sweep heartbeats again.
        let _ = tokio::task::spawn_blocking(move || q.expire_lapsed_workers(&worker, now, lapse)).await;
    }
    let mut total = 0;
    loop {
        let (q, policy, now, batch) = (queue.clone(), config.retry_policy.clone(), clock.now(), config.batch.max(1));
        match tokio::task::spawn_blocking(move || q.rescue_expired(&policy, now, batch)).await {
            Ok(Ok(rescued)) => {
                total += rescued.len() as u64;
                if let Some(hook) = &config.on_finished {
                    rescued.iter().filter(|job| job.state.is_terminal()).for_each(|job| hook(job));
                }
                if rescued.len() < batch as usize {
                    return total;
                }
            }
            // Storage trouble: try again on the next sweep.
            _ => return total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levqor_core::{ManualClock, UserId};

    use crate::contract::{new_job, t0};
    use crate::job::JobState;
    use crate::memory::MemoryQueue;
    use crate::queue::ClaimRequest;

    #[tokio::test]
    async fn expired_leases_are_rescued_in_batches() {
        let memory = Arc::new(MemoryQueue::new());
        let owner = UserId::new();
        let jobs: Vec<_> = (0..7).map(|i| new_job(&owner, i)).collect();
        memory.enqueue_batch(&jobs).unwrap();
        let request = ClaimRequest {
            worker: "w".into(),
            limit: 10,
            lease: TimeDelta::seconds(30),
            per_owner_limit: None,
            now: t0() + TimeDelta::seconds(10),
        };
        assert_eq!(memory.claim(&request).unwrap().len(), 7);

        let queue: Arc<dyn JobQueue> = memory.clone();
        let clock = ManualClock::new(t0() + TimeDelta::seconds(20));
        let config = SweeperConfig { batch: 3, ..SweeperConfig::default() };
        assert_eq!(sweep_once(&queue, &config, &clock).await, 0);
        clock.advance(TimeDelta::seconds(30));
        assert_eq!(sweep_once(&queue, &config, &clock).await, 7);
        assert_eq!(memory.counts(clock.now()).unwrap().failed, 7);
        assert!(jobs.iter().all(|j| memory.get(&j.id).unwrap().unwrap().state == JobState::Failed));
    }

    #[tokio::test]
    async fn rescued_jobs_that_died_are_reported() {
        let memory = Arc::new(MemoryQueue::new());
        let owner = UserId::new();
        let last = crate::NewJob { max_attempts: 1, ..new_job(&owner, 0) };
        let again = crate::NewJob { max_attempts: 3, ..new_job(&owner, 1) };
        memory.enqueue_batch(&[last.clone(), again]).unwrap();
        let request = ClaimRequest {
            worker: "w".into(),
            limit: 10,
            lease: TimeDelta::seconds(30),
            per_owner_limit: None,
            now: t0() + TimeDelta::seconds(1),
        };
        assert_eq!(memory.claim(&request).unwrap().len(), 2);

        let reported = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = reported.clone();
        let hook: FinishedHook = Arc::new(move |job| sink.lock().unwrap().push((job.id.clone(), job.state)));
        let config = SweeperConfig { on_finished: Some(hook), ..SweeperConfig::default() };
        let queue: Arc<dyn JobQueue> = memory.clone();
        let clock = ManualClock::new(t0() + TimeDelta::seconds(32));
        assert_eq!(sweep_once(&queue, &config, &clock).await, 2);
        assert_eq!(*reported.lock().unwrap(), vec![(last.id, JobState::Dead)], "only the job that ended");
    }

    #[tokio::test]
    async fn the_sweeper_stops_on_shutdown() {
        let queue: Arc<dyn JobQueue> = Arc::new(MemoryQueue::new());
        let shutdown = Shutdown::new();
        let clock = Arc::new(ManualClock::new(t0()));
        let handle = Sweeper::start(queue, SweeperConfig::default(), clock, shutdown.clone(), Some(Waker::new()));
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(1), handle).await.unwrap().unwrap();
    }
}
