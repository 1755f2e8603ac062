use levqor_core::StorageError;

/// Why a mail could not be prepared or queued.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("`{0}` is not a usable email address")]
    Address(String),
    #[error("the email could not be built: {0}")]
    Build(String),
    #[error("the email template could not be rendered: {0}")]
    Template(#[from] askama::Error),
    #[error("the mail could not be queued: {0}")]
    Queue(#[from] levqor_jobs::JobsError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
