//! The `ReferralRepo` of levqor-billing on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use levqor_accounts::{ProfileChanges, UserRepo};
use levqor_billing::{ReferralCode, ReferralRepo, TrackedVisit};
use levqor_core::{Email, UserId};
use levqor_store::testing::TestDb;

fn create_user(db: &TestDb) -> UserId {
    let email = Email::parse(&format!("u{}@example.com", UserId::new().as_uuid().simple())).unwrap();
    let (user, _) = db
        .store
        .upsert_by_email(&email, &|_| Ok(ProfileChanges::default().create(email.clone(), Utc::now()).unwrap()), None)
        .unwrap();
    user.id
}

/// How many rows a table holds, through a connection of our own.
fn count_rows(db: &TestDb, table: &str) -> i64 {
    use diesel::sql_types::BigInt;
    use diesel::{Connection, RunQueryDsl};
    let query = diesel::dsl::sql::<BigInt>(&format!("SELECT COUNT(*) FROM {table}"));
    let url = db.url();
    if url.starts_with("postgres") {
        query.get_result(&mut diesel::PgConnection::establish(url).unwrap()).unwrap()
    } else {
        let path = url.trim_start_matches("sqlite://");
        query.get_result(&mut diesel::SqliteConnection::establish(path).unwrap()).unwrap()
    }
}

mod cases {
    use super::*;

    pub fn code_for_is_stable_and_unique(db: &TestDb) {
        let (a, b) = (create_user(db), create_user(db));
        let code = db.store.code_for(&a, Utc::now()).unwrap();
        assert_eq!(db.store.code_for(&a, Utc::now()).unwrap(), code, "one code per user");
        let other = db.store.code_for(&b, Utc::now()).unwrap();
        assert_ne!(other, code);
        assert_eq!(ReferralCode::parse(code.as_str()).unwrap(), code);
        assert!(!code.as_str().contains(&a.to_string()), "the code is not the user id");
        assert_eq!(count_rows(db, "referral_codes"), 2);
    }

    pub fn concurrent_first_calls_get_one_code(db: &TestDb) {
        let user = create_user(db);
        let barrier = std::sync::Barrier::new(8);
        let codes: Vec<ReferralCode> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        db.store.code_for(&user, Utc::now()).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(codes.iter().all(|c| c == &codes[0]), "{codes:?}");
        assert_eq!(count_rows(db, "referral_codes"), 1);
    }

    pub fn find_code(db: &TestDb) {
        let a = create_user(db);
        let code = db.store.code_for(&a, Utc::now()).unwrap();
        assert_eq!(db.store.find_code(&code).unwrap(), Some(a));
        // As a person typed it.
        let typed = ReferralCode::parse(&code.as_str().to_lowercase()).unwrap();
        assert!(db.store.find_code(&typed).unwrap().is_some());
        let unknown = loop {
            let c = ReferralCode::generate();
            if c != code {
                break c;
            }
        };
        assert_eq!(db.store.find_code(&unknown).unwrap(), None);
    }

    pub fn first_attribution_wins(db: &TestDb) {
        let (a, b, c) = (create_user(db), create_user(db), create_user(db));
        assert_eq!(db.store.referrer_of(&c).unwrap(), None);
        assert!(db.store.attribute(&c, &a, Utc::now()).unwrap());
        assert!(!db.store.attribute(&c, &b, Utc::now()).unwrap());
        assert!(!db.store.attribute(&c, &a, Utc::now()).unwrap());
        assert_eq!(db.store.referrer_of(&c).unwrap(), Some(a.clone()));
        assert_eq!(db.store.referrer_of(&a).unwrap(), None);
        assert_eq!(db.store.referrer_of(&UserId::new()).unwrap(), None);
    }

    pub fn concurrent_attributions_one_wins(db: &TestDb) {
        let referred = create_user(db);
        let referrers: Vec<UserId> = (0..6).map(|_| create_user(db)).collect();
        let barrier = std::sync::Barrier::new(referrers.len());
        let wins: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = referrers
                .iter()
                .map(|r| {
                    let (barrier, referred) = (&barrier, &referred);
                    s.spawn(move || {
                        barrier.wait();
                        db.store.attribute(referred, r, Utc::now()).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
        let winner = referrers[wins.iter().position(|w| *w).unwrap()].clone();
        assert_eq!(db.store.referrer_of(&referred).unwrap(), Some(winner));
    }

    pub fn track_records_visits(db: &TestDb) {
        let visit = TrackedVisit {
            email_hash: levqor_core::EmailHasher::new(b"referral-test-key-0123456789abcdef")
                .digest(&Email::parse("visitor@example.com").unwrap()),
            source: "newsletter".into(),
            campaign: Some("launch".into()),
            medium: None,
            at: Utc::now(),
        };
        db.store.track(&visit).unwrap();
        db.store.track(&visit).unwrap();
        assert_eq!(count_rows(db, "referral_visits"), 2, "every visit is kept");
    }
}

levqor_store::store_cases_on_both_backends!(
    code_for_is_stable_and_unique,
    concurrent_first_calls_get_one_code,
    find_code,
    first_attribution_wins,
    concurrent_attributions_one_wins,
    track_records_visits,
);
