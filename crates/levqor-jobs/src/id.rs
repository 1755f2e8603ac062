//! Job identifiers and lease tokens.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};

levqor_core::define_id!(
    /// A job. UUIDv7 like every Levqor id, so ids sort by creation time and a
    /// cursor can simply be the last id seen.
    JobId
);

/// Proof of holding a job's lease. A worker may heartbeat or finish a job only
/// with the token it got when claiming it, so a job whose lease expired and was
/// handed to someone else cannot be finished by the old worker.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseToken(String);

impl LeaseToken {
    /// 128 random bits, hex-encoded.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// A token for a claim by `worker`: `<worker>.<128 random bits>`, so the jobs
    /// a crashed process held can be found by its worker id
    /// ([`crate::JobQueue::expire_lapsed_workers`]).
    pub fn generate_for(worker: &str) -> Self {
        let random = Self::generate();
        Self(format!("{worker}.{}", random.0))
    }

    /// The prefix [`Self::generate_for`] gives `worker`'s tokens.
    pub fn prefix_of(worker: &str) -> String {
        format!("{worker}.")
    }

    /// Wraps a token read back from storage.
    pub fn from_stored(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Tokens are capabilities: keep them out of logs.
impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LeaseToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_round_trip_and_sort_by_time() {
        let a = JobId::new();
        let b = JobId::new();
        assert!(a < b);
        assert_eq!(a, a.to_string().parse().unwrap());
        assert!("nope".parse::<JobId>().is_err());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{a}\""));
    }

    #[test]
    fn lease_tokens_are_random_and_not_logged() {
        let a = LeaseToken::generate();
        assert_ne!(a, LeaseToken::generate());
        assert_eq!(a.as_str().len(), 32);
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
