//! The per-owner limit holds when several processes claim from one PostgreSQL
//! database at the same moment: two stores with their own connection pools (as
//! two `levqor` processes have) claim for the same owner at a barrier, round
//! after round, and never hold more than the limit between them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};

use chrono::{TimeDelta, Utc};
use levqor_core::UserId;
use levqor_jobs::contract::{exact_policy, new_job};
use levqor_jobs::{ClaimRequest, JobQueue, Outcome};
use levqor_store::testing::TestDb;
use levqor_store::{Store, StoreOptions};

fn claim_round(stores: &[Store; 2], owner_limit: u32) -> Vec<levqor_jobs::ClaimedJob> {
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store
                    .claim(&ClaimRequest {
                        worker: "racer".into(),
                        limit: 4,
                        lease: TimeDelta::seconds(30),
                        per_owner_limit: Some(owner_limit),
                        now: Utc::now(),
                    })
                    .unwrap()
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
}

#[test]
fn postgres_per_owner_limit_holds_across_two_processes() {
    let Some(db) = TestDb::postgres("postgres_per_owner_limit_holds_across_two_processes") else { return };
    let second = Store::open(db.url(), &StoreOptions::default()).unwrap();
    let stores = [db.store.clone(), second];
    let owner = UserId::new();
    let due = Utc::now() - TimeDelta::hours(1);
    let jobs: Vec<_> = (0..40)
        .map(|i| {
            let mut job = new_job(&owner, i);
            (job.run_at, job.created_at) = (due, due + TimeDelta::seconds(i));
            job
        })
        .collect();
    stores[0].enqueue_batch(&jobs).unwrap();
    for round in 0..20 {
        let claimed = claim_round(&stores, 1);
        assert_eq!(claimed.len(), 1, "round {round}: two processes together hold {} jobs of one owner", claimed.len());
        let running = stores[1].counts(Utc::now()).unwrap().running;
        assert_eq!(running, 1, "round {round}");
        for c in claimed {
            let done = Outcome::Succeeded(serde_json::json!({}));
            stores[0].complete(&c.job.id, &c.lease_token, &done, &exact_policy(), Utc::now()).unwrap();
        }
    }
}
