use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use levqor_core::{StorageError, Timestamp};

use super::{
    Begin, Fingerprint, IdempotencyKey, IdempotencyRecord, IdempotencyStore, RETENTION, RecordState, StoredResponse,
    decide, in_flight_record,
};

/// Records by (caller, key).
type Records = HashMap<(String, IdempotencyKey), IdempotencyRecord>;

/// In-memory idempotency records: for tests and single-process embedding.
#[derive(Default)]
pub struct MemoryIdempotency {
    records: Mutex<Records>,
}

impl MemoryIdempotency {
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> Result<MutexGuard<'_, Records>, StorageError> {
        self.records.lock().map_err(|_| StorageError::Failure("in-memory idempotency store poisoned".into()))
    }
}

impl IdempotencyStore for MemoryIdempotency {
    fn begin(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: Timestamp,
    ) -> Result<Begin, StorageError> {
        let mut records = self.records()?;
        let slot = (caller.to_owned(), key.clone());
        let decision = decide(records.get(&slot), fingerprint, now);
        if decision == Begin::Fresh {
            records.insert(slot, in_flight_record(caller, key, fingerprint, now));
        }
        Ok(decision)
    }

    fn complete(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        response: &StoredResponse,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let mut records = self.records()?;
        if let Some(record) = records.get_mut(&(caller.to_owned(), key.clone())) {
            record.state = RecordState::Completed(response.clone());
            record.expires_at = now + RETENTION;
        }
        Ok(())
    }

    fn abandon(&self, caller: &str, key: &IdempotencyKey) -> Result<(), StorageError> {
        let mut records = self.records()?;
        let slot = (caller.to_owned(), key.clone());
        if records.get(&slot).is_some_and(|r| r.state == RecordState::InFlight) {
            records.remove(&slot);
        }
        Ok(())
    }

    fn purge_expired(&self, now: Timestamp) -> Result<u64, StorageError> {
        let mut records = self.records()?;
        let before = records.len();
        records.retain(|_, r| r.expires_at > now);
        Ok((before - records.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn the_full_cycle() {
        let store = MemoryIdempotency::new();
        let key = IdempotencyKey::parse("abc").unwrap();
        let fp = Fingerprint::of("POST", "/api/v1/intake", b"{\"workflow\":\"echo\"}");
        let other = Fingerprint::of("POST", "/api/v1/intake", b"{}");
        let response = StoredResponse { status: 202, body: "{\"job_id\":\"1\"}".into() };

        assert_eq!(store.begin("alice", &key, &fp, t0()).unwrap(), Begin::Fresh);
        assert_eq!(store.begin("alice", &key, &fp, t0()).unwrap(), Begin::InFlight);
        assert_eq!(store.begin("alice", &key, &other, t0()).unwrap(), Begin::Mismatch);
        assert_eq!(store.begin("bob", &key, &other, t0()).unwrap(), Begin::Fresh, "keys are per caller");

        store.complete("alice", &key, &response, t0()).unwrap();
        let later = t0() + TimeDelta::hours(1);
        assert_eq!(store.begin("alice", &key, &fp, later).unwrap(), Begin::Replay(response.clone()));
        store.abandon("alice", &key).unwrap();
        assert_eq!(store.begin("alice", &key, &fp, later).unwrap(), Begin::Replay(response), "completed stays");

        assert_eq!(store.purge_expired(later).unwrap(), 0);
        assert_eq!(store.purge_expired(t0() + RETENTION + TimeDelta::seconds(1)).unwrap(), 2);
        assert_eq!(store.begin("alice", &key, &fp, t0() + RETENTION * 2).unwrap(), Begin::Fresh);
    }

    #[test]
    fn abandon_lets_a_retry_run() {
        let store = MemoryIdempotency::new();
        let key = IdempotencyKey::parse("k").unwrap();
        let fp = Fingerprint::of("POST", "/x", b"");
        assert_eq!(store.begin("c", &key, &fp, t0()).unwrap(), Begin::Fresh);
        store.abandon("c", &key).unwrap();
        assert_eq!(store.begin("c", &key, &fp, t0()).unwrap(), Begin::Fresh);
    }
}
