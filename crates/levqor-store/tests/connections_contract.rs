//! Stored connections on SQLite and PostgreSQL: sealed at rest, owner-scoped,
//! unique names, refreshed credentials stored back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use levqor_accounts::{AccountService, AdminKeys, ProfileChanges};
use levqor_connectors::{
    ConnectionError, ConnectionRepo, ConnectionService, ConnectorConfig, ConnectorError, ConnectorRegistry, Vault,
};
use levqor_core::{ConnectionId, Email, SystemClock, UserId};
use levqor_store::testing::TestDb;
use serde_json::json;

const TOKEN: &str = "xoxb-store-contract-secret-token";

fn user(db: &TestDb, email: &str) -> UserId {
    let store = Arc::new(db.store.clone());
    let accounts = AccountService::new(store.clone(), store, Arc::new(SystemClock), AdminKeys::default());
    accounts.upsert(&Email::parse(email).unwrap(), &ProfileChanges::default(), &ctx()).unwrap().0.id
}

/// These cases are about connections themselves; `audit_contract` checks the entries.
fn ctx() -> levqor_core::AuditContext {
    levqor_core::AuditContext::new(levqor_core::Actor::operator(), None)
}

fn service(db: &TestDb) -> ConnectionService {
    let registry = Arc::new(ConnectorRegistry::with_defaults(&ConnectorConfig::default()).unwrap());
    let vault = Vault::from_secret(b"store-contract-secret-0123456789abcdef").unwrap();
    ConnectionService::new(Arc::new(db.store.clone()), vault, registry, Arc::new(SystemClock))
}

mod cases {
    use super::*;

    pub fn create_list_get_delete(db: &TestDb) {
        let svc = service(db);
        let ada = user(db, "ada@example.com");
        let bob = user(db, "bob@example.com");
        let c = svc.create(&ada, "slack", "work", json!({"token": TOKEN}), &ctx()).unwrap();
        assert_eq!(c.credential_fields, ["token"]);
        assert_eq!(svc.list(&ada).unwrap(), vec![c.clone()]);
        assert!(svc.list(&bob).unwrap().is_empty());
        assert_eq!(svc.get(&ada, &c.id).unwrap(), c);
        assert!(matches!(svc.get(&bob, &c.id), Err(ConnectionError::NotFound)));
        assert!(matches!(svc.delete(&bob, &c.id, &ctx()), Err(ConnectionError::NotFound)));
        assert!(matches!(svc.resolve(&bob, "slack", Some("work")), Err(ConnectionError::NotFound)));

        let (used, creds) = svc.resolve(&ada, "slack", None).unwrap();
        assert_eq!(used.id, c.id);
        assert_eq!(creds.get("token"), Some(TOKEN));
        assert_eq!(svc.resolve(&ada, "slack", Some(&c.id.to_string())).unwrap().0.id, c.id);
        assert!(svc.get(&ada, &c.id).unwrap().last_used_at.is_some());

        svc.delete(&ada, &c.id, &ctx()).unwrap();
        assert!(matches!(svc.get(&ada, &c.id), Err(ConnectionError::NotFound)));
        assert!(matches!(svc.resolve(&ada, "slack", None), Err(ConnectionError::NoneStored { .. })));
    }

    pub fn credentials_are_sealed_at_rest(db: &TestDb) {
        let svc = service(db);
        let ada = user(db, "ada@example.com");
        let c = svc.create(&ada, "slack", "work", json!({"token": TOKEN}), &ctx()).unwrap();
        let raw = db.store.get_connection(&ada, &c.id).unwrap().unwrap();
        assert!(raw.sealed.starts_with("v1."));
        assert!(!raw.sealed.contains(TOKEN) && !raw.sealed.contains(&hex(TOKEN)));
        if let Some(path) = db.url().strip_prefix("sqlite://") {
            // The main file and the WAL: the token is in neither.
            for file in [path.to_owned(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    assert!(!contains(&bytes, TOKEN.as_bytes()), "{file} holds the token");
                }
            }
        }
        // A sealed value moved to another row does not open.
        let other = svc.create(&ada, "slack", "other", json!({"token": "xoxb-other"}), &ctx()).unwrap();
        db.store.update_connection_secret(&ada, &other.id, &raw.sealed, chrono::Utc::now()).unwrap();
        assert!(matches!(svc.resolve(&ada, "slack", Some("other")), Err(ConnectionError::Vault(_))));
    }

    pub fn names_are_unique_per_owner_and_connector(db: &TestDb) {
        let svc = service(db);
        let ada = user(db, "ada@example.com");
        let bob = user(db, "bob@example.com");
        svc.create(&ada, "slack", "main", json!({"token": "xoxb-1"}), &ctx()).unwrap();
        assert!(matches!(
            svc.create(&ada, "slack", "main", json!({"token": "xoxb-2"}), &ctx()),
            Err(ConnectionError::Duplicate { .. })
        ));
        svc.create(&ada, "notion", "main", json!({"token": "secret_x"}), &ctx()).unwrap();
        svc.create(&bob, "slack", "main", json!({"token": "xoxb-3"}), &ctx()).unwrap();
        svc.create(&ada, "slack", "second", json!({"token": "xoxb-4"}), &ctx()).unwrap();
        assert!(matches!(svc.resolve(&ada, "slack", None), Err(ConnectionError::Ambiguous { count: 2, .. })));
        assert_eq!(svc.resolve(&ada, "slack", Some("second")).unwrap().1.get("token"), Some("xoxb-4"));
        assert!(matches!(svc.resolve(&ada, "telegram", Some("main")), Err(ConnectionError::NotFound)));
    }

    pub fn credentials_are_validated(db: &TestDb) {
        let svc = service(db);
        let ada = user(db, "ada@example.com");
        assert!(matches!(
            svc.create(&ada, "smtp", "x", json!({"token": "t"}), &ctx()),
            Err(ConnectionError::Connector(ConnectorError::UnknownConnector { .. }))
        ));
        assert!(matches!(
            svc.create(&ada, "slack", "x", json!({}), &ctx()),
            Err(ConnectionError::Connector(ConnectorError::MissingCredentials { field })) if field == "token"
        ));
        let Err(ConnectionError::Invalid(p)) =
            svc.create(&ada, "slack", "x", json!({"token": "t", "password": "p"}), &ctx())
        else {
            panic!("unknown field accepted")
        };
        assert_eq!(p[0].field, "credentials.password");
        assert!(matches!(
            svc.create(&ada, "slack", "x", json!({"token": ""}), &ctx()),
            Err(ConnectionError::Invalid(_))
        ));
        assert!(matches!(
            svc.create(&ada, "builtin", "x", json!({"token": "t"}), &ctx()),
            Err(ConnectionError::Invalid(_))
        ));
        assert!(matches!(
            svc.create(&ada, "slack", " ", json!({"token": "t"}), &ctx()),
            Err(ConnectionError::Invalid(_))
        ));
        assert!(svc.list(&ada).unwrap().is_empty());
    }

    pub fn refreshed_credentials_are_stored_back(db: &TestDb) {
        let svc = service(db);
        let ada = user(db, "ada@example.com");
        svc.create(
            &ada,
            "gmail",
            "mail",
            json!({"access_token": "old", "refresh_token": "r1", "client_id": "c", "client_secret": "s"}),
            &ctx(),
        )
        .unwrap();
        let (c, creds) = svc.resolve(&ada, "gmail", Some("mail")).unwrap();
        svc.store_refreshed(&c, creds, &json!({"access_token": "new", "expires_at": 1_900_000_000})).unwrap();
        let (_, creds) = svc.resolve(&ada, "gmail", Some("mail")).unwrap();
        assert_eq!(creds.get("access_token"), Some("new"));
        assert_eq!(creds.get("refresh_token"), Some("r1"));
        assert_eq!(creds.get_value("expires_at"), Some(&json!(1_900_000_000)));
        assert!(!db.store.delete_connection(&ada, &ConnectionId::new(), chrono::Utc::now(), None).unwrap());
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

levqor_store::store_cases_on_both_backends!(
    create_list_get_delete,
    credentials_are_sealed_at_rest,
    names_are_unique_per_owner_and_connector,
    credentials_are_validated,
    refreshed_credentials_are_stored_back,
);
