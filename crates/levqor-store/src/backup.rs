//! SQLite backups: an online copy (`VACUUM INTO`) verified against the live
//! database, and a restore that verifies first, then swaps files, and refuses
//! while any Levqor process has the database open.
//!
//! Every process that opens an SQLite store holds a shared lock on
//! `<database>.lock`; a restore takes it exclusively, so the two exclude each
//! other (and a server cannot start during a restore).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use diesel::{Connection, RunQueryDsl, sql_types::Text};

use crate::connection::{DbConnection, Store};
use crate::error::{StoreError, db_error};
use crate::ops::table_counts;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backups of this kind need an SQLite database")]
    NotSqlite,
    #[error("a Levqor process has the database open; stop it before restoring")]
    InUse,
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Storage(#[from] levqor_core::StorageError),
    #[error("{path} is not a sound Levqor database: {problem}")]
    Unsound { path: String, problem: String },
    #[error("the copy does not match: table {table} has {copy} rows, the source {source_rows}")]
    Mismatch { table: String, copy: i64, source_rows: i64 },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.display().to_string(), source }
}

/// An open SQLite database file, with its shared lock held.
#[derive(Debug, Clone)]
pub(crate) struct SqliteFile {
    pub(crate) path: PathBuf,
    _lock: Arc<File>,
}

/// `<database>.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

fn open_lock(db: &Path) -> std::io::Result<File> {
    levqor_core::private_fs::options().read(true).write(true).create(true).truncate(false).open(lock_path(db))
}

impl SqliteFile {
    pub(crate) fn hold(path: &Path) -> Result<Self, StoreError> {
        let fail =
            |e: std::io::Error| StoreError::PrivateFile { path: lock_path(path).display().to_string(), source: e };
        let lock = open_lock(path).map_err(fail)?;
        #[allow(clippy::incompatible_msrv)] // File locking is stable since 1.89; the toolchain is newer.
        lock.try_lock_shared().map_err(|_| {
            StoreError::Connect(format!("{} is being restored; start again when the restore is done", path.display()))
        })?;
        Ok(Self { path: path.to_owned(), _lock: Arc::new(lock) })
    }
}

/// What a verified backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// Rows per table, equal in the copy and the source.
    pub tables: Vec<(String, i64)>,
}

/// A step of a backup or restore, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Copying,
    CheckingIntegrity,
    ComparingRows,
    Swapping,
    Done,
}

impl Step {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Copying => "copying",
            Self::CheckingIntegrity => "checking integrity",
            Self::ComparingRows => "comparing row counts",
            Self::Swapping => "swapping files",
            Self::Done => "done",
        }
    }
}

#[derive(diesel::QueryableByName)]
struct IntegrityRow {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// Checks an SQLite file: `PRAGMA integrity_check` says `ok`, and it holds Levqor's
/// migration history. Returns the rows per table.
pub fn verify_sqlite_file(path: &Path) -> Result<Vec<(String, i64)>, BackupError> {
    let unsound = |problem: String| BackupError::Unsound { path: path.display().to_string(), problem };
    if !path.is_file() {
        return Err(unsound("no such file".into()));
    }
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
        .map(DbConnection::Sqlite)
        .map_err(|e| unsound(e.to_string()))?;
    let rows: Vec<IntegrityRow> =
        diesel::sql_query("PRAGMA integrity_check").load(&mut conn).map_err(|e| unsound(db_error(e).to_string()))?;
    let problems: Vec<String> = rows.into_iter().map(|r| r.integrity_check).filter(|r| r != "ok").collect();
    if !problems.is_empty() {
        return Err(unsound(problems.join("; ")));
    }
    let migrated: Result<Vec<crate::ops::NameRow>, _> =
        diesel::sql_query("SELECT version AS name FROM __diesel_schema_migrations").load(&mut conn);
    if migrated.map_or(true, |m| m.is_empty()) {
        return Err(unsound("it has no Levqor migration history".into()));
    }
    table_counts(&mut conn).map_err(|e| unsound(e.to_string()))
}

fn compare(copy: &[(String, i64)], source: &[(String, i64)]) -> Result<(), BackupError> {
    for (table, source_rows) in source {
        let copy_rows = copy.iter().find(|(t, _)| t == table).map_or(-1, |(_, n)| *n);
        if copy_rows != *source_rows {
            return Err(BackupError::Mismatch { table: table.clone(), copy: copy_rows, source_rows: *source_rows });
        }
    }
    if let Some((table, n)) = copy.iter().find(|(t, _)| !source.iter().any(|(s, _)| s == t)) {
        return Err(BackupError::Mismatch { table: table.clone(), copy: *n, source_rows: -1 });
    }
    Ok(())
}

impl Store {
    /// Copies the live SQLite database to `dest` (a new file, created 0600) with
    /// `VACUUM INTO`, then verifies the copy: integrity, and rows per table equal to
    /// the live database's. While it copies and counts, it holds the writer
    /// connection, so this process's writes wait and both counts see one state.
    pub fn backup_sqlite(&self, dest: &Path, progress: &dyn Fn(Step)) -> Result<BackupReport, BackupError> {
        if self.sqlite_path().is_none() {
            return Err(BackupError::NotSqlite);
        }
        drop(levqor_core::private_fs::create_new(dest).map_err(io(dest))?);
        let result = self.copy_and_verify(dest, progress);
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    fn copy_and_verify(&self, dest: &Path, progress: &dyn Fn(Step)) -> Result<BackupReport, BackupError> {
        progress(Step::Copying);
        let live = {
            let mut conn = self.writer_conn()?;
            let target = dest.to_string_lossy().replace('\'', "''");
            diesel::sql_query(format!("VACUUM INTO '{target}'")).execute(&mut *conn).map_err(db_error)?;
            table_counts(&mut conn)?
        };
        progress(Step::CheckingIntegrity);
        let copy = verify_sqlite_file(dest)?;
        progress(Step::ComparingRows);
        compare(&copy, &live)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = dest.as_os_str().to_owned();
            side.push(suffix);
            let _ = levqor_core::private_fs::restrict(Path::new(&side));
        }
        let bytes = std::fs::metadata(dest).map_err(io(dest))?.len();
        progress(Step::Done);
        Ok(BackupReport { path: dest.to_owned(), bytes, tables: copy })
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub tables: Vec<(String, i64)>,
    /// Where the database that was replaced now is (absent if there was none).
    pub previous: Option<PathBuf>,
}

/// Replaces the SQLite database at `db` with the backup at `backup`: verifies the
/// backup, copies it beside the database (reporting bytes copied and the total
/// through `on_bytes`), verifies the copy, then moves the current database (and
/// its WAL) aside as `<db>.before-restore-<time>` and renames the copy into place.
/// Refuses with [`BackupError::InUse`] while any Levqor process holds the database.
pub fn restore_sqlite(
    db: &Path,
    backup: &Path,
    progress: &dyn Fn(Step),
    on_bytes: &mut dyn FnMut(u64, u64),
) -> Result<RestoreReport, BackupError> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        levqor_core::private_fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let lock = open_lock(db).map_err(io(db))?;
    #[allow(clippy::incompatible_msrv)] // File locking is stable since 1.89; the toolchain is newer.
    lock.try_lock().map_err(|_| BackupError::InUse)?;

    progress(Step::CheckingIntegrity);
    let expected = verify_sqlite_file(backup)?;
    progress(Step::Copying);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ").to_string();
    let tmp = suffixed(db, &format!(".restore-{stamp}.tmp"));
    let copied = copy_file(backup, &tmp, on_bytes).and_then(|()| {
        progress(Step::ComparingRows);
        compare(&verify_sqlite_file(&tmp)?, &expected)
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    progress(Step::Swapping);
    let previous = if db.exists() {
        let aside = suffixed(db, &format!(".before-restore-{stamp}"));
        // The WAL belongs to the old file: left beside the new one, SQLite would
        // replay it into the restored database.
        for suffix in ["-wal", "-shm"] {
            let side = suffixed(db, suffix);
            if side.exists() {
                std::fs::rename(&side, suffixed(&aside, suffix)).map_err(io(&side))?;
            }
        }
        std::fs::rename(db, &aside).map_err(io(db))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&tmp, db).map_err(io(db))?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    progress(Step::Done);
    drop(lock);
    Ok(RestoreReport { tables: expected, previous })
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn copy_file(from: &Path, to: &Path, on_bytes: &mut dyn FnMut(u64, u64)) -> Result<(), BackupError> {
    let mut src = File::open(from).map_err(io(from))?;
    let total = src.metadata().map_err(io(from))?.len();
    let mut dst = levqor_core::private_fs::create_new(to).map_err(io(to))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    loop {
        let n = src.read(&mut buf).map_err(io(from))?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).map_err(io(to))?;
        done += n as u64;
        on_bytes(done, total);
    }
    dst.sync_all().map_err(io(to))
}
