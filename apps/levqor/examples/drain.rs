//! Drain benchmark without HTTP: enqueues `N` echo jobs straight into a fresh
//! SQLite (or `DATABASE_URL`) store, then runs a worker pool like `levqor serve`'s
//! until every job succeeded, and prints jobs/s.
//!
//! `cargo run --release -p levqor --example drain -- 50000 256`

use std::sync::Arc;
use std::time::{Duration, Instant};

use levqor_core::{Clock, SystemClock, UserId};
use levqor_jobs::{Echo, IntakeRequest, JobQueue, NewJob, Shutdown, WorkerConfig, WorkerPool, WorkflowRegistry};
use levqor_store::{Store, StoreOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().map_or(Ok(50_000), |n| n.parse())?;
    let workers: usize = args.next().map_or(Ok(256), |n| n.parse())?;
    let dir = tempfile::tempdir()?;
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| format!("sqlite://{}/drain.db", dir.path().display()));
    let store = Store::open(&url, &StoreOptions::default())?;
    store.migrate()?;

    let owner = UserId::new();
    let now = SystemClock.now();
    let batch: Vec<NewJob> = (0..jobs)
        .map(|n| {
            let request: IntakeRequest =
                serde_json::from_value(serde_json::json!({"workflow": "echo", "payload": {"n": n}}))?;
            NewJob::from_intake(owner.clone(), request, now, &|_| true).map_err(|p| format!("{p:?}").into())
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    for chunk in batch.chunks(5_000) {
        store.enqueue_batch(chunk)?;
    }

    let mut registry = WorkflowRegistry::new();
    registry.register(Arc::new(Echo))?;
    let config = WorkerConfig {
        concurrency: workers,
        claim_batch: u32::try_from(workers.min(256))?,
        per_owner_limit: Some(u32::try_from(workers)?),
        ..WorkerConfig::default()
    };
    let queue: Arc<dyn JobQueue> = Arc::new(store.clone());
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let pool = WorkerPool::start(queue.clone(), Arc::new(registry), config, Arc::new(SystemClock), shutdown.clone());
    loop {
        let counts = queue.counts(SystemClock.now())?;
        if counts.queued == 0 && counts.running == 0 && counts.failed == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    shutdown.trigger();
    pool.join().await;
    println!("{jobs} jobs with {workers} workers in {elapsed:.2} s: {:.0} jobs/s", jobs as f64 / elapsed);
    Ok(())
}
