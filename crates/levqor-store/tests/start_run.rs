//! `Store::start_run`: the credit reservation, the run record and the job are
//! written in one transaction, or not at all; on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeDelta, Utc};
use levqor_accounts::{ProfileChanges, UserRepo};
use levqor_billing::{BillingError, Ledger, ReservationState, SpendingCap};
use levqor_core::{Credits, Email, UserId};
use levqor_jobs::{IntakeRequest, JobQueue, NewJob};
use levqor_pipelines::{NewRun, Pipeline, PipelineId, PipelineRepo, PipelinesError, RunRepo, RunState, Step, Trigger};
use levqor_store::testing::TestDb;
use levqor_store::{RunStart, StartRunError, Store};
use serde_json::json;

fn create_user(store: &Store) -> UserId {
    let email = Email::parse(&format!("u{}@example.com", UserId::new().as_uuid().simple())).unwrap();
    let (user, _) = store
        .upsert_by_email(&email, &|_| Ok(ProfileChanges::default().create(email.clone(), Utc::now()).unwrap()), None)
        .unwrap();
    user.id
}

fn pipeline() -> Pipeline {
    let params = json!({"channel": "#general", "text": "hi"}).as_object().unwrap().clone();
    Pipeline {
        description: "notify".into(),
        trigger: Trigger::Manual,
        schedule: None,
        steps: vec![Step {
            id: "s1".into(),
            connector: "slack".into(),
            action: "post_message".into(),
            params,
            retry_unknown: false,
        }],
    }
}

fn job(owner: &UserId, pipeline: &PipelineId) -> NewJob {
    let request = IntakeRequest {
        workflow: format!("pipeline:{pipeline}"),
        payload: json!({}),
        callback_url: None,
        priority: None,
        max_attempts: None,
        timeout_s: None,
        run_at: None,
    };
    NewJob::from_intake(owner.clone(), request, Utc::now(), &|_| true).unwrap()
}

fn run_of(owner: &UserId, pipeline_id: &PipelineId, job: &NewJob) -> NewRun {
    NewRun {
        job_id: job.id.clone(),
        pipeline_id: pipeline_id.clone(),
        version: 1,
        owner: owner.clone(),
        input: json!({"name": "Ada"}),
        state: RunState::new(&pipeline()),
        reservation_id: None,
        created_at: Utc::now(),
    }
}

fn start(run: NewRun, job: NewJob, amount: i64, cap: Option<SpendingCap>) -> RunStart {
    let (amount, reason, ttl) = (Credits::new(amount), "run".into(), TimeDelta::hours(1));
    RunStart { run, job, amount, reason, ttl, cap, recorded: None }
}

fn all_or_nothing(store: &Store) {
    let owner = create_user(store);
    store.adjust(&owner, Credits::new(10), "test", Utc::now(), None).unwrap();
    let stored = store.create(&owner, &pipeline(), None, Utc::now()).unwrap();

    // Not enough credits: nothing is written.
    let j = job(&owner, &stored.id);
    let err = store.start_run(&start(run_of(&owner, &stored.id, &j), j.clone(), 11, None)).unwrap_err();
    assert!(matches!(err, StartRunError::Billing(BillingError::InsufficientCredits { .. })), "{err:?}");
    assert!(JobQueue::get(store, &j.id).unwrap().is_none());
    assert!(store.get_run(&j.id).unwrap().is_none());
    assert_eq!(store.balance(&owner).unwrap(), Credits::new(10));

    // The run cannot be stored (no such pipeline): the reservation is rolled back too.
    let missing = PipelineId::new();
    let j = job(&owner, &missing);
    let err = store.start_run(&start(run_of(&owner, &missing, &j), j.clone(), 2, None)).unwrap_err();
    assert!(matches!(err, StartRunError::Pipelines(PipelinesError::NotFound)), "{err:?}");
    assert!(JobQueue::get(store, &j.id).unwrap().is_none());
    assert_eq!(store.balance(&owner).unwrap(), Credits::new(10));

    // All three together.
    let j = job(&owner, &stored.id);
    let held = store.start_run(&start(run_of(&owner, &stored.id, &j), j.clone(), 2, None)).unwrap();
    assert_eq!(held.state, ReservationState::Held);
    assert_eq!(held.amount, Credits::new(2));
    assert_eq!(store.balance(&owner).unwrap(), Credits::new(8));
    assert!(JobQueue::get(store, &j.id).unwrap().is_some());
    let run = store.get_run(&j.id).unwrap().unwrap();
    assert_eq!(run.reservation_id, Some(held.id.to_string()));
}

#[test]
fn sqlite_start_run_is_all_or_nothing() {
    all_or_nothing(&TestDb::sqlite().store);
}

#[test]
fn postgres_start_run_is_all_or_nothing() {
    if let Some(db) = TestDb::postgres("postgres_start_run_is_all_or_nothing") {
        all_or_nothing(&db.store);
    }
}

/// 20 simultaneous starts of 2 credits under a cap of 10: exactly 5 pass, on
/// separate connections; credits that come back make room again; spending
/// before the cap's start does not count.
fn cap_holds_under_concurrency(store: &Store) {
    let owner = create_user(store);
    store.adjust(&owner, Credits::new(100), "test", Utc::now(), None).unwrap();
    let stored = store.create(&owner, &pipeline(), None, Utc::now()).unwrap();
    let begin = |cap: SpendingCap| {
        let j = job(&owner, &stored.id);
        store.start_run(&start(run_of(&owner, &stored.id, &j), j.clone(), 2, Some(cap)))
    };
    // Spent before the window: not counted.
    let earlier = SpendingCap { limit: Credits::new(1_000), since: Utc::now() - TimeDelta::days(1) };
    begin(earlier).unwrap();
    let cap = SpendingCap { limit: Credits::new(10), since: Utc::now() };

    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20).map(|_| scope.spawn(|| begin(cap))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let passed: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(passed.len(), 5, "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(refused, StartRunError::Billing(BillingError::SpendingCapReached { spent, needed, cap })
                if *spent == Credits::new(10) && *needed == Credits::new(2) && *cap == Credits::new(10)),
            "{refused:?}"
        );
    }
    assert_eq!(store.balance(&owner).unwrap(), Credits::new(100 - 2 - 10), "refused starts reserved nothing");

    // A released reservation is not spending: one more run fits, then no more.
    Ledger::release(store, &passed[0].id, Utc::now()).unwrap();
    begin(cap).unwrap();
    assert!(matches!(begin(cap), Err(StartRunError::Billing(BillingError::SpendingCapReached { .. }))));
}

#[test]
fn sqlite_spending_cap_holds_under_concurrency() {
    cap_holds_under_concurrency(&TestDb::sqlite().store);
}

#[test]
fn postgres_spending_cap_holds_under_concurrency() {
    if let Some(db) = TestDb::postgres("postgres_spending_cap_holds_under_concurrency") {
        cap_holds_under_concurrency(&db.store);
    }
}
