//! The error and support inboxes: every record is stored first (appended to
//! `errors.jsonl` / `support.jsonl` and fsynced), then forwarded — error reports to
//! Sentry when configured, error/fatal reports and every support message by email
//! to `RECEIVING_EMAIL`. A forwarding failure is reported back for the log, never
//! as a failure of the call: the record is already safe.

mod log;
mod records;

use std::path::PathBuf;
use std::sync::Arc;

use levqor_core::{Clock, FieldProblem};
use serde::Serialize;
use serde_json::json;

pub use log::JsonlLog;
pub use records::{
    ErrorLevel, ErrorReport, MAX_SUPPORT_MESSAGE_CHARS, NewErrorReport, NewSupportMessage, SupportMessage,
};

use crate::queue::Notifier;
use crate::sentry_forward::{SentryForwarder, ServerError};
use crate::templates::{ErrorAlert, SupportForward};

pub const ERRORS_FILE: &str = "errors.jsonl";
pub const SUPPORT_FILE: &str = "support.jsonl";
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_KEEP: u32 = 5;

#[derive(Debug, Clone)]
pub struct InboxConfig {
    /// The data folder; the files go directly in it.
    pub dir: PathBuf,
    /// A file is rotated before it would grow past this.
    pub max_bytes: u64,
    /// Rotated files kept (`errors.jsonl.1` … `.<keep>`).
    pub keep: u32,
    /// Where alerts and support messages are forwarded; none: stored only.
    pub receiving: Option<String>,
}

impl InboxConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), max_bytes: DEFAULT_MAX_BYTES, keep: DEFAULT_KEEP, receiving: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("the request is invalid")]
    Invalid(Vec<FieldProblem>),
    /// The record could not be stored: nothing was accepted.
    #[error("the record could not be stored: {0}")]
    Storage(#[from] std::io::Error),
}

/// A stored record, and what became of forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    /// Where it was passed on: `sentry`, `email`.
    pub forwarded: Vec<&'static str>,
    /// Forwarding that failed, for the log (the record is stored regardless).
    pub problems: Vec<String>,
}

/// What `GET /api/v1/errors/health` and `/support/health` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxHealth {
    pub ok: bool,
    /// Where records are kept: `jsonl`, and `sentry` when they are sent there too.
    pub collector: &'static str,
    pub file: &'static str,
    /// Whether records are forwarded by email (the address is not shown).
    pub email: bool,
    pub sentry: bool,
    /// The UTC day `today` counts.
    pub date: String,
    pub today: u64,
}

pub struct Inbox {
    errors: JsonlLog,
    support: JsonlLog,
    notifier: Notifier,
    receiving: Option<String>,
    sentry: Option<Arc<SentryForwarder>>,
    clock: Arc<dyn Clock>,
}

impl Inbox {
    pub fn open(
        config: &InboxConfig,
        notifier: Notifier,
        sentry: Option<Arc<SentryForwarder>>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Self> {
        let now = clock.now();
        Ok(Self {
            errors: JsonlLog::open(&config.dir, ERRORS_FILE, config.max_bytes, config.keep, now)?,
            support: JsonlLog::open(&config.dir, SUPPORT_FILE, config.max_bytes, config.keep, now)?,
            notifier,
            receiving: config.receiving.clone().filter(|r| !r.trim().is_empty()),
            sentry,
            clock,
        })
    }

    pub fn sentry(&self) -> Option<&SentryForwarder> {
        self.sentry.as_deref()
    }

    /// Stores an error report, then forwards it. Blocking (fsync, one insert).
    pub fn report_error(&self, new: NewErrorReport, request_id: &str) -> Result<Stored, InboxError> {
        let report = ErrorReport::parse(new).map_err(InboxError::Invalid)?;
        let now = self.clock.now();
        let uuid = uuid::Uuid::now_v7();
        let id = uuid.to_string();
        let mut record = json!({"id": id, "ts": now.to_rfc3339(), "request_id": request_id});
        merge(&mut record, &report);
        self.errors.append(&record, now)?;

        let mut stored = Stored { id: id.clone(), forwarded: Vec::new(), problems: Vec::new() };
        if let Some(sentry) = &self.sentry {
            sentry.report(uuid, &report);
            stored.forwarded.push("sentry");
        }
        if let Some(to) = self.receiving.as_deref().filter(|_| report.level.alerts()) {
            let stack = report.stack.as_ref().map(|s| s.chars().take(ErrorAlert::MAX_STACK_CHARS).collect());
            let alert = ErrorAlert {
                id: id.clone(),
                level: report.level.as_str().to_owned(),
                message: report.message.clone(),
                url: report.url.clone(),
                user_agent: report.user_agent.clone(),
                release: report.release.clone(),
                stack,
                received_at: now.to_rfc3339(),
            };
            match self.notifier.send(to, &alert, None, Some(&format!("error-alert:{id}"))) {
                Ok(_) => stored.forwarded.push("email"),
                Err(e) => stored.problems.push(format!("email: {e}")),
            }
        }
        Ok(stored)
    }

    /// Stores a support message, then forwards it by email (reply goes to the
    /// sender). Blocking (fsync, one insert).
    pub fn support_message(&self, new: NewSupportMessage, request_id: &str) -> Result<Stored, InboxError> {
        let message = SupportMessage::parse(new).map_err(InboxError::Invalid)?;
        let now = self.clock.now();
        let id = uuid::Uuid::now_v7().to_string();
        let mut record = json!({"id": id, "ts": now.to_rfc3339(), "request_id": request_id});
        merge(&mut record, &message);
        self.support.append(&record, now)?;

        let mut stored = Stored { id: id.clone(), forwarded: Vec::new(), problems: Vec::new() };
        if let Some(to) = self.receiving.as_deref() {
            let forward = SupportForward {
                id: id.clone(),
                email: message.email.to_string(),
                subject: message.subject.clone(),
                message: message.message.clone(),
                url: message.url.clone(),
                received_at: now.to_rfc3339(),
            };
            match self.notifier.send(to, &forward, Some(message.email.as_str()), Some(&format!("support:{id}"))) {
                Ok(_) => stored.forwarded.push("email"),
                Err(e) => stored.problems.push(format!("email: {e}")),
            }
        }
        Ok(stored)
    }

    /// A panic or 5xx of the server: to Sentry when configured.
    pub fn server_error(&self, error: &ServerError) {
        if let Some(sentry) = &self.sentry {
            sentry.server_error(error);
        }
    }

    pub fn errors_health(&self) -> InboxHealth {
        self.health(&self.errors, ERRORS_FILE, self.sentry.is_some())
    }

    pub fn support_health(&self) -> InboxHealth {
        self.health(&self.support, SUPPORT_FILE, false)
    }

    fn health(&self, log: &JsonlLog, file: &'static str, sentry: bool) -> InboxHealth {
        let now = self.clock.now();
        InboxHealth {
            ok: true,
            collector: if sentry { "jsonl+sentry" } else { "jsonl" },
            file,
            email: self.receiving.is_some(),
            sentry,
            date: now.format("%Y-%m-%d").to_string(),
            today: log.today(now),
        }
    }
}

/// Adds `value`'s fields to the record object.
fn merge(record: &mut serde_json::Value, value: &impl Serialize) {
    if let (Some(target), Ok(serde_json::Value::Object(fields))) = (record.as_object_mut(), serde_json::to_value(value))
    {
        target.extend(fields);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::queue::{EMAIL_SEND, system_owner};
    use crate::templates::Brand;
    use levqor_core::{ManualClock, Timestamp};
    use levqor_jobs::{JobFilter, JobQueue, MemoryQueue};

    fn inbox(dir: &std::path::Path, receiving: Option<&str>) -> (Inbox, Arc<MemoryQueue>) {
        let queue = Arc::new(MemoryQueue::new());
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new("2030-01-01T10:00:00Z".parse::<Timestamp>().unwrap()));
        let notifier = Notifier::new(queue.clone(), clock.clone(), Brand::new("https://levqor.example"));
        let config = InboxConfig { receiving: receiving.map(str::to_owned), ..InboxConfig::new(dir) };
        (Inbox::open(&config, notifier, None, clock).unwrap(), queue)
    }

    fn mails(queue: &MemoryQueue) -> Vec<serde_json::Value> {
        queue
            .list(&system_owner(), &JobFilter::default(), None, 50)
            .unwrap()
            .items
            .into_iter()
            .filter(|j| j.workflow == EMAIL_SEND)
            .map(|j| j.payload["mail"].clone())
            .collect()
    }

    #[test]
    fn records_are_stored_then_only_alerts_are_mailed() {
        let dir = tempfile::tempdir().unwrap();
        let (inbox, queue) = inbox(dir.path(), Some("ops@levqor.example"));
        let warning = NewErrorReport { message: "slow".into(), level: Some("warning".into()), ..Default::default() };
        let stored = inbox.report_error(warning, "req-1").unwrap();
        assert!(stored.forwarded.is_empty());
        let fatal = NewErrorReport { message: "<b>boom</b>".into(), level: Some("fatal".into()), ..Default::default() };
        assert_eq!(inbox.report_error(fatal, "req-2").unwrap().forwarded, ["email"]);
        let text = std::fs::read_to_string(dir.path().join(ERRORS_FILE)).unwrap();
        let records: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["level"], "warning");
        assert_eq!(records[1]["request_id"], "req-2");
        assert_eq!(records[1]["ts"], "2030-01-01T10:00:00+00:00");
        let sent = mails(&queue);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["to"], "ops@levqor.example");
        assert!(sent[0]["html"].as_str().unwrap().contains("&#60;b&#62;boom&#60;/b&#62;"));
        assert_eq!(inbox.errors_health().today, 2);
        assert_eq!(inbox.errors_health().collector, "jsonl");
        assert_eq!(inbox.support_health().today, 0);
    }

    #[test]
    fn support_messages_are_forwarded_with_reply_to_the_sender() {
        let dir = tempfile::tempdir().unwrap();
        let (inbox, queue) = inbox(dir.path(), Some("support@levqor.example"));
        let new = NewSupportMessage {
            email: "ada@example.com".into(),
            message: "Help".into(),
            subject: Some("Billing".into()),
            url: None,
        };
        let stored = inbox.support_message(new, "req-3").unwrap();
        assert_eq!(stored.forwarded, ["email"]);
        let sent = mails(&queue);
        assert_eq!(sent[0]["reply_to"], "ada@example.com");
        assert_eq!(sent[0]["subject"], "[Levqor support] Billing");
        assert_eq!(inbox.support_health().today, 1);
        assert!(matches!(
            inbox.support_message(NewSupportMessage::default(), "r"),
            Err(InboxError::Invalid(problems)) if problems.len() == 2
        ));
        assert_eq!(inbox.support_health().today, 1, "a refused message is not stored");
    }

    /// A queue whose inserts fail (the database is down for writes).
    struct RefusingQueue(MemoryQueue);

    impl JobQueue for RefusingQueue {
        fn enqueue(&self, _: &levqor_jobs::NewJob) -> Result<levqor_jobs::Job, levqor_jobs::JobsError> {
            Err(levqor_core::StorageError::Unavailable("database is read-only".into()).into())
        }
        fn claim(&self, r: &levqor_jobs::ClaimRequest) -> Result<Vec<levqor_jobs::ClaimedJob>, levqor_jobs::JobsError> {
            self.0.claim(r)
        }
        fn heartbeat(
            &self,
            id: &levqor_jobs::JobId,
            t: &levqor_jobs::LeaseToken,
            to: Timestamp,
        ) -> Result<bool, levqor_jobs::JobsError> {
            self.0.heartbeat(id, t, to)
        }
        fn complete(
            &self,
            id: &levqor_jobs::JobId,
            t: &levqor_jobs::LeaseToken,
            o: &levqor_jobs::Outcome,
            p: &levqor_jobs::RetryPolicy,
            now: Timestamp,
        ) -> Result<levqor_jobs::FinishResult, levqor_jobs::JobsError> {
            self.0.complete(id, t, o, p, now)
        }
        fn release(
            &self,
            id: &levqor_jobs::JobId,
            t: &levqor_jobs::LeaseToken,
            now: Timestamp,
        ) -> Result<bool, levqor_jobs::JobsError> {
            self.0.release(id, t, now)
        }
        fn cancel(
            &self,
            o: &levqor_core::UserId,
            id: &levqor_jobs::JobId,
            now: Timestamp,
        ) -> Result<levqor_jobs::Job, levqor_jobs::JobsError> {
            self.0.cancel(o, id, now)
        }
        fn retry(
            &self,
            o: &levqor_core::UserId,
            id: &levqor_jobs::JobId,
            now: Timestamp,
        ) -> Result<levqor_jobs::Job, levqor_jobs::JobsError> {
            self.0.retry(o, id, now)
        }
        fn rescue_expired(
            &self,
            p: &levqor_jobs::RetryPolicy,
            now: Timestamp,
            limit: u32,
        ) -> Result<Vec<levqor_jobs::Job>, levqor_jobs::JobsError> {
            self.0.rescue_expired(p, now, limit)
        }
        fn get(&self, id: &levqor_jobs::JobId) -> Result<Option<levqor_jobs::Job>, levqor_core::StorageError> {
            self.0.get(id)
        }
        fn list(
            &self,
            o: &levqor_core::UserId,
            f: &JobFilter,
            c: Option<&levqor_core::Cursor>,
            limit: u32,
        ) -> Result<levqor_core::Page<levqor_jobs::Job>, levqor_jobs::JobsError> {
            self.0.list(o, f, c, limit)
        }
        fn counts(&self, now: Timestamp) -> Result<levqor_jobs::QueueCounts, levqor_core::StorageError> {
            self.0.counts(now)
        }
        fn count_waiting(&self, o: &levqor_core::UserId) -> Result<u64, levqor_core::StorageError> {
            self.0.count_waiting(o)
        }
        fn expire_lapsed_workers(
            &self,
            worker: &str,
            now: Timestamp,
            lapse: chrono::TimeDelta,
        ) -> Result<u64, levqor_core::StorageError> {
            self.0.expire_lapsed_workers(worker, now, lapse)
        }
    }

    #[test]
    fn a_mail_that_cannot_be_queued_still_leaves_the_message_stored() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new("2030-01-01T10:00:00Z".parse::<Timestamp>().unwrap()));
        let notifier =
            Notifier::new(Arc::new(RefusingQueue(MemoryQueue::new())), clock.clone(), Brand::new("https://l.example"));
        let config = InboxConfig { receiving: Some("ops@levqor.example".into()), ..InboxConfig::new(dir.path()) };
        let inbox = Inbox::open(&config, notifier, None, clock).unwrap();
        let new = NewSupportMessage { email: "ada@example.com".into(), message: "Help".into(), ..Default::default() };
        let stored = inbox.support_message(new, "req").unwrap();
        assert!(stored.forwarded.is_empty());
        assert_eq!(stored.problems.len(), 1);
        assert!(stored.problems[0].contains("read-only"), "{:?}", stored.problems);
        let text = std::fs::read_to_string(dir.path().join(SUPPORT_FILE)).unwrap();
        assert!(text.contains(&stored.id) && text.contains("\"message\":\"Help\""), "{text}");
        assert_eq!(inbox.support_health().today, 1);
    }

    #[test]
    fn without_a_receiving_address_records_are_only_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (inbox, queue) = inbox(dir.path(), None);
        let new = NewSupportMessage { email: "ada@example.com".into(), message: "Hi".into(), ..Default::default() };
        assert!(inbox.support_message(new, "r").unwrap().forwarded.is_empty());
        assert!(mails(&queue).is_empty());
        assert!(!inbox.support_health().email);
    }
}
