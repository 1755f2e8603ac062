//! The [`JobQueue`] contract: cases every implementation must pass. The in-memory
//! queue runs them in this crate; `levqor-store` runs the very same cases on SQLite
//! and PostgreSQL with [`queue_contract_tests!`](crate::queue_contract_tests).
//!
//! Each case needs an empty queue. All times are whole seconds, so a backend that
//! stores microseconds (or milliseconds) round-trips them exactly.

// Test support: a failed expectation must fail the calling test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeDelta, TimeZone, Utc};
use levqor_core::{Timestamp, UserId};
use serde_json::json;

use crate::error::JobsError;
use crate::id::{JobId, LeaseToken};
use crate::job::{Job, JobState, Priority};
use crate::new_job::NewJob;
use crate::queue::{ClaimRequest, ClaimedJob, Completion, FinishResult, JobFilter, JobQueue, Outcome};
use crate::retry::{Jitter, RetryPolicy};

pub type Case = fn(&dyn JobQueue);

/// Every case by name, for runners that do not use the macro.
pub const CASES: &[(&str, Case)] = &[
    ("enqueue_and_get_round_trip", enqueue_and_get_round_trip),
    ("enqueue_batch_stores_all", enqueue_batch_stores_all),
    ("claim_order", claim_order),
    ("claim_skips_jobs_not_due", claim_skips_jobs_not_due),
    ("claim_takes_a_lease", claim_takes_a_lease),
    ("heartbeat_extends_the_lease", heartbeat_extends_the_lease),
    ("lease_expiry_and_rescue", lease_expiry_and_rescue),
    ("stale_finish_refused", stale_finish_refused),
    ("success_stores_the_result", success_stores_the_result),
    ("retry_back_off", retry_back_off),
    ("dead_after_max_attempts", dead_after_max_attempts),
    ("non_retryable_failure_is_dead", non_retryable_failure_is_dead),
    ("cancel", cancel),
    ("manual_retry", manual_retry),
    ("release_returns_the_job", release_returns_the_job),
    ("per_owner_limit", per_owner_limit),
    ("list_filters_and_pages", list_filters_and_pages),
    ("counts_per_state", counts_per_state),
    ("count_waiting_per_owner", count_waiting_per_owner),
    ("lapsed_workers_lose_their_leases", lapsed_workers_lose_their_leases),
    ("complete_batch", complete_batch),
];

/// One `#[test]` per contract case. `$make` builds a fresh, empty queue (any
/// expression whose value implements `JobQueue`).
#[macro_export]
macro_rules! queue_contract_tests {
    ($make:expr) => {
        $crate::queue_contract_tests!(@cases $make;
            enqueue_and_get_round_trip, enqueue_batch_stores_all, claim_order,
            claim_skips_jobs_not_due, claim_takes_a_lease, heartbeat_extends_the_lease,
            lease_expiry_and_rescue, stale_finish_refused, success_stores_the_result,
            retry_back_off, dead_after_max_attempts, non_retryable_failure_is_dead, cancel,
            manual_retry, release_returns_the_job, per_owner_limit, list_filters_and_pages,
            counts_per_state, count_waiting_per_owner, lapsed_workers_lose_their_leases, complete_batch);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let queue = $make;
                $crate::contract::$case(&queue);
            }
        )*
    };
}

/// The start of every case's timeline.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap()
}

fn at(secs: i64) -> Timestamp {
    t0() + TimeDelta::seconds(secs)
}

/// Exact back-off (1 s, 2 s, 4 s …) so cases can check `run_at`.
pub fn exact_policy() -> RetryPolicy {
    RetryPolicy { jitter: Jitter::None, ..RetryPolicy::default() }
}

/// A queued `echo` job of `owner`, created at `t0 + created`.
pub fn new_job(owner: &UserId, created: i64) -> NewJob {
    NewJob {
        id: JobId::new(),
        owner: owner.clone(),
        workflow: "echo".into(),
        payload: json!({"n": created}),
        priority: Priority::Normal,
        max_attempts: 3,
        timeout_s: 300,
        run_at: at(created),
        callback_url: None,
        created_at: at(created),
    }
}

fn claim_at(q: &dyn JobQueue, limit: u32, now: Timestamp) -> Vec<ClaimedJob> {
    q.claim(&ClaimRequest {
        worker: "contract".into(),
        limit,
        lease: TimeDelta::seconds(30),
        per_owner_limit: None,
        now,
    })
    .unwrap()
}

fn claim_one(q: &dyn JobQueue, now: Timestamp) -> ClaimedJob {
    let mut claimed = claim_at(q, 1, now);
    assert_eq!(claimed.len(), 1, "expected one job to be claimable at {now}");
    claimed.remove(0)
}

fn get(q: &dyn JobQueue, id: &JobId) -> Job {
    q.get(id).unwrap().expect("the job exists")
}

fn fail(q: &dyn JobQueue, c: &ClaimedJob, retryable: bool, now: Timestamp) -> Job {
    let outcome = Outcome::Failed { error: "boom".into(), retryable, retry_after: None };
    match q.complete(&c.job.id, &c.lease_token, &outcome, &exact_policy(), now).unwrap() {
        FinishResult::Finished(job) => *job,
        FinishResult::Stale => panic!("the lease holder's finish was refused"),
    }
}

pub fn enqueue_and_get_round_trip(q: &dyn JobQueue) {
    let owner = UserId::new();
    let mut new = new_job(&owner, 0);
    new.priority = Priority::High;
    new.callback_url = Some("https://example.com/cb".into());
    new.payload = json!({"nested": {"list": [1, "two", null]}});
    let stored = q.enqueue(&new).unwrap();
    assert_eq!(stored, new.to_job());
    assert_eq!(get(q, &new.id), new.to_job());
    assert_eq!(q.get(&JobId::new()).unwrap(), None);
    assert!(q.enqueue(&new).is_err(), "the same id twice");
}

pub fn enqueue_batch_stores_all(q: &dyn JobQueue) {
    let owner = UserId::new();
    let batch: Vec<NewJob> = (0..25).map(|i| new_job(&owner, i)).collect();
    let stored = q.enqueue_batch(&batch).unwrap();
    assert_eq!(stored.len(), 25);
    for new in &batch {
        assert_eq!(get(q, &new.id).state, JobState::Queued);
    }
    assert_eq!(q.counts(at(100)).unwrap().queued, 25);
}

pub fn claim_order(q: &dyn JobQueue) {
    let owner = UserId::new();
    let old_low = NewJob { priority: Priority::Low, ..new_job(&owner, 0) };
    let normal_late = new_job(&owner, 5);
    let normal_early = new_job(&owner, 3);
    let high = NewJob { priority: Priority::High, ..new_job(&owner, 9) };
    // Same run_at as normal_early, created later: age breaks the tie.
    let normal_early_younger = NewJob { created_at: at(4), ..new_job(&owner, 3) };
    for job in [&old_low, &normal_late, &normal_early, &high, &normal_early_younger] {
        q.enqueue(job).unwrap();
    }
    let order: Vec<JobId> = claim_at(q, 10, at(10)).into_iter().map(|c| c.job.id).collect();
    let expected = [&high, &normal_early, &normal_early_younger, &normal_late, &old_low];
    assert_eq!(order, expected.map(|j| j.id.clone()));
}

pub fn claim_skips_jobs_not_due(q: &dyn JobQueue) {
    let owner = UserId::new();
    let later = new_job(&owner, 60);
    let now = new_job(&owner, 0);
    q.enqueue(&later).unwrap();
    q.enqueue(&now).unwrap();
    let first = claim_at(q, 10, at(1));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].job.id, now.id);
    assert!(claim_at(q, 10, at(2)).is_empty(), "a running job is not claimed twice");
    assert_eq!(claim_at(q, 10, at(60)).len(), 1);
}

pub fn claim_takes_a_lease(q: &dyn JobQueue) {
    let new = new_job(&UserId::new(), 0);
    q.enqueue(&new).unwrap();
    let claimed = claim_one(q, at(1));
    assert_eq!(claimed.job.state, JobState::Running);
    assert_eq!(claimed.job.attempts, 1);
    assert_eq!(claimed.job.started_at, Some(at(1)));
    assert_eq!(claimed.job.lease_expires_at, Some(at(31)));
    let stored = get(q, &new.id);
    assert_eq!(stored.state, JobState::Running);
    assert_eq!(stored.lease_expires_at, Some(at(31)));
    assert_eq!(stored.lease_token.as_ref(), Some(&claimed.lease_token));
}

pub fn heartbeat_extends_the_lease(q: &dyn JobQueue) {
    q.enqueue(&new_job(&UserId::new(), 0)).unwrap();
    let c = claim_one(q, at(0));
    assert!(q.heartbeat(&c.job.id, &c.lease_token, at(90)).unwrap());
    assert!(!q.heartbeat(&c.job.id, &LeaseToken::generate(), at(200)).unwrap());
    assert!(!q.heartbeat(&JobId::new(), &c.lease_token, at(200)).unwrap());
    assert_eq!(get(q, &c.job.id).lease_expires_at, Some(at(90)));
    assert!(q.rescue_expired(&exact_policy(), at(60), 100).unwrap().is_empty());
    assert_eq!(get(q, &c.job.id).state, JobState::Running);
}

pub fn lease_expiry_and_rescue(q: &dyn JobQueue) {
    q.enqueue(&new_job(&UserId::new(), 0)).unwrap();
    let c = claim_one(q, at(0));
    assert!(q.rescue_expired(&exact_policy(), at(29), 100).unwrap().is_empty());
    let returned = q.rescue_expired(&exact_policy(), at(30), 100).unwrap();
    let rescued = get(q, &c.job.id);
    assert_eq!(returned, vec![rescued.clone()], "the rescued job is returned as stored");
    assert_eq!(rescued.state, JobState::Failed);
    assert_eq!(rescued.run_at, at(31), "retried after the first back-off (1 s)");
    assert_eq!(rescued.lease_token, None);
    assert!(rescued.error.is_some());
    assert!(!q.heartbeat(&c.job.id, &c.lease_token, at(40)).unwrap());
    assert!(claim_at(q, 10, at(30)).is_empty(), "not before its back-off");
    let again = claim_one(q, at(31));
    assert_eq!(again.job.attempts, 2);
    assert_ne!(again.lease_token, c.lease_token);
}

pub fn stale_finish_refused(q: &dyn JobQueue) {
    q.enqueue(&new_job(&UserId::new(), 0)).unwrap();
    let old = claim_one(q, at(0));
    q.rescue_expired(&exact_policy(), at(30), 100).unwrap();
    let new = claim_one(q, at(31));
    let done = Outcome::Succeeded(json!("late"));
    let result = q.complete(&old.job.id, &old.lease_token, &done, &exact_policy(), at(32)).unwrap();
    assert_eq!(result, FinishResult::Stale);
    let job = get(q, &old.job.id);
    assert_eq!((job.state, job.result), (JobState::Running, None));
    assert!(!q.release(&old.job.id, &old.lease_token, at(32)).unwrap());
    assert_eq!(get(q, &new.job.id).lease_token.as_ref(), Some(&new.lease_token));
}

pub fn success_stores_the_result(q: &dyn JobQueue) {
    q.enqueue(&new_job(&UserId::new(), 0)).unwrap();
    let c = claim_one(q, at(0));
    let done = Outcome::Succeeded(json!({"ok": true}));
    let result = q.complete(&c.job.id, &c.lease_token, &done, &exact_policy(), at(2)).unwrap();
    let FinishResult::Finished(job) = result else { panic!("refused") };
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.result, Some(json!({"ok": true})));
    assert_eq!(job.finished_at, Some(at(2)));
    assert_eq!(job.lease_token, None);
    assert_eq!(get(q, &c.job.id), *job);
    let twice = q.complete(&c.job.id, &c.lease_token, &done, &exact_policy(), at(3)).unwrap();
    assert_eq!(twice, FinishResult::Stale, "finished exactly once");
}

pub fn retry_back_off(q: &dyn JobQueue) {
    let new = NewJob { max_attempts: 5, ..new_job(&UserId::new(), 0) };
    q.enqueue(&new).unwrap();
    let c1 = claim_one(q, at(0));
    let failed = fail(q, &c1, true, at(10));
    assert_eq!((failed.state, failed.run_at), (JobState::Failed, at(11)));
    assert_eq!(failed.error.as_deref(), Some("boom"));
    assert!(claim_at(q, 10, at(10)).is_empty());
    let c2 = claim_one(q, at(11));
    assert_eq!(c2.job.attempts, 2);
    let failed = fail(q, &c2, true, at(20));
    assert_eq!(failed.run_at, at(22), "the second back-off doubles");
}

pub fn dead_after_max_attempts(q: &dyn JobQueue) {
    let new = NewJob { max_attempts: 2, ..new_job(&UserId::new(), 0) };
    q.enqueue(&new).unwrap();
    fail(q, &claim_one(q, at(0)), true, at(1));
    let dead = fail(q, &claim_one(q, at(2)), true, at(3));
    assert_eq!((dead.state, dead.attempts, dead.finished_at), (JobState::Dead, 2, Some(at(3))));
    assert!(claim_at(q, 10, at(10_000)).is_empty());

    // A last attempt whose lease expires is dead too, and returned as such.
    let last = NewJob { max_attempts: 1, ..new_job(&UserId::new(), 1) };
    q.enqueue(&last).unwrap();
    let c = claim_one(q, at(10_000));
    let rescued = q.rescue_expired(&exact_policy(), at(10_030), 100).unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!((rescued[0].state, rescued[0].finished_at), (JobState::Dead, Some(at(10_030))));
    assert_eq!(get(q, &c.job.id), rescued[0]);
}

pub fn non_retryable_failure_is_dead(q: &dyn JobQueue) {
    q.enqueue(&new_job(&UserId::new(), 0)).unwrap();
    let dead = fail(q, &claim_one(q, at(0)), false, at(1));
    assert_eq!((dead.state, dead.attempts), (JobState::Dead, 1));
}

pub fn cancel(q: &dyn JobQueue) {
    let owner = UserId::new();
    let queued = new_job(&owner, 0);
    let running = new_job(&owner, 1);
    q.enqueue(&queued).unwrap();
    q.enqueue(&running).unwrap();
    assert_eq!(q.cancel(&UserId::new(), &queued.id, at(2)), Err(JobsError::NotFound));
    assert_eq!(q.cancel(&owner, &JobId::new(), at(2)), Err(JobsError::NotFound));

    let cancelled = q.cancel(&owner, &queued.id, at(2)).unwrap();
    assert_eq!((cancelled.state, cancelled.finished_at), (JobState::Cancelled, Some(at(2))));

    let c = claim_one(q, at(3));
    assert_eq!(c.job.id, running.id);
    assert_eq!(q.cancel(&owner, &running.id, at(4)).unwrap().state, JobState::Cancelled);
    assert!(!q.heartbeat(&c.job.id, &c.lease_token, at(5)).unwrap());
    let late = q.complete(&c.job.id, &c.lease_token, &Outcome::Succeeded(json!(1)), &exact_policy(), at(5));
    assert_eq!(late.unwrap(), FinishResult::Stale);
    assert_eq!(get(q, &running.id).state, JobState::Cancelled);
    assert!(matches!(q.cancel(&owner, &running.id, at(6)), Err(JobsError::Illegal(_))));
}

pub fn manual_retry(q: &dyn JobQueue) {
    let owner = UserId::new();
    let new = NewJob { max_attempts: 1, ..new_job(&owner, 0) };
    q.enqueue(&new).unwrap();
    assert!(matches!(q.retry(&owner, &new.id, at(1)), Err(JobsError::Illegal(_))), "queued");
    fail(q, &claim_one(q, at(0)), true, at(1));
    assert_eq!(q.retry(&UserId::new(), &new.id, at(2)), Err(JobsError::NotFound));
    let retried = q.retry(&owner, &new.id, at(5)).unwrap();
    assert_eq!((retried.state, retried.attempts, retried.run_at), (JobState::Queued, 0, at(5)));
    assert_eq!(retried.error, None);
    let c = claim_one(q, at(5));
    q.complete(&c.job.id, &c.lease_token, &Outcome::Succeeded(json!(1)), &exact_policy(), at(6)).unwrap();
    assert!(matches!(q.retry(&owner, &new.id, at(7)), Err(JobsError::Illegal(_))), "succeeded");
}

pub fn release_returns_the_job(q: &dyn JobQueue) {
    q.enqueue(&new_job(&UserId::new(), 0)).unwrap();
    let c = claim_one(q, at(0));
    assert!(q.release(&c.job.id, &c.lease_token, at(1)).unwrap());
    let job = get(q, &c.job.id);
    assert_eq!((job.state, job.attempts, job.lease_token), (JobState::Queued, 0, None));
    assert!(!q.release(&c.job.id, &c.lease_token, at(1)).unwrap());
    assert_eq!(claim_one(q, at(1)).job.attempts, 1);
}

pub fn per_owner_limit(q: &dyn JobQueue) {
    let busy = UserId::new();
    let quiet = UserId::new();
    for i in 0..5 {
        q.enqueue(&new_job(&busy, i)).unwrap();
    }
    q.enqueue(&new_job(&quiet, 10)).unwrap();
    let request = |now| ClaimRequest {
        worker: "contract".into(),
        limit: 10,
        lease: TimeDelta::seconds(30),
        per_owner_limit: Some(2),
        now,
    };
    let first = q.claim(&request(at(20))).unwrap();
    let owners: Vec<&UserId> = first.iter().map(|c| &c.job.owner).collect();
    assert_eq!(owners, [&busy, &busy, &quiet]);
    assert!(q.claim(&request(at(20))).unwrap().is_empty(), "the running ones count");

    let done = Outcome::Succeeded(json!(null));
    q.complete(&first[0].job.id, &first[0].lease_token, &done, &exact_policy(), at(21)).unwrap();
    let next = q.claim(&request(at(21))).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].job.owner, busy);
}

pub fn list_filters_and_pages(q: &dyn JobQueue) {
    let owner = UserId::new();
    let other = UserId::new();
    let mut ids = Vec::new();
    for i in 0..5 {
        let job = NewJob { workflow: if i % 2 == 0 { "echo" } else { "http.request" }.into(), ..new_job(&owner, i) };
        ids.push(job.id.clone());
        q.enqueue(&job).unwrap();
    }
    q.enqueue(&new_job(&other, 0)).unwrap();
    q.cancel(&owner, &ids[4], at(10)).unwrap();

    let all = JobFilter::default();
    let first = q.list(&owner, &all, None, 2).unwrap();
    let page1: Vec<JobId> = first.items.iter().map(|j| j.id.clone()).collect();
    assert_eq!(page1, [ids[4].clone(), ids[3].clone()], "newest first");
    let cursor = first.next_cursor.expect("more pages");
    let second = q.list(&owner, &all, Some(&cursor), 2).unwrap();
    assert_eq!(second.items.len(), 2);
    let cursor = second.next_cursor.expect("one more page");
    let third = q.list(&owner, &all, Some(&cursor), 2).unwrap();
    let page3: Vec<JobId> = third.items.iter().map(|j| j.id.clone()).collect();
    assert_eq!(page3, [ids[0].clone()]);
    assert_eq!(third.next_cursor, None);

    let echo = JobFilter { workflow: Some("echo".into()), ..JobFilter::default() };
    assert_eq!(q.list(&owner, &echo, None, 50).unwrap().items.len(), 3);
    let cancelled = JobFilter { state: Some(JobState::Cancelled), ..JobFilter::default() };
    let items = q.list(&owner, &cancelled, None, 50).unwrap().items;
    assert_eq!(items.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), [ids[4].clone()]);
    let both = JobFilter { state: Some(JobState::Queued), workflow: Some("http.request".into()) };
    assert_eq!(q.list(&owner, &both, None, 50).unwrap().items.len(), 2);
    assert_eq!(q.list(&other, &all, None, 50).unwrap().items.len(), 1);
    let bad = levqor_core::Cursor("garbage".into());
    assert!(matches!(q.list(&owner, &all, Some(&bad), 2), Err(JobsError::Invalid(_))));
}

pub fn counts_per_state(q: &dyn JobQueue) {
    let owner = UserId::new();
    let empty = q.counts(at(0)).unwrap();
    assert_eq!((empty.queued, empty.oldest_queued_at), (0, None));
    for i in 0..4 {
        q.enqueue(&new_job(&owner, i)).unwrap();
    }
    q.enqueue(&new_job(&owner, 500)).unwrap();
    let c = claim_one(q, at(100));
    fail(q, &c, false, at(101));
    let c = claim_one(q, at(101));
    let counts = q.counts(at(102)).unwrap();
    assert_eq!((counts.queued, counts.running, counts.dead), (3, 1, 1));
    assert_eq!((counts.succeeded, counts.failed, counts.cancelled), (0, 0, 0));
    assert_eq!(counts.oldest_queued_at, Some(at(2)), "the scheduled job is not waiting yet");
    let _ = c;
}

pub fn count_waiting_per_owner(q: &dyn JobQueue) {
    let (owner, other) = (UserId::new(), UserId::new());
    assert_eq!(q.count_waiting(&owner).unwrap(), 0);
    for i in 0..5 {
        q.enqueue(&new_job(&owner, i)).unwrap();
    }
    q.enqueue(&new_job(&other, 0)).unwrap();
    assert_eq!(q.count_waiting(&owner).unwrap(), 5);
    // Claimed (running): no longer waiting; failed with a retry to come: waiting
    // again; dead, succeeded or cancelled: not waiting.
    let running = claim_one(q, at(10));
    assert_eq!(q.count_waiting(&owner).unwrap() + q.count_waiting(&other).unwrap(), 5);
    fail(q, &running, true, at(11));
    assert_eq!(q.count_waiting(&owner).unwrap() + q.count_waiting(&other).unwrap(), 6);
    let c = claim_one(q, at(12));
    fail(q, &c, false, at(13));
    let waiting = q.count_waiting(&owner).unwrap() + q.count_waiting(&other).unwrap();
    assert_eq!(waiting, 5, "a dead job no longer waits");
    assert_eq!(q.count_waiting(&UserId::new()).unwrap(), 0);
}

pub fn lapsed_workers_lose_their_leases(q: &dyn JobQueue) {
    let owner = UserId::new();
    for i in 0..4 {
        q.enqueue(&new_job(&owner, i)).unwrap();
    }
    let claim_as = |worker: &str, now: Timestamp| {
        q.claim(&ClaimRequest {
            worker: worker.into(),
            limit: 2,
            lease: TimeDelta::seconds(60),
            per_owner_limit: None,
            now,
        })
        .unwrap()
    };
    let lapse = TimeDelta::seconds(10);
    // Both processes are alive and hold two jobs each, leased for a minute.
    assert_eq!(q.expire_lapsed_workers("worker-a", at(10), lapse).unwrap(), 0);
    assert_eq!(q.expire_lapsed_workers("worker-b", at(10), lapse).unwrap(), 0);
    let a = claim_as("worker-a", at(10));
    let b = claim_as("worker-b", at(10));
    assert_eq!((a.len(), b.len()), (2, 2));
    assert!(a[0].lease_token.as_str().starts_with("worker-a."));
    // worker-b goes on heartbeating; worker-a falls silent (killed).
    assert_eq!(q.expire_lapsed_workers("worker-b", at(15), lapse).unwrap(), 0, "5 s of silence is no lapse");
    assert_eq!(q.expire_lapsed_workers("worker-b", at(21), lapse).unwrap(), 2, "worker-a's two leases expire");
    let rescued = q.rescue_expired(&exact_policy(), at(21), 10).unwrap();
    let mut ids: Vec<_> = rescued.iter().map(|j| j.id.clone()).collect();
    ids.sort();
    let mut expected: Vec<_> = a.iter().map(|c| c.job.id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected, "only the silent worker's jobs are rescued, long before their leases end");
    assert!(b.iter().all(|c| get(q, &c.job.id).state == JobState::Running));
    // worker-a was forgotten: heard from again later, it is a new process.
    assert_eq!(q.expire_lapsed_workers("worker-b", at(40), lapse).unwrap(), 0);
}

pub fn complete_batch(q: &dyn JobQueue) {
    let owner = UserId::new();
    for i in 0..3 {
        q.enqueue(&new_job(&owner, i)).unwrap();
    }
    let claimed = claim_at(q, 3, at(5));
    let completions = vec![
        Completion {
            id: claimed[0].job.id.clone(),
            lease_token: claimed[0].lease_token.clone(),
            outcome: Outcome::Succeeded(json!(0)),
        },
        Completion {
            id: claimed[1].job.id.clone(),
            lease_token: LeaseToken::generate(),
            outcome: Outcome::Succeeded(json!(1)),
        },
        Completion {
            id: claimed[2].job.id.clone(),
            lease_token: claimed[2].lease_token.clone(),
            outcome: Outcome::Failed { error: "no".into(), retryable: true, retry_after: None },
        },
    ];
    let results = q.complete_batch(&completions, &exact_policy(), at(6)).unwrap();
    assert_eq!(results.len(), 3);
    assert!(matches!(&results[0], FinishResult::Finished(j) if j.state == JobState::Succeeded));
    assert_eq!(results[1], FinishResult::Stale);
    assert!(matches!(&results[2], FinishResult::Finished(j) if j.state == JobState::Failed && j.run_at == at(7)));
    assert_eq!(get(q, &claimed[1].job.id).state, JobState::Running);
}
