//! Structured JSON logs on stderr: one line per record, written by slog-async's
//! logging thread into a buffer that is flushed at least every
//! [`FLUSH_INTERVAL`] and when the [`LogGuard`] drops, so a busy server makes a
//! few large writes instead of several system calls per line.
//!
//! A full channel is never silent: the record is dropped (a request never waits
//! on the log), the drop is counted ([`dropped_lines`], exported as
//! `levqor_log_lines_dropped_total`), and the next flush writes a warning line
//! with the count. Dropping rather than blocking because a stalled log consumer
//! (a full pipe) must not stall the API; the count makes the loss visible.

use std::io::{BufWriter, Write};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slog::{Drain, Never, OwnedKVList, Record};

/// The longest a written line waits in the buffer.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Records waiting for the logging thread before new ones are dropped.
const CHANNEL: usize = 16_384;

/// Log lines dropped because the logging thread fell behind, since start.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Log lines dropped since the process started.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Keep it alive until exit: dropping it writes every queued line and flushes.
pub struct LogGuard {
    async_guard: Option<slog_async::AsyncGuard>,
    flusher: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    out: SharedBuffer,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // First let the logging thread write what is queued, then stop the
        // flusher, then flush what is left.
        drop(self.async_guard.take());
        self.stop.store(true, Ordering::Relaxed);
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        self.out.flush_reporting_drops();
    }
}

/// A JSON logger at `level` on stderr.
pub fn json_logger(level: &str) -> (slog::Logger, LogGuard) {
    json_logger_to(std::io::stderr(), level, CHANNEL)
}

/// A JSON logger at `level` writing to `out` (tests pass their own writer).
pub fn json_logger_to<W: Write + Send + 'static>(out: W, level: &str, channel: usize) -> (slog::Logger, LogGuard) {
    let level = slog::Level::from_str(level).unwrap_or(slog::Level::Info);
    let out = SharedBuffer(Arc::new(Mutex::new(BufWriter::with_capacity(64 * 1024, Box::new(out)))));
    let json = slog_json::Json::new(out.clone()).add_default_keys().build().fuse();
    let (core, async_guard) = slog_async::AsyncCore::custom(json)
        .chan_size(channel)
        .blocking(false)
        .thread_name("levqor-log".into())
        .build_with_guard();
    let drain = slog::LevelFilter::new(Counted(core), level).fuse();
    let stop = Arc::new(AtomicBool::new(false));
    let flusher = {
        let (out, stop) = (out.clone(), stop.clone());
        std::thread::Builder::new()
            .name("levqor-log-flush".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(FLUSH_INTERVAL);
                    out.flush_reporting_drops();
                }
            })
            .ok()
    };
    let logger = slog::Logger::root(drain, slog::o!("service" => "levqor"));
    (logger, LogGuard { async_guard: Some(async_guard), flusher, stop, out })
}

/// A logger that drops everything (tests).
pub fn discard() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

/// Hands records to the logging thread; counts the ones that do not fit.
struct Counted(slog_async::AsyncCore);

impl Drain for Counted {
    type Ok = ();
    type Err = Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), Never> {
        if self.0.log(record, values).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The buffered output, shared by the logging thread (writes) and the flusher.
#[derive(Clone)]
struct SharedBuffer(Arc<Mutex<BufWriter<Box<dyn Write + Send>>>>);

/// Drops already reported in the log, so each warning says what is new.
static REPORTED: AtomicU64 = AtomicU64::new(0);

impl SharedBuffer {
    fn flush_reporting_drops(&self) {
        let Ok(mut out) = self.0.lock() else { return };
        let dropped = DROPPED.load(Ordering::Relaxed);
        let reported = REPORTED.swap(dropped, Ordering::Relaxed);
        if dropped > reported {
            let line = serde_json::json!({
                "msg": "log lines dropped: the logging thread fell behind",
                "level": "WARN",
                "ts": chrono::Utc::now().to_rfc3339(),
                "service": "levqor",
                "dropped": dropped - reported,
                "dropped_total": dropped,
            });
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("log buffer poisoned"))?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // slog_json asks for no flush per record; the flusher thread does it.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose bytes the test can read, optionally held up until released.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicU64>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.writes.fetch_add(1, Ordering::Relaxed);
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn lines(&self) -> Vec<serde_json::Value> {
            String::from_utf8_lossy(&self.bytes.lock().unwrap())
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    #[test]
    fn lines_are_written_in_few_large_writes_and_flushed_by_time_and_at_drop() {
        let sink = Sink::default();
        let (log, guard) = json_logger_to(sink.clone(), "info", 1024);
        for n in 0..200 {
            slog::info!(log, "request"; "n" => n, "path" => "/api/v1/intake");
        }
        // Without any flush call, the flusher writes them out within its interval.
        let requests = || sink.lines().iter().filter(|l| l["msg"] == "request").count();
        let mut waited = 0;
        while requests() < 200 && waited < 100 {
            std::thread::sleep(FLUSH_INTERVAL);
            waited += 1;
        }
        assert_eq!(requests(), 200);
        assert!(sink.writes.load(Ordering::Relaxed) < 20, "one write per flush, not per fragment");
        slog::info!(log, "last"; "n" => 200);
        drop(guard);
        let lines = sink.lines();
        assert_eq!(lines.last().unwrap()["msg"], "last", "the guard flushes what is left");
        let first = lines.iter().find(|l| l["msg"] == "request").unwrap();
        assert_eq!((first["n"].as_u64(), first["level"].as_str()), (Some(0), Some("INFO")));
    }

    #[test]
    fn a_full_channel_is_counted_and_reported() {
        let sink = Sink::default();
        let before = dropped_lines();
        let (log, guard) = json_logger_to(sink.clone(), "info", 2);
        // Hold the output: the logging thread blocks on its first write and the
        // two-record channel fills.
        let held = guard.out.0.lock().unwrap();
        for n in 0..100 {
            slog::info!(log, "flood"; "n" => n);
        }
        assert!(dropped_lines() - before > 0, "drops are counted");
        drop(held);
        drop(guard);
        let lines = sink.lines();
        let report = lines.iter().find(|l| l["msg"].as_str().is_some_and(|m| m.contains("dropped"))).unwrap();
        assert!(report["dropped"].as_u64().unwrap() > 0, "{report}");
        let kept = lines.iter().filter(|l| l["msg"] == "flood").count() as u64;
        assert!(kept < 100);
    }
}
