//! The audit log on SQLite and PostgreSQL: each audited write appends exactly one
//! entry in its own transaction, a refused write appends none, the table refuses
//! UPDATE and DELETE, and listings filter and page newest first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use diesel::{Connection, RunQueryDsl};
use levqor_accounts::api_key::generate;
use levqor_accounts::{ApiKeyRepo, NewKeyRequest, ProfileChanges, Scope, UserRepo};
use levqor_billing::Ledger;
use levqor_connectors::{ConnectionRepo, ConnectionService, ConnectorConfig, ConnectorRegistry, Vault};
use levqor_core::{
    Actor, ActorScope, ApiKeyId, AuditAction, AuditContext, AuditEntry, AuditFilter, AuditLog, Credits, Email,
    ObjectType, RequestId, SystemClock, UserId,
};
use levqor_pipelines::PipelineRepo;
use levqor_store::Store;
use levqor_store::testing::TestDb;
use serde_json::json;

const TOKEN: &str = "xoxb-audit-contract-secret-token";

fn admin(request: &str) -> AuditContext {
    AuditContext::new(
        Actor { scope: ActorScope::Admin, key_id: Some(ApiKeyId::new()), user_id: None },
        Some(RequestId::new(request)),
    )
}

fn as_user(user: &UserId, key: &ApiKeyId, request: &str) -> AuditContext {
    AuditContext::new(
        Actor { scope: ActorScope::User, key_id: Some(key.clone()), user_id: Some(user.clone()) },
        Some(RequestId::new(request)),
    )
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn upsert(store: &Store, address: &str, audit: Option<&AuditContext>) -> (UserId, bool) {
    let email = email(address);
    let (user, created) = store
        .upsert_by_email(
            &email,
            &|existing| match existing {
                Some(u) => ProfileChanges { name: Some("again".into()), ..Default::default() }
                    .apply(u, Utc::now())
                    .map_err(levqor_accounts::AccountsError::Invalid),
                None => Ok(ProfileChanges::default().create(email.clone(), Utc::now()).unwrap()),
            },
            audit,
        )
        .unwrap();
    (user.id, created)
}

fn all(store: &Store) -> Vec<AuditEntry> {
    let page = store.audit_entries(&AuditFilter::default(), None, 200).unwrap();
    assert!(page.next_cursor.is_none());
    page.items
}

fn only(store: &Store, action: AuditAction) -> AuditEntry {
    let filter = AuditFilter { action: Some(action), ..Default::default() };
    let mut items = store.audit_entries(&filter, None, 200).unwrap().items;
    assert_eq!(items.len(), 1, "{action}: {items:?}");
    items.remove(0)
}

fn connections(store: &Store) -> ConnectionService {
    let registry = Arc::new(ConnectorRegistry::with_defaults(&ConnectorConfig::default()).unwrap());
    let vault = Vault::from_secret(b"audit-contract-secret-0123456789abcdef").unwrap();
    ConnectionService::new(Arc::new(store.clone()), vault, registry, Arc::new(SystemClock))
}

/// A raw connection to the same database, bypassing the store's API.
fn raw_execute(db: &TestDb, sql: &str) -> Result<usize, diesel::result::Error> {
    let url = db.url();
    if let Some(path) = url.strip_prefix("sqlite://") {
        diesel::sql_query(sql).execute(&mut diesel::SqliteConnection::establish(path).unwrap())
    } else {
        diesel::sql_query(sql).execute(&mut diesel::PgConnection::establish(url).unwrap())
    }
}

mod cases {
    use super::*;

    pub fn each_audited_write_appends_one_entry(db: &TestDb) {
        let store = &db.store;
        let (ada, created) = upsert(store, "ada@example.com", Some(&admin("r-create")));
        assert!(created);
        let (same, created) = upsert(store, "ada@example.com", Some(&admin("r-upsert")));
        assert!(!created && same == ada);
        store
            .update_user(
                &ada,
                &|u| {
                    ProfileChanges { name: Some("Ada".into()), ..Default::default() }
                        .apply(u, Utc::now())
                        .map_err(levqor_accounts::AccountsError::Invalid)
                },
                Some(&admin("r-patch")),
            )
            .unwrap();
        let key = generate(Some(ada.clone()), Scope::User, &NewKeyRequest::default(), Utc::now());
        store.insert_key(&key.record, Some(&admin("r-key"))).unwrap();
        let mine = |r: &str| as_user(&ada, &key.record.id, r);
        assert!(store.revoke_key(&key.record.id, Some(&ada), Utc::now(), Some(&mine("r-revoke"))).unwrap());
        // Revoking a revoked key changes nothing, so it records nothing.
        assert!(store.revoke_key(&key.record.id, Some(&ada), Utc::now(), Some(&mine("r-revoke-again"))).unwrap());
        let entry = store.adjust(&ada, Credits::new(25), "goodwill", Utc::now(), Some(&admin("r-credits"))).unwrap();
        let svc = connections(store);
        let c = svc.create(&ada, "slack", "work", json!({"token": TOKEN}), &mine("r-conn")).unwrap();
        svc.delete(&ada, &c.id, &mine("r-conn-del")).unwrap();
        let p = PipelineRepo::create(store, &ada, &levqor_pipelines::contract::sample_pipeline("hi"), None, Utc::now())
            .unwrap();
        PipelineRepo::delete(store, &ada, &p.id, Utc::now(), Some(&mine("r-pipe-del"))).unwrap();

        let entries = all(store);
        let seen: Vec<_> = entries
            .iter()
            .rev()
            .map(|e| (e.action, e.object.kind, e.object.id.clone(), e.request_id.as_ref().unwrap().to_string()))
            .collect();
        let user = ada.to_string();
        assert_eq!(
            seen,
            [
                (AuditAction::UserCreate, ObjectType::User, user.clone(), "r-create".into()),
                (AuditAction::UserUpdate, ObjectType::User, user.clone(), "r-upsert".into()),
                (AuditAction::UserUpdate, ObjectType::User, user.clone(), "r-patch".into()),
                (AuditAction::KeyCreate, ObjectType::ApiKey, key.record.id.to_string(), "r-key".into()),
                (AuditAction::KeyRevoke, ObjectType::ApiKey, key.record.id.to_string(), "r-revoke".into()),
                (AuditAction::CreditsGrant, ObjectType::LedgerEntry, entry.id.to_string(), "r-credits".into()),
                (AuditAction::ConnectionCreate, ObjectType::Connection, c.id.to_string(), "r-conn".into()),
                (AuditAction::ConnectionDelete, ObjectType::Connection, c.id.to_string(), "r-conn-del".into()),
                (AuditAction::PipelineDelete, ObjectType::Pipeline, p.id.to_string(), "r-pipe-del".into()),
            ]
        );
        assert!(entries.iter().all(|e| e.subject_user.as_ref() == Some(&ada)), "every change here concerns ada");
        let revoke = only(store, AuditAction::KeyRevoke);
        assert_eq!(
            revoke.actor,
            Actor { scope: ActorScope::User, key_id: Some(key.record.id.clone()), user_id: Some(ada.clone()) }
        );
        let grant = only(store, AuditAction::CreditsGrant);
        assert_eq!(grant.actor.scope, ActorScope::Admin);
        assert_eq!(grant.actor.user_id, None);
        let text = format!("{entries:?}");
        for secret in [key.secret.as_str(), &key.record.hash.to_hex(), TOKEN] {
            assert!(!text.contains(secret), "an audit entry holds a secret");
        }
    }

    pub fn unaudited_and_refused_writes_append_nothing(db: &TestDb) {
        let store = &db.store;
        let (ada, _) = upsert(store, "ada@example.com", None);
        let ctx = admin("r");
        // Refused: an unknown user, a duplicate key, a debit below zero, unknown objects.
        let missing = store.update_user(&UserId::new(), &|u| Ok(u), Some(&ctx));
        assert!(matches!(missing, Err(levqor_accounts::AccountsError::NotFound)));
        let key = generate(Some(ada.clone()), Scope::User, &NewKeyRequest::default(), Utc::now());
        store.insert_key(&key.record, None).unwrap();
        let mut again = key.record.clone();
        again.id = ApiKeyId::new();
        assert!(store.insert_key(&again, Some(&ctx)).is_err());
        assert!(!store.revoke_key(&ApiKeyId::new(), None, Utc::now(), Some(&ctx)).unwrap());
        assert!(store.adjust(&ada, Credits::new(-1), "too much", Utc::now(), Some(&ctx)).is_err());
        assert!(!store.delete_connection(&ada, &levqor_core::ConnectionId::new(), Utc::now(), Some(&ctx)).unwrap());
        let p = PipelineRepo::create(store, &ada, &levqor_pipelines::contract::sample_pipeline("x"), None, Utc::now())
            .unwrap();
        assert!(PipelineRepo::delete(store, &UserId::new(), &p.id, Utc::now(), Some(&ctx)).is_err());
        assert_eq!(all(store), [], "a refused or unaudited write left an entry");
    }

    pub fn entries_cannot_be_changed_or_removed(db: &TestDb) {
        let store = &db.store;
        upsert(store, "ada@example.com", Some(&admin("r1")));
        assert_eq!(all(store).len(), 1);
        assert!(raw_execute(db, "UPDATE audit_log SET action = 'key.create'").is_err(), "UPDATE was allowed");
        assert!(raw_execute(db, "DELETE FROM audit_log").is_err(), "DELETE was allowed");
        let entries = all(store);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, AuditAction::UserCreate);
    }

    pub fn filters_and_pages(db: &TestDb) {
        let store = &db.store;
        let (ada, _) = upsert(store, "ada@example.com", Some(&admin("a1")));
        let (bob, _) = upsert(store, "bob@example.com", Some(&admin("b1")));
        let ada_key = ApiKeyId::new();
        let bob_key = ApiKeyId::new();
        // The upserts above happened before `start`; these are dated after it.
        let start = Utc::now() + Duration::minutes(10);
        for i in 0..5 {
            let ctx = as_user(&ada, &ada_key, &format!("ad{i}"));
            store.adjust(&ada, Credits::new(1), "x", start + Duration::seconds(i), Some(&ctx)).unwrap();
        }
        store.adjust(&bob, Credits::new(1), "x", start, Some(&as_user(&bob, &bob_key, "bd"))).unwrap();
        let everything = all(store);
        assert_eq!(everything.len(), 8);
        assert!(everything.windows(2).all(|w| w[0].id > w[1].id), "newest first");

        let by_actor = AuditFilter { actor_user: Some(ada.clone()), ..Default::default() };
        let mut paged = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.audit_entries(&by_actor, cursor.as_ref(), 2).unwrap();
            assert!(page.items.len() <= 2);
            paged.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<_> = everything.iter().filter(|e| e.actor.user_id.as_ref() == Some(&ada)).cloned().collect();
        assert_eq!(expected.len(), 5);
        assert_eq!(paged, expected, "pages of two, in order, none twice, none missed");

        let involving_ada = AuditFilter { involving: Some(ada.clone()), ..Default::default() };
        assert_eq!(store.audit_entries(&involving_ada, None, 50).unwrap().items.len(), 6, "her five and her creation");
        let created = AuditFilter { action: Some(AuditAction::UserCreate), ..Default::default() };
        assert_eq!(store.audit_entries(&created, None, 50).unwrap().items.len(), 2);
        let bob_object =
            AuditFilter { object_type: Some(ObjectType::User), object_id: Some(bob.to_string()), ..Default::default() };
        let found = store.audit_entries(&bob_object, None, 50).unwrap().items;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].request_id, Some(RequestId::new("b1")));
        let since = AuditFilter { from: Some(start), ..Default::default() };
        assert_eq!(store.audit_entries(&since, None, 50).unwrap().items.len(), 6);
        let before = AuditFilter { to: Some(start), ..Default::default() };
        assert_eq!(store.audit_entries(&before, None, 50).unwrap().items.len(), 2);
        let window = AuditFilter {
            from: Some(start + Duration::seconds(1)),
            to: Some(start + Duration::seconds(3)),
            ..Default::default()
        };
        assert_eq!(store.audit_entries(&window, None, 50).unwrap().items.len(), 2);
        let future = AuditFilter { from: Some(start + Duration::hours(1)), ..Default::default() };
        assert!(store.audit_entries(&future, None, 50).unwrap().items.is_empty());
        let bad = store.audit_entries(&AuditFilter::default(), Some(&levqor_core::Cursor("nope".into())), 5);
        assert!(matches!(bad, Err(levqor_core::AuditError::Invalid(_))));
    }
}

levqor_store::store_cases_on_both_backends!(
    each_audited_write_appends_one_entry,
    unaudited_and_refused_writes_append_nothing,
    entries_cannot_be_changed_or_removed,
    filters_and_pages,
);
