//! Cross-process wake-ups on PostgreSQL: a write that makes jobs claimable sends
//! `NOTIFY levqor_jobs` in its transaction (delivered at commit), and every
//! process with workers listens on a connection of its own, so an intake in one
//! process wakes idle workers in all of them instead of their next poll.
//!
//! libpq delivers notifications to a connection only when it reads from its
//! socket, and Diesel does not expose the socket to wait on; the listener reads
//! (a non-blocking `PQconsumeInput`) every [`POLL`], which bounds the wake-up
//! delay at a few milliseconds for one cheap system call each time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use levqor_core::StorageError;

use crate::connection::{DbConnection, Store};
use crate::error::db_error;

const CHANNEL: &str = "levqor_jobs";

/// How often the listener reads its socket.
pub const POLL: Duration = Duration::from_millis(2);

/// How long the listener waits before connecting again after losing its connection.
const RECONNECT: Duration = Duration::from_secs(1);

/// Tells the other processes' listeners that jobs may be claimable (PostgreSQL;
/// nothing on SQLite, where one process's own waker is all there is).
pub(crate) fn notify_jobs(conn: &mut DbConnection) -> Result<(), StorageError> {
    if let DbConnection::Pg(pg) = conn {
        diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(pg).map_err(db_error)?;
    }
    Ok(())
}

/// The listening thread; dropping it stops the thread.
pub struct JobListener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for JobListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Store {
    /// On PostgreSQL, calls `on_jobs` whenever any process commits claimable
    /// jobs; `None` on SQLite. Reconnects by itself after a lost connection (a
    /// wake-up missed meanwhile is caught by the workers' own poll).
    pub fn listen_for_jobs(&self, on_jobs: impl Fn() + Send + 'static) -> Option<JobListener> {
        let url = self.pg_url()?.to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("levqor-job-listener".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    if listen(&url, &stopped, &on_jobs).is_err() {
                        std::thread::sleep(RECONNECT);
                    }
                }
            })
            .ok()?;
        Some(JobListener { stop, thread: Some(thread) })
    }
}

fn listen(url: &str, stop: &AtomicBool, on_jobs: &impl Fn()) -> Result<(), diesel::result::Error> {
    let mut conn = PgConnection::establish(url).map_err(|e| {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::Unknown, Box::new(e.to_string()))
    })?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    // Jobs committed while nobody listened: look once.
    on_jobs();
    while !stop.load(Ordering::Relaxed) {
        let mut woken = false;
        for notification in conn.notifications_iter() {
            notification?;
            woken = true;
        }
        if woken {
            on_jobs();
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}
