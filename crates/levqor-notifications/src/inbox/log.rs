//! An append-only JSON Lines file: each record one line, fsynced before the
//! append returns, the file 0600, rotated by size (`name.1` is the newest old
//! file, up to `name.<keep>`), with a count of today's (UTC) records kept in
//! memory and recovered at start from the end of the files alone.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::NaiveDate;
use levqor_core::Timestamp;

#[derive(Debug)]
struct Today {
    day: NaiveDate,
    count: u64,
}

#[derive(Debug)]
pub struct JsonlLog {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    /// One appender at a time, so a rotation never splits a record.
    today: Mutex<Today>,
}

impl JsonlLog {
    /// Opens (creating as 0600) `dir/name` and counts today's records, reading
    /// backwards from the end only as far as today goes.
    pub fn open(dir: &Path, name: &str, max_bytes: u64, keep: u32, now: Timestamp) -> std::io::Result<Self> {
        levqor_core::private_fs::create_dir_all(dir)?;
        let path = dir.join(name);
        levqor_core::private_fs::ensure_file(&path)?;
        let day = now.date_naive();
        let log = Self {
            path,
            max_bytes: max_bytes.max(1024),
            keep: keep.max(1),
            today: Mutex::new(Today { day, count: 0 }),
        };
        let count = log.recover_count(day)?;
        log.lock().count = count;
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Today> {
        self.today.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `record` (one JSON object, whose `ts` must be `now`) and fsyncs it.
    pub fn append(&self, record: &serde_json::Value, now: Timestamp) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut today = self.lock();
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let mut file = levqor_core::private_fs::options().create(true).append(true).open(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()?;
        let day = now.date_naive();
        if today.day != day {
            *today = Today { day, count: 0 };
        }
        today.count += 1;
        Ok(())
    }

    /// Records appended today (UTC) across the current and rotated files.
    pub fn today(&self, now: Timestamp) -> u64 {
        let today = self.lock();
        if today.day == now.date_naive() { today.count } else { 0 }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(format!(".{n}"));
        self.path.with_file_name(name)
    }

    /// `name.<keep-1>` → `name.<keep>` … `name` → `name.1`; the oldest is replaced.
    fn rotate(&self) -> std::io::Result<()> {
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        levqor_core::private_fs::ensure_file(&self.path)?;
        // The renames are durable only once the folder is synced.
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Counts records of `day` from the newest backwards, stopping at the first
    /// older one: records are appended in time order.
    fn recover_count(&self, day: NaiveDate) -> std::io::Result<u64> {
        let prefix = day.format("%Y-%m-%d").to_string();
        let mut count = 0;
        for path in std::iter::once(self.path.clone()).chain((1..=self.keep).map(|n| self.rotated(n))) {
            match count_tail(&path, &prefix)? {
                Tail::Reached(n) => return Ok(count + n),
                Tail::Whole(n) => count += n,
            }
        }
        Ok(count)
    }
}

enum Tail {
    /// Counted up to an older record: stop.
    Reached(u64),
    /// Every record in the file is of the day (or the file is missing): go on.
    Whole(u64),
}

const CHUNK: u64 = 64 * 1024;

fn count_tail(path: &Path, day_prefix: &str) -> std::io::Result<Tail> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tail::Whole(0)),
        Err(e) => return Err(e),
    };
    let mut end = file.metadata()?.len();
    let mut count = 0;
    // Bytes of a line cut by the chunk boundary, waiting for their start.
    let mut carry: Vec<u8> = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&carry);
        let mut lines: Vec<&[u8]> = chunk.split(|b| *b == b'\n').collect();
        // The first piece may be the tail of a line that starts in an earlier chunk.
        let first = if start > 0 { lines.remove(0).to_vec() } else { Vec::new() };
        for line in lines.iter().rev().filter(|l| !l.is_empty()) {
            match record_day_matches(line, day_prefix) {
                Some(true) => count += 1,
                Some(false) => return Ok(Tail::Reached(count)),
                None => {}
            }
        }
        carry = first;
        end = start;
    }
    Ok(Tail::Whole(count))
}

/// Whether the record's `ts` is on the day; `None` for a line that is not a record.
fn record_day_matches(line: &[u8], day_prefix: &str) -> Option<bool> {
    #[derive(serde::Deserialize)]
    struct Ts {
        ts: String,
    }
    let ts: Ts = serde_json::from_slice(line).ok()?;
    Some(ts.ts.starts_with(day_prefix))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn at(day: u32, hour: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2030, 1, day, hour, 0, 0).unwrap()
    }

    fn record(now: Timestamp, pad: usize) -> serde_json::Value {
        json!({"ts": now.to_rfc3339(), "message": "x".repeat(pad)})
    }

    #[test]
    fn appends_rotates_and_recovers_todays_count() {
        let dir = tempfile::tempdir().unwrap();
        let log = JsonlLog::open(dir.path(), "errors.jsonl", 4096, 3, at(1, 0)).unwrap();
        for _ in 0..30 {
            log.append(&record(at(1, 10), 300), at(1, 10)).unwrap();
        }
        for _ in 0..25 {
            log.append(&record(at(2, 1), 300), at(2, 1)).unwrap();
        }
        assert_eq!(log.today(at(2, 5)), 25);
        assert_eq!(log.today(at(3, 0)), 0, "a new day starts at zero");
        assert!(dir.path().join("errors.jsonl.1").exists());
        assert!(dir.path().join("errors.jsonl.3").exists());
        assert!(!dir.path().join("errors.jsonl.4").exists(), "only `keep` old files");
        // Every line of every file is one whole record.
        for name in ["errors.jsonl", "errors.jsonl.1", "errors.jsonl.2"] {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "{name}");
            assert!(std::fs::metadata(dir.path().join(name)).unwrap().len() <= 4096);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("errors.jsonl")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(log);
        // Today's 25 records span the current file and rotated ones.
        let reopened = JsonlLog::open(dir.path(), "errors.jsonl", 4096, 3, at(2, 6)).unwrap();
        assert_eq!(reopened.today(at(2, 6)), 25);
        let next_day = JsonlLog::open(dir.path(), "errors.jsonl", 4096, 3, at(3, 6)).unwrap();
        assert_eq!(next_day.today(at(3, 6)), 0);
    }

    #[test]
    fn recovery_reads_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let log = JsonlLog::open(dir.path(), "support.jsonl", 100 * 1024 * 1024, 2, at(1, 0)).unwrap();
        for n in 0..40 {
            log.append(&record(at(1, 1), 3000 + n), at(1, 1)).unwrap();
        }
        for n in 0..70 {
            log.append(&record(at(2, 1), 2000 + n * 7), at(2, 1)).unwrap();
        }
        let reopened = JsonlLog::open(dir.path(), "support.jsonl", 100 * 1024 * 1024, 2, at(2, 9)).unwrap();
        assert_eq!(reopened.today(at(2, 9)), 70);
    }
}
