//! The email outbox: RFC 5322 messages written as `.eml` files into
//! `LEVQOR_DATA_DIR/outbox`, for an operator or a mail relay to pick up.

use std::io::Write;
use std::path::{Path, PathBuf};

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("`{0}` is not a usable email address")]
    Address(String),
    #[error("the email could not be built: {0}")]
    Build(String),
    #[error("the outbox could not be written: {0}")]
    Io(#[from] std::io::Error),
}

/// One plain-text email.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    from: String,
}

/// Whether a message was written, or one with the same id was there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    New,
    AlreadyThere,
}

impl Outbox {
    pub fn new(data_dir: &Path, from: impl Into<String>) -> Self {
        Self { dir: data_dir.join("outbox"), from: from.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `email` as `<id>.eml`. `id` makes the write idempotent: a second
    /// message with the same id (a redelivered event) is not written again.
    pub fn write(&self, id: &str, email: &OutboxMail) -> Result<Written, OutboxError> {
        let from: Mailbox = self.from.parse().map_err(|_| OutboxError::Address(self.from.clone()))?;
        let to: Mailbox = email.to.parse().map_err(|_| OutboxError::Address(email.to.clone()))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| OutboxError::Build(e.to_string()))?;
        levqor_core::private_fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("{}.eml", file_stem(id)));
        let mut file = match levqor_core::private_fs::create_new(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(Written::AlreadyThere),
            Err(e) => return Err(e.into()),
        };
        file.write_all(&message.formatted())?;
        file.sync_all()?;
        Ok(Written::New)
    }
}

/// A safe file name for `id`: letters, digits, `_` and `-` only, at most 120.
fn file_stem(id: &str) -> String {
    let stem: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).take(120).collect();
    if stem.is_empty() { "message".to_owned() } else { stem }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_one_eml_per_id() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path(), "Levqor <billing@example.com>");
        let email = OutboxMail { to: "ada@example.com".into(), subject: "Hello".into(), body: "Hi Ada".into() };
        assert_eq!(outbox.write("evt_1/../x", &email).unwrap(), Written::New);
        assert_eq!(outbox.write("evt_1/../x", &email).unwrap(), Written::AlreadyThere);
        let files: Vec<_> = std::fs::read_dir(outbox.dir()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(outbox.dir().join("evt_1____x.eml")).unwrap();
        assert!(text.contains("To: ada@example.com"), "{text}");
        assert!(text.contains("Subject: Hello"), "{text}");
        assert!(text.contains("Message-ID:") || text.contains("Date:"), "{text}");
        assert!(outbox.write("e", &OutboxMail { to: "not an address".into(), ..email }).is_err());
    }
}
