//! `Store::start_run`: the credit reservation, the run record and the job are
//! written in one transaction, or not at all; on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeDelta, Utc};
use levqor_accounts::{ProfileChanges, UserRepo};
use levqor_billing::{BillingError, Ledger, ReservationState};
use levqor_core::{Credits, Email, UserId};
use levqor_jobs::{IntakeRequest, JobQueue, NewJob};
use levqor_pipelines::{NewRun, Pipeline, PipelineId, PipelineRepo, PipelinesError, RunRepo, RunState, Step, Trigger};
use levqor_store::testing::TestDb;
use levqor_store::{StartRunError, Store};
use serde_json::json;

fn create_user(store: &Store) -> UserId {
    let email = Email::parse(&format!("u{}@example.com", UserId::new().as_uuid().simple())).unwrap();
    let (user, _) = store
        .upsert_by_email(&email, &|_| Ok(ProfileChanges::default().create(email.clone(), Utc::now()).unwrap()))
        .unwrap();
    user.id
}

fn pipeline() -> Pipeline {
    let params = json!({"channel": "#general", "text": "hi"}).as_object().unwrap().clone();
    Pipeline {
        description: "notify".into(),
        trigger: Trigger::Manual,
        schedule: None,
        steps: vec![Step { id: "s1".into(), connector: "slack".into(), action: "post_message".into(), params }],
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

fn all_or_nothing(store: &Store) {
    let owner = create_user(store);
    store.adjust(&owner, Credits::new(10), "test", Utc::now()).unwrap();
    let stored = store.create(&owner, &pipeline(), None, Utc::now()).unwrap();
    let ttl = TimeDelta::hours(1);

    // Not enough credits: nothing is written.
    let j = job(&owner, &stored.id);
    let err = store.start_run(&run_of(&owner, &stored.id, &j), &j, Credits::new(11), "run", ttl, None).unwrap_err();
    assert!(matches!(err, StartRunError::Billing(BillingError::InsufficientCredits { .. })), "{err:?}");
    assert!(JobQueue::get(store, &j.id).unwrap().is_none());
    assert!(store.get_run(&j.id).unwrap().is_none());
    assert_eq!(store.balance(&owner).unwrap(), Credits::new(10));

    // The run cannot be stored (no such pipeline): the reservation is rolled back too.
    let missing = PipelineId::new();
    let j = job(&owner, &missing);
    let err = store.start_run(&run_of(&owner, &missing, &j), &j, Credits::new(2), "run", ttl, None).unwrap_err();
    assert!(matches!(err, StartRunError::Pipelines(PipelinesError::NotFound)), "{err:?}");
    assert!(JobQueue::get(store, &j.id).unwrap().is_none());
    assert_eq!(store.balance(&owner).unwrap(), Credits::new(10));

    // All three together.
    let j = job(&owner, &stored.id);
    let held = store.start_run(&run_of(&owner, &stored.id, &j), &j, Credits::new(2), "run", ttl, None).unwrap();
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
