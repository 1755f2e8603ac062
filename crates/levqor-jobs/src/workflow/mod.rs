//! Workflows: the code a job runs, looked up by the job's `workflow` name.

mod echo;
mod http_request;
mod registry;

use futures_util::future::BoxFuture;
use levqor_core::UserId;
use serde_json::Value;

use crate::id::JobId;

pub use echo::Echo;
pub use http_request::{HttpRequest, HttpRequestPayload, MAX_RESPONSE_BYTES};
pub use registry::{WorkflowRegistry, WorkflowRegistryError};

/// What a workflow gets to work with.
#[derive(Debug, Clone, PartialEq)]
pub struct JobContext {
    pub job_id: JobId,
    pub owner: UserId,
    /// The job's `workflow` name (for prefix-registered workflows: which one).
    pub workflow: String,
    pub payload: Value,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// Why an attempt failed. `retryable` says whether another attempt could succeed
/// (a timeout, a 503) or not (a malformed payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    pub message: String,
    pub retryable: bool,
    /// For a retryable failure: the next attempt waits at least this long (a
    /// service's rate limit asked for it), whatever the back-off says.
    pub retry_after: Option<std::time::Duration>,
}

impl JobError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true, retry_after: None }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false, retry_after: None }
    }

    /// The next attempt waits at least `wait`.
    pub fn not_before(mut self, wait: Option<std::time::Duration>) -> Self {
        self.retry_after = wait;
        self
    }
}

pub type WorkflowFuture = BoxFuture<'static, Result<Value, JobError>>;

pub trait Workflow: Send + Sync + 'static {
    /// The name jobs use to pick this workflow (or the prefix, see
    /// [`WorkflowRegistry::register_prefix`]).
    fn name(&self) -> &str;

    /// Runs one attempt. The future owns what it needs (`'static`), so the worker
    /// can time it out, catch its panics and drop it on cancellation.
    fn run(&self, ctx: JobContext) -> WorkflowFuture;
}
