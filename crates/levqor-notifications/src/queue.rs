//! Durable mail: [`Notifier`] renders a mail and stores it as an `email.send` job
//! on Levqor's job queue; [`EmailSend`] is the workflow that delivers it. A crash
//! or an SMTP outage only delays a mail: the job is retried with the queue's
//! back-off, and a mail that cannot be delivered at all (a permanent refusal, or
//! its last attempt failed) is kept in `outbox/undelivered` for an operator.

use std::sync::Arc;

use futures_util::FutureExt;
use levqor_core::{Clock, StorageError, UserId};
use levqor_jobs::workflow::WorkflowFuture;
use levqor_jobs::{JobContext, JobError, JobId, JobQueue, JobsError, NewJob, Priority, Workflow};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::NotifyError;
use crate::mail::Mail;
use crate::templates::{Brand, EmailContent};
use crate::transport::Transport;

/// The workflow name of a mail job. Registered as internal: no caller can submit
/// one through intake or a pipeline.
pub const EMAIL_SEND: &str = "email.send";

/// Attempts per mail by default: with the default back-off (1 s doubling up to
/// 10 min, full jitter) about an hour and a half of outage before a mail is set
/// aside in `outbox/undelivered`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 20;

/// How long one delivery attempt may take (the SMTP timeout is 30 s).
const ATTEMPT_TIMEOUT_S: u32 = 120;

/// The owner of mail jobs: no user has the nil id, so mail never shows in a
/// user's job list nor counts against a user's caps.
pub fn system_owner() -> UserId {
    // The nil UUID always parses; the fallback is unreachable but keeps this total.
    "00000000-0000-0000-0000-000000000000".parse().unwrap_or_default()
}

/// Whether the mail was queued now, or a mail with the same once-key was before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    New(JobId),
    AlreadyQueued,
}

/// Renders and queues mail. Calls are blocking (one insert): async callers run
/// them on a blocking pool.
#[derive(Clone)]
pub struct Notifier {
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    brand: Brand,
    max_attempts: u32,
}

impl Notifier {
    pub fn new(queue: Arc<dyn JobQueue>, clock: Arc<dyn Clock>, brand: Brand) -> Self {
        Self { queue, clock, brand, max_attempts: DEFAULT_MAX_ATTEMPTS }
    }

    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.clamp(1, *levqor_jobs::new_job::MAX_ATTEMPTS_RANGE.end());
        self
    }

    pub fn brand(&self) -> &Brand {
        &self.brand
    }

    /// Renders `content` for `to` and queues it. `once` (e.g. `welcome:<user>`)
    /// makes the call idempotent: the job id is derived from it, so a second call
    /// with the same key queues nothing.
    pub fn send(
        &self,
        to: &str,
        content: &dyn EmailContent,
        reply_to: Option<&str>,
        once: Option<&str>,
    ) -> Result<Enqueued, NotifyError> {
        let (text, html) = content.render(&self.brand)?;
        let mut mail = Mail::new(to, &content.subject(&self.brand), text, html);
        if let Some(reply_to) = reply_to {
            mail = mail.with_reply_to(reply_to);
        }
        self.enqueue(&mail, once)
    }

    /// Queues a rendered mail (see [`Notifier::send`] for `once`).
    pub fn enqueue(&self, mail: &Mail, once: Option<&str>) -> Result<Enqueued, NotifyError> {
        mail.check()?;
        let now = self.clock.now();
        let id = match once {
            Some(key) => once_id(key),
            None => JobId::new(),
        };
        let job = NewJob {
            id,
            owner: system_owner(),
            workflow: EMAIL_SEND.to_owned(),
            payload: json!({ "mail": mail }),
            priority: Priority::High,
            max_attempts: self.max_attempts,
            timeout_s: ATTEMPT_TIMEOUT_S,
            run_at: now,
            callback_url: None,
            created_at: now,
        };
        match self.queue.enqueue(&job) {
            Ok(stored) => Ok(Enqueued::New(stored.id)),
            Err(JobsError::Storage(StorageError::Conflict(_))) if once.is_some() => Ok(Enqueued::AlreadyQueued),
            Err(e) => Err(e.into()),
        }
    }
}

/// A job id derived from a once-key: a UUIDv8 from the key's SHA-256, so the same
/// key always names the same job and the queue's primary key refuses a second.
fn once_id(key: &str) -> JobId {
    let digest = Sha256::digest(format!("levqor-mail:{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let uuid = uuid::Builder::from_custom_bytes(bytes).into_uuid();
    // A UUID's hyphenated text always parses back; JobId::new is unreachable.
    uuid.hyphenated().to_string().parse().unwrap_or_default()
}

/// The `email.send` workflow: delivers one queued mail.
pub struct EmailSend {
    transport: Arc<Transport>,
    max_attempts: u32,
}

impl EmailSend {
    /// `max_attempts` must match the [`Notifier`]'s: on the last attempt a mail
    /// that still fails is set aside instead of being dropped.
    pub fn new(transport: Arc<Transport>, max_attempts: u32) -> Self {
        Self { transport, max_attempts }
    }
}

impl Workflow for EmailSend {
    fn name(&self) -> &str {
        EMAIL_SEND
    }

    fn run(&self, ctx: JobContext) -> WorkflowFuture {
        let transport = self.transport.clone();
        let last_attempt = ctx.attempt >= self.max_attempts;
        async move {
            if ctx.owner != system_owner() {
                return Err(JobError::permanent("email.send jobs are queued by Levqor only"));
            }
            let mail: Mail = serde_json::from_value(ctx.payload.get("mail").cloned().unwrap_or_default())
                .map_err(|e| JobError::permanent(format!("not a mail: {e}")))?;
            let id = ctx.job_id.to_string();
            match transport.send(&id, &mail).await {
                Ok(()) => Ok(json!({ "delivered": true, "transport": transport.name() })),
                Err(e) if e.retryable && !last_attempt => Err(JobError::retryable(e.message)),
                Err(e) => {
                    let kept = match transport.keep_undelivered(&id, &mail).await {
                        Ok(path) => format!("; kept in {}", path.display()),
                        Err(keep) => format!("; could not be kept either: {}", keep.message),
                    };
                    Err(JobError::permanent(format!("{}{kept}", e.message)))
                }
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::templates::Welcome;
    use levqor_core::SystemClock;
    use levqor_jobs::{JobFilter, MemoryQueue};

    #[test]
    fn once_keys_name_one_job() {
        assert_eq!(once_id("welcome:1"), once_id("welcome:1"));
        assert_ne!(once_id("welcome:1"), once_id("welcome:2"));
        let queue = Arc::new(MemoryQueue::new());
        let notifier = Notifier::new(queue.clone(), Arc::new(SystemClock), Brand::new("https://levqor.example"));
        let welcome = Welcome { email: "ada@example.com".into(), free_credits: 50 };
        let first = notifier.send("ada@example.com", &welcome, None, Some("welcome:u1")).unwrap();
        assert!(matches!(first, Enqueued::New(_)));
        assert_eq!(
            notifier.send("ada@example.com", &welcome, None, Some("welcome:u1")).unwrap(),
            Enqueued::AlreadyQueued
        );
        assert!(matches!(notifier.send("ada@example.com", &welcome, None, None).unwrap(), Enqueued::New(_)));
        let jobs = queue.list(&system_owner(), &JobFilter::default(), None, 10).unwrap();
        assert_eq!(jobs.items.len(), 2);
        assert!(jobs.items.iter().all(|j| j.workflow == EMAIL_SEND && j.max_attempts == DEFAULT_MAX_ATTEMPTS));
        assert!(notifier.send("not an address", &welcome, None, None).is_err());
    }
}
