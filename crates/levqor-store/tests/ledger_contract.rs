//! The `Ledger` contract of levqor-billing, run on SQLite and on PostgreSQL, each
//! case on a fresh database, plus the store's own concurrency cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use levqor_accounts::{ProfileChanges, UserRepo};
use levqor_billing::Ledger;
use levqor_billing::contract::Harness;
use levqor_core::{Email, UserId};
use levqor_store::testing::TestDb;

/// A real user row, for the ledger's foreign keys.
fn create_user(db: &TestDb) -> UserId {
    let email = Email::parse(&format!("u{}@example.com", UserId::new().as_uuid().simple())).unwrap();
    let (user, created) = db
        .store
        .upsert_by_email(
            &email,
            &|existing| {
                assert!(existing.is_none());
                Ok(ProfileChanges::default().create(email.clone(), Utc::now()).unwrap())
            },
            None,
        )
        .unwrap();
    assert!(created);
    user.id
}

fn ledger(db: &TestDb) -> &dyn Ledger {
    &db.store
}

fn harness(db: TestDb) -> Harness<TestDb> {
    Harness::new(db, ledger, create_user)
}

mod sqlite {
    use super::*;

    levqor_billing::ledger_contract_tests!(harness(TestDb::sqlite()));
}

mod postgres {
    use super::*;

    levqor_billing::ledger_contract_tests!(optional TestDb::postgres("ledger_contract::postgres").map(harness));
}

#[test]
fn every_contract_case_is_covered() {
    // The macro runs its own list; make sure it still matches the crate's catalogue.
    assert_eq!(levqor_billing::contract::CASES.len(), 12, "a contract case was added: check the macro runs it");
}

mod store_cases {
    use std::sync::Barrier;

    use levqor_billing::{EntryKind, GrantOutcome, stripe_event_key, stripe_session_key};
    use levqor_core::Credits;

    use super::*;

    /// Two users race for the same once-keys (say a Stripe session misattributed):
    /// only one grant in total, the loser answered `AlreadyGranted`, not an error.
    /// They hold different balance locks, so this goes through the unique index.
    pub fn once_keys_are_global(db: &TestDb) {
        const PER_USER: usize = 8;
        let (a, b) = (create_user(db), create_user(db));
        let keys = vec![stripe_event_key("evt_race"), stripe_session_key("cs_race")];
        let barrier = Barrier::new(PER_USER * 2);
        let outcomes: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..PER_USER * 2)
                .map(|i| {
                    let (user, barrier, keys, store) = (if i % 2 == 0 { &a } else { &b }, &barrier, &keys, &db.store);
                    s.spawn(move || {
                        barrier.wait();
                        let grant = levqor_billing::contract::grant_of(user, EntryKind::Purchase, 100, 1);
                        store.grant_once(&grant, keys)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let granted = outcomes.iter().filter(|o| matches!(o, Ok(GrantOutcome::Granted(_)))).count();
        let already = outcomes.iter().filter(|o| matches!(o, Ok(GrantOutcome::AlreadyGranted))).count();
        assert_eq!((granted, already), (1, PER_USER * 2 - 1), "{outcomes:?}");
        let total = db.store.balance(&a).unwrap().get() + db.store.balance(&b).unwrap().get();
        assert_eq!(total, 100);
    }

    /// A user the users table does not know cannot get credits.
    pub fn unknown_user_is_refused(db: &TestDb) {
        let ghost = UserId::new();
        let grant = levqor_billing::contract::grant_of(&ghost, EntryKind::Purchase, 5, 0);
        assert!(db.store.grant(&grant, None).is_err());
        assert_eq!(db.store.balance(&ghost).unwrap(), Credits::ZERO);
    }

    /// Sweepers running side by side release each expired reservation once.
    pub fn concurrent_sweepers(db: &TestDb) {
        let users: Vec<UserId> = (0..3).map(|_| create_user(db)).collect();
        let t0 = levqor_billing::contract::t0();
        for user in &users {
            db.store.grant(&levqor_billing::contract::grant_of(user, EntryKind::Purchase, 10, 0), None).unwrap();
            for _ in 0..5 {
                db.store.reserve(user, Credits::new(2), "run", chrono::TimeDelta::seconds(1), t0).unwrap();
            }
            assert_eq!(db.store.balance(user).unwrap(), Credits::ZERO);
        }
        let later = t0 + chrono::TimeDelta::seconds(5);
        let released: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| db.store.expire_reservations(later).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(released, 15);
        for user in &users {
            assert_eq!(db.store.balance(user).unwrap(), Credits::new(10));
            let entries = db.store.entries(user, None, 200).unwrap().items;
            assert_eq!(entries.iter().filter(|e| e.kind == EntryKind::ReservationRelease).count(), 5);
            assert!(entries.iter().all(|e| !e.balance_after.is_negative()));
        }
    }
}

levqor_store::store_cases_on_both_backends!(store_cases => store_sqlite, store_postgres; once_keys_are_global, unknown_user_is_refused, concurrent_sweepers);
