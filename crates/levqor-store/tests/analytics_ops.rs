//! Analytics events, legacy address hashing, the activity log, task claims and
//! SQLite backups, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use levqor_analytics::AnalyticsService;
use levqor_core::{EmailHasher, ManualClock};
use levqor_store::testing::TestDb;
use levqor_store::{ActivityRecord, Outcome};

const KEY: &[u8] = b"analytics-test-key-0123456789abcdef";

fn exec(db: &TestDb, sql: &str) {
    use diesel::{Connection, RunQueryDsl};
    let url = db.url();
    if url.starts_with("postgres") {
        diesel::sql_query(sql).execute(&mut diesel::PgConnection::establish(url).unwrap()).unwrap();
    } else {
        let path = url.trim_start_matches("sqlite://");
        diesel::sql_query(sql).execute(&mut diesel::SqliteConnection::establish(path).unwrap()).unwrap();
    }
}

/// The database file and its WAL, as bytes (SQLite only).
fn sqlite_bytes(db: &TestDb) -> Vec<u8> {
    let path = db.url().trim_start_matches("sqlite://").to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

mod cases {
    use super::*;

    pub fn buckets_across_a_day_boundary(db: &TestDb) {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 23, 10, 0).unwrap()));
        let service = AnalyticsService::new(Arc::new(db.store.clone()), EmailHasher::new(KEY), clock.clone());
        levqor_analytics::test_cases::exercise_day_boundary(&service, &clock);
    }

    pub fn plain_addresses_left_by_older_releases_are_hashed(db: &TestDb) {
        let before = Utc::now().timestamp_micros();
        exec(
            db,
            &format!(
                "INSERT INTO referral_visits (id, email_hash, source, created_at) VALUES \
                 ('v1', 'legacy.visitor@example.com', 'newsletter', {before}), ('v2', 'not an address@', 'x', {before})"
            ),
        );
        if db.url().starts_with("sqlite") {
            assert!(contains(&sqlite_bytes(db), "legacy.visitor@example.com"), "the fixture row is in the file");
        }
        let hasher = EmailHasher::new(KEY);
        assert_eq!(db.store.hash_plain_emails(&hasher).unwrap(), 2);
        assert_eq!(db.store.hash_plain_emails(&hasher).unwrap(), 0, "once only");
        if db.url().starts_with("sqlite") {
            let bytes = sqlite_bytes(db);
            assert!(!contains(&bytes, "legacy.visitor@example.com"), "the plain address is gone from file and WAL");
            assert!(!contains(&bytes, "not an address@"));
            let digest = hasher.digest(&levqor_core::Email::parse("legacy.visitor@example.com").unwrap());
            assert!(contains(&bytes, digest.as_str()), "the digest took its place");
        }
        let counts = db.store.table_counts().unwrap();
        assert!(counts.contains(&("referral_visits".to_owned(), 2)), "{counts:?}");
    }

    pub fn activity_log_and_once_per_period_claims(db: &TestDb) {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap();
        for (i, outcome) in [Outcome::Ok, Outcome::Failed, Outcome::Skipped].into_iter().enumerate() {
            let started_at = t0 + TimeDelta::minutes(i as i64);
            db.store
                .record_activity(&ActivityRecord {
                    task: if i == 2 { "purge".into() } else { "backup".into() },
                    started_at,
                    finished_at: started_at + TimeDelta::seconds(2),
                    outcome,
                    detail: format!("run {i}"),
                })
                .unwrap();
        }
        let backups = db.store.recent_activity(Some("backup"), 10).unwrap();
        assert_eq!(backups.len(), 2);
        assert_eq!(backups[0].outcome, Outcome::Failed, "newest first");
        assert_eq!(backups[1].detail, "run 0");
        assert_eq!(backups[1].finished_at, t0 + TimeDelta::seconds(2));
        assert_eq!(db.store.recent_activity(None, 1).unwrap()[0].task, "purge");
        assert_eq!(db.store.purge_activity(t0 + TimeDelta::seconds(30)).unwrap(), 1);
        assert_eq!(db.store.recent_activity(None, 10).unwrap().len(), 2);

        let winners: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> =
                (0..6).map(|_| s.spawn(|| db.store.claim_task("backup", "2026-11-30", t0).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(winners.iter().filter(|w| **w).count(), 1, "{winners:?}");
        assert!(db.store.claim_task("backup", "2026-12-01", t0).unwrap(), "the next day is free");
    }

    pub fn daily_ops_counts_jobs_and_credits(db: &TestDb) {
        let day = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        let at = |h: i64| (day + TimeDelta::hours(h)).timestamp_micros();
        let n = day.timestamp() / 86_400;
        exec(
            db,
            &format!(
                "INSERT INTO users (id, email, meta, created_at, updated_at) VALUES ('u1', 'u1@example.com', '{{}}', {0}, {0})",
                at(0)
            ),
        );
        for (i, h) in [1, 2, 25].iter().enumerate() {
            exec(
                db,
                &format!(
                    "INSERT INTO jobs (id, owner, workflow, payload, state, priority, attempts, max_attempts, timeout_s, run_at, created_at, updated_at) \
                     VALUES ('j{i}', 'u1', 'echo', '{{}}', 'succeeded', 1, 1, 3, 30, {0}, {0}, {0})",
                    at(*h)
                ),
            );
        }
        for (i, (kind, amount, h)) in
            [("free_grant", 50, 1), ("run_reserve", -3, 2), ("run_settle", 1, 2), ("purchase", 100, 26)]
                .iter()
                .enumerate()
        {
            exec(
                db,
                &format!(
                    "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reason, created_at) \
                     VALUES ('l{i}', 'u1', '{kind}', {amount}, 0, 'test', {})",
                    at(*h)
                ),
            );
        }
        let days = db.store.daily_ops(n, n + 2).unwrap();
        assert_eq!(days.len(), 2, "{days:?}");
        assert_eq!((days[0].day, days[0].jobs, days[0].credits_granted, days[0].credits_spent), (n, 2, 50, 2));
        assert_eq!((days[1].day, days[1].jobs, days[1].credits_granted, days[1].credits_spent), (n + 1, 1, 100, 0));
        assert!(db.store.daily_ops(n + 2, n + 5).unwrap().is_empty());
    }
}

levqor_store::store_cases_on_both_backends!(
    buckets_across_a_day_boundary,
    plain_addresses_left_by_older_releases_are_hashed,
    activity_log_and_once_per_period_claims,
    daily_ops_counts_jobs_and_credits,
);
