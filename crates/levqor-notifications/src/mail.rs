//! One rendered email, as it is queued: recipients, subject and both parts.

use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use serde::{Deserialize, Serialize};

use crate::error::NotifyError;

/// A rendered email: the `email.send` job's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// A mail to `to`; the subject is made one line (no header injection).
    pub fn new(to: impl Into<String>, subject: &str, text: String, html: String) -> Self {
        Self { to: to.into(), reply_to: None, subject: one_line(subject, 250), text, html }
    }

    pub fn with_reply_to(mut self, reply_to: impl Into<String>) -> Self {
        self.reply_to = Some(reply_to.into());
        self
    }

    /// Checks the addresses now, so a bad one is refused when the mail is queued
    /// rather than failing every delivery attempt.
    pub fn check(&self) -> Result<(), NotifyError> {
        mailbox(&self.to)?;
        self.reply_to.as_deref().map(mailbox).transpose()?;
        Ok(())
    }

    /// The RFC 5322 message: `multipart/alternative` with the text part first (the
    /// fallback) and the HTML part last (preferred), and a `Message-ID` built from
    /// `id`, so a redelivered mail can be recognised as the same one.
    pub fn message(&self, from: &Mailbox, id: &str) -> Result<Message, NotifyError> {
        let domain = from.email.domain().to_owned();
        let mut builder = Message::builder()
            .from(from.clone())
            .to(mailbox(&self.to)?)
            .subject(one_line(&self.subject, 250))
            .message_id(Some(format!("<{}@{domain}>", file_safe(id))))
            .header(AutoSubmitted);
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(mailbox(reply_to)?);
        }
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(self.text.clone()))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(self.html.clone())),
            )
            .map_err(|e| NotifyError::Build(e.to_string()))
    }
}

fn mailbox(raw: &str) -> Result<Mailbox, NotifyError> {
    raw.trim().parse().map_err(|_| NotifyError::Address(raw.chars().take(120).collect()))
}

/// `Auto-Submitted: auto-generated` (RFC 3834): vacation responders stay quiet.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// `text` on one line, control characters replaced by spaces, at most `max` chars.
pub fn one_line(text: &str, max: usize) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    line.trim().to_owned()
}

/// Letters, digits, `_` and `-` only, at most 120: safe in a file name and in a
/// `Message-ID`.
pub fn file_safe(id: &str) -> String {
    let stem: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).take(120).collect();
    if stem.is_empty() { "message".to_owned() } else { stem }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn subjects_are_one_line_and_addresses_checked() {
        let mail = Mail::new("ada@example.com", "Hello\r\nBcc: evil@example.com", "t".into(), "<p>h</p>".into());
        assert_eq!(mail.subject, "Hello  Bcc: evil@example.com");
        assert!(mail.check().is_ok());
        assert!(Mail::new("not an address", "s", String::new(), String::new()).check().is_err());
        let from: Mailbox = "Levqor <no-reply@levqor.example>".parse().unwrap();
        let text = String::from_utf8(mail.message(&from, "job/1").unwrap().formatted()).unwrap();
        assert!(text.contains("Message-ID: <job_1@levqor.example>"), "{text}");
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert_eq!(file_safe("evt_1/../x"), "evt_1____x");
        assert_eq!(file_safe(""), "message");
    }
}
