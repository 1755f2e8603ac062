//! The jobs side of a `levqor` process: the workflow registry, the group-commit
//! intake writer, the worker pool, the lease sweeper and the idempotency purge.

use std::sync::Arc;
use std::time::Duration;

use clokwerk::{AsyncScheduler, Interval};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use levqor_core::{Clock, StorageError, SystemClock};
use levqor_jobs::Intake;
use levqor_jobs::{
    CallbackConfig, CallbackSender, Echo, FinishedHook, HttpRequest, IdempotencyStore, Job, JobQueue, Shutdown,
    Sweeper, SweeperConfig, TargetPolicy, Waker, WorkerConfig, WorkerPool, WorkflowRegistry,
};
use levqor_notifications::{EmailSend, Transport};
use levqor_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::config::ServeSettings;
use crate::connectors::{ConnectorJob, Connectors};
use crate::services::billing::BillingService;
use crate::services::pipelines::{PipelineJob, PipelineService, release_hook};

/// How often credit reservations that outlived their run are released.
pub const RESERVATION_SWEEP_EVERY: Interval = Interval::Seconds(30);

/// How often `schedule` pipelines are checked, and the span of cron ticks each
/// check fires (longer than the period, so a slow check misses none; the claims
/// make the overlap harmless).
const SCHEDULE_EVERY: Interval = Interval::Seconds(20);
const SCHEDULE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Intakes committed together at most.
const MAX_BATCH: usize = 512;

pub fn registry(
    settings: &ServeSettings,
    connectors: &Connectors,
    pipelines: Arc<PipelineJob>,
    mail: Arc<Transport>,
) -> Result<WorkflowRegistry, String> {
    let mut registry = WorkflowRegistry::new();
    registry
        .register_internal(Arc::new(EmailSend::new(mail, settings.notify.email_max_attempts)))
        .map_err(|e| e.to_string())?;
    registry.register_prefix(levqor_pipelines::RUN_WORKFLOW_PREFIX, pipelines).map_err(|e| e.to_string())?;
    registry.register(Arc::new(ConnectorJob::new(connectors.clone()))).map_err(|e| e.to_string())?;
    registry.register(Arc::new(Echo)).map_err(|e| e.to_string())?;
    let http =
        HttpRequest::new(TargetPolicy { allow_private: settings.allow_private_targets }).map_err(|e| e.to_string())?;
    registry.register(Arc::new(http)).map_err(|e| e.to_string())?;
    Ok(registry)
}

struct Pending {
    intake: Intake,
    reply: oneshot::Sender<Result<Job, StorageError>>,
}

/// Hands each intake to one writer thread that commits whatever is waiting in one
/// transaction, then answers every waiting request: a batch of one under light load,
/// hundreds under heavy load. The caller's 202 waits for the commit. A plain thread
/// (not a task plus a blocking-pool hop per batch) saves two thread hand-offs per
/// batch on the hottest write path.
#[derive(Clone)]
pub struct IntakeWriter {
    tx: mpsc::Sender<Pending>,
}

impl IntakeWriter {
    pub fn start(store: Store, clock: Arc<dyn Clock>, waker: Option<Waker>) -> Result<Self, String> {
        let (tx, mut rx) = mpsc::channel::<Pending>(MAX_BATCH * 8);
        std::thread::Builder::new()
            .name("levqor-intake".into())
            .spawn(move || {
                // Ends when every sender is gone (the process is stopping).
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(more) => batch.push(more),
                            Err(_) => break,
                        }
                    }
                    let (intakes, replies): (Vec<Intake>, Vec<_>) =
                        batch.into_iter().map(|p| (p.intake, p.reply)).unzip();
                    let count = intakes.len();
                    // A panic must not end the thread: every later intake would fail.
                    let results =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit(&store, intakes, clock.now())))
                            .unwrap_or_else(|_| {
                                (0..count)
                                    .map(|_| Err(StorageError::Failure("the intake writer panicked".into())))
                                    .collect()
                            });
                    let mut any = false;
                    for (reply, result) in replies.into_iter().zip(results) {
                        any |= result.is_ok();
                        let _ = reply.send(result);
                    }
                    if let Some(waker) = waker.as_ref().filter(|_| any) {
                        waker.wake();
                    }
                }
            })
            .map_err(|e| format!("cannot start the intake writer: {e}"))?;
        Ok(Self { tx })
    }

    /// Store one intake durably; returns once it is committed.
    pub async fn submit(&self, intake: Intake) -> Result<Job, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { intake, reply })
            .await
            .map_err(|_| StorageError::Unavailable("intake writer stopped".into()))?;
        answer.await.map_err(|_| StorageError::Unavailable("intake writer stopped".into()))?
    }
}

/// One transaction for the batch; if it fails, each intake alone, so one bad row
/// cannot fail its neighbours.
fn commit(store: &Store, intakes: Vec<Intake>, now: levqor_core::Timestamp) -> Vec<Result<Job, StorageError>> {
    match store.intake_batch(&intakes, now) {
        Ok(jobs) => jobs.into_iter().map(Ok).collect(),
        Err(e) if intakes.len() == 1 => vec![Err(e)],
        Err(_) => intakes
            .into_iter()
            .map(|intake| {
                store
                    .intake_batch(std::slice::from_ref(&intake), now)
                    .and_then(|mut j| j.pop().ok_or_else(|| StorageError::Failure("no job stored".into())))
            })
            .collect(),
    }
}

/// What runs in the background of `levqor serve` and `levqor worker`.
pub struct JobsRuntime {
    pub registry: Arc<WorkflowRegistry>,
    pub connectors: Connectors,
    pub waker: Option<Waker>,
    pub intake: IntakeWriter,
    /// Where `email.send` jobs deliver.
    pub mail: Arc<Transport>,
    shutdown: Shutdown,
    pool: Option<WorkerPool>,
    /// PostgreSQL: other processes' intakes wake this process's idle workers.
    listener: Option<levqor_store::JobListener>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl JobsRuntime {
    /// Starts the pool (unless `settings.workers` is 0), the sweeper and the purge.
    pub fn start(
        store: &Store,
        settings: &ServeSettings,
        secret: &[u8],
        billing: Arc<BillingService>,
        log: slog::Logger,
    ) -> Result<Self, String> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let connectors = Connectors::build(store, settings, secret)?;
        let pipelines = Arc::new(PipelineJob::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            connectors.clone(),
            crate::wiring::cost_rules(settings),
            clock.clone(),
            log.clone(),
        ));
        let mail = Arc::new(
            Transport::build(&settings.notify.transport(), &settings.billing.email_from, &settings.store.data_dir)
                .map_err(|e| e.to_string())?,
        );
        let registry = Arc::new(registry(settings, &connectors, pipelines, mail.clone())?);
        let queue: Arc<dyn JobQueue> = Arc::new(store.clone());
        let shutdown = Shutdown::new();
        let targets = TargetPolicy { allow_private: settings.allow_private_targets };
        let callbacks = CallbackSender::new(CallbackConfig::new(secret.to_vec(), targets), clock.clone())
            .map_err(|e| e.to_string())?;

        let release = release_hook(Arc::new(store.clone()), Arc::new(store.clone()), clock.clone(), log.clone());
        // Jobs end in a worker or, when their last lease expires, in the sweeper:
        // both report them the same way.
        let on_finished = both(both(callbacks.hook(), release), crate::ops::metrics::job_finished_hook());
        // One id per process start: its lease tokens carry it, and its sweeper
        // heartbeats it, so other processes rescue its jobs soon after a crash.
        let worker_id = format!("worker-{}", uuid::Uuid::now_v7().simple());
        let pool = (settings.workers > 0).then(|| {
            let config = WorkerConfig {
                worker_id: worker_id.clone(),
                concurrency: settings.workers,
                claim_batch: u32::try_from(settings.workers.min(256)).unwrap_or(256),
                per_owner_limit: Some(settings.owner_limit()),
                lease: Duration::from_secs(settings.lease_s),
                heartbeat_every: Duration::from_secs(settings.lease_s).div_f64(3.0),
                on_finished: Some(on_finished.clone()),
                ..WorkerConfig::default()
            };
            WorkerPool::start(queue.clone(), registry.clone(), config, clock.clone(), shutdown.clone())
        });
        let waker = pool.as_ref().map(WorkerPool::waker);
        let sweeper = SweeperConfig {
            every: Duration::from_secs(settings.lease_s.div_ceil(4).clamp(1, 2)),
            on_finished: Some(on_finished),
            worker: pool.is_some().then_some(worker_id),
            ..SweeperConfig::default()
        };
        let mut maintenance = AsyncScheduler::with_tz(chrono::Utc);
        maintenance.every(Interval::Minutes(10)).run(purge_idempotency(store.clone(), clock.clone(), log.clone()));
        maintenance.every(RESERVATION_SWEEP_EVERY).run(sweep_reservations(billing, log));
        let background = vec![
            Sweeper::start(queue, sweeper, clock.clone(), shutdown.clone(), waker.clone()),
            run_periodic(maintenance, shutdown.clone()),
        ];
        let intake = IntakeWriter::start(store.clone(), clock, waker.clone())?;
        let listener = waker.clone().and_then(|waker| store.listen_for_jobs(move || waker.wake()));
        Ok(Self { registry, connectors, waker, intake, mail, shutdown, pool, listener, background })
    }

    /// Fires `schedule` pipelines on their cron from this process (when it runs
    /// workers); instances share the once-per-tick claims, so each tick starts
    /// one run whatever the number of processes.
    pub fn start_scheduler(&mut self, pipelines: Arc<PipelineService>, log: slog::Logger) {
        if self.pool.is_none() {
            return;
        }
        let mut schedules = AsyncScheduler::with_tz(chrono::Utc);
        let (registry, p, l) = (self.registry.clone(), pipelines.clone(), log.clone());
        schedules.every(SCHEDULE_EVERY).run(move || fire_schedules(p.clone(), registry.clone(), l.clone()));
        schedules.every(Interval::Hours(1)).run(move || {
            let (p, log) = (pipelines.clone(), log.clone());
            async move {
                let before = SystemClock.now() - chrono::TimeDelta::days(2);
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || p.purge_ticks(before)).await {
                    slog::warn!(log, "purging old schedule claims failed"; "error" => %e);
                }
            }
        });
        self.background.push(run_periodic(schedules, self.shutdown.clone()));
    }

    /// Runs a background task of another area until this runtime stops; `start`
    /// gets the shutdown signal to watch.
    pub fn add_background(&mut self, start: impl FnOnce(Shutdown) -> tokio::task::JoinHandle<()>) {
        self.background.push(start(self.shutdown.clone()));
    }

    /// Stop claiming, let running jobs finish (or release them), stop the rest.
    pub async fn stop(self) {
        self.shutdown.trigger();
        drop(self.listener);
        if let Some(pool) = self.pool {
            pool.join().await;
        }
        for task in self.background {
            let _ = task.await;
        }
    }
}

/// Runs `scheduler`'s due tasks until `shutdown` (a task in progress then
/// finishes first).
fn run_periodic(mut scheduler: AsyncScheduler<chrono::Utc>, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            scheduler.run_pending().await;
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                () = shutdown.wait() => break,
            }
        }
    })
}

async fn fire_schedules(pipelines: Arc<PipelineService>, registry: Arc<WorkflowRegistry>, log: slog::Logger) {
    let known = |w: &str| registry.contains(w);
    match pipelines.fire_schedules(SystemClock.now(), SCHEDULE_WINDOW, &known).await {
        Ok((started, problems)) => {
            if !started.is_empty() {
                slog::info!(log, "scheduled pipeline runs started"; "count" => started.len());
            }
            for problem in problems {
                slog::warn!(log, "a scheduled pipeline run did not start"; "problem" => problem);
            }
        }
        Err(e) => slog::warn!(log, "the pipeline scheduler failed"; "error" => %e),
    }
}

/// Forgets `Idempotency-Key` records past their 24 h.
fn purge_idempotency(
    store: Store,
    clock: Arc<dyn Clock>,
    log: slog::Logger,
) -> impl FnMut() -> BoxFuture<'static, ()> + Send + 'static {
    move || {
        let (s, now, log) = (store.clone(), clock.now(), log.clone());
        async move {
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.purge_expired(now)).await {
                slog::warn!(log, "idempotency purge failed"; "error" => %e);
            }
        }
        .boxed()
    }
}

/// Releases credit reservations that were never settled (a run that died), so held
/// credits come back; each is released once, whichever process sweeps first.
fn sweep_reservations(
    billing: Arc<BillingService>,
    log: slog::Logger,
) -> impl FnMut() -> BoxFuture<'static, ()> + Send + 'static {
    move || {
        let (b, log) = (billing.clone(), log.clone());
        async move {
            match tokio::task::spawn_blocking(move || b.sweep_reservations()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => slog::info!(log, "released expired credit reservations"; "count" => n),
                Ok(Err(e)) => slog::warn!(log, "credit reservation sweep failed"; "error" => %e),
                Err(e) => slog::warn!(log, "credit reservation sweep failed"; "error" => %e),
            }
        }
        .boxed()
    }
}

/// Calls `first`, then `second`, for every finished job.
fn both(first: FinishedHook, second: FinishedHook) -> FinishedHook {
    Arc::new(move |job: &Job| {
        first(job);
        second(job);
    })
}
