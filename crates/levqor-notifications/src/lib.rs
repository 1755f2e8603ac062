//! Levqor's notifications: the emails Levqor sends and how they leave, and the
//! error and support inboxes.
//!
//! - [`templates`]: branded HTML + plain-text emails rendered with askama from
//!   `templates/email/` (user text is always escaped in the HTML part).
//! - [`transport`]: where mail goes — SMTP from `SMTP_URL`, Resend's SMTP relay
//!   with `RESEND_API_KEY`, or, with neither, `.eml` files in the outbox folder.
//! - [`queue`]: mail is durable. [`Notifier`] renders a mail and enqueues it as an
//!   `email.send` job on Levqor's job queue; the [`EmailSend`] workflow delivers
//!   it with the job retry back-off, so an SMTP outage or a crash delays a mail but
//!   never loses it, and no request waits on SMTP.
//! - [`inbox`]: `errors.jsonl` / `support.jsonl` (appended, fsynced, rotated by
//!   size, 0600), each record stored first and then forwarded: to Sentry
//!   ([`sentry_forward`]) and by email to `RECEIVING_EMAIL`.
//!
//! No HTTP serving and no SQL: the queue is the [`levqor_jobs::JobQueue`] port.

pub mod error;
pub mod inbox;
pub mod mail;
pub mod outbox;
pub mod queue;
pub mod sentry_forward;
pub mod templates;
pub mod transport;

pub use error::NotifyError;
pub use inbox::{
    ErrorLevel, ErrorReport, Inbox, InboxConfig, InboxHealth, NewErrorReport, NewSupportMessage, Stored, SupportMessage,
};
pub use mail::Mail;
pub use outbox::{Outbox, Written};
pub use queue::{EMAIL_SEND, EmailSend, Enqueued, Notifier, system_owner};
pub use sentry_forward::{SentryForwarder, ServerError};
pub use templates::{Brand, EmailContent};
pub use transport::{MailHealth, SendError, Transport, TransportConfig};
