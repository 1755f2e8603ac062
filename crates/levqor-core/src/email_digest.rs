//! Email addresses kept only as a keyed hash (HMAC-SHA256 under `LEVQOR_SECRET`):
//! equal addresses give equal digests, so visits and events can be counted and
//! joined, but a stolen database file does not give the addresses back, and
//! without the key they cannot be confirmed by hashing guesses.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Email;

/// Separates email digests from any other use of the same key.
const CONTEXT: &[u8] = b"levqor.email.v1\0";

/// 64 lowercase hex characters: the HMAC-SHA256 of a normalised address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailDigest(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an email digest is 64 lowercase hex characters")]
pub struct EmailDigestError;

impl EmailDigest {
    pub const LEN: usize = 64;

    /// A digest read back from storage.
    pub fn parse(hex: &str) -> Result<Self, EmailDigestError> {
        if hex.len() == Self::LEN && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(hex.to_owned()))
        } else {
            Err(EmailDigestError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Computes [`EmailDigest`]s (and other keyed digests) with one secret key.
#[derive(Clone)]
pub struct EmailHasher {
    key: Vec<u8>,
}

impl fmt::Debug for EmailHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailHasher(..)")
    }
}

impl EmailHasher {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    pub fn digest(&self, email: &Email) -> EmailDigest {
        EmailDigest(self.keyed(CONTEXT, email.as_str().as_bytes()))
    }

    /// A keyed digest of `data` in its own `context` (so that no two uses can
    /// produce colliding values), as lowercase hex.
    pub fn keyed(&self, context: &[u8], data: &[u8]) -> String {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(context);
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn digests_are_keyed_stable_and_normalised() {
        let a = EmailHasher::new(b"k1-0123456789abcdef0123456789abcdef");
        let b = EmailHasher::new(b"k2-0123456789abcdef0123456789abcdef");
        let e = Email::parse(" Visitor@Example.com ").unwrap();
        let d = a.digest(&e);
        assert_eq!(d, a.digest(&Email::parse("visitor@example.com").unwrap()));
        assert_ne!(d, b.digest(&e));
        assert_eq!(d.as_str().len(), 64);
        assert!(!d.as_str().contains("visitor"));
        assert_eq!(EmailDigest::parse(d.as_str()).unwrap(), d);
        assert!(EmailDigest::parse("visitor@example.com").is_err());
        assert_ne!(a.keyed(b"other", e.as_str().as_bytes()), d.as_str());
    }
}
