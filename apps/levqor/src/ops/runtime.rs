//! The operations scheduler of `levqor serve`: the daily backup (once per UTC day
//! across instances), the activity-log purge, and a heartbeat for `/status`.
//! Each task run writes one activity-log row.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clokwerk::{AsyncScheduler, Interval, Job as _};
use levqor_core::{Clock, SystemClock};
use levqor_store::{ActivityRecord, Outcome, Store};

use super::{Heartbeat, metrics};

pub const BACKUP_TASK: &str = "backup";
pub const ACTIVITY_PURGE_TASK: &str = "activity_purge";
/// Activity older than this is forgotten.
const ACTIVITY_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(90);

/// What the scheduled backup needs.
#[derive(Clone)]
pub struct BackupPlan {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub keep: u32,
    pub at: (u32, u32),
}

/// Runs `task` on the blocking pool and records its run in the activity log.
async fn logged<F>(store: Store, name: &'static str, log: slog::Logger, task: F)
where
    F: FnOnce(&Store) -> Result<Option<String>, String> + Send + 'static,
{
    let started = SystemClock.now();
    let s = store.clone();
    let result = tokio::task::spawn_blocking(move || task(&s)).await.unwrap_or_else(|e| Err(e.to_string()));
    let (outcome, detail) = match result {
        Ok(Some(detail)) => (Outcome::Ok, detail),
        Ok(None) => (Outcome::Skipped, "another instance ran it".to_owned()),
        Err(e) => (Outcome::Failed, e),
    };
    if outcome == Outcome::Failed {
        slog::warn!(log, "scheduled task failed"; "task" => name, "error" => &detail);
    } else {
        slog::info!(log, "scheduled task ran"; "task" => name, "outcome" => outcome.as_str(), "detail" => &detail);
    }
    let record =
        ActivityRecord { task: name.to_owned(), started_at: started, finished_at: SystemClock.now(), outcome, detail };
    if let Err(e) = tokio::task::spawn_blocking(move || store.record_activity(&record))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        slog::warn!(log, "cannot write the activity log"; "task" => name, "error" => e);
    }
}

/// The daily backup: claims today's run (so one instance takes it), backs up,
/// verifies and prunes.
pub fn backup_once(store: &Store, plan: &BackupPlan) -> Result<Option<String>, String> {
    let now = SystemClock.now();
    let day = now.format("%Y-%m-%d").to_string();
    if !store.claim_task(BACKUP_TASK, &day, now).map_err(|e| e.to_string())? {
        return Ok(None);
    }
    let taken = super::backup::run(store, &plan.database_url, &plan.data_dir, plan.keep, now, &|_| {});
    let outcome = if taken.is_ok() { "ok" } else { "failed" };
    if metrics::handle().is_some() {
        ::metrics::counter!(metrics::BACKUPS, "outcome" => outcome).increment(1);
    }
    taken.map(|t| Some(t.summary()))
}

/// Starts the scheduler; it stops with `shutdown`.
pub fn start(
    store: Store,
    plan: BackupPlan,
    heartbeat: Heartbeat,
    log: slog::Logger,
    shutdown: levqor_jobs::Shutdown,
) -> tokio::task::JoinHandle<()> {
    let mut scheduler = AsyncScheduler::with_tz(chrono::Utc);
    let (s, l, p) = (store.clone(), log.clone(), Arc::new(plan.clone()));
    let (h, m) = plan.at;
    scheduler.every(Interval::Days(1)).at(&format!("{h:02}:{m:02}")).run(move || {
        let (s, l, p) = (s.clone(), l.clone(), p.clone());
        logged(s, BACKUP_TASK, l, move |store| backup_once(store, &p))
    });
    let (s, l) = (store, log);
    scheduler.every(Interval::Hours(6)).run(move || {
        let (s, l) = (s.clone(), l.clone());
        logged(s, ACTIVITY_PURGE_TASK, l, |store| {
            let n = store.purge_activity(SystemClock.now() - ACTIVITY_KEPT).map_err(|e| e.to_string())?;
            Ok(Some(format!("forgot {n} activity rows older than 90 days")))
        })
    });
    heartbeat.beat(SystemClock.now());
    tokio::spawn(async move {
        loop {
            scheduler.run_pending().await;
            heartbeat.beat(SystemClock.now());
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                () = shutdown.wait() => break,
            }
        }
    })
}
