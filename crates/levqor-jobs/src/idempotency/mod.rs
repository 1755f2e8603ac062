//! `Idempotency-Key`: the first response to a request is kept for 24 h per caller
//! and key and replayed for a retry with the same body; the same key with another
//! body is a mismatch (422); a retry while the first is still running is a
//! conflict (409). This module is the domain part; the HTTP layer wraps handlers
//! with it and `levqor-store` implements [`IdempotencyStore`].

mod memory;

use std::fmt;

use chrono::TimeDelta;
use levqor_core::{StorageError, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use memory::MemoryIdempotency;

/// A completed response to record in the same transaction as the write it
/// answers (the intake writer's batch, a run's start).
#[derive(Debug, Clone)]
pub struct RecordedResponse {
    /// Whose key it is (keys are scoped to the API key that sent them).
    pub caller: String,
    pub key: IdempotencyKey,
    pub response: StoredResponse,
}

/// One intake: a job and, when the request carried an `Idempotency-Key`, the
/// response to replay for it; both are committed together.
#[derive(Debug, Clone)]
pub struct Intake {
    pub job: crate::new_job::NewJob,
    pub recorded: Option<RecordedResponse>,
}

/// How long a response is kept and replayed.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);
/// An in-flight record older than this is taken for a request that died (process
/// killed mid-request), so a retry may proceed rather than see 409 for 24 h.
pub const IN_FLIGHT_TIMEOUT: TimeDelta = TimeDelta::minutes(5);
pub const MAX_KEY_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Idempotency-Key must be 1 to 255 printable ASCII characters")]
pub struct InvalidKey;

/// A caller-chosen key: 1..=255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidKey> {
        let printable = raw.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if raw.is_empty() || raw.len() > MAX_KEY_LEN || !printable {
            return Err(InvalidKey);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = InvalidKey;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> String {
        key.0
    }
}

/// SHA-256 of the request's method, path and body bytes: "the same request".
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(method: &str, path: &str, body: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        // Length prefixes keep ("a", "bc") and ("ab", "c") apart.
        for part in [method.as_bytes(), path.as_bytes(), body] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        Self(hasher.finalize().into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// The response that is replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    /// The JSON body as sent.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    InFlight,
    Completed(StoredResponse),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Whose key this is (the API key's id): keys are scoped per caller.
    pub caller: String,
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    pub state: RecordState,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What to do with an incoming request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Run it (an in-flight record is now held for it).
    Fresh,
    /// Answer with the stored response.
    Replay(StoredResponse),
    /// Same key, different request: 422 `idempotency_mismatch`.
    Mismatch,
    /// The first request is still running: 409 `conflict`.
    InFlight,
}

/// The decision, given what is stored for (caller, key). `Fresh` means the caller
/// must (over)write the record with [`in_flight_record`].
pub fn decide(existing: Option<&IdempotencyRecord>, fingerprint: &Fingerprint, now: Timestamp) -> Begin {
    let Some(record) = existing.filter(|r| r.expires_at > now) else {
        return Begin::Fresh;
    };
    if &record.fingerprint != fingerprint {
        return Begin::Mismatch;
    }
    match &record.state {
        RecordState::Completed(response) => Begin::Replay(response.clone()),
        RecordState::InFlight if record.created_at + IN_FLIGHT_TIMEOUT <= now => Begin::Fresh,
        RecordState::InFlight => Begin::InFlight,
    }
}

pub fn in_flight_record(
    caller: &str,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
    now: Timestamp,
) -> IdempotencyRecord {
    IdempotencyRecord {
        caller: caller.to_owned(),
        key: key.clone(),
        fingerprint: *fingerprint,
        state: RecordState::InFlight,
        created_at: now,
        expires_at: now + RETENTION,
    }
}

/// Which responses are worth replaying. Server errors (and 409/429, which say
/// "try again") are not: the caller should `abandon` so a retry runs afresh.
pub fn should_store(status: u16) -> bool {
    status < 500 && status != 409 && status != 429
}

/// Storage for idempotency records. Blocking, like every port.
pub trait IdempotencyStore: Send + Sync {
    /// Atomically reads the record for (caller, key), [`decide`]s, and on `Fresh`
    /// writes an in-flight record.
    fn begin(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: Timestamp,
    ) -> Result<Begin, StorageError>;
    /// Stores the response to replay; retention runs from `now`.
    fn complete(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        response: &StoredResponse,
        now: Timestamp,
    ) -> Result<(), StorageError>;
    /// Forgets an in-flight record (the request failed), so a retry can proceed.
    fn abandon(&self, caller: &str, key: &IdempotencyKey) -> Result<(), StorageError>;
    /// Deletes expired records; returns how many.
    fn purge_expired(&self, now: Timestamp) -> Result<u64, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse("order 42/retry~").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "tab\there", "new\nline", "é"] {
            assert_eq!(IdempotencyKey::parse(bad), Err(InvalidKey), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn fingerprints_cover_method_path_and_body() {
        let a = Fingerprint::of("POST", "/api/v1/intake", b"{}");
        assert_eq!(a, Fingerprint::of("POST", "/api/v1/intake", b"{}"));
        assert_ne!(a, Fingerprint::of("PUT", "/api/v1/intake", b"{}"));
        assert_ne!(a, Fingerprint::of("POST", "/api/v1/run", b"{}"));
        assert_ne!(a, Fingerprint::of("POST", "/api/v1/intake", b"{ }"));
        assert_ne!(Fingerprint::of("POST", "/a", b"bc"), Fingerprint::of("POST", "/ab", b"c"));
        assert_eq!(Fingerprint::from_hex(&a.to_hex()), Some(a));
        assert_eq!(Fingerprint::from_hex("zz"), None);
    }

    #[test]
    fn decisions() {
        let key = IdempotencyKey::parse("k").unwrap();
        let fp = Fingerprint::of("POST", "/x", b"1");
        let other = Fingerprint::of("POST", "/x", b"2");
        let mut record = in_flight_record("caller", &key, &fp, t0());

        assert_eq!(decide(None, &fp, t0()), Begin::Fresh);
        assert_eq!(decide(Some(&record), &fp, t0()), Begin::InFlight);
        assert_eq!(decide(Some(&record), &other, t0()), Begin::Mismatch);
        assert_eq!(decide(Some(&record), &fp, t0() + IN_FLIGHT_TIMEOUT), Begin::Fresh, "a dead request");

        let response = StoredResponse { status: 202, body: "{}".into() };
        record.state = RecordState::Completed(response.clone());
        assert_eq!(decide(Some(&record), &fp, t0() + TimeDelta::hours(23)), Begin::Replay(response));
        assert_eq!(decide(Some(&record), &other, t0() + TimeDelta::hours(23)), Begin::Mismatch);
        assert_eq!(decide(Some(&record), &other, t0() + RETENTION), Begin::Fresh, "expired");
    }

    #[test]
    fn only_final_answers_are_stored() {
        assert!(should_store(202) && should_store(400) && should_store(402) && should_store(404));
        assert!(!should_store(409) && !should_store(429) && !should_store(500) && !should_store(503));
    }
}
