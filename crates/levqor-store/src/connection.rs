//! One connection type over both backends, the pool, and the write transaction.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use levqor_core::StorageError;

use crate::error::{StoreError, db_error, pool_error};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// How long an SQLite writer waits for the write lock before giving up.
    pub sqlite_busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(10),
        }
    }
}

type DbPool = Pool<ConnectionManager<DbConnection>>;
pub(crate) type PooledDb = PooledConnection<ConnectionManager<DbConnection>>;

/// The database behind every Levqor port. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    /// SQLite only: the one connection every write transaction uses. SQLite has one
    /// writer at a time anyway; waiting for this connection wakes a writer the
    /// moment the last one commits (the busy handler would sleep and poll), and its
    /// page cache stays valid because no other connection of this process writes.
    writer: Option<DbPool>,
    backend: Backend,
    /// PostgreSQL only: where the job listener opens its own connection.
    pg_url: Option<String>,
    /// SQLite only: the database file, and a shared lock on its lock file that
    /// `levqor restore` must take exclusively (so it refuses while this is open).
    sqlite: Option<crate::backup::SqliteFile>,
}

/// Where a `DATABASE_URL` points.
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

fn parse_url(url: &str) -> Result<Target, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url.to_owned()));
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
    match path {
        Some(p) if !p.is_empty() => Ok(Target::Sqlite(PathBuf::from(p))),
        _ => Err(StoreError::UnsupportedUrl(redact(url))),
    }
}

/// A URL fit for error messages: no password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://…@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Sets the SQLite pragmas on every new connection: WAL so readers never block the
/// writer, a busy timeout so writers queue instead of failing, foreign keys, and
/// `synchronous = FULL` so a committed job or payment survives power loss.
#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout_ms: u128,
    /// A page cache other than SQLite's default 2 MiB.
    cache_kib: Option<u32>,
}

/// The writer connection's page cache: the queue's hot pages (claim index, recent
/// rows) stay in memory between write transactions.
const WRITER_CACHE_KIB: u32 = 4 * 1024;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        let cache = self.cache_kib.map(|kib| format!(" PRAGMA cache_size = -{kib};")).unwrap_or_default();
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;{cache}",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Store {
    /// Open (and for SQLite, create) the database at `url`. Does not migrate.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let target = parse_url(url)?;
        let (manager_url, backend) = match &target {
            Target::Sqlite(path) => {
                create_parent_dir(path)?;
                if path.as_os_str() != ":memory:" {
                    make_private(path)?;
                }
                (path.to_string_lossy().into_owned(), Backend::Sqlite)
            }
            Target::Postgres(url) => (url.clone(), Backend::Postgres),
        };
        // Establish once directly: the pool would retry until its timeout and hide
        // the real reason (wrong password, no such database).
        let sqlite = match &target {
            Target::Sqlite(path) if path.as_os_str() != ":memory:" => Some(crate::backup::SqliteFile::hold(path)?),
            _ => None,
        };
        let first = match &target {
            Target::Sqlite(_) => SqliteConnection::establish(&manager_url).map(DbConnection::Sqlite),
            Target::Postgres(_) => PgConnection::establish(&manager_url).map(DbConnection::Pg),
        };
        drop(first.map_err(|e| StoreError::Connect(e.to_string()))?);

        let mut builder = Pool::builder()
            .max_size(options.max_connections.max(1))
            .connection_timeout(options.connect_timeout)
            .test_on_check_out(false);
        let busy_timeout_ms = options.sqlite_busy_timeout.as_millis();
        if backend == Backend::Sqlite {
            builder = builder.connection_customizer(Box::new(SqlitePragmas { busy_timeout_ms, cache_kib: None }));
        }
        let pool = builder
            .build(ConnectionManager::new(manager_url.clone()))
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        let pg_url = matches!(backend, Backend::Postgres).then(|| manager_url.clone());
        let writer = match backend {
            Backend::Sqlite => Some(
                Pool::builder()
                    .max_size(1)
                    // Waiting for the writer is waiting for the write lock.
                    .connection_timeout(options.sqlite_busy_timeout)
                    .test_on_check_out(false)
                    .connection_customizer(Box::new(SqlitePragmas {
                        busy_timeout_ms,
                        cache_kib: Some(WRITER_CACHE_KIB),
                    }))
                    .build(ConnectionManager::new(manager_url))
                    .map_err(|e| StoreError::Connect(e.to_string()))?,
            ),
            Backend::Postgres => None,
        };
        Ok(Self { pool, writer, backend, pg_url, sqlite })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pg_url(&self) -> Option<&str> {
        self.pg_url.as_deref()
    }

    /// The SQLite database file (`None` on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite.as_ref().map(|f| f.path.as_path())
    }

    pub(crate) fn conn(&self) -> Result<PooledDb, StorageError> {
        self.pool.get().map_err(pool_error)
    }

    /// The connection writes go through: SQLite's one writer, else a pooled one.
    pub(crate) fn writer_conn(&self) -> Result<PooledDb, StorageError> {
        match &self.writer {
            Some(writer) => writer.get().map_err(pool_error),
            None => self.conn(),
        }
    }

    /// A round trip to the database.
    pub fn ping(&self) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        diesel::sql_query("SELECT 1").execute(&mut *conn).map_err(db_error)?;
        Ok(())
    }

    /// Run `f` in a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is
    /// taken up front, so the transaction cannot fail half-way for want of it), a plain
    /// transaction on PostgreSQL. Commits on `Ok`, rolls back on `Err`.
    pub(crate) fn write<T, E>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let mut conn = match &self.writer {
            Some(writer) => writer.get().map_err(pool_error)?,
            None => self.conn()?,
        };
        write_tx(&mut conn, f)
    }

    /// Like [`Store::write`], retried when the database reports a conflict that a
    /// fresh attempt can resolve (a concurrent insert of the same unique key).
    pub(crate) fn write_retrying<T, E>(&self, mut f: impl FnMut(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError> + IsConflict,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.write(&mut f) {
                Err(e) if attempt < 3 && e.is_conflict() => continue,
                other => return other,
            }
        }
    }

    /// Read with a pooled connection, outside any explicit transaction.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self.conn()?;
        f(&mut conn)
    }
}

/// Errors that say "a concurrent writer got there first; try again".
pub(crate) trait IsConflict {
    fn is_conflict(&self) -> bool;
}

impl IsConflict for StorageError {
    fn is_conflict(&self) -> bool {
        matches!(self, StorageError::Conflict(_))
    }
}

impl IsConflict for levqor_accounts::AccountsError {
    fn is_conflict(&self) -> bool {
        matches!(self, levqor_accounts::AccountsError::Storage(StorageError::Conflict(_)))
    }
}

pub(crate) fn write_tx<T, E>(conn: &mut DbConnection, f: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
where
    E: From<StorageError>,
{
    type Tm = <DbConnection as Connection>::TransactionManager;
    match conn {
        DbConnection::Sqlite(inner) => AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE"),
        DbConnection::Pg(_) => Tm::begin_transaction(conn),
    }
    .map_err(db_error)?;
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn).map_err(db_error)?;
            Ok(value)
        }
        Err(e) => {
            // The caller's error is what matters; a failed rollback marks the
            // connection broken and the pool drops it.
            let _ = Tm::rollback_transaction(conn);
            Err(e)
        }
    }
}

fn create_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => levqor_core::private_fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.display().to_string(), source }),
        _ => Ok(()),
    }
}

/// The database file exists as 0600 before SQLite opens it: SQLite creates the
/// `-wal` and `-shm` files with the database file's mode, so they follow. Files
/// left readable by an older release are tightened.
fn make_private(path: &Path) -> Result<(), StoreError> {
    let tighten = |p: &Path, result: std::io::Result<()>| {
        result.map_err(|source| StoreError::PrivateFile { path: p.display().to_string(), source })
    };
    tighten(path, levqor_core::private_fs::ensure_file(path))?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = std::path::PathBuf::from(side);
        tighten(&side, levqor_core::private_fs::restrict(&side))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend() {
        assert!(
            matches!(parse_url("sqlite://./data/levqor.db"), Ok(Target::Sqlite(p)) if p == Path::new("./data/levqor.db"))
        );
        assert!(matches!(parse_url("sqlite:///tmp/x.db"), Ok(Target::Sqlite(p)) if p == Path::new("/tmp/x.db")));
        assert!(matches!(parse_url("postgres://u@h/db"), Ok(Target::Postgres(_))));
        assert!(matches!(parse_url("postgresql://u@h/db"), Ok(Target::Postgres(_))));
        assert!(parse_url("mysql://x").is_err());
        assert!(parse_url("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://…@h:5432/db");
    }
}
