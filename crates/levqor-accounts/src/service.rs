//! The accounts use cases: what the HTTP handlers and the CLI call.

use std::sync::Arc;

use chrono::Duration;
use levqor_core::{Actor, ApiKeyId, AuditContext, Clock, Email, UserId};

use crate::api_key::{self, ApiKeyRecord, GeneratedKey, KeyHash, NewKeyRequest, Scope};
use crate::error::{AccountsError, AuthError};
use crate::ports::{ApiKeyRepo, UserRepo};
use crate::principal::{AdminKeys, Principal};
use crate::user::{ProfileChanges, User};

/// How stale `last_used_at` may get before an authenticated call writes it again;
/// saves a write per request.
const LAST_USED_GRANULARITY: Duration = Duration::seconds(60);

/// How long a successful key check is answered from memory. A revocation here
/// clears the cache at once; other instances notice within this time.
const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const AUTH_CACHE_MAX: usize = 10_000;

struct CachedAuth {
    principal: Principal,
    key_expires_at: Option<levqor_core::Timestamp>,
    cached_at: std::time::Instant,
}

type AuthCache = Arc<std::sync::Mutex<std::collections::HashMap<KeyHash, CachedAuth>>>;

/// Changes made with the `levqor keys` command: by the operator, outside any request.
fn operator() -> AuditContext {
    AuditContext::new(Actor::operator(), None)
}

#[derive(Clone)]
pub struct AccountService {
    users: Arc<dyn UserRepo>,
    keys: Arc<dyn ApiKeyRepo>,
    clock: Arc<dyn Clock>,
    admin_keys: AdminKeys,
    cache: AuthCache,
    max_active_keys: usize,
}

/// How many unrevoked, unexpired keys one user may hold unless configured
/// otherwise (`LEVQOR_MAX_KEYS_PER_USER`).
pub const DEFAULT_MAX_ACTIVE_KEYS: usize = 20;

impl AccountService {
    pub fn new(
        users: Arc<dyn UserRepo>,
        keys: Arc<dyn ApiKeyRepo>,
        clock: Arc<dyn Clock>,
        admin_keys: AdminKeys,
    ) -> Self {
        Self { users, keys, clock, admin_keys, cache: AuthCache::default(), max_active_keys: DEFAULT_MAX_ACTIVE_KEYS }
    }

    /// At most `max` active keys per user (at least one).
    pub fn with_max_active_keys(mut self, max: usize) -> Self {
        self.max_active_keys = max.max(1);
        self
    }

    /// Create the user with `email` or update it. Returns the user and whether it was created.
    pub fn upsert(
        &self,
        email: &Email,
        changes: &ProfileChanges,
        audit: &AuditContext,
    ) -> Result<(User, bool), AccountsError> {
        changes.validate().map_err(AccountsError::Invalid)?;
        let now = self.clock.now();
        self.users.upsert_by_email(
            email,
            &|existing| {
                match existing {
                    Some(user) => changes.apply(user, now),
                    None => changes.create(email.clone(), now),
                }
                .map_err(AccountsError::Invalid)
            },
            Some(audit),
        )
    }

    pub fn get(&self, caller: &Principal, id: &UserId) -> Result<User, AccountsError> {
        caller.may_access_user(id)?;
        self.users.get_user(id)?.ok_or(AccountsError::NotFound)
    }

    pub fn lookup(&self, caller: &Principal, email: &Email) -> Result<User, AccountsError> {
        let user = self.users.find_user_by_email(email)?.ok_or(AccountsError::NotFound)?;
        caller.may_access_user(&user.id)?;
        Ok(user)
    }

    pub fn patch(
        &self,
        caller: &Principal,
        id: &UserId,
        changes: &ProfileChanges,
        audit: &AuditContext,
    ) -> Result<User, AccountsError> {
        caller.may_access_user(id)?;
        changes.validate().map_err(AccountsError::Invalid)?;
        let now = self.clock.now();
        self.users.update_user(id, &|user| changes.apply(user, now).map_err(AccountsError::Invalid), Some(audit))
    }

    /// A new user-scoped key for `user`. Shown once: only its hash is stored.
    pub fn create_user_key(
        &self,
        caller: &Principal,
        user: &UserId,
        request: &NewKeyRequest,
        audit: &AuditContext,
    ) -> Result<GeneratedKey, AccountsError> {
        caller.may_access_user(user)?;
        let now = self.clock.now();
        request.validate(now).map_err(AccountsError::Invalid)?;
        self.users.get_user(user)?.ok_or(AccountsError::NotFound)?;
        let active = self.keys.list_keys(Some(user))?.iter().filter(|k| k.is_active(now)).count();
        if active >= self.max_active_keys {
            return Err(AccountsError::Limit(format!(
                "this user already has {active} active keys (the most allowed is {}); revoke one first",
                self.max_active_keys
            )));
        }
        let key = api_key::generate(Some(user.clone()), Scope::User, request, now);
        self.keys.insert_key(&key.record, Some(audit))?;
        Ok(key)
    }

    /// A new admin key that belongs to no user (for the operator's CLI; audited as
    /// the operator).
    pub fn create_admin_key(&self, request: &NewKeyRequest) -> Result<GeneratedKey, AccountsError> {
        let now = self.clock.now();
        request.validate(now).map_err(AccountsError::Invalid)?;
        let key = api_key::generate(None, Scope::Admin, request, now);
        self.keys.insert_key(&key.record, Some(&operator()))?;
        Ok(key)
    }

    /// A new user key for the user with `email` (for the operator's CLI; audited as
    /// the operator).
    pub fn create_key_for_email(&self, email: &Email, request: &NewKeyRequest) -> Result<GeneratedKey, AccountsError> {
        let user = self.users.find_user_by_email(email)?.ok_or(AccountsError::NotFound)?;
        self.create_user_key(&Principal::Admin { key_id: None }, &user.id, request, &operator())
    }

    pub fn list_keys(&self, caller: &Principal, user: &UserId) -> Result<Vec<ApiKeyRecord>, AccountsError> {
        caller.may_access_user(user)?;
        self.users.get_user(user)?.ok_or(AccountsError::NotFound)?;
        Ok(self.keys.list_keys(Some(user))?)
    }

    /// Every stored key (for the operator's CLI).
    pub fn list_all_keys(&self) -> Result<Vec<ApiKeyRecord>, AccountsError> {
        Ok(self.keys.list_keys(None)?)
    }

    pub fn revoke_key(
        &self,
        caller: &Principal,
        user: &UserId,
        key: &ApiKeyId,
        audit: &AuditContext,
    ) -> Result<(), AccountsError> {
        caller.may_access_user(user)?;
        let revoked = self.keys.revoke_key(key, Some(user), self.clock.now(), Some(audit))?;
        self.forget_cached_keys();
        if revoked { Ok(()) } else { Err(AccountsError::NotFound) }
    }

    /// Revoke any stored key by id (for the operator's CLI; audited as the operator).
    pub fn revoke_any_key(&self, key: &ApiKeyId) -> Result<(), AccountsError> {
        let revoked = self.keys.revoke_key(key, None, self.clock.now(), Some(&operator()))?;
        self.forget_cached_keys();
        if revoked { Ok(()) } else { Err(AccountsError::NotFound) }
    }

    /// Whether any admin access is possible from configuration alone.
    pub fn has_configured_admin_keys(&self) -> bool {
        !self.admin_keys.is_empty()
    }

    fn forget_cached_keys(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// The caller for a key checked within the last few seconds, without touching
    /// storage; `None` means "ask [`AccountService::authenticate`]".
    pub fn authenticate_cached(&self, presented: &str) -> Option<Principal> {
        let hash = KeyHash::of(presented);
        let cache = self.cache.lock().ok()?;
        let hit = cache.get(&hash)?;
        let fresh =
            hit.cached_at.elapsed() < AUTH_CACHE_TTL && hit.key_expires_at.is_none_or(|at| at > self.clock.now());
        fresh.then(|| hit.principal.clone())
    }

    fn remember(&self, hash: KeyHash, principal: &Principal, key_expires_at: Option<levqor_core::Timestamp>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= AUTH_CACHE_MAX {
                cache.clear();
            }
            cache.insert(
                hash,
                CachedAuth { principal: principal.clone(), key_expires_at, cached_at: std::time::Instant::now() },
            );
        }
    }

    /// Turn a presented key into a caller, or say why not.
    pub fn authenticate(&self, presented: &str) -> Result<Principal, AuthError> {
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        if presented.len() > 256 {
            return Err(AuthError::Invalid);
        }
        let hash = KeyHash::of(presented);
        if self.admin_keys.matches(&hash) {
            return Ok(Principal::Admin { key_id: None });
        }
        let record = self.keys.find_key_by_hash(&hash)?.ok_or(AuthError::Invalid)?;
        if !record.hash.ct_eq(&hash) {
            return Err(AuthError::Invalid);
        }
        let now = self.clock.now();
        if record.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if record.is_expired(now) {
            return Err(AuthError::Expired);
        }
        if record.last_used_at.is_none_or(|at| now - at >= LAST_USED_GRANULARITY) {
            self.keys.touch_key(&record.id, now)?;
        }
        let principal = match (record.scope, record.user_id) {
            (Scope::Admin, _) => Principal::Admin { key_id: Some(record.id) },
            (Scope::User, Some(user_id)) => Principal::User { user_id, key_id: record.id },
            (Scope::User, None) => return Err(AuthError::Invalid),
        };
        self.remember(hash, &principal, record.expires_at);
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryAccounts;
    use levqor_core::ManualClock;
    use serde_json::json;

    fn service() -> (AccountService, ManualClock) {
        let clock = ManualClock::new(chrono::Utc::now());
        let repo = Arc::new(MemoryAccounts::default());
        let svc = AccountService::new(
            repo.clone(),
            repo,
            Arc::new(clock.clone()),
            AdminKeys::new(["env-admin-key-0123456789abcdef"]),
        );
        (svc, clock)
    }

    fn ctx() -> AuditContext {
        AuditContext::new(Actor::operator(), None)
    }

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn upsert_is_idempotent_by_email() {
        let (svc, _) = service();
        let (a, created) = svc
            .upsert(&email("A@x.io"), &ProfileChanges { name: Some("A".into()), ..Default::default() }, &ctx())
            .unwrap();
        assert!(created);
        let (b, created) = svc
            .upsert(&email("a@x.io"), &ProfileChanges { name: Some("B".into()), ..Default::default() }, &ctx())
            .unwrap();
        assert!(!created);
        assert_eq!(a.id, b.id);
        assert_eq!(b.name.as_deref(), Some("B"));
    }

    #[test]
    fn patch_merges_meta() {
        let (svc, _) = service();
        let meta = |v: serde_json::Value| v.as_object().cloned();
        let (u, _) = svc
            .upsert(
                &email("m@x.io"),
                &ProfileChanges { meta: meta(json!({"a": 1, "b": 2})), ..Default::default() },
                &ctx(),
            )
            .unwrap();
        let admin = Principal::Admin { key_id: None };
        let u = svc
            .patch(
                &admin,
                &u.id,
                &ProfileChanges { meta: meta(json!({"b": null, "c": 3})), ..Default::default() },
                &ctx(),
            )
            .unwrap();
        assert_eq!(serde_json::Value::Object(u.meta), json!({"a": 1, "c": 3}));
    }

    #[test]
    fn keys_authenticate_until_revoked_or_expired() {
        let (svc, clock) = service();
        let (u, _) = svc.upsert(&email("k@x.io"), &ProfileChanges::default(), &ctx()).unwrap();
        let admin = Principal::Admin { key_id: None };
        let key = svc
            .create_user_key(
                &admin,
                &u.id,
                &NewKeyRequest { label: None, expires_at: Some(clock.now() + Duration::hours(1)) },
                &ctx(),
            )
            .unwrap();
        let me = svc.authenticate(&key.secret).unwrap();
        assert_eq!(me.require_user().unwrap(), &u.id);
        assert_eq!(svc.authenticate("lq_nope"), Err(AuthError::Invalid));
        clock.advance(Duration::hours(2));
        assert_eq!(svc.authenticate(&key.secret), Err(AuthError::Expired));

        let key2 = svc.create_user_key(&me, &u.id, &NewKeyRequest::default(), &ctx()).unwrap();
        assert!(svc.authenticate(&key2.secret).is_ok());
        svc.revoke_key(&me, &u.id, &key2.record.id, &ctx()).unwrap();
        assert_eq!(svc.authenticate(&key2.secret), Err(AuthError::Revoked));
    }

    #[test]
    fn cached_checks_end_with_revocation_and_expiry() {
        let (svc, clock) = service();
        let (u, _) = svc.upsert(&email("c@x.io"), &ProfileChanges::default(), &ctx()).unwrap();
        let admin = Principal::Admin { key_id: None };
        let key = svc
            .create_user_key(
                &admin,
                &u.id,
                &NewKeyRequest { label: None, expires_at: Some(clock.now() + Duration::minutes(1)) },
                &ctx(),
            )
            .unwrap();
        assert_eq!(svc.authenticate_cached(&key.secret), None, "nothing cached before a real check");
        let me = svc.authenticate(&key.secret).unwrap();
        assert_eq!(svc.authenticate_cached(&key.secret), Some(me.clone()));
        clock.advance(Duration::minutes(2));
        assert_eq!(svc.authenticate_cached(&key.secret), None, "an expired key is not served from the cache");
        clock.advance(Duration::minutes(-2));
        svc.revoke_key(&me, &u.id, &key.record.id, &ctx()).unwrap();
        assert_eq!(svc.authenticate_cached(&key.secret), None, "a revoked key is not served from the cache");
    }

    #[test]
    fn configured_and_stored_admin_keys_are_admins() {
        let (svc, _) = service();
        assert!(svc.authenticate("env-admin-key-0123456789abcdef").unwrap().is_admin());
        let stored = svc.create_admin_key(&NewKeyRequest::default()).unwrap();
        assert!(svc.authenticate(&stored.secret).unwrap().is_admin());
        assert_eq!(svc.authenticate(""), Err(AuthError::Missing));
    }

    #[test]
    fn each_change_is_audited_once_with_the_callers_context() {
        use levqor_core::{AuditAction, AuditFilter, AuditLog, ObjectType, RequestId};
        let clock = ManualClock::new(chrono::Utc::now());
        let repo = Arc::new(MemoryAccounts::default());
        let svc = AccountService::new(repo.clone(), repo.clone(), Arc::new(clock), AdminKeys::default());
        let admin = Principal::Admin { key_id: None };
        let (u, _) =
            svc.upsert(&email("au@x.io"), &ProfileChanges::default(), &admin.audit(RequestId::new("r1"))).unwrap();
        let key =
            svc.create_user_key(&admin, &u.id, &NewKeyRequest::default(), &admin.audit(RequestId::new("r2"))).unwrap();
        let me = svc.authenticate(&key.secret).unwrap();
        svc.patch(
            &me,
            &u.id,
            &ProfileChanges { name: Some("N".into()), ..Default::default() },
            &me.audit(RequestId::new("r3")),
        )
        .unwrap();
        svc.revoke_key(&me, &u.id, &key.record.id, &me.audit(RequestId::new("r4"))).unwrap();
        // A second revocation changes nothing, so it records nothing.
        svc.revoke_key(&me, &u.id, &key.record.id, &me.audit(RequestId::new("r5"))).unwrap();

        let page = repo.audit_entries(&AuditFilter::default(), None, 50).unwrap();
        let seen: Vec<_> =
            page.items.iter().rev().map(|e| (e.action, e.request_id.as_ref().unwrap().to_string())).collect();
        assert_eq!(
            seen,
            [
                (AuditAction::UserCreate, "r1".to_owned()),
                (AuditAction::KeyCreate, "r2".to_owned()),
                (AuditAction::UserUpdate, "r3".to_owned()),
                (AuditAction::KeyRevoke, "r4".to_owned()),
            ]
        );
        let revoke = &page.items[0];
        assert_eq!(revoke.object.kind, ObjectType::ApiKey);
        assert_eq!(revoke.object.id, key.record.id.to_string());
        assert_eq!(revoke.actor.key_id.as_ref(), Some(&key.record.id));
        assert_eq!(revoke.actor.user_id.as_ref(), Some(&u.id));
        assert_eq!(revoke.subject_user.as_ref(), Some(&u.id));
        assert!(page.items.iter().all(|e| !format!("{e:?}").contains(&key.secret)));
    }

    #[test]
    fn users_cannot_touch_other_users() {
        let (svc, _) = service();
        let admin = Principal::Admin { key_id: None };
        let (a, _) = svc.upsert(&email("a@x.io"), &ProfileChanges::default(), &ctx()).unwrap();
        let (b, _) = svc.upsert(&email("b@x.io"), &ProfileChanges::default(), &ctx()).unwrap();
        let key_a = svc.create_user_key(&admin, &a.id, &NewKeyRequest::default(), &ctx()).unwrap();
        let as_a = svc.authenticate(&key_a.secret).unwrap();
        assert_eq!(svc.get(&as_a, &b.id), Err(AccountsError::NotFound));
        assert_eq!(svc.lookup(&as_a, &b.email), Err(AccountsError::NotFound));
        assert_eq!(svc.list_keys(&as_a, &b.id), Err(AccountsError::NotFound));
        assert!(svc.create_user_key(&as_a, &b.id, &NewKeyRequest::default(), &ctx()).is_err());
        assert!(svc.get(&as_a, &a.id).is_ok());
    }
}
