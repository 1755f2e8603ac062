//! What every handler can reach.

use std::time::Instant;

use levqor_accounts::AccountService;
use levqor_core::Timestamp;
use levqor_store::Store;

use crate::config::ServeSettings;
use crate::jobs_runtime::IntakeWriter;

pub struct AppState {
    pub settings: ServeSettings,
    pub log: slog::Logger,
    pub store: Store,
    pub accounts: AccountService,
    pub billing: std::sync::Arc<crate::services::billing::BillingService>,
    pub jobs: std::sync::Arc<crate::services::jobs::JobsService>,
    /// The `Idempotency-Key` records (port; the store implements it).
    pub idempotency: std::sync::Arc<dyn levqor_jobs::IdempotencyStore>,
    /// The audit trail, read side (port; the store implements it).
    pub audit: std::sync::Arc<dyn levqor_core::AuditLog>,
    pub registry: std::sync::Arc<levqor_jobs::WorkflowRegistry>,
    pub connectors: crate::connectors::Connectors,
    pub pipelines: std::sync::Arc<crate::services::pipelines::PipelineService>,
    pub analytics: std::sync::Arc<levqor_analytics::AnalyticsService>,
    pub ops: crate::ops::OpsState,
    pub intake: IntakeWriter,
    /// The error and support inboxes (and the Sentry forwarder).
    pub inbox: std::sync::Arc<levqor_notifications::Inbox>,
    /// The mail transport `email.send` jobs use (for its health).
    pub mail: std::sync::Arc<levqor_notifications::Transport>,
    pub waker: Option<levqor_jobs::Waker>,
    pub started_at: Timestamp,
    pub started: Instant,
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const BUILD: &str = env!("LEVQOR_BUILD");
