//! API keys: generated with ≥128 random bits, shown once, stored only as a SHA-256
//! hash, compared in constant time.

use std::fmt;

use levqor_core::{ApiKeyId, FieldProblem, Timestamp, UserId};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every Levqor key starts with this, so leaked keys are easy to grep for.
pub const KEY_PREFIX: &str = "lq_";
const PUBLIC_LEN: usize = 8;
/// 32 alphanumeric characters: log2(62^32) ≈ 190 bits of secret.
const SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    User,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Scope::User),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// The SHA-256 of a key; the only form in which a key is stored.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    pub fn of(presented: &str) -> Self {
        Self(Sha256::digest(presented.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// Constant-time equality, so comparing never leaks how many bytes matched.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &self.to_hex()[..8])
    }
}

/// A key as stored: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    /// `None` for an admin key that belongs to no user.
    pub user_id: Option<UserId>,
    /// The readable start of the key (`lq_ab12cd34`), safe to show in lists.
    pub prefix: String,
    pub hash: KeyHash,
    pub scope: Scope,
    pub label: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl ApiKeyRecord {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Neither revoked nor expired.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && !self.is_expired(now)
    }
}

/// A freshly generated key: the record to store and the secret to show once.
#[derive(Debug)]
pub struct GeneratedKey {
    pub record: ApiKeyRecord,
    pub secret: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKeyRequest {
    pub label: Option<String>,
    pub expires_at: Option<Timestamp>,
}

impl NewKeyRequest {
    pub fn validate(&self, now: Timestamp) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if let Some(label) = &self.label
            && label.chars().count() > 100
        {
            problems.push(FieldProblem::new("label", "must be at most 100 characters"));
        }
        if let Some(at) = self.expires_at
            && at <= now
        {
            problems.push(FieldProblem::new("expires_at", "must be in the future"));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

fn random_alphanumeric(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// Generate a key `lq_<8 public>_<32 secret>` for `user_id` (or an admin key for nobody).
pub fn generate(user_id: Option<UserId>, scope: Scope, request: &NewKeyRequest, now: Timestamp) -> GeneratedKey {
    let public = random_alphanumeric(PUBLIC_LEN).to_lowercase();
    let secret = format!("{KEY_PREFIX}{public}_{}", random_alphanumeric(SECRET_LEN));
    let record = ApiKeyRecord {
        id: ApiKeyId::new(),
        user_id,
        prefix: format!("{KEY_PREFIX}{public}"),
        hash: KeyHash::of(&secret),
        scope,
        label: request.label.clone(),
        created_at: now,
        expires_at: request.expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    GeneratedKey { record, secret }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    #[test]
    fn generated_keys_are_long_unique_and_hashed() {
        let now = Utc::now();
        let a = generate(None, Scope::Admin, &NewKeyRequest::default(), now);
        let b = generate(None, Scope::Admin, &NewKeyRequest::default(), now);
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(&a.record.prefix));
        assert_eq!(a.secret.len(), KEY_PREFIX.len() + PUBLIC_LEN + 1 + SECRET_LEN);
        assert!(a.record.hash.ct_eq(&KeyHash::of(&a.secret)));
        assert!(!a.record.hash.ct_eq(&b.record.hash));
        assert!(!format!("{:?}", a.record).contains(&a.secret));
    }

    #[test]
    fn hash_hex_round_trips() {
        let h = KeyHash::of("lq_test");
        assert_eq!(KeyHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(KeyHash::from_hex("zz"), None);
    }

    #[test]
    fn expiry() {
        let now = Utc::now();
        let req = NewKeyRequest { label: None, expires_at: Some(now + Duration::hours(1)) };
        let key = generate(None, Scope::User, &req, now);
        assert!(!key.record.is_expired(now));
        assert!(key.record.is_expired(now + Duration::hours(2)));
        let past = NewKeyRequest { label: None, expires_at: Some(now - Duration::seconds(1)) };
        assert_eq!(past.validate(now).unwrap_err()[0].field, "expires_at");
    }

    #[test]
    fn scopes_parse() {
        assert_eq!(Scope::parse("admin"), Some(Scope::Admin));
        assert_eq!(Scope::parse("root"), None);
    }
}
