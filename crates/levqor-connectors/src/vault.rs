//! Sealing stored credentials: ChaCha20-Poly1305 with a key derived from the
//! server secret (`LEVQOR_SECRET`) by HKDF-SHA256 under a purpose label, a fresh
//! random 96-bit nonce per record, and the record's identity (connection id and
//! owner) as associated data, so a sealed value copied onto another row does not
//! open.
//!
//! A sealed value is text: `v1.` followed by the hex of `nonce ‖ ciphertext ‖ tag`.

use std::fmt;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use serde_json::Value;
use sha2::Sha256;

use crate::connector::Credentials;

/// The HKDF `info` label: keys for other purposes derived from the same secret
/// never coincide with this one.
const PURPOSE: &[u8] = b"levqor/connector-credentials/v1";
const SALT: &[u8] = b"levqor";
const PREFIX: &str = "v1.";
const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("the server secret is too short to key the credential vault (at least 32 bytes)")]
    WeakSecret,
    #[error("credentials could not be sealed")]
    Seal,
    /// Wrong key, a tampered value, or a value moved to another record.
    #[error("stored credentials could not be opened (wrong LEVQOR_SECRET, or tampered data)")]
    Open,
}

/// Seals and opens credentials. `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct Vault {
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(<key redacted>)")
    }
}

impl Vault {
    /// A vault keyed from the server secret (at least 32 bytes).
    pub fn from_secret(secret: &[u8]) -> Result<Self, VaultError> {
        if secret.len() < 32 {
            return Err(VaultError::WeakSecret);
        }
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(SALT), secret).expand(PURPOSE, &mut key).map_err(|_| VaultError::WeakSecret)?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
        key.fill(0);
        Ok(Self { cipher })
    }

    /// Encrypts `credentials` bound to `context` (e.g. the record's id and owner).
    pub fn seal(&self, credentials: &Credentials, context: &[u8]) -> Result<String, VaultError> {
        let plain =
            serde_json::to_vec(&Value::Object(credentials.clone().into_inner())).map_err(|_| VaultError::Seal)?;
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed =
            self.cipher.encrypt(&nonce, Payload { msg: &plain, aad: context }).map_err(|_| VaultError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", hex::encode(out)))
    }

    /// Decrypts a value made by [`Vault::seal`] with the same key and `context`.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Credentials, VaultError> {
        let raw = sealed.strip_prefix(PREFIX).ok_or(VaultError::Open)?;
        let bytes = hex::decode(raw).map_err(|_| VaultError::Open)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(VaultError::Open);
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: context })
            .map_err(|_| VaultError::Open)?;
        let value: Value = serde_json::from_slice(&plain).map_err(|_| VaultError::Open)?;
        Credentials::from_value(value).map_err(|_| VaultError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    #[test]
    fn seals_and_opens_with_the_same_context_only() {
        let vault = Vault::from_secret(SECRET).unwrap();
        let creds = Credentials::new().with("token", "xoxb-very-secret");
        let sealed = vault.seal(&creds, b"conn-1|user-1").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("xoxb") && !sealed.contains(&hex::encode("xoxb-very-secret")));
        assert_eq!(vault.open(&sealed, b"conn-1|user-1").unwrap(), creds);
        assert_eq!(vault.open(&sealed, b"conn-2|user-1"), Err(VaultError::Open));
        // A fresh nonce each time.
        assert_ne!(vault.seal(&creds, b"conn-1|user-1").unwrap(), sealed);
    }

    #[test]
    fn another_secret_or_tampering_does_not_open() {
        let vault = Vault::from_secret(SECRET).unwrap();
        let sealed = vault.seal(&Credentials::new().with("token", "t"), b"c").unwrap();
        let other = Vault::from_secret(b"another-secret-of-at-least-32-bytes!!").unwrap();
        assert_eq!(other.open(&sealed, b"c"), Err(VaultError::Open));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(vault.open(&String::from_utf8(tampered).unwrap(), b"c"), Err(VaultError::Open));
        assert_eq!(vault.open("v1.zz", b"c"), Err(VaultError::Open));
        assert_eq!(vault.open("plain", b"c"), Err(VaultError::Open));
        assert_eq!(Vault::from_secret(b"short").unwrap_err(), VaultError::WeakSecret);
        assert!(!format!("{vault:?}").contains('0'));
    }
}
