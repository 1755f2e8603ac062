//! Rescues jobs whose worker stopped heartbeating (crashed, killed, partitioned):
//! their leases expire and they become `failed` (to retry) or `dead`.

use std::sync::Arc;
use std::time::Duration;

use levqor_core::Clock;
use tokio::task::JoinHandle;

use crate::queue::JobQueue;
use crate::retry::RetryPolicy;
use crate::shutdown::Shutdown;
use crate::worker::Waker;

#[derive(Debug, Clone)]
pub struct SweeperConfig {
    pub every: Duration,
    /// Jobs rescued per queue call; the sweeper repeats while a call is full.
    pub batch: u32,
    pub retry_policy: RetryPolicy,
}

impl Default for SweeperConfig {
    fn default() -> Self {
        Self { every: Duration::from_secs(5), batch: 500, retry_policy: RetryPolicy::default() }
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
    let mut total = 0;
    loop {
        let (q, policy, now, batch) = (queue.clone(), config.retry_policy.clone(), clock.now(), config.batch.max(1));
        match tokio::task::spawn_blocking(move || q.rescue_expired(&policy, now, batch)).await {
            Ok(Ok(n)) => {
                total += u64::from(n);
                if n < batch {
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
    use chrono::TimeDelta;
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
    async fn the_sweeper_stops_on_shutdown() {
        let queue: Arc<dyn JobQueue> = Arc::new(MemoryQueue::new());
        let shutdown = Shutdown::new();
        let clock = Arc::new(ManualClock::new(t0()));
        let handle = Sweeper::start(queue, SweeperConfig::default(), clock, shutdown.clone(), Some(Waker::new()));
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(1), handle).await.unwrap().unwrap();
    }
}
