//! Levqor's durable jobs: the job model and its state machine, the retry policy,
//! the [`JobQueue`] port with an in-memory implementation and the contract every
//! implementation must pass, the worker runtime (claim with a lease, heartbeat,
//! finish with the lease token, rescue expired leases), the workflow registry with
//! the built-in `echo` and `http.request`, signed completion callbacks, an SSRF
//! guard, and the domain half of `Idempotency-Key`.
//!
//! Pure domain code plus an HTTP client: no HTTP serving, no SQL. `levqor-store`
//! implements [`JobQueue`] and [`IdempotencyStore`] on SQLite and PostgreSQL and
//! runs [`contract`] (feature `contract-tests`) against both.
//!
//! ```
//! use std::sync::Arc;
//! use levqor_core::{Clock, SystemClock, UserId};
//! use levqor_jobs::{
//!     Echo, IntakeRequest, JobQueue, JobState, MemoryQueue, NewJob, Shutdown, WorkerConfig,
//!     WorkerPool, WorkflowRegistry,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let queue = Arc::new(MemoryQueue::new());
//! let mut registry = WorkflowRegistry::new();
//! registry.register(Arc::new(Echo)).unwrap();
//! let registry = Arc::new(registry);
//! let clock: Arc<dyn Clock> = Arc::new(SystemClock);
//!
//! let shutdown = Shutdown::new();
//! let pool = WorkerPool::start(queue.clone(), registry.clone(), WorkerConfig::default(), clock.clone(), shutdown.clone());
//!
//! // Intake: validate, store durably, then wake the pool.
//! let request: IntakeRequest = serde_json::from_str(r#"{"workflow": "echo", "payload": {"hi": 1}}"#).unwrap();
//! let new = NewJob::from_intake(UserId::new(), request, clock.now(), &|w| registry.contains(w)).unwrap();
//! let job = queue.enqueue(&new).unwrap();
//! pool.waker().wake();
//!
//! while queue.get(&job.id).unwrap().unwrap().state != JobState::Succeeded {
//!     tokio::time::sleep(std::time::Duration::from_millis(5)).await;
//! }
//! shutdown.trigger();
//! pool.join().await;
//! # }
//! ```

pub mod callback;
pub mod error;
pub mod id;
pub mod idempotency;
pub mod job;
pub mod memory;
pub mod new_job;
pub mod queue;
pub mod retry;
pub mod rules;
pub mod shutdown;
pub mod ssrf;
pub mod state;
pub mod sweeper;
pub mod waiting_cap;
pub mod worker;
pub mod workflow;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

pub use callback::{CallbackConfig, CallbackError, CallbackSender, SIGNATURE_HEADER, SignatureError, sign, verify};
pub use error::JobsError;
pub use id::{JobId, LeaseToken};
pub use idempotency::{
    Begin, Fingerprint, IdempotencyKey, IdempotencyStore, Intake, MemoryIdempotency, RecordedResponse, StoredResponse,
};
pub use job::{Job, JobState, JobStatusDoc, Priority};
pub use memory::MemoryQueue;
pub use new_job::{IntakeRequest, NewJob};
pub use queue::{ClaimRequest, ClaimedJob, Completion, FinishResult, JobFilter, JobQueue, Outcome, QueueCounts};
pub use retry::{Jitter, RetryPolicy};
pub use rules::{FailurePlan, plan_failure};
pub use shutdown::Shutdown;
pub use ssrf::{SsrfError, TargetPolicy};
pub use state::{IllegalTransition, JobEvent, transition};
pub use sweeper::{Sweeper, SweeperConfig};
pub use waiting_cap::{CapReached, WaitingCap};
pub use worker::{FinishedHook, Waker, WorkerConfig, WorkerPool};
pub use workflow::{Echo, HttpRequest, JobContext, JobError, Workflow, WorkflowRegistry};
