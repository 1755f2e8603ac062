//! Backups into `<data dir>/backups`: an SQLite online copy verified against the
//! live database, or `pg_dump` on PostgreSQL when it is installed; the oldest are
//! pruned beyond `BACKUP_KEEP`.

use std::path::{Path, PathBuf};
use std::process::Command;

use levqor_core::Timestamp;
use levqor_store::backup::Step;
use levqor_store::{Backend, Store};

pub const DIR: &str = "backups";
const PREFIX: &str = "levqor-";

/// A backup taken and checked.
#[derive(Debug, Clone)]
pub struct Taken {
    pub path: PathBuf,
    pub bytes: u64,
    /// Rows per table (on SQLite equal in the copy and the live database).
    pub tables: Vec<(String, i64)>,
    pub pruned: Vec<PathBuf>,
}

impl Taken {
    pub fn summary(&self) -> String {
        let rows: i64 = self.tables.iter().map(|(_, n)| n).sum();
        format!(
            "{} ({} bytes, {} tables, {rows} rows); pruned {}",
            self.path.display(),
            self.bytes,
            self.tables.len(),
            self.pruned.len()
        )
    }
}

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR)
}

/// `levqor-20261130T030000Z.db` (`.dump` for a PostgreSQL custom-format dump).
pub fn file_name(at: Timestamp, backend: Backend) -> String {
    let ext = if backend == Backend::Postgres { "dump" } else { "db" };
    format!("{PREFIX}{}.{ext}", at.format("%Y%m%dT%H%M%SZ"))
}

/// `pg_dump` on the `PATH`, if any.
pub fn pg_dump() -> Option<PathBuf> {
    find_program("pg_dump")
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Takes one backup now, verifies it, and prunes the oldest beyond `keep`.
pub fn run(
    store: &Store,
    database_url: &str,
    data_dir: &Path,
    keep: u32,
    now: Timestamp,
    progress: &dyn Fn(Step),
) -> Result<Taken, String> {
    let dir = dir(data_dir);
    levqor_core::private_fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(file_name(now, store.backend()));
    let (bytes, tables) = match store.backend() {
        Backend::Sqlite => {
            let report = store.backup_sqlite(&path, progress).map_err(|e| e.to_string())?;
            (report.bytes, report.tables)
        }
        Backend::Postgres => dump_postgres(store, database_url, &path, progress)?,
    };
    let pruned = prune(&dir, keep).map_err(|e| format!("backup taken, but pruning failed: {e}"))?;
    Ok(Taken { path, bytes, tables, pruned })
}

fn dump_postgres(
    store: &Store,
    database_url: &str,
    path: &Path,
    progress: &dyn Fn(Step),
) -> Result<(u64, Vec<(String, i64)>), String> {
    let pg_dump = pg_dump().ok_or("pg_dump is not installed: PostgreSQL backups are not taken")?;
    progress(Step::Copying);
    // Created 0600 first; pg_dump truncates and keeps the mode.
    drop(levqor_core::private_fs::create_new(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?);
    let out = Command::new(pg_dump)
        .arg("--format=custom")
        .arg(format!("--file={}", path.display()))
        .arg(format!("--dbname={database_url}"))
        .output()
        .map_err(|e| format!("cannot run pg_dump: {e}"));
    let failed = |why: String| {
        let _ = std::fs::remove_file(path);
        why
    };
    let out = out.map_err(failed)?;
    if !out.status.success() {
        return Err(failed(format!("pg_dump failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    progress(Step::CheckingIntegrity);
    // The archive's table of contents must read back.
    if let Some(pg_restore) = find_program("pg_restore") {
        let listed = Command::new(pg_restore).arg("--list").arg(path).output().map_err(|e| e.to_string());
        match listed {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(failed(format!("the dump does not read back: {}", String::from_utf8_lossy(&o.stderr))));
            }
            Err(e) => return Err(failed(format!("cannot run pg_restore: {e}"))),
        }
    }
    progress(Step::ComparingRows);
    let tables = store.table_counts().map_err(|e| e.to_string())?;
    let bytes = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    progress(Step::Done);
    Ok((bytes, tables))
}

/// Deletes the oldest `levqor-*` backups beyond `keep` (names sort by time).
pub fn prune(dir: &Path, keep: u32) -> std::io::Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && (n.ends_with(".db") || n.ends_with(".dump")))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep as usize);
    let doomed: Vec<PathBuf> = backups.into_iter().take(excess).collect();
    for p in &doomed {
        std::fs::remove_file(p)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = p.as_os_str().to_owned();
            side.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(side));
        }
    }
    Ok(doomed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_sort_by_time_and_pruning_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for d in 1..=5 {
            let at = chrono::Utc.with_ymd_and_hms(2026, 11, d, 3, 0, 0).unwrap();
            std::fs::write(dir.path().join(file_name(at, Backend::Sqlite)), b"x").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();
        let pruned = prune(dir.path(), 2).unwrap();
        assert_eq!(pruned.len(), 3);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["levqor-20261104T030000Z.db", "levqor-20261105T030000Z.db", "notes.txt"]);
    }
}
