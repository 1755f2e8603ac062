//! The accounts ports' contract, run the same way on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use levqor_accounts::api_key::generate;
use levqor_accounts::{
    AccountService, AccountsError, AdminKeys, ApiKeyRepo, NewKeyRequest, Principal, ProfileChanges, Scope, UserRepo,
};
use levqor_core::{ApiKeyId, Email, StorageError, SystemClock, UserId};
use levqor_store::Store;
use levqor_store::testing::TestDb;
use serde_json::json;

/// These cases are about the accounts themselves; `audit_contract` checks the entries.
fn ctx() -> levqor_core::AuditContext {
    levqor_core::AuditContext::new(levqor_core::Actor::operator(), None)
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn service(store: &Store) -> AccountService {
    let store = Arc::new(store.clone());
    AccountService::new(store.clone(), store, Arc::new(SystemClock), AdminKeys::default())
}

fn meta(v: serde_json::Value) -> Option<levqor_accounts::Meta> {
    v.as_object().cloned()
}

mod cases {
    use super::*;

    pub fn migrations_are_idempotent(db: &TestDb) {
        assert_eq!(db.store.pending_migrations().unwrap(), 0);
        assert!(db.store.migrate().unwrap().is_empty());
        db.store.ping().unwrap();
    }

    pub fn upsert_creates_then_updates(db: &TestDb) {
        let svc = service(&db.store);
        let changes = ProfileChanges {
            name: Some("Ada".into()),
            meta: meta(json!({"a": 1, "nested": {"x": 1}})),
            ..Default::default()
        };
        let (first, created) = svc.upsert(&email(" Ada@Example.com "), &changes, &ctx()).unwrap();
        assert!(created);
        assert_eq!(first.email.as_str(), "ada@example.com");
        let changes = ProfileChanges {
            name: Some("Ada L".into()),
            currency: Some(levqor_accounts::Currency::Gbp),
            locale: Some(levqor_accounts::Locale::parse("en-GB").unwrap()),
            meta: meta(json!({"b": 2, "nested": {"y": 2}})),
        };
        let (second, created) = svc.upsert(&email("ada@example.com"), &changes, &ctx()).unwrap();
        assert!(!created);
        assert_eq!(second.id, first.id);
        let stored = db.store.get_user(&first.id).unwrap().unwrap();
        assert_eq!(stored.name.as_deref(), Some("Ada L"));
        assert_eq!(stored.currency, Some(levqor_accounts::Currency::Gbp));
        assert_eq!(stored.locale.unwrap().as_str(), "en-GB");
        assert_eq!(serde_json::Value::Object(stored.meta), json!({"a": 1, "b": 2, "nested": {"x": 1, "y": 2}}));
        assert_eq!(stored.created_at.timestamp_micros(), first.created_at.timestamp_micros());
        assert!(stored.updated_at >= first.updated_at);
        assert_eq!(db.store.find_user_by_email(&email("ada@example.com")).unwrap().unwrap().id, first.id);
        assert!(db.store.find_user_by_email(&email("nobody@example.com")).unwrap().is_none());
    }

    pub fn concurrent_upserts_make_one_user(db: &TestDb) {
        let svc = service(&db.store);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let svc = svc.clone();
                    s.spawn(move || {
                        svc.upsert(
                            &email("race@example.com"),
                            &ProfileChanges { meta: meta(json!({ format!("k{i}"): i })), ..Default::default() },
                            &ctx(),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let created = results.iter().filter(|r| matches!(r, Ok((_, true)))).count();
        assert_eq!(created, 1, "{results:?}");
        let ids: std::collections::HashSet<_> = results.iter().map(|r| r.as_ref().unwrap().0.id.clone()).collect();
        assert_eq!(ids.len(), 1);
        // Every writer's meta key survived: no lost update.
        let user = db.store.find_user_by_email(&email("race@example.com")).unwrap().unwrap();
        assert_eq!(user.meta.len(), 8, "{:?}", user.meta);
    }

    pub fn update_of_missing_user_is_not_found(db: &TestDb) {
        let svc = service(&db.store);
        let err = svc
            .patch(&Principal::Admin { key_id: None }, &UserId::new(), &ProfileChanges::default(), &ctx())
            .unwrap_err();
        assert_eq!(err, AccountsError::NotFound);
        assert!(db.store.get_user(&UserId::new()).unwrap().is_none());
    }

    pub fn keys_store_only_hashes(db: &TestDb) {
        let svc = service(&db.store);
        let (user, _) = svc.upsert(&email("keys@example.com"), &ProfileChanges::default(), &ctx()).unwrap();
        let admin = Principal::Admin { key_id: None };
        let k1 = svc
            .create_user_key(&admin, &user.id, &NewKeyRequest { label: Some("ci".into()), expires_at: None }, &ctx())
            .unwrap();
        let k2 = svc.create_user_key(&admin, &user.id, &NewKeyRequest::default(), &ctx()).unwrap();
        let found = db.store.find_key_by_hash(&k1.record.hash).unwrap().unwrap();
        assert_eq!(found, k1.record);
        let listed = svc.list_keys(&admin, &user.id).unwrap();
        assert_eq!(
            listed.iter().map(|k| k.id.clone()).collect::<Vec<_>>(),
            vec![k2.record.id.clone(), k1.record.id.clone()]
        );
        // The secret itself is nowhere in what the store returns.
        assert!(!format!("{listed:?}").contains(&k1.secret));
    }

    pub fn revoke_and_touch(db: &TestDb) {
        let svc = service(&db.store);
        let (a, _) = svc.upsert(&email("a@example.com"), &ProfileChanges::default(), &ctx()).unwrap();
        let (b, _) = svc.upsert(&email("b@example.com"), &ProfileChanges::default(), &ctx()).unwrap();
        let admin = Principal::Admin { key_id: None };
        let key = svc.create_user_key(&admin, &a.id, &NewKeyRequest::default(), &ctx()).unwrap();
        let now = Utc::now();
        assert!(!db.store.revoke_key(&key.record.id, Some(&b.id), now, None).unwrap(), "revoked another user's key");
        assert!(!db.store.revoke_key(&ApiKeyId::new(), None, now, None).unwrap());
        assert!(db.store.revoke_key(&key.record.id, Some(&a.id), now, None).unwrap());
        assert!(db.store.revoke_key(&key.record.id, None, now + Duration::hours(1), None).unwrap());
        let stored = db.store.find_key_by_hash(&key.record.hash).unwrap().unwrap();
        assert_eq!(
            stored.revoked_at.unwrap().timestamp_micros(),
            now.timestamp_micros(),
            "second revoke moved the time"
        );
        db.store.touch_key(&key.record.id, now).unwrap();
        let stored = db.store.find_key_by_hash(&key.record.hash).unwrap().unwrap();
        assert_eq!(stored.last_used_at.unwrap().timestamp_micros(), now.timestamp_micros());
    }

    pub fn keys_need_an_existing_user(db: &TestDb) {
        let orphan = generate(Some(UserId::new()), Scope::User, &NewKeyRequest::default(), Utc::now());
        let err = db.store.insert_key(&orphan.record, None).unwrap_err();
        assert!(matches!(err, StorageError::Failure(_) | StorageError::Conflict(_)), "{err:?}");
        let admin = generate(None, Scope::Admin, &NewKeyRequest::default(), Utc::now());
        db.store.insert_key(&admin.record, None).unwrap();
        assert_eq!(db.store.list_keys(None).unwrap().len(), 1);
    }

    pub fn duplicate_key_hash_is_a_conflict(db: &TestDb) {
        let key = generate(None, Scope::Admin, &NewKeyRequest::default(), Utc::now());
        db.store.insert_key(&key.record, None).unwrap();
        let mut again = key.record.clone();
        again.id = ApiKeyId::new();
        assert!(matches!(db.store.insert_key(&again, None), Err(StorageError::Conflict(_))));
    }
}

levqor_store::store_cases_on_both_backends!(
    migrations_are_idempotent,
    upsert_creates_then_updates,
    concurrent_upserts_make_one_user,
    update_of_missing_user_is_not_found,
    keys_store_only_hashes,
    revoke_and_touch,
    keys_need_an_existing_user,
    duplicate_key_hash_is_a_conflict,
);
