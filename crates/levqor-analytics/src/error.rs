use levqor_core::{FieldProblem, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("invalid analytics request")]
    Invalid(Vec<FieldProblem>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl AnalyticsError {
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem::new(field, problem)])
    }
}
