//! The pipeline ports' contract of levqor-pipelines (`PipelineRepo`, `RunRepo`,
//! `ScheduleClaims`), run on SQLite and on PostgreSQL, each case on a fresh
//! database; plus the concurrent cases across two `Store` instances on one
//! database (two Levqor processes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use levqor_store::testing::TestDb;
use levqor_store::{Store, StoreOptions};

levqor_store::store_cases_on_both_backends!(
    contract levqor_pipelines::contract;
    create_and_get_round_trip,
    list_pages_newest_first,
    versions_are_immutable,
    owners_are_isolated,
    soft_delete_keeps_versions,
    webhook_lookup,
    scheduled_listing,
    runs_round_trip,
    runs_are_checked,
    list_runs_filters_and_pages,
    concurrent_new_versions_are_consecutive,
    one_claim_per_tick,
    purge_ticks_forgets_old_claims,
);

/// A second `Store` on the database of `db`: its own pool, like another process.
fn second_instance(db: &TestDb) -> Store {
    Store::open(db.url(), &StoreOptions { max_connections: 4, ..StoreOptions::default() }).unwrap()
}

#[test]
fn sqlite_two_instances_claim_each_tick_once() {
    let db = TestDb::sqlite();
    let other = second_instance(&db);
    levqor_pipelines::contract::claims_once_across(&db.store, &other);
}

#[test]
fn sqlite_two_instances_get_consecutive_versions() {
    let db = TestDb::sqlite();
    let other = second_instance(&db);
    levqor_pipelines::contract::new_versions_across(&db.store, &other);
}

#[test]
fn postgres_two_instances_claim_each_tick_once() {
    if let Some(db) = TestDb::postgres("postgres_two_instances_claim_each_tick_once") {
        let other = second_instance(&db);
        levqor_pipelines::contract::claims_once_across(&db.store, &other);
    }
}

#[test]
fn postgres_two_instances_get_consecutive_versions() {
    if let Some(db) = TestDb::postgres("postgres_two_instances_get_consecutive_versions") {
        let other = second_instance(&db);
        levqor_pipelines::contract::new_versions_across(&db.store, &other);
    }
}
