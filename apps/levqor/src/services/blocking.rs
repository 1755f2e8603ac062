//! Runs a synchronous store call on tokio's blocking pool, for async use cases.

use levqor_core::StorageError;

/// `f` on the blocking pool; a task that panicked or was cancelled reads as the
/// store being unavailable.
pub async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StorageError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(StorageError::Unavailable(format!("blocking task failed: {e}"))))?
}
