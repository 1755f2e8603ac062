//! Operations: metrics, `/status` checks, scheduled backups and the activity log,
//! and the hooks other parts of Levqor report through.

pub mod backup;
pub mod metrics;
pub mod runtime;
pub mod settings;
pub mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use levqor_core::Timestamp;

/// What `/status` says about mail. The mail sender fills it; until then Levqor
/// writes mail to the outbox folder and has no failures to tell.
pub trait EmailHealth: Send + Sync {
    /// The transport in use (`smtp`, `resend`, `outbox`), never its credentials.
    fn transport(&self) -> String;
    /// The latest failure to send, if any: when and a short reason.
    fn last_failure(&self) -> Option<(Timestamp, String)>;
}

/// Mail goes to the outbox folder under the data dir.
pub struct OutboxEmail;

impl EmailHealth for OutboxEmail {
    fn transport(&self) -> String {
        "outbox".into()
    }
    fn last_failure(&self) -> Option<(Timestamp, String)> {
        None
    }
}

/// Today's error reports and support messages, for the admin dashboard. The error
/// and support inboxes fill it; until they do, the dashboard says they are not
/// connected.
pub trait InboxCounts: Send + Sync {
    /// `(error reports, support messages)` received today (UTC), if known.
    fn today(&self) -> Option<(u64, u64)>;
}

impl EmailHealth for levqor_notifications::Transport {
    fn transport(&self) -> String {
        self.health().transport.to_owned()
    }

    fn last_failure(&self) -> Option<(Timestamp, String)> {
        let health = self.health();
        health.last_failure_at.zip(health.last_failure)
    }
}

impl InboxCounts for levqor_notifications::Inbox {
    fn today(&self) -> Option<(u64, u64)> {
        Some((self.errors_health().today, self.support_health().today))
    }
}

/// No inbox connected.
pub struct NoInboxes;

impl InboxCounts for NoInboxes {
    fn today(&self) -> Option<(u64, u64)> {
        None
    }
}

/// Sign-in attempts per client IP per minute on the admin login form.
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 5;

/// When a scheduler loop of this process last ran (Unix seconds; 0: never).
#[derive(Clone, Default)]
pub struct Heartbeat(Arc<AtomicI64>);

impl Heartbeat {
    pub fn beat(&self, at: Timestamp) {
        self.0.store(at.timestamp(), Ordering::Relaxed);
    }

    pub fn last(&self) -> Option<Timestamp> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            secs => chrono::DateTime::from_timestamp(secs, 0),
        }
    }
}

/// What handlers need for operations.
#[derive(Clone)]
pub struct OpsState {
    pub email: Arc<dyn EmailHealth>,
    pub scheduler: Heartbeat,
    /// The session-cookie key of the admin pages, derived from `LEVQOR_SECRET`.
    pub session_key: Arc<Vec<u8>>,
    pub inboxes: Arc<dyn InboxCounts>,
    pub login_limiter: Arc<governor::DefaultKeyedRateLimiter<std::net::IpAddr>>,
}

impl OpsState {
    pub fn new(secret: &[u8]) -> Self {
        let hasher = levqor_core::EmailHasher::new(secret);
        let session_key = hasher.keyed(b"levqor.admin-session.v1\0", b"").into_bytes();
        let per_minute = std::num::NonZeroU32::new(LOGIN_ATTEMPTS_PER_MINUTE).unwrap_or(std::num::NonZeroU32::MIN);
        Self {
            email: Arc::new(OutboxEmail),
            scheduler: Heartbeat::default(),
            session_key: Arc::new(session_key),
            inboxes: Arc::new(NoInboxes),
            login_limiter: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute))),
        }
    }
}
