//! A job enqueued by one process wakes the listener of another on the same
//! PostgreSQL database (`NOTIFY` at commit, `LISTEN` on a connection of its own).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use levqor_core::UserId;
use levqor_jobs::JobQueue;
use levqor_jobs::contract::new_job;
use levqor_store::testing::TestDb;
use levqor_store::{Store, StoreOptions};

#[test]
fn postgres_an_intake_in_one_process_wakes_another() {
    let Some(db) = TestDb::postgres("postgres_an_intake_in_one_process_wakes_another") else { return };
    let other_process = Store::open(db.url(), &StoreOptions::default()).unwrap();
    let (woken, wakes) = mpsc::channel();
    let listener = other_process.listen_for_jobs(move || {
        let _ = woken.send(Utc::now());
    });
    assert!(listener.is_some(), "PostgreSQL listens");
    // The listener looks once when it connects; wait for that before enqueuing.
    wakes.recv_timeout(Duration::from_secs(20)).expect("the listener connected");
    let owner = UserId::new();
    db.store.enqueue(&new_job(&owner, 0)).unwrap();
    wakes.recv_timeout(Duration::from_secs(20)).expect("the other process was woken by the enqueue");
    drop(listener);
}

#[test]
fn sqlite_has_no_cross_process_listener() {
    let db = TestDb::sqlite();
    assert!(db.store.listen_for_jobs(|| {}).is_none());
}
