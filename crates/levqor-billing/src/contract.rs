//! The [`Ledger`] contract: cases every implementation must pass. The in-memory
//! ledger runs them in this crate; `levqor-store` runs the very same cases on SQLite
//! and PostgreSQL with [`ledger_contract_tests!`](crate::ledger_contract_tests).
//!
//! A ledger does not own users, but a database ledger has a foreign key to them, so
//! every case gets a `new_user` function that creates a user the ledger accepts.
//! Each case needs a ledger with no entries for the users it creates. All times are
//! whole seconds, so a backend that stores microseconds round-trips them exactly.

// Test support: a failed expectation must fail the calling test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Barrier;

use chrono::{TimeDelta, TimeZone, Utc};
use levqor_core::{Credits, Timestamp, UserId};

use crate::error::BillingError;
use crate::ids::ReservationId;
use crate::ledger::{EntryKind, LedgerEntry, ReservationState};
use crate::ports::{Grant, GrantOutcome, Ledger, free_grant_key, stripe_event_key, stripe_session_key};

/// A case: the ledger under test and a way to create a user it accepts.
pub type Case = fn(&dyn Ledger, &dyn Fn() -> UserId);

/// What the macro needs from a test fixture.
pub trait LedgerFixture {
    fn ledger(&self) -> &dyn Ledger;
    fn create_user(&self) -> UserId;
}

impl LedgerFixture for crate::memory::MemoryLedger {
    fn ledger(&self) -> &dyn Ledger {
        self
    }
    fn create_user(&self) -> UserId {
        UserId::new()
    }
}

/// Adapts any value holding a ledger into a [`LedgerFixture`] (a test database, say),
/// without the holder's crate having to implement this crate's trait:
/// `Harness::new(TestDb::sqlite(), |db| &db.store, |db| insert_user(db))`.
pub struct Harness<H> {
    pub holder: H,
    ledger: for<'a> fn(&'a H) -> &'a dyn Ledger,
    create_user: fn(&H) -> UserId,
}

impl<H> Harness<H> {
    pub fn new(holder: H, ledger: for<'a> fn(&'a H) -> &'a dyn Ledger, create_user: fn(&H) -> UserId) -> Self {
        Self { holder, ledger, create_user }
    }
}

impl<H> LedgerFixture for Harness<H> {
    fn ledger(&self) -> &dyn Ledger {
        (self.ledger)(&self.holder)
    }
    fn create_user(&self) -> UserId {
        (self.create_user)(&self.holder)
    }
}

/// Runs one case against a fixture.
pub fn run(fixture: &dyn LedgerFixture, case: Case) {
    case(fixture.ledger(), &|| fixture.create_user());
}

/// Every case by name, for runners that do not use the macro.
pub const CASES: &[(&str, Case)] = &[
    ("grant_balance_and_entries", grant_balance_and_entries),
    ("entries_page_newest_first", entries_page_newest_first),
    ("free_grant_exactly_once", free_grant_exactly_once),
    ("stripe_grant_once_per_event_and_session", stripe_grant_once_per_event_and_session),
    ("grant_validation", grant_validation),
    ("adjust_refuses_negative", adjust_refuses_negative),
    ("reserve_settle_release", reserve_settle_release),
    ("reserve_beyond_balance", reserve_beyond_balance),
    ("closed_reservations_stay_closed", closed_reservations_stay_closed),
    ("concurrent_reservations", concurrent_reservations),
    ("concurrent_grants_once", concurrent_grants_once),
    ("sweeper_releases_expired_once", sweeper_releases_expired_once),
];

/// One `#[test]` per contract case. `$make` builds a fresh fixture (any expression
/// whose value implements [`LedgerFixture`]); with `optional`, an `Option` of one,
/// and `None` skips the cases (e.g. no PostgreSQL configured).
#[macro_export]
macro_rules! ledger_contract_tests {
    (optional $make:expr) => {
        $crate::ledger_contract_tests!(@cases [optional] $make);
    };
    ($make:expr) => {
        $crate::ledger_contract_tests!(@cases [required] $make);
    };
    (@cases [$mode:ident] $make:expr) => {
        $crate::ledger_contract_tests!(@each [$mode] $make;
            grant_balance_and_entries, entries_page_newest_first, free_grant_exactly_once,
            stripe_grant_once_per_event_and_session, grant_validation,
            adjust_refuses_negative, reserve_settle_release, reserve_beyond_balance,
            closed_reservations_stay_closed, concurrent_reservations,
            concurrent_grants_once, sweeper_releases_expired_once);
    };
    (@each [required] $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let fixture = $make;
                $crate::contract::run(&fixture, $crate::contract::$case);
            }
        )*
    };
    (@each [optional] $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                if let Some(fixture) = $make {
                    $crate::contract::run(&fixture, $crate::contract::$case);
                }
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

fn c(n: i64) -> Credits {
    Credits::new(n)
}

/// A grant of `amount` credits of `kind` to `user` at `t0 + secs`.
pub fn grant_of(user: &UserId, kind: EntryKind, amount: i64, secs: i64) -> Grant {
    Grant {
        user: user.clone(),
        kind,
        amount: c(amount),
        reason: format!("{} of {amount}", kind.as_str()),
        reference: None,
        now: at(secs),
    }
}

fn granted(outcome: GrantOutcome) -> LedgerEntry {
    match outcome {
        GrantOutcome::Granted(entry) => entry,
        GrantOutcome::AlreadyGranted => panic!("expected a grant, got AlreadyGranted"),
    }
}

fn fund(l: &dyn Ledger, user: &UserId, amount: i64) {
    granted(l.grant(&grant_of(user, EntryKind::Purchase, amount, 0), None).unwrap());
}

fn all_entries(l: &dyn Ledger, user: &UserId) -> Vec<LedgerEntry> {
    l.entries(user, None, 200).unwrap().items
}

fn assert_never_negative(l: &dyn Ledger, user: &UserId) {
    let entries = all_entries(l, user);
    assert!(entries.iter().all(|e| !e.balance_after.is_negative()), "a balance_after went below zero: {entries:?}");
    let sum = entries.iter().map(|e| e.amount.get()).sum::<i64>();
    assert_eq!(c(sum), l.balance(user).unwrap(), "balance is the sum of entries");
}

pub fn grant_balance_and_entries(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    let other = new_user();
    assert_eq!(l.balance(&user).unwrap(), c(0));
    assert!(all_entries(l, &user).is_empty());

    let free = granted(l.grant(&grant_of(&user, EntryKind::FreeGrant, 50, 1), None).unwrap());
    assert_eq!(free.amount, c(50));
    assert_eq!(free.balance_after, c(50));
    assert_eq!(free.user_id, user);
    assert_eq!(free.created_at, at(1));

    let mut purchase = grant_of(&user, EntryKind::Purchase, 100, 2);
    purchase.reference = Some("evt_123".into());
    let bought = granted(l.grant(&purchase, None).unwrap());
    assert_eq!(bought.balance_after, c(150));
    assert_eq!(bought.reference.as_deref(), Some("evt_123"));
    assert_eq!(bought.reason, "purchase of 100");

    assert_eq!(l.balance(&user).unwrap(), c(150));
    assert_eq!(l.balance(&other).unwrap(), c(0), "balances are per user");
    let entries = all_entries(l, &user);
    assert_eq!(entries, vec![bought, free], "newest first, stored exactly");
    assert!(all_entries(l, &other).is_empty());
}

pub fn entries_page_newest_first(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    for i in 1..=5 {
        granted(l.grant(&grant_of(&user, EntryKind::Refund, i, i), None).unwrap());
    }
    let first = l.entries(&user, None, 2).unwrap();
    let amounts = |p: &levqor_core::Page<LedgerEntry>| p.items.iter().map(|e| e.amount.get()).collect::<Vec<_>>();
    assert_eq!(amounts(&first), vec![5, 4]);
    let cursor = first.next_cursor.clone().expect("more pages");
    let second = l.entries(&user, Some(&cursor), 2).unwrap();
    assert_eq!(amounts(&second), vec![3, 2]);
    let third = l.entries(&user, second.next_cursor.as_ref(), 2).unwrap();
    assert_eq!(amounts(&third), vec![1]);
    assert_eq!(third.next_cursor, None);
    assert!(matches!(l.entries(&user, Some(&levqor_core::Cursor("garbage".into())), 2), Err(BillingError::Invalid(_))));
    assert_eq!(l.entries(&user, None, 0).unwrap().items.len(), 1, "limit clamps to 1");
}

pub fn free_grant_exactly_once(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    let key = free_grant_key(&user);
    let first = l.grant(&grant_of(&user, EntryKind::FreeGrant, 50, 0), Some(&key)).unwrap();
    assert!(matches!(first, GrantOutcome::Granted(_)));
    for i in 1..5 {
        assert_eq!(
            l.grant(&grant_of(&user, EntryKind::FreeGrant, 50, i), Some(&key)).unwrap(),
            GrantOutcome::AlreadyGranted
        );
    }
    assert_eq!(l.balance(&user).unwrap(), c(50));
    assert_eq!(all_entries(l, &user).len(), 1);

    // Another user's key is another key.
    let other = new_user();
    let again = l.grant(&grant_of(&other, EntryKind::FreeGrant, 50, 0), Some(&free_grant_key(&other))).unwrap();
    assert!(matches!(again, GrantOutcome::Granted(_)));
}

pub fn stripe_grant_once_per_event_and_session(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    // Unique per run so the case also passes on a database shared between cases.
    let tag = ReservationId::new().to_string();
    let (evt_a, evt_b, evt_c) = (format!("evt_a_{tag}"), format!("evt_b_{tag}"), format!("evt_c_{tag}"));
    let (cs_s, cs_t, cs_u) = (format!("cs_s_{tag}"), format!("cs_t_{tag}"), format!("cs_u_{tag}"));
    let keys = |evt: &str, cs: &str| vec![stripe_event_key(evt), stripe_session_key(cs)];
    let purchase = |secs| {
        let mut g = grant_of(&user, EntryKind::Purchase, 100, secs);
        g.reference = Some(evt_a.clone());
        g
    };

    let mut grants = 0;
    for i in 0..10 {
        if let GrantOutcome::Granted(_) = l.grant_once(&purchase(i), &keys(&evt_a, &cs_s)).unwrap() {
            grants += 1;
        }
    }
    assert_eq!(grants, 1, "the same event ten times grants once");

    // A second event for the same session (completed, then async_payment_succeeded).
    assert_eq!(l.grant_once(&purchase(20), &keys(&evt_b, &cs_s)).unwrap(), GrantOutcome::AlreadyGranted);
    assert_eq!(l.balance(&user).unwrap(), c(100));

    // All keys or none: the refused grant above did not claim evt_b.
    assert!(matches!(l.grant_once(&purchase(30), &keys(&evt_b, &cs_u)).unwrap(), GrantOutcome::Granted(_)));
    // …and a fresh event and session grant again.
    assert!(matches!(l.grant_once(&purchase(40), &keys(&evt_c, &cs_t)).unwrap(), GrantOutcome::Granted(_)));
    assert_eq!(l.balance(&user).unwrap(), c(300));
    assert_eq!(all_entries(l, &user).len(), 3);
    assert_never_negative(l, &user);
}

pub fn grant_validation(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    for (kind, amount) in [
        (EntryKind::Purchase, 0),
        (EntryKind::Purchase, -5),
        (EntryKind::RunReserve, 5),
        (EntryKind::RunSettle, 5),
        (EntryKind::ReservationRelease, 5),
    ] {
        assert!(
            matches!(l.grant(&grant_of(&user, kind, amount, 0), Some("validation-key")), Err(BillingError::Invalid(_))),
            "{kind:?} {amount} must be refused"
        );
    }
    let mut blank = grant_of(&user, EntryKind::Purchase, 5, 0);
    blank.reason = "   ".into();
    assert!(matches!(l.grant(&blank, None), Err(BillingError::Invalid(_))));
    assert_eq!(l.balance(&user).unwrap(), c(0));
    assert!(all_entries(l, &user).is_empty());
}

pub fn adjust_refuses_negative(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    fund(l, &user, 10);
    assert_eq!(
        l.adjust(&user, c(-11), "too much", at(1), None),
        Err(BillingError::InsufficientCredits { balance: c(10), needed: c(11) })
    );
    assert_eq!(l.balance(&user).unwrap(), c(10));
    assert_eq!(all_entries(l, &user).len(), 1, "nothing written");

    let down = l.adjust(&user, c(-10), "correction", at(2), None).unwrap();
    assert_eq!(down.kind, EntryKind::AdminAdjustment);
    assert_eq!(down.balance_after, c(0));
    let up = l.adjust(&user, c(5), "goodwill", at(3), None).unwrap();
    assert_eq!(up.balance_after, c(5));
    assert_eq!(up.amount, c(5));
    assert!(matches!(l.adjust(&user, c(0), "nothing", at(4), None), Err(BillingError::Invalid(_))));
    assert_eq!(l.balance(&user).unwrap(), c(5));
    assert_never_negative(l, &user);
}

pub fn reserve_settle_release(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    fund(l, &user, 100);

    let r = l.reserve(&user, c(30), "run job-1", TimeDelta::minutes(10), at(1)).unwrap();
    assert_eq!(r.state, ReservationState::Held);
    assert_eq!(r.amount, c(30));
    assert_eq!(r.user_id, user);
    assert_eq!(r.created_at, at(1));
    assert_eq!(r.expires_at, at(601));
    assert_eq!(l.reservation(&r.id).unwrap(), Some(r.clone()));
    assert_eq!(l.balance(&user).unwrap(), c(70), "held credits are not spendable");

    let settled = l.settle(&r.id, c(12), at(2)).unwrap();
    assert_eq!(settled.state, ReservationState::Settled);
    assert_eq!(settled.charged, Some(c(12)));
    assert_eq!(l.balance(&user).unwrap(), c(88), "the unused 18 came back");
    assert_eq!(l.reservation(&r.id).unwrap(), Some(settled));

    let r2 = l.reserve(&user, c(20), "run job-2", TimeDelta::minutes(10), at(3)).unwrap();
    assert_eq!(l.balance(&user).unwrap(), c(68));
    let released = l.release(&r2.id, at(4)).unwrap();
    assert_eq!(released.state, ReservationState::Released);
    assert_eq!(l.balance(&user).unwrap(), c(88));

    let r3 = l.reserve(&user, c(5), "run job-3", TimeDelta::minutes(10), at(5)).unwrap();
    assert!(matches!(l.settle(&r3.id, c(6), at(6)), Err(BillingError::Invalid(_))));
    l.settle(&r3.id, c(5), at(6)).unwrap();
    assert_eq!(l.balance(&user).unwrap(), c(83), "charged in full");

    let kinds: Vec<(EntryKind, i64, i64)> =
        all_entries(l, &user).into_iter().rev().map(|e| (e.kind, e.amount.get(), e.balance_after.get())).collect();
    assert_eq!(
        kinds,
        vec![
            (EntryKind::Purchase, 100, 100),
            (EntryKind::RunReserve, -30, 70),
            (EntryKind::RunSettle, 18, 88),
            (EntryKind::RunReserve, -20, 68),
            (EntryKind::ReservationRelease, 20, 88),
            (EntryKind::RunReserve, -5, 83),
            (EntryKind::RunSettle, 0, 83),
        ]
    );
    let reserve_entry =
        all_entries(l, &user).into_iter().find(|e| e.kind == EntryKind::RunReserve && e.amount == c(-30)).unwrap();
    assert_eq!(reserve_entry.reference, Some(r.id.to_string()));
    assert_never_negative(l, &user);
}

pub fn reserve_beyond_balance(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    assert_eq!(
        l.reserve(&user, c(1), "run", TimeDelta::minutes(1), at(0)),
        Err(BillingError::InsufficientCredits { balance: c(0), needed: c(1) }),
        "a user without credits"
    );
    fund(l, &user, 5);
    assert_eq!(
        l.reserve(&user, c(6), "run", TimeDelta::minutes(1), at(1)),
        Err(BillingError::InsufficientCredits { balance: c(5), needed: c(6) })
    );
    for bad in [0, -1] {
        assert!(matches!(l.reserve(&user, c(bad), "run", TimeDelta::minutes(1), at(1)), Err(BillingError::Invalid(_))));
    }
    assert!(matches!(l.reserve(&user, c(1), "run", TimeDelta::zero(), at(1)), Err(BillingError::Invalid(_))));
    assert_eq!(l.balance(&user).unwrap(), c(5));
    assert_eq!(all_entries(l, &user).len(), 1, "nothing written");
    l.reserve(&user, c(5), "run", TimeDelta::minutes(1), at(2)).unwrap();
    assert_eq!(l.balance(&user).unwrap(), c(0));
}

pub fn closed_reservations_stay_closed(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    fund(l, &user, 10);
    let ttl = TimeDelta::minutes(1);
    let a = l.reserve(&user, c(4), "a", ttl, at(1)).unwrap();
    l.settle(&a.id, c(1), at(2)).unwrap();
    assert_eq!(l.settle(&a.id, c(1), at(3)), Err(BillingError::ReservationNotHeld(ReservationState::Settled)));
    assert_eq!(l.release(&a.id, at(3)), Err(BillingError::ReservationNotHeld(ReservationState::Settled)));
    let b = l.reserve(&user, c(4), "b", ttl, at(4)).unwrap();
    l.release(&b.id, at(5)).unwrap();
    assert_eq!(l.release(&b.id, at(6)), Err(BillingError::ReservationNotHeld(ReservationState::Released)));
    assert_eq!(l.settle(&b.id, c(0), at(6)), Err(BillingError::ReservationNotHeld(ReservationState::Released)));
    let unknown = ReservationId::new();
    assert_eq!(l.settle(&unknown, c(0), at(7)), Err(BillingError::NotFound));
    assert_eq!(l.release(&unknown, at(7)), Err(BillingError::NotFound));
    assert_eq!(l.reservation(&unknown).unwrap(), None);
    assert_eq!(l.balance(&user).unwrap(), c(9));
    assert_never_negative(l, &user);
}

pub fn concurrent_reservations(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    const ATTEMPTS: usize = 100;
    let user = new_user();
    fund(l, &user, 10);
    let barrier = Barrier::new(ATTEMPTS);
    let results: Vec<Result<_, BillingError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..ATTEMPTS)
            .map(|i| {
                let (user, barrier) = (&user, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    l.reserve(user, c(1), &format!("run {i}"), TimeDelta::minutes(5), at(1))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused = results.iter().filter(|r| matches!(r, Err(BillingError::InsufficientCredits { .. }))).count();
    let other: Vec<_> =
        results.iter().filter(|r| !matches!(r, Ok(_) | Err(BillingError::InsufficientCredits { .. }))).collect();
    assert!(other.is_empty(), "unexpected failures: {other:?}");
    assert_eq!(ok, 10, "exactly the covered reservations succeed");
    assert_eq!(refused, ATTEMPTS - 10);
    assert_eq!(l.balance(&user).unwrap(), c(0));
    assert_eq!(all_entries(l, &user).len(), 11);
    assert_never_negative(l, &user);
}

pub fn concurrent_grants_once(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    const ATTEMPTS: usize = 20;
    let user = new_user();
    let tag = ReservationId::new().to_string();
    let keys = vec![stripe_event_key(&format!("evt_{tag}")), stripe_session_key(&format!("cs_{tag}"))];
    let barrier = Barrier::new(ATTEMPTS);
    let outcomes: Vec<Result<GrantOutcome, BillingError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..ATTEMPTS)
            .map(|_| {
                let (user, barrier, keys) = (&user, &barrier, &keys);
                s.spawn(move || {
                    barrier.wait();
                    l.grant_once(&grant_of(user, EntryKind::Purchase, 100, 1), keys)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let granted = outcomes.iter().filter(|o| matches!(o, Ok(GrantOutcome::Granted(_)))).count();
    let already = outcomes.iter().filter(|o| matches!(o, Ok(GrantOutcome::AlreadyGranted))).count();
    assert_eq!((granted, already), (1, ATTEMPTS - 1), "{outcomes:?}");
    assert_eq!(l.balance(&user).unwrap(), c(100));
}

pub fn sweeper_releases_expired_once(l: &dyn Ledger, new_user: &dyn Fn() -> UserId) {
    let user = new_user();
    fund(l, &user, 10);
    let short = l.reserve(&user, c(3), "short", TimeDelta::seconds(60), at(0)).unwrap();
    let long = l.reserve(&user, c(2), "long", TimeDelta::seconds(600), at(0)).unwrap();
    let done = l.reserve(&user, c(1), "done", TimeDelta::seconds(60), at(0)).unwrap();
    l.settle(&done.id, c(1), at(10)).unwrap();
    assert_eq!(l.balance(&user).unwrap(), c(4));

    assert_eq!(l.expire_reservations(at(59)).unwrap(), 0, "not yet expired");
    assert!(l.expire_reservations(at(60)).unwrap() >= 1, "expires_at is inclusive");
    let short_now = l.reservation(&short.id).unwrap().unwrap();
    assert_eq!(short_now.state, ReservationState::Released);
    assert_eq!(l.balance(&user).unwrap(), c(7));
    assert_eq!(
        l.reservation(&done.id).unwrap().unwrap().state,
        ReservationState::Settled,
        "settled reservations are left alone"
    );
    assert_eq!(l.reservation(&long.id).unwrap().unwrap().state, ReservationState::Held);

    // Sweeping again at the same time releases nothing more for this user.
    l.expire_reservations(at(60)).unwrap();
    assert_eq!(l.balance(&user).unwrap(), c(7));
    l.expire_reservations(at(600)).unwrap();
    assert_eq!(l.balance(&user).unwrap(), c(9));
    l.expire_reservations(at(6000)).unwrap();
    assert_eq!(l.balance(&user).unwrap(), c(9));
    assert_eq!(
        l.settle(&short.id, c(1), at(61)),
        Err(BillingError::ReservationNotHeld(ReservationState::Released)),
        "a run that settles after the sweeper released it is refused"
    );
    let releases = all_entries(l, &user).into_iter().filter(|e| e.kind == EntryKind::ReservationRelease).count();
    assert_eq!(releases, 2, "each expired reservation released once");
    assert_never_negative(l, &user);
}
