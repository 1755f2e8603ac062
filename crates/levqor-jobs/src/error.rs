use levqor_core::{FieldProblem, StorageError};

use crate::state::IllegalTransition;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobsError {
    #[error("the request is invalid")]
    Invalid(Vec<FieldProblem>),
    /// Also what a caller gets for another user's job: existence is not revealed.
    #[error("job not found")]
    NotFound,
    /// The job is in a state that does not allow this (a 409).
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl JobsError {
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem::new(field, problem)])
    }
}
