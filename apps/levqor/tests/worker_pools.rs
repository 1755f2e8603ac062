//! Two worker pools, each with its own connection pool (as two `levqor worker`
//! processes would have), share one database: 2,000 jobs, each run and succeeded
//! exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use levqor_core::{Clock, SystemClock, UserId};
use levqor_jobs::workflow::WorkflowFuture;
use levqor_jobs::{
    IntakeRequest, JobContext, JobQueue, JobState, NewJob, Shutdown, WorkerConfig, WorkerPool, Workflow,
    WorkflowRegistry,
};
use levqor_store::testing::TestDb;
use levqor_store::{Store, StoreOptions};

const JOBS: usize = 2_000;

/// Counts how often each job ran.
struct Counting(Arc<Mutex<HashMap<String, u32>>>);

impl Workflow for Counting {
    fn name(&self) -> &str {
        "count"
    }

    fn run(&self, ctx: JobContext) -> WorkflowFuture {
        *self.0.lock().unwrap().entry(ctx.job_id.to_string()).or_default() += 1;
        Box::pin(async move { Ok(serde_json::json!({"ran": true})) })
    }
}

async fn two_pools_share_one_queue(db: TestDb) {
    let runs = Arc::new(Mutex::new(HashMap::new()));
    let mut registry = WorkflowRegistry::new();
    registry.register(Arc::new(Counting(runs.clone()))).unwrap();
    let registry = Arc::new(registry);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    // Several owners, so the per-owner limit is exercised too.
    let owners: Vec<UserId> = (0..4).map(|_| UserId::new()).collect();
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|n| {
            let request: IntakeRequest =
                serde_json::from_value(serde_json::json!({"workflow": "count", "payload": {"n": n}})).unwrap();
            NewJob::from_intake(owners[n % owners.len()].clone(), request, clock.now(), &|_| true).unwrap()
        })
        .collect();
    db.store.enqueue_batch(&jobs).unwrap();

    let shutdown = Shutdown::new();
    let pools: Vec<WorkerPool> = (0..2)
        .map(|n| {
            let store = Store::open(db.url(), &StoreOptions { max_connections: 4, ..StoreOptions::default() }).unwrap();
            let config = WorkerConfig {
                worker_id: format!("pool-{n}"),
                concurrency: 32,
                claim_batch: 32,
                per_owner_limit: Some(16),
                poll_interval: Duration::from_millis(20),
                ..WorkerConfig::default()
            };
            WorkerPool::start(Arc::new(store), registry.clone(), config, clock.clone(), shutdown.clone())
        })
        .collect();

    let started = Instant::now();
    loop {
        let counts = db.store.counts(clock.now()).unwrap();
        if counts.succeeded as usize == JOBS {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "not done in time: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.trigger();
    for pool in pools {
        pool.join().await;
    }

    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), JOBS, "some jobs never ran");
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "jobs ran more than once: {twice:?}");
    for job in &jobs {
        let stored = db.store.get(&job.id).unwrap().unwrap();
        assert_eq!(stored.state, JobState::Succeeded);
        assert_eq!(stored.attempts, 1);
    }
}

#[actix_web::test]
async fn sqlite_two_pools_2000_jobs_exactly_once() {
    two_pools_share_one_queue(TestDb::sqlite()).await;
}

#[actix_web::test]
async fn postgres_two_pools_2000_jobs_exactly_once() {
    if let Some(db) = TestDb::postgres("worker_pools::postgres_two_pools_2000_jobs_exactly_once") {
        two_pools_share_one_queue(db).await;
    }
}
