//! The worker runtime: claims due jobs with a lease, runs them, heartbeats while
//! they run, and finishes them with the lease token.
//!
//! One dispatcher task per pool claims in batches (the queue is blocking, so every
//! queue call runs on tokio's blocking pool) and spawns one task per job; a
//! completer task commits finished attempts in batches. A panic or a timeout in a
//! workflow fails that attempt, never the pool.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use levqor_core::Clock;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::id::{JobId, LeaseToken};
use crate::job::Job;
use crate::queue::{ClaimRequest, ClaimedJob, Completion, FinishResult, JobQueue, Outcome};
use crate::retry::RetryPolicy;
use crate::rules::delta;
use crate::shutdown::Shutdown;
use crate::workflow::{JobContext, WorkflowRegistry};

/// Called with each job whose attempt was committed (any new state), e.g. to send
/// completion callbacks. Runs on the completer task: keep it short, spawn if needed.
pub type FinishedHook = Arc<dyn Fn(&Job) + Send + Sync>;

/// At most this many finished attempts are committed together.
const COMPLETION_BATCH: usize = 256;

/// How long a pool waits after a job ends before claiming again.
const CLAIM_COALESCE: Duration = Duration::from_millis(2);

#[derive(Clone)]
pub struct WorkerConfig {
    /// Names this pool in claims.
    pub worker_id: String,
    /// Jobs run at once by this pool.
    pub concurrency: usize,
    /// Jobs claimed per claim call at most.
    pub claim_batch: u32,
    pub lease: Duration,
    /// Must be well under `lease`.
    pub heartbeat_every: Duration,
    /// How often an idle pool looks for work without being woken.
    pub poll_interval: Duration,
    pub per_owner_limit: Option<u32>,
    pub retry_policy: RetryPolicy,
    /// On shutdown, how long running jobs may take to finish before they are
    /// released back to the queue.
    pub shutdown_grace: Duration,
    pub on_finished: Option<FinishedHook>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: format!("worker-{}", uuid::Uuid::now_v7().simple()),
            concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            claim_batch: 64,
            lease: Duration::from_secs(60),
            heartbeat_every: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            per_owner_limit: None,
            retry_policy: RetryPolicy::default(),
            shutdown_grace: Duration::from_secs(10),
            on_finished: None,
        }
    }
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("worker_id", &self.worker_id)
            .field("concurrency", &self.concurrency)
            .field("claim_batch", &self.claim_batch)
            .field("lease", &self.lease)
            .field("heartbeat_every", &self.heartbeat_every)
            .field("poll_interval", &self.poll_interval)
            .field("per_owner_limit", &self.per_owner_limit)
            .field("retry_policy", &self.retry_policy)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("on_finished", &self.on_finished.is_some())
            .finish()
    }
}

/// Wakes an idle pool at once, e.g. right after an enqueue, instead of waiting for
/// its next poll. Cheap to clone and to call.
#[derive(Debug, Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn wake(&self) {
        // A wake while the pool is busy is remembered, so it is never lost.
        self.0.notify_one();
    }

    async fn woken(&self) {
        self.0.notified().await;
    }
}

pub struct WorkerPool {
    waker: Waker,
    task: JoinHandle<()>,
}

/// What every task of a pool shares.
struct Shared {
    queue: Arc<dyn JobQueue>,
    registry: Arc<WorkflowRegistry>,
    config: WorkerConfig,
    clock: Arc<dyn Clock>,
}

impl WorkerPool {
    /// Starts the pool on the current tokio runtime. It runs until `shutdown` is
    /// triggered; then it stops claiming, lets running jobs finish for up to
    /// `shutdown_grace`, releases the rest, and ends ([`join`](Self::join)).
    pub fn start(
        queue: Arc<dyn JobQueue>,
        registry: Arc<WorkflowRegistry>,
        config: WorkerConfig,
        clock: Arc<dyn Clock>,
        shutdown: Shutdown,
    ) -> Self {
        let waker = Waker::new();
        let shared = Arc::new(Shared { queue, registry, config, clock });
        let task = tokio::spawn(dispatch(shared, waker.clone(), shutdown));
        Self { waker, task }
    }

    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Waits until the pool has stopped (after shutdown was triggered).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

async fn dispatch(shared: Arc<Shared>, waker: Waker, shutdown: Shutdown) {
    let concurrency = shared.config.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let (release_all, release_rx) = watch::channel(false);
    let (completions, completion_rx) = mpsc::channel(COMPLETION_BATCH * 4);
    let completer = tokio::spawn(complete_in_batches(shared.clone(), completion_rx));
    let mut running = JoinSet::new();

    loop {
        while running.try_join_next().is_some() {}
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            () = shutdown.wait() => break,
        };
        let Ok(first) = first else { break };
        let mut permits = vec![first];
        let want = usize::try_from(shared.config.claim_batch.max(1)).unwrap_or(usize::MAX);
        while permits.len() < want {
            match slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }

        let asked = permits.len();
        let claimed = claim(&shared, asked).await;
        let got = claimed.len();
        for job in claimed {
            let Some(permit) = permits.pop() else { break };
            running.spawn(run_job(shared.clone(), job, permit, completions.clone(), release_rx.clone()));
        }
        drop(permits);
        if got == asked {
            continue; // probably more due work: claim again as soon as a slot is free
        }
        // Claim again when woken (new work), when a running job ends (its slot, and
        // perhaps its owner's share, is free again), or at the next poll.
        tokio::select! {
            () = waker.woken() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {
                // Let a few more jobs end, so one claim takes several slots at once
                // instead of one transaction per finished job.
                tokio::time::sleep(CLAIM_COALESCE).await;
            }
            () = tokio::time::sleep(shared.config.poll_interval) => {}
            () = shutdown.wait() => break,
        }
    }

    let drained =
        tokio::time::timeout(shared.config.shutdown_grace, async { while running.join_next().await.is_some() {} })
            .await;
    if drained.is_err() {
        release_all.send_replace(true);
        while running.join_next().await.is_some() {}
    }
    drop(completions);
    let _ = completer.await;
}

/// Claims up to `limit` jobs; an error counts as "nothing to do" until the next poll.
async fn claim(shared: &Arc<Shared>, limit: usize) -> Vec<ClaimedJob> {
    let request = ClaimRequest {
        worker: shared.config.worker_id.clone(),
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
        lease: delta(shared.config.lease),
        per_owner_limit: shared.config.per_owner_limit,
        now: shared.clock.now(),
    };
    let queue = shared.queue.clone();
    match tokio::task::spawn_blocking(move || queue.claim(&request)).await {
        Ok(Ok(jobs)) => jobs,
        _ => Vec::new(),
    }
}

struct Finished {
    completion: Completion,
    committed: oneshot::Sender<()>,
}

async fn run_job(
    shared: Arc<Shared>,
    claimed: ClaimedJob,
    _slot: OwnedSemaphorePermit,
    completions: mpsc::Sender<Finished>,
    mut release: watch::Receiver<bool>,
) {
    let ClaimedJob { job, lease_token } = claimed;
    let outcome = tokio::select! {
        outcome = execute(&shared.registry, &job) => outcome,
        // Cancelled, or rescued after a missed heartbeat: someone else owns it now.
        () = keep_lease(&shared, &job.id, &lease_token) => return,
        () = released(&mut release) => {
            let (queue, id, now) = (shared.queue.clone(), job.id.clone(), shared.clock.now());
            let _ = tokio::task::spawn_blocking(move || queue.release(&id, &lease_token, now)).await;
            return;
        }
    };
    let (committed, done) = oneshot::channel();
    let completion = Completion { id: job.id, lease_token, outcome };
    if completions.send(Finished { completion, committed }).await.is_ok() {
        // Hold the slot until the commit, so per-owner limits count this job.
        let _ = done.await;
    }
}

async fn released(release: &mut watch::Receiver<bool>) {
    // Only the signal matters; the borrowed value must not live across an await.
    let _ = release.wait_for(|release| *release).await.map(|_| ());
}

/// Runs one attempt to an [`Outcome`], whatever the workflow does.
async fn execute(registry: &WorkflowRegistry, job: &Job) -> Outcome {
    let Some(workflow) = registry.get(&job.workflow) else {
        return Outcome::Failed {
            error: format!("unknown workflow `{}`", job.workflow),
            retryable: false,
            retry_after: None,
        };
    };
    let ctx = JobContext {
        job_id: job.id.clone(),
        owner: job.owner.clone(),
        workflow: job.workflow.clone(),
        payload: job.payload.clone(),
        attempt: job.attempts,
    };
    // `run` itself may panic before returning a future.
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| workflow.run(ctx))) {
        Ok(future) => future,
        Err(panic) => return panicked(panic.as_ref()),
    };
    let limit = Duration::from_secs(u64::from(job.timeout_s));
    match tokio::time::timeout(limit, AssertUnwindSafe(future).catch_unwind()).await {
        Err(_) => Outcome::Failed {
            error: format!("timed out after {} s", job.timeout_s),
            retryable: true,
            retry_after: None,
        },
        Ok(Err(panic)) => panicked(panic.as_ref()),
        Ok(Ok(Ok(result))) => Outcome::Succeeded(result),
        Ok(Ok(Err(e))) => Outcome::Failed { error: e.message, retryable: e.retryable, retry_after: e.retry_after },
    }
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> Outcome {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    Outcome::Failed { error: format!("the workflow panicked: {detail}"), retryable: true, retry_after: None }
}

/// Heartbeats until the lease is lost; never returns while it is held. A storage
/// error is not a loss: the next beat may succeed, and the lease covers the gap.
async fn keep_lease(shared: &Arc<Shared>, id: &JobId, token: &LeaseToken) {
    let every = shared.config.heartbeat_every.max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        let (queue, id, token) = (shared.queue.clone(), id.clone(), token.clone());
        let extend_to = shared.clock.now() + delta(shared.config.lease);
        let held = tokio::task::spawn_blocking(move || queue.heartbeat(&id, &token, extend_to)).await;
        if matches!(held, Ok(Ok(false))) {
            return;
        }
    }
}

/// Commits finished attempts in batches, then runs the finished hook. If the store
/// stays down, the leases expire and the sweeper hands the jobs out again.
async fn complete_in_batches(shared: Arc<Shared>, mut rx: mpsc::Receiver<Finished>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < COMPLETION_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let (completions, waiters): (Vec<_>, Vec<_>) = batch.into_iter().map(|f| (f.completion, f.committed)).unzip();
        let completions = Arc::new(completions);
        for pause_ms in [0u64, 50, 250, 1000] {
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            let (queue, list, policy) = (shared.queue.clone(), completions.clone(), shared.config.retry_policy.clone());
            let now = shared.clock.now();
            let result = tokio::task::spawn_blocking(move || queue.complete_batch(&list, &policy, now)).await;
            if let Ok(Ok(results)) = result {
                if let Some(hook) = &shared.config.on_finished {
                    for finished in &results {
                        if let FinishResult::Finished(job) = finished {
                            hook(job);
                        }
                    }
                }
                break;
            }
        }
        for waiter in waiters {
            let _ = waiter.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    use futures_util::FutureExt;
    use levqor_core::{SystemClock, UserId};
    use serde_json::{Value, json};

    use crate::job::JobState;
    use crate::memory::MemoryQueue;
    use crate::new_job::NewJob;
    use crate::retry::Jitter;
    use crate::workflow::{Echo, JobError, Workflow, WorkflowFuture};

    struct Panics;
    impl Workflow for Panics {
        fn name(&self) -> &str {
            "panics"
        }
        fn run(&self, _: JobContext) -> WorkflowFuture {
            async { panic!("kaboom") }.boxed()
        }
    }

    struct Sleeps;
    impl Workflow for Sleeps {
        fn name(&self) -> &str {
            "sleeps"
        }
        fn run(&self, _: JobContext) -> WorkflowFuture {
            async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<Value, JobError>(json!("woke"))
            }
            .boxed()
        }
    }

    fn registry() -> Arc<WorkflowRegistry> {
        let mut registry = WorkflowRegistry::new();
        registry.register(Arc::new(Echo)).unwrap();
        registry.register(Arc::new(Panics)).unwrap();
        registry.register(Arc::new(Sleeps)).unwrap();
        Arc::new(registry)
    }

    fn config(hook: Option<FinishedHook>) -> WorkerConfig {
        WorkerConfig {
            concurrency: 8,
            claim_batch: 16,
            heartbeat_every: Duration::from_millis(50),
            poll_interval: Duration::from_millis(20),
            retry_policy: RetryPolicy {
                base: Duration::from_millis(5),
                jitter: Jitter::None,
                ..RetryPolicy::default()
            },
            shutdown_grace: Duration::from_millis(200),
            on_finished: hook,
            ..WorkerConfig::default()
        }
    }

    fn job(owner: &UserId, workflow: &str, max_attempts: u32, timeout_s: u32) -> NewJob {
        let now = SystemClock.now();
        NewJob {
            id: crate::id::JobId::new(),
            owner: owner.clone(),
            workflow: workflow.into(),
            payload: json!({"hello": workflow}),
            priority: crate::job::Priority::Normal,
            max_attempts,
            timeout_s,
            run_at: now,
            callback_url: None,
            created_at: now,
        }
    }

    async fn wait_for(queue: &MemoryQueue, id: &JobId, state: JobState) -> Job {
        for _ in 0..500 {
            let job = queue.get(id).unwrap().unwrap();
            if job.state == state {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job never reached {state}");
    }

    /// With one owner capped at one running job and a poll interval far longer than
    /// the test may take, the pool must still move on as soon as each job ends.
    #[tokio::test]
    async fn a_freed_owner_slot_is_used_without_waiting_for_the_poll() {
        let queue = Arc::new(MemoryQueue::new());
        let owner = UserId::new();
        let batch: Vec<NewJob> = (0..20).map(|_| job(&owner, "echo", 3, 10)).collect();
        queue.enqueue_batch(&batch).unwrap();
        let shutdown = Shutdown::new();
        let config =
            WorkerConfig { per_owner_limit: Some(1), poll_interval: Duration::from_secs(3600), ..config(None) };
        let pool = WorkerPool::start(queue.clone(), registry(), config, Arc::new(SystemClock), shutdown.clone());
        for new in &batch {
            wait_for(&queue, &new.id, JobState::Succeeded).await;
        }
        shutdown.trigger();
        pool.join().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_pools_run_500_echo_jobs_exactly_once() {
        let queue = Arc::new(MemoryQueue::new());
        let seen: Arc<Mutex<HashMap<JobId, u32>>> = Arc::default();
        let hook: FinishedHook = {
            let seen = seen.clone();
            Arc::new(move |job: &Job| *seen.lock().unwrap().entry(job.id.clone()).or_default() += 1)
        };
        let shutdown = Shutdown::new();
        let pools: Vec<WorkerPool> = (0..2)
            .map(|_| {
                WorkerPool::start(
                    queue.clone(),
                    registry(),
                    config(Some(hook.clone())),
                    Arc::new(SystemClock),
                    shutdown.clone(),
                )
            })
            .collect();

        let owner = UserId::new();
        let batch: Vec<NewJob> = (0..500).map(|_| job(&owner, "echo", 3, 10)).collect();
        queue.enqueue_batch(&batch).unwrap();
        pools.iter().for_each(|p| p.waker().wake());

        for _ in 0..1000 {
            if seen.lock().unwrap().len() == 500 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shutdown.trigger();
        for pool in pools {
            pool.join().await;
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 500);
        assert!(seen.values().all(|n| *n == 1), "a job finished twice");
        for new in &batch {
            let stored = queue.get(&new.id).unwrap().unwrap();
            assert_eq!((stored.state, stored.attempts), (JobState::Succeeded, 1));
            assert_eq!(stored.result, Some(new.payload.clone()));
        }
    }

    #[tokio::test]
    async fn a_panicking_workflow_fails_then_dies_and_the_pool_lives_on() {
        let queue = Arc::new(MemoryQueue::new());
        let shutdown = Shutdown::new();
        let pool = WorkerPool::start(queue.clone(), registry(), config(None), Arc::new(SystemClock), shutdown.clone());
        let owner = UserId::new();
        let bad = queue.enqueue(&job(&owner, "panics", 2, 10)).unwrap();
        pool.waker().wake();
        let dead = wait_for(&queue, &bad.id, JobState::Dead).await;
        assert_eq!(dead.attempts, 2);
        assert!(dead.error.unwrap().contains("kaboom"));

        let good = queue.enqueue(&job(&owner, "echo", 1, 10)).unwrap();
        pool.waker().wake();
        wait_for(&queue, &good.id, JobState::Succeeded).await;
        shutdown.trigger();
        pool.join().await;
    }

    #[tokio::test]
    async fn a_timeout_fails_the_attempt() {
        let queue = Arc::new(MemoryQueue::new());
        let shutdown = Shutdown::new();
        let pool = WorkerPool::start(queue.clone(), registry(), config(None), Arc::new(SystemClock), shutdown.clone());
        let slow = queue.enqueue(&job(&UserId::new(), "sleeps", 1, 1)).unwrap();
        pool.waker().wake();
        let dead = wait_for(&queue, &slow.id, JobState::Dead).await;
        assert_eq!(dead.error.as_deref(), Some("timed out after 1 s"));
        shutdown.trigger();
        pool.join().await;
    }

    #[tokio::test]
    async fn unknown_workflows_die_at_once() {
        let queue = Arc::new(MemoryQueue::new());
        let shutdown = Shutdown::new();
        let pool = WorkerPool::start(queue.clone(), registry(), config(None), Arc::new(SystemClock), shutdown.clone());
        let lost = queue.enqueue(&job(&UserId::new(), "gone", 3, 10)).unwrap();
        pool.waker().wake();
        let dead = wait_for(&queue, &lost.id, JobState::Dead).await;
        assert_eq!(dead.attempts, 1);
        shutdown.trigger();
        pool.join().await;
    }

    #[tokio::test]
    async fn cancelling_a_running_job_stops_the_worker_on_it() {
        let queue = Arc::new(MemoryQueue::new());
        let shutdown = Shutdown::new();
        let pool = WorkerPool::start(queue.clone(), registry(), config(None), Arc::new(SystemClock), shutdown.clone());
        let owner = UserId::new();
        let slow = queue.enqueue(&job(&owner, "sleeps", 1, 60)).unwrap();
        pool.waker().wake();
        wait_for(&queue, &slow.id, JobState::Running).await;
        queue.cancel(&owner, &slow.id, SystemClock.now()).unwrap();
        // The next heartbeat is refused; the pool frees the slot and shuts down promptly.
        tokio::time::sleep(Duration::from_millis(150)).await;
        shutdown.trigger();
        tokio::time::timeout(Duration::from_millis(150), pool.join()).await.unwrap();
        assert_eq!(queue.get(&slow.id).unwrap().unwrap().state, JobState::Cancelled);
    }

    #[tokio::test]
    async fn shutdown_releases_what_it_cannot_finish() {
        let queue = Arc::new(MemoryQueue::new());
        let shutdown = Shutdown::new();
        let pool = WorkerPool::start(queue.clone(), registry(), config(None), Arc::new(SystemClock), shutdown.clone());
        let slow = queue.enqueue(&job(&UserId::new(), "sleeps", 3, 60)).unwrap();
        pool.waker().wake();
        wait_for(&queue, &slow.id, JobState::Running).await;
        shutdown.trigger();
        pool.join().await;
        let back = queue.get(&slow.id).unwrap().unwrap();
        assert_eq!((back.state, back.attempts, back.lease_token), (JobState::Queued, 0, None));
    }
}
