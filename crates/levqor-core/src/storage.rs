//! The one error every storage port may return. Domain crates wrap it in their
//! own error enums; the store crate produces it.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The database could not be reached or a connection could not be had in time.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness or concurrency conflict that the caller may resolve by retrying.
    #[error("storage conflict: {0}")]
    Conflict(String),
    /// Anything else: a bug, corrupt data, a failed migration.
    #[error("storage failure: {0}")]
    Failure(String),
}
