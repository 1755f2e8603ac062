use diesel::result::{DatabaseErrorKind, Error as DieselError};
use levqor_core::StorageError;

/// Errors of opening and migrating the store. Repository calls return the domain's
/// [`StorageError`] instead.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL `{0}` is neither sqlite://PATH nor postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("cannot make {path} readable by its owner only: {source}")]
    PrivateFile { path: String, source: std::io::Error },
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub(crate) fn db_error(e: DieselError) -> StorageError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            StorageError::Conflict(info.message().to_owned())
        }
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
            StorageError::Conflict(info.message().to_owned())
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
            StorageError::Unavailable(info.message().to_owned())
        }
        other => StorageError::Failure(other.to_string()),
    }
}

pub(crate) fn pool_error(e: diesel::r2d2::PoolError) -> StorageError {
    StorageError::Unavailable(e.to_string())
}

/// A value read back that Levqor cannot have written (a bad state name, JSON that
/// does not parse): the database holds something it should not.
pub(crate) fn failure(what: impl std::fmt::Display) -> StorageError {
    StorageError::Failure(what.to_string())
}

/// Counts are stored as `INTEGER` (i32); they never come near the limits.
pub(crate) fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub(crate) fn to_u32(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}
