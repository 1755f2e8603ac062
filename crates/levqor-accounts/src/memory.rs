//! In-memory storage for accounts: for unit tests and for embedding without a database.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use levqor_core::{ApiKeyId, Email, StorageError, Timestamp, UserId};

use crate::api_key::{ApiKeyRecord, KeyHash};
use crate::error::AccountsError;
use crate::ports::{ApiKeyRepo, UpdateFn, UpsertFn, UserRepo};
use crate::user::User;

#[derive(Default)]
pub struct MemoryAccounts {
    users: Mutex<HashMap<UserId, User>>,
    keys: Mutex<Vec<ApiKeyRecord>>,
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, StorageError> {
    m.lock().map_err(|_| StorageError::Failure("in-memory store poisoned".into()))
}

impl UserRepo for MemoryAccounts {
    fn upsert_by_email(&self, email: &Email, apply: UpsertFn<'_>) -> Result<(User, bool), AccountsError> {
        let mut users = lock(&self.users)?;
        let existing = users.values().find(|u| &u.email == email).cloned();
        let created = existing.is_none();
        let user = apply(existing)?;
        users.insert(user.id.clone(), user.clone());
        Ok((user, created))
    }

    fn update_user(&self, id: &UserId, apply: UpdateFn<'_>) -> Result<User, AccountsError> {
        let mut users = lock(&self.users)?;
        let current = users.get(id).cloned().ok_or(AccountsError::NotFound)?;
        let user = apply(current)?;
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
    fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), StorageError> {
        lock(&self.keys)?.push(key.clone());
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

    fn revoke_key(&self, id: &ApiKeyId, user: Option<&UserId>, now: Timestamp) -> Result<bool, StorageError> {
        let mut keys = lock(&self.keys)?;
        match keys.iter_mut().find(|k| &k.id == id && (user.is_none() || k.user_id.as_ref() == user)) {
            Some(k) => {
                if k.revoked_at.is_none() {
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
