//! The outbox folder: RFC 5322 messages written as `.eml` files into
//! `LEVQOR_DATA_DIR/outbox` (files 0600, the folder 0700), for an operator or a
//! mail relay to pick up. The embedded default transport, and where a mail that
//! could not be delivered at all is kept (`outbox/undelivered`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::mail::file_safe;

/// Whether a message was written, or one with the same id was there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    New,
    AlreadyThere,
}

#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// The outbox under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self { dir: data_dir.join("outbox") }
    }

    /// Where undeliverable mail is kept, under this outbox.
    pub fn undelivered(&self) -> Self {
        Self { dir: self.dir.join("undelivered") }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `message` as `<id>.eml`, fsynced. `id` makes the write idempotent: a
    /// second message with the same id (a retried job) is not written again.
    pub fn write(&self, id: &str, message: &[u8]) -> std::io::Result<Written> {
        levqor_core::private_fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("{}.eml", file_safe(id)));
        let mut file = match levqor_core::private_fs::create_new(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(Written::AlreadyThere),
            Err(e) => return Err(e),
        };
        let written = file.write_all(message).and_then(|()| file.sync_all());
        if let Err(e) = written {
            // A half-written file would make the retry think the mail was written.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Written::New)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_one_private_eml_per_id() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path());
        assert_eq!(outbox.write("evt_1/../x", b"Subject: a\r\n\r\nbody").unwrap(), Written::New);
        assert_eq!(outbox.write("evt_1/../x", b"other").unwrap(), Written::AlreadyThere);
        let files: Vec<_> = std::fs::read_dir(outbox.dir()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let path = outbox.dir().join("evt_1____x.eml");
        assert_eq!(std::fs::read(&path).unwrap(), b"Subject: a\r\n\r\nbody");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(outbox.dir()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        assert!(outbox.undelivered().dir().ends_with("outbox/undelivered"));
    }
}
