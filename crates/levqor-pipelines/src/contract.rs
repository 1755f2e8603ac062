//! The contract of the pipeline ports ([`PipelineRepo`], [`RunRepo`],
//! [`ScheduleClaims`]): cases every implementation must pass. The in-memory
//! store runs them in this crate; `levqor-store` runs the very same cases on
//! SQLite and PostgreSQL with [`pipeline_store_contract_tests!`](crate::pipeline_store_contract_tests)
//! or [`CASES`].
//!
//! Each case needs an empty store. All times are whole seconds, so a backend
//! that stores microseconds round-trips them exactly.

// Test support: a failed expectation must fail the calling test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use chrono::{TimeDelta, TimeZone, Utc};
use levqor_core::{Cursor, StorageError, Timestamp, UserId};
use levqor_jobs::JobId;
use serde_json::{Map, Value, json};

use crate::document::{Pipeline, Step, Trigger};
use crate::ports::{NewRun, PipelineId, PipelineStore, PipelinesError, StoredPipeline};
use crate::run::{RunState, StepStatus};

pub type Case = fn(&dyn PipelineStore);

/// Every case by name, for runners that do not use the macro.
pub const CASES: &[(&str, Case)] = &[
    ("create_and_get_round_trip", create_and_get_round_trip),
    ("list_pages_newest_first", list_pages_newest_first),
    ("versions_are_immutable", versions_are_immutable),
    ("owners_are_isolated", owners_are_isolated),
    ("soft_delete_keeps_versions", soft_delete_keeps_versions),
    ("webhook_lookup", webhook_lookup),
    ("scheduled_listing", scheduled_listing),
    ("runs_round_trip", runs_round_trip),
    ("runs_are_checked", runs_are_checked),
    ("list_runs_filters_and_pages", list_runs_filters_and_pages),
    ("concurrent_new_versions_are_consecutive", concurrent_new_versions_are_consecutive),
    ("one_claim_per_tick", one_claim_per_tick),
    ("purge_ticks_forgets_old_claims", purge_ticks_forgets_old_claims),
];

/// One `#[test]` per contract case. `$make` builds a fresh, empty store (any
/// expression whose value implements the three ports).
#[macro_export]
macro_rules! pipeline_store_contract_tests {
    ($make:expr) => {
        $crate::pipeline_store_contract_tests!(@cases $make;
            create_and_get_round_trip, list_pages_newest_first, versions_are_immutable,
            owners_are_isolated, soft_delete_keeps_versions, webhook_lookup, scheduled_listing,
            runs_round_trip, runs_are_checked, list_runs_filters_and_pages,
            concurrent_new_versions_are_consecutive, one_claim_per_tick,
            purge_ticks_forgets_old_claims);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let store = $make;
                $crate::contract::$case(&store);
            }
        )*
        #[test]
        fn every_contract_case_is_listed() {
            let listed = [$(stringify!($case)),*];
            for (name, _) in $crate::contract::CASES {
                assert!(listed.contains(name), "contract case {name} is not run");
            }
        }
    };
}

/// The start of every case's timeline.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap()
}

pub fn at(secs: i64) -> Timestamp {
    t0() + TimeDelta::seconds(secs)
}

fn params(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A manual pipeline: post `text` to Slack, then log.
pub fn sample_pipeline(text: &str) -> Pipeline {
    Pipeline {
        description: format!("post {text}"),
        trigger: Trigger::Manual,
        schedule: None,
        steps: vec![
            Step {
                id: "s1".into(),
                connector: "slack".into(),
                action: "post_message".into(),
                params: params(json!({"channel": "#general", "text": text})),
                retry_unknown: false,
            },
            Step {
                id: "s2".into(),
                connector: "builtin".into(),
                action: "log".into(),
                params: params(json!({"message": "{{steps.s1.output.ts}}"})),
                retry_unknown: false,
            },
        ],
    }
}

/// A pipeline on a cron.
pub fn scheduled_pipeline(cron: &str) -> Pipeline {
    Pipeline { trigger: Trigger::Schedule, schedule: Some(cron.into()), ..sample_pipeline("tick") }
}

fn webhook_pipeline() -> Pipeline {
    Pipeline { trigger: Trigger::Webhook, ..sample_pipeline("{{input.name}}") }
}

/// A run of version `version` of `stored`, its state fresh for that version.
pub fn new_run(store: &dyn PipelineStore, stored: &StoredPipeline, version: u32, created: i64) -> NewRun {
    let pipeline = store.get_version(&stored.id, version).unwrap().pipeline;
    NewRun {
        job_id: JobId::new(),
        pipeline_id: stored.id.clone(),
        version,
        owner: stored.owner.clone(),
        input: json!({"name": "Ada", "n": created}),
        state: RunState::new(&pipeline),
        reservation_id: Some(format!("res-{created}")),
        created_at: at(created),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, PipelinesError>, what: &str) {
    match result {
        Err(PipelinesError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

pub fn create_and_get_round_trip(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let pipeline = sample_pipeline("hello");
    let stored = s.create(&owner, &pipeline, None, at(1)).unwrap();
    assert_eq!(stored.owner, owner);
    assert_eq!((stored.version, stored.latest_version), (1, 1));
    assert_eq!(stored.pipeline, pipeline);
    assert_eq!((stored.created_at, stored.updated_at, stored.version_created_at), (at(1), at(1), at(1)));
    assert!(!stored.deleted);
    assert_eq!(s.get(&owner, &stored.id).unwrap(), stored);
    assert_eq!(s.get_version(&stored.id, 1).unwrap(), stored);
    assert_not_found(s.get_version(&stored.id, 2), "version 2");
    assert_not_found(s.get_version(&stored.id, 0), "version 0");
    assert_not_found(s.get(&owner, &PipelineId::new()), "unknown id");

    // Every field of a document survives, a schedule included.
    let cron = scheduled_pipeline("0 17 * * 5");
    let stored = s.create(&owner, &cron, Some("hash"), at(2)).unwrap();
    assert_eq!(s.get(&owner, &stored.id).unwrap().pipeline, cron);
}

pub fn list_pages_newest_first(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let other = UserId::new();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(s.create(&owner, &sample_pipeline(&format!("p{i}")), None, at(i)).unwrap().id);
        s.create(&other, &sample_pipeline("other"), None, at(i)).unwrap();
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let page = s.list(&owner, cursor.as_ref(), 2).unwrap();
        pages += 1;
        assert!(page.items.len() <= 2);
        assert!(page.items.iter().all(|p| p.owner == owner && p.version == 1));
        seen.extend(page.items.into_iter().map(|p| p.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);
    assert_eq!(s.list(&owner, None, 10).unwrap().next_cursor, None);
    assert!(s.list(&UserId::new(), None, 10).unwrap().items.is_empty());
    assert!(matches!(s.list(&owner, Some(&Cursor("nope".into())), 2), Err(PipelinesError::Invalid(_))));
    // The latest version is what a listing shows.
    s.new_version(&owner, &ids[4], &sample_pipeline("v2"), at(10)).unwrap();
    let listed = s.list(&owner, None, 10).unwrap();
    let oldest = listed.items.last().unwrap();
    assert_eq!((oldest.id.clone(), oldest.version), (ids[4].clone(), 2));
    assert_eq!(oldest.pipeline, sample_pipeline("v2"));
}

pub fn versions_are_immutable(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let v1 = sample_pipeline("one");
    let v2 = sample_pipeline("two");
    let v3 = scheduled_pipeline("*/5 * * * *");
    let created = s.create(&owner, &v1, None, at(1)).unwrap();
    let second = s.new_version(&owner, &created.id, &v2, at(2)).unwrap();
    assert_eq!((second.version, second.latest_version), (2, 2));
    assert_eq!(second.pipeline, v2);
    assert_eq!((second.created_at, second.updated_at, second.version_created_at), (at(1), at(2), at(2)));
    let third = s.new_version(&owner, &created.id, &v3, at(3)).unwrap();
    assert_eq!(third.version, 3);
    assert_eq!(s.get(&owner, &created.id).unwrap(), third);
    for (n, doc, when) in [(1, &v1, at(1)), (2, &v2, at(2)), (3, &v3, at(3))] {
        let old = s.get_version(&created.id, n).unwrap();
        assert_eq!((old.version, old.latest_version), (n, 3));
        assert_eq!(&old.pipeline, doc, "version {n} unchanged");
        assert_eq!(old.version_created_at, when);
        assert_eq!((old.created_at, old.updated_at), (at(1), at(3)));
    }
    assert_not_found(s.get_version(&created.id, 4), "version 4");
}

pub fn owners_are_isolated(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let intruder = UserId::new();
    let stored = s.create(&owner, &webhook_pipeline(), Some("hash"), at(1)).unwrap();
    assert_not_found(s.get(&intruder, &stored.id), "get");
    assert_not_found(s.new_version(&intruder, &stored.id, &sample_pipeline("x"), at(2)), "new_version");
    assert_not_found(s.delete(&intruder, &stored.id, at(2), None), "delete");
    assert_not_found(s.set_webhook_token(&intruder, &stored.id, None, at(2)), "set_webhook_token");
    assert!(s.list(&intruder, None, 10).unwrap().items.is_empty());
    let run = NewRun { owner: intruder.clone(), ..new_run(s, &stored, 1, 2) };
    assert_not_found(s.create_run(&run), "create_run for another owner's pipeline");
    // Nothing changed.
    let unchanged = s.get(&owner, &stored.id).unwrap();
    assert_eq!(unchanged, stored);
    assert_eq!(s.find_by_webhook(&stored.id).unwrap().1, "hash");
    let mine = s.create_run(&new_run(s, &stored, 1, 3)).unwrap();
    assert!(s.list_runs(&intruder, None, None, 10).unwrap().items.is_empty());
    assert!(s.list_runs(&intruder, Some(&stored.id), None, 10).unwrap().items.is_empty());
    assert_eq!(s.list_runs(&owner, None, None, 10).unwrap().items, vec![mine]);
}

pub fn soft_delete_keeps_versions(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let stored = s.create(&owner, &scheduled_pipeline("0 * * * *"), Some("hash"), at(1)).unwrap();
    s.new_version(&owner, &stored.id, &scheduled_pipeline("30 * * * *"), at(2)).unwrap();
    let run = s.create_run(&new_run(s, &stored, 1, 3)).unwrap();
    let keep = s.create(&owner, &sample_pipeline("keep"), None, at(4)).unwrap();

    s.delete(&owner, &stored.id, at(5), None).unwrap();
    assert_not_found(s.get(&owner, &stored.id), "get after delete");
    assert_not_found(s.delete(&owner, &stored.id, at(6), None), "delete twice");
    assert_not_found(s.new_version(&owner, &stored.id, &sample_pipeline("x"), at(6)), "new_version after delete");
    assert_not_found(s.set_webhook_token(&owner, &stored.id, Some("h2"), at(6)), "token after delete");
    assert_not_found(s.find_by_webhook(&stored.id), "webhook after delete");
    let listed: Vec<PipelineId> = s.list(&owner, None, 10).unwrap().items.into_iter().map(|p| p.id).collect();
    assert_eq!(listed, vec![keep.id]);
    assert!(s.scheduled().unwrap().iter().all(|p| p.id != stored.id));

    // A run pinned to version 1 still reads it.
    let pinned = s.get_version(&stored.id, run.version).unwrap();
    assert!(pinned.deleted);
    assert_eq!(pinned.pipeline, scheduled_pipeline("0 * * * *"));
    assert_eq!(pinned.updated_at, at(5));
    assert!(s.get_version(&stored.id, 2).unwrap().deleted);
    assert_eq!(s.get_run(&run.job_id).unwrap(), Some(run.clone()));
    // A retried run's state is still saved.
    s.save_state(&run.job_id, &run.state, at(7)).unwrap();
}

pub fn webhook_lookup(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let hooked = s.create(&owner, &webhook_pipeline(), Some("sha256:abc"), at(1)).unwrap();
    let plain = s.create(&owner, &sample_pipeline("plain"), None, at(1)).unwrap();
    let (found, hash) = s.find_by_webhook(&hooked.id).unwrap();
    assert_eq!((found, hash.as_str()), (hooked.clone(), "sha256:abc"));
    assert_not_found(s.find_by_webhook(&plain.id), "no token");
    assert_not_found(s.find_by_webhook(&PipelineId::new()), "unknown id");

    // The latest version answers; the token survives new versions.
    let v2 = s.new_version(&owner, &hooked.id, &webhook_pipeline(), at(2)).unwrap();
    let (found, hash) = s.find_by_webhook(&hooked.id).unwrap();
    assert_eq!((found, hash.as_str()), (v2, "sha256:abc"));

    // Rotated, then removed.
    s.set_webhook_token(&owner, &hooked.id, Some("sha256:def"), at(3)).unwrap();
    let (found, hash) = s.find_by_webhook(&hooked.id).unwrap();
    assert_eq!((found.updated_at, hash.as_str()), (at(3), "sha256:def"));
    s.set_webhook_token(&owner, &hooked.id, None, at(4)).unwrap();
    assert_not_found(s.find_by_webhook(&hooked.id), "token removed");
    s.set_webhook_token(&owner, &plain.id, Some("sha256:new"), at(5)).unwrap();
    assert_eq!(s.find_by_webhook(&plain.id).unwrap().1, "sha256:new");
}

pub fn scheduled_listing(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let other = UserId::new();
    assert!(s.scheduled().unwrap().is_empty());
    let hourly = s.create(&owner, &scheduled_pipeline("0 * * * *"), None, at(1)).unwrap();
    s.create(&owner, &sample_pipeline("manual"), None, at(1)).unwrap();
    s.create(&owner, &webhook_pipeline(), Some("h"), at(1)).unwrap();
    let friday = s.create(&other, &scheduled_pipeline("0 17 * * 5"), None, at(2)).unwrap();
    let becomes = s.create(&other, &sample_pipeline("later a schedule"), None, at(3)).unwrap();

    let listed = s.scheduled().unwrap();
    let mut expected =
        vec![(hourly.id.clone(), owner.clone(), 1, "0 * * * *"), (friday.id.clone(), other.clone(), 1, "0 17 * * 5")];
    expected.sort();
    let got: Vec<_> = listed.iter().map(|p| (p.id.clone(), p.owner.clone(), p.version, p.cron.as_str())).collect();
    assert_eq!(got, expected);

    // New versions change the listing: a new cron, a schedule dropped, one added.
    s.new_version(&owner, &hourly.id, &scheduled_pipeline("15 * * * *"), at(4)).unwrap();
    s.new_version(&other, &friday.id, &sample_pipeline("no longer"), at(4)).unwrap();
    s.new_version(&other, &becomes.id, &scheduled_pipeline("@daily"), at(4)).unwrap();
    let mut expected = vec![(hourly.id.clone(), 2, "15 * * * *"), (becomes.id.clone(), 2, "@daily")];
    expected.sort();
    let got: Vec<_> = s.scheduled().unwrap().into_iter().map(|p| (p.id, p.version, p.cron)).collect();
    let got: Vec<_> = got.iter().map(|(id, v, c)| (id.clone(), *v, c.as_str())).collect();
    assert_eq!(got, expected);

    s.delete(&owner, &hourly.id, at(5), None).unwrap();
    let ids: Vec<PipelineId> = s.scheduled().unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![becomes.id]);
}

pub fn runs_round_trip(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let stored = s.create(&owner, &sample_pipeline("run me"), None, at(1)).unwrap();
    let new = new_run(s, &stored, 1, 2);
    let run = s.create_run(&new).unwrap();
    assert_eq!(run, new.to_run());
    assert_eq!(s.get_run(&new.job_id).unwrap(), Some(run.clone()));
    assert_eq!(s.get_run(&JobId::new()).unwrap(), None);

    // Step 1 succeeds, step 2 fails: each save replaces the state.
    let mut state = run.state.clone();
    state.start(0, Some(params(json!({"channel": "#general", "text": "run me"}))), at(3));
    state.record_success(0, json!({"ts": "1.2"}), levqor_core::Credits::new(0), at(4));
    s.save_state(&new.job_id, &state, at(4)).unwrap();
    state.start(1, None, at(5));
    state.record_failure(1, "boom", true, at(6));
    s.save_state(&new.job_id, &state, at(6)).unwrap();
    let saved = s.get_run(&new.job_id).unwrap().unwrap();
    assert_eq!(saved.state, state);
    assert_eq!(saved.state.steps[0].status, StepStatus::Succeeded);
    assert_eq!(saved.state.steps[0].output, Some(json!({"ts": "1.2"})));
    assert_eq!(saved.state.steps[1].error.as_deref(), Some("boom"));
    assert_eq!((saved.created_at, saved.updated_at), (at(2), at(6)));
    assert_eq!(saved.input, new.input);
    assert_eq!(saved.reservation_id.as_deref(), Some("res-2"));

    // A run without a reservation, pinned to an old version.
    s.new_version(&owner, &stored.id, &sample_pipeline("v2"), at(7)).unwrap();
    let old = NewRun { reservation_id: None, ..new_run(s, &stored, 1, 8) };
    let old_run = s.create_run(&old).unwrap();
    assert_eq!(old_run.version, 1);
    assert_eq!(s.get_run(&old.job_id).unwrap().unwrap().reservation_id, None);
}

pub fn runs_are_checked(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let stored = s.create(&owner, &sample_pipeline("checked"), None, at(1)).unwrap();
    let new = new_run(s, &stored, 1, 2);
    s.create_run(&new).unwrap();
    match s.create_run(&new) {
        Err(PipelinesError::Storage(StorageError::Conflict(_))) => {}
        other => panic!("a second run for one job: expected a conflict, got {other:?}"),
    }
    assert_not_found(s.create_run(&NewRun { version: 2, job_id: JobId::new(), ..new.clone() }), "no version 2");
    assert_not_found(
        s.create_run(&NewRun { pipeline_id: PipelineId::new(), job_id: JobId::new(), ..new.clone() }),
        "no pipeline",
    );
    let wrong = RunState::new(&Pipeline { steps: vec![sample_pipeline("x").steps[0].clone()], ..sample_pipeline("x") });
    assert!(matches!(
        s.create_run(&NewRun { state: wrong.clone(), job_id: JobId::new(), ..new.clone() }),
        Err(PipelinesError::Invalid(_))
    ));
    assert!(matches!(s.save_state(&new.job_id, &wrong, at(3)), Err(PipelinesError::Invalid(_))));
    assert_not_found(s.save_state(&JobId::new(), &new.state, at(3)), "save_state of no run");
    assert_eq!(s.get_run(&new.job_id).unwrap().unwrap().state, new.state, "refused saves change nothing");
}

pub fn list_runs_filters_and_pages(s: &dyn PipelineStore) {
    let owner = UserId::new();
    let a = s.create(&owner, &sample_pipeline("a"), None, at(1)).unwrap();
    let b = s.create(&owner, &sample_pipeline("b"), None, at(1)).unwrap();
    let other = UserId::new();
    let theirs = s.create(&other, &sample_pipeline("c"), None, at(1)).unwrap();
    let mut all = Vec::new();
    let mut of_a = Vec::new();
    for i in 0..3 {
        let run = s.create_run(&new_run(s, &a, 1, 10 + i)).unwrap();
        of_a.push(run.job_id.clone());
        all.push(run.job_id);
        all.push(s.create_run(&new_run(s, &b, 1, 20 + i)).unwrap().job_id);
        s.create_run(&new_run(s, &theirs, 1, 30 + i)).unwrap();
    }
    all.reverse();
    of_a.reverse();

    let first = s.list_runs(&owner, None, None, 4).unwrap();
    assert_eq!(first.items.len(), 4);
    let second = s.list_runs(&owner, None, first.next_cursor.as_ref(), 4).unwrap();
    assert_eq!(second.next_cursor, None);
    let listed: Vec<JobId> = first.items.iter().chain(&second.items).map(|r| r.job_id.clone()).collect();
    assert_eq!(listed, all, "newest first, every page");

    let only_a = s.list_runs(&owner, Some(&a.id), None, 10).unwrap();
    assert_eq!(only_a.items.iter().map(|r| r.job_id.clone()).collect::<Vec<_>>(), of_a);
    assert!(only_a.items.iter().all(|r| r.pipeline_id == a.id && r.owner == owner));
    let page = s.list_runs(&owner, Some(&a.id), None, 2).unwrap();
    let rest = s.list_runs(&owner, Some(&a.id), page.next_cursor.as_ref(), 2).unwrap();
    assert_eq!((page.items.len(), rest.items.len(), rest.next_cursor), (2, 1, None));
    assert!(s.list_runs(&owner, Some(&theirs.id), None, 10).unwrap().items.is_empty());
    assert!(matches!(s.list_runs(&owner, None, Some(&Cursor("x".into())), 2), Err(PipelinesError::Invalid(_))));
}

/// `writers` new versions at once on `a` and `b` (two handles on one store, or
/// the same handle twice): every version distinct and consecutive.
pub fn new_versions_across(a: &dyn PipelineStore, b: &dyn PipelineStore) {
    const THREADS: usize = 4;
    const EACH: u32 = 5;
    let owner = UserId::new();
    let stored = a.create(&owner, &sample_pipeline("v1"), None, at(0)).unwrap();
    let versions: Vec<u32> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = if t % 2 == 0 { a } else { b };
                let (owner, id) = (&owner, &stored.id);
                scope.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let doc = sample_pipeline(&format!("t{t}-{i}"));
                            let v = store.new_version(owner, id, &doc, at(1)).unwrap();
                            assert_eq!(v.pipeline, doc);
                            v.version
                        })
                        .collect::<Vec<u32>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let total = u32::try_from(THREADS).unwrap() * EACH;
    let distinct: BTreeSet<u32> = versions.iter().copied().collect();
    assert_eq!(distinct.len(), versions.len(), "no version handed out twice: {versions:?}");
    assert_eq!(distinct, (2..=total + 1).collect::<BTreeSet<u32>>());
    let latest = b.get(&owner, &stored.id).unwrap();
    assert_eq!(latest.version, total + 1);
    for n in 1..=total + 1 {
        assert_eq!(a.get_version(&stored.id, n).unwrap().version, n);
    }
}

pub fn concurrent_new_versions_are_consecutive(s: &dyn PipelineStore) {
    new_versions_across(s, s);
}

/// Two schedulers (on `a` and on `b`) claim the same 50 ticks of one pipeline
/// at once: every tick is won exactly once.
pub fn claims_once_across(a: &dyn PipelineStore, b: &dyn PipelineStore) {
    const TICKS: i64 = 50;
    let pipeline = PipelineId::new();
    let other = PipelineId::new();
    let wins: Vec<Vec<i64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = [a, b]
            .into_iter()
            .map(|store| {
                let pipeline = &pipeline;
                scope.spawn(move || {
                    (0..TICKS).filter(|&i| store.claim_tick(pipeline, at(i * 60), at(i * 60 + 1)).unwrap()).collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<i64> = wins.concat();
    all.sort_unstable();
    assert_eq!(all, (0..TICKS).collect::<Vec<_>>(), "each tick exactly once: {wins:?}");
    // Claimed ticks stay claimed; another pipeline's ticks are its own.
    assert!(!a.claim_tick(&pipeline, at(0), at(9999)).unwrap());
    assert!(!b.claim_tick(&pipeline, at(60 * (TICKS - 1)), at(9999)).unwrap());
    assert!(a.claim_tick(&other, at(0), at(9999)).unwrap());
}

pub fn one_claim_per_tick(s: &dyn PipelineStore) {
    claims_once_across(s, s);
}

pub fn purge_ticks_forgets_old_claims(s: &dyn PipelineStore) {
    let p = PipelineId::new();
    let q = PipelineId::new();
    for i in 0..10 {
        assert!(s.claim_tick(&p, at(i), at(i)).unwrap());
        assert!(s.claim_tick(&q, at(i), at(i)).unwrap());
    }
    assert_eq!(s.purge_ticks(at(4)).unwrap(), 8);
    assert_eq!(s.purge_ticks(at(4)).unwrap(), 0);
    assert!(!s.claim_tick(&p, at(4), at(20)).unwrap(), "ticks from `before` on are kept");
    assert!(s.claim_tick(&p, at(3), at(20)).unwrap(), "a purged tick is forgotten");
}
