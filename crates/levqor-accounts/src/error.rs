use levqor_core::{FieldProblem, StorageError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountsError {
    #[error("the request is invalid")]
    Invalid(Vec<FieldProblem>),
    /// Also what a caller gets for another user's object: existence is not revealed.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    /// A per-user limit is reached (active keys); says which and what to do.
    #[error("{0}")]
    Limit(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl AccountsError {
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem::new(field, problem)])
    }
}

/// Why a presented credential was not accepted. All but `Storage` are a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no API key was sent")]
    Missing,
    #[error("the API key is not valid")]
    Invalid,
    #[error("the API key has expired")]
    Expired,
    #[error("the API key has been revoked")]
    Revoked,
    #[error(transparent)]
    Storage(#[from] StorageError),
}
