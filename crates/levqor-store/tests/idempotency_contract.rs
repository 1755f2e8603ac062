//! Idempotency-Key records and the group-commit intake write, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use levqor_core::UserId;
use levqor_jobs::{
    Begin, Fingerprint, IdempotencyKey, IdempotencyStore, IntakeRequest, JobQueue, NewJob, StoredResponse,
};
use levqor_jobs::{Intake, RecordedResponse};
use levqor_store::testing::TestDb;

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::parse(s).unwrap()
}

mod cases {
    use super::*;

    pub fn begin_complete_replay(db: &TestDb) {
        let s = &db.store;
        let now = Utc::now();
        let fp = Fingerprint::of("POST", "/api/v1/intake", b"{\"a\":1}");
        assert_eq!(s.begin("caller", &key("k1"), &fp, now).unwrap(), Begin::Fresh);
        assert_eq!(s.begin("caller", &key("k1"), &fp, now).unwrap(), Begin::InFlight);
        // Keys are per caller.
        assert_eq!(s.begin("other", &key("k1"), &fp, now).unwrap(), Begin::Fresh);
        let other_fp = Fingerprint::of("POST", "/api/v1/intake", b"{\"a\":2}");
        assert_eq!(s.begin("caller", &key("k1"), &other_fp, now).unwrap(), Begin::Mismatch);
        let response = StoredResponse { status: 202, body: "{\"job_id\":\"x\"}".into() };
        IdempotencyStore::complete(s, "caller", &key("k1"), &response, now).unwrap();
        assert_eq!(s.begin("caller", &key("k1"), &fp, now).unwrap(), Begin::Replay(response.clone()));
        assert_eq!(s.begin("caller", &key("k1"), &other_fp, now).unwrap(), Begin::Mismatch);
        // After 24 h the key is forgotten.
        let later = now + Duration::hours(25);
        assert_eq!(s.purge_expired(later).unwrap(), 2);
        assert_eq!(s.begin("caller", &key("k1"), &other_fp, later).unwrap(), Begin::Fresh);
    }

    pub fn abandon_lets_a_retry_run(db: &TestDb) {
        let s = &db.store;
        let now = Utc::now();
        let fp = Fingerprint::of("POST", "/x", b"{}");
        assert_eq!(s.begin("c", &key("k"), &fp, now).unwrap(), Begin::Fresh);
        s.abandon("c", &key("k")).unwrap();
        assert_eq!(s.begin("c", &key("k"), &fp, now).unwrap(), Begin::Fresh);
    }

    pub fn concurrent_first_requests_run_once(db: &TestDb) {
        let now = Utc::now();
        let fp = Fingerprint::of("POST", "/x", b"{}");
        let outcomes: Vec<Begin> = std::thread::scope(|scope| {
            let handles: Vec<_> =
                (0..8).map(|_| scope.spawn(|| db.store.begin("c", &key("race"), &fp, now).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(outcomes.iter().filter(|b| **b == Begin::Fresh).count(), 1, "{outcomes:?}");
        assert!(outcomes.iter().all(|b| *b == Begin::Fresh || *b == Begin::InFlight));
    }

    pub fn intake_batch_stores_jobs_and_responses_together(db: &TestDb) {
        let s = &db.store;
        let now = Utc::now();
        let owner = UserId::new();
        let fp = Fingerprint::of("POST", "/api/v1/intake", b"{}");
        assert_eq!(s.begin("c", &key("ik"), &fp, now).unwrap(), Begin::Fresh);
        let job = |n: i64| {
            let request: IntakeRequest =
                serde_json::from_value(serde_json::json!({"workflow": "echo", "payload": {"n": n}})).unwrap();
            NewJob::from_intake(owner.clone(), request, now, &|_| true).unwrap()
        };
        let response = StoredResponse { status: 202, body: "{}".into() };
        let batch = vec![
            Intake {
                job: job(1),
                recorded: Some(RecordedResponse { caller: "c".into(), key: key("ik"), response: response.clone() }),
            },
            Intake { job: job(2), recorded: None },
        ];
        let stored = s.intake_batch(&batch, now).unwrap();
        assert_eq!(stored.len(), 2);
        for j in &stored {
            assert!(s.get(&j.id).unwrap().is_some());
        }
        assert_eq!(s.begin("c", &key("ik"), &fp, now).unwrap(), Begin::Replay(response));
        // A batch that fails leaves nothing behind: the same ids again collide.
        assert!(s.intake_batch(&[Intake { job: job(3), recorded: None }, batch[0].clone()], now).is_err());
        assert_eq!(s.counts(now).unwrap().queued, 2);
    }
}

levqor_store::store_cases_on_both_backends!(
    begin_complete_replay,
    abandon_lets_a_retry_run,
    concurrent_first_requests_run_once,
    intake_batch_stores_jobs_and_responses_together
);
