//! In-memory storage for accounts: for unit tests and for embedding without a database.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use levqor_core::{
    ApiKeyId, AuditAction, AuditContext, AuditEntry, AuditError, AuditFilter, AuditLog, Cursor, Email, MemoryAuditLog,
    ObjectRef, ObjectType, Page, StorageError, Timestamp, UserId,
};

use crate::api_key::{ApiKeyRecord, KeyHash};
use crate::error::AccountsError;
use crate::ports::{ApiKeyRepo, UpdateFn, UpsertFn, UserRepo};
use crate::user::User;

#[derive(Default)]
pub struct MemoryAccounts {
    users: Mutex<HashMap<UserId, User>>,
    keys: Mutex<Vec<ApiKeyRecord>>,
    audit: MemoryAuditLog,
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, StorageError> {
    m.lock().map_err(|_| StorageError::Failure("in-memory store poisoned".into()))
}

impl MemoryAccounts {
    fn record(
        &self,
        audit: Option<&AuditContext>,
        action: AuditAction,
        object: ObjectRef,
        subject: Option<&UserId>,
        at: Timestamp,
    ) -> Result<(), StorageError> {
        match audit {
            Some(ctx) => self.audit.append(ctx.entry(action, object, subject.cloned(), at)),
            None => Ok(()),
        }
    }
}

impl AuditLog for MemoryAccounts {
    fn audit_entries(
        &self,
        filter: &AuditFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<AuditEntry>, AuditError> {
        self.audit.audit_entries(filter, cursor, limit)
    }
}

impl UserRepo for MemoryAccounts {
    fn upsert_by_email(
        &self,
        email: &Email,
        apply: UpsertFn<'_>,
        audit: Option<&AuditContext>,
    ) -> Result<(User, bool), AccountsError> {
        let mut users = lock(&self.users)?;
        let existing = users.values().find(|u| &u.email == email).cloned();
        let created = existing.is_none();
        let user = apply(existing)?;
        let action = if created { AuditAction::UserCreate } else { AuditAction::UserUpdate };
        self.record(audit, action, ObjectRef::new(ObjectType::User, &user.id), Some(&user.id), user.updated_at)?;
        users.insert(user.id.clone(), user.clone());
        Ok((user, created))
    }

    fn update_user(
        &self,
        id: &UserId,
        apply: UpdateFn<'_>,
        audit: Option<&AuditContext>,
    ) -> Result<User, AccountsError> {
        let mut users = lock(&self.users)?;
        let current = users.get(id).cloned().ok_or(AccountsError::NotFound)?;
        let user = apply(current)?;
        self.record(audit, AuditAction::UserUpdate, ObjectRef::new(ObjectType::User, id), Some(id), user.updated_at)?;
        users.insert(id.clone(), user.clone());
        Ok(user)
    }

    fn get_user(&self, id: &UserId) -> Result<Option<User>, StorageError> {
        Ok(lock(&self.users)?.get(id).cloned())
    }

    fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StorageError> {
        Ok(lock(&self.users)?.values().find(|u| &u.email == email).cloned())
    }
}

impl ApiKeyRepo for MemoryAccounts {
    fn insert_key(&self, key: &ApiKeyRecord, audit: Option<&AuditContext>) -> Result<(), StorageError> {
        let mut keys = lock(&self.keys)?;
        let object = ObjectRef::new(ObjectType::ApiKey, &key.id);
        self.record(audit, AuditAction::KeyCreate, object, key.user_id.as_ref(), key.created_at)?;
        keys.push(key.clone());
        Ok(())
    }

    fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StorageError> {
        Ok(lock(&self.keys)?.iter().find(|k| k.hash.ct_eq(hash)).cloned())
    }

    fn list_keys(&self, user: Option<&UserId>) -> Result<Vec<ApiKeyRecord>, StorageError> {
        let mut keys: Vec<_> =
            lock(&self.keys)?.iter().filter(|k| user.is_none() || k.user_id.as_ref() == user).cloned().collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok(keys)
    }

    fn revoke_key(
        &self,
        id: &ApiKeyId,
        user: Option<&UserId>,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<bool, StorageError> {
        let mut keys = lock(&self.keys)?;
        match keys.iter_mut().find(|k| &k.id == id && (user.is_none() || k.user_id.as_ref() == user)) {
            Some(k) => {
                if k.revoked_at.is_none() {
                    let object = ObjectRef::new(ObjectType::ApiKey, &k.id);
                    self.record(audit, AuditAction::KeyRevoke, object, k.user_id.as_ref(), now)?;
                    k.revoked_at = Some(now);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn touch_key(&self, id: &ApiKeyId, now: Timestamp) -> Result<(), StorageError> {
        if let Some(k) = lock(&self.keys)?.iter_mut().find(|k| &k.id == id) {
            k.last_used_at = Some(now);
        }
        Ok(())
    }
}
