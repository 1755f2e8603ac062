//! The `JobQueue` contract of levqor-jobs, run on SQLite and on PostgreSQL, each
//! case on a fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

levqor_store::store_cases_on_both_backends!(
    contract levqor_jobs::contract;
    enqueue_and_get_round_trip,
    enqueue_batch_stores_all,
    claim_order,
    claim_skips_jobs_not_due,
    claim_takes_a_lease,
    heartbeat_extends_the_lease,
    lease_expiry_and_rescue,
    stale_finish_refused,
    success_stores_the_result,
    retry_back_off,
    dead_after_max_attempts,
    non_retryable_failure_is_dead,
    cancel,
    manual_retry,
    release_returns_the_job,
    per_owner_limit,
    list_filters_and_pages,
    counts_per_state,
    count_waiting_per_owner,
    lapsed_workers_lose_their_leases,
    complete_batch,
);
