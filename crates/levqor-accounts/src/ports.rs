//! What accounts need from storage. `levqor-store` implements these with Diesel;
//! [`crate::memory::MemoryAccounts`] implements them in memory.
//!
//! The calls are blocking: callers on an async executor run them on a blocking pool.

use levqor_core::{ApiKeyId, AuditContext, Email, StorageError, Timestamp, UserId};

use crate::api_key::{ApiKeyRecord, KeyHash};
use crate::error::AccountsError;
use crate::user::User;

/// Computes the new state of a user from its current state (`None`: no such user yet).
pub type UpsertFn<'a> = &'a dyn Fn(Option<User>) -> Result<User, AccountsError>;
pub type UpdateFn<'a> = &'a dyn Fn(User) -> Result<User, AccountsError>;

pub trait UserRepo: Send + Sync {
    /// Atomically read the user with `email`, compute its new state and write it.
    /// Returns the stored user and whether it was created.
    fn upsert_by_email(
        &self,
        email: &Email,
        apply: UpsertFn<'_>,
        audit: Option<&AuditContext>,
    ) -> Result<(User, bool), AccountsError>;
    /// Atomically read, change and write one user; `NotFound` if there is none.
    fn update_user(
        &self,
        id: &UserId,
        apply: UpdateFn<'_>,
        audit: Option<&AuditContext>,
    ) -> Result<User, AccountsError>;
    fn get_user(&self, id: &UserId) -> Result<Option<User>, StorageError>;
    fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StorageError>;
}

pub trait ApiKeyRepo: Send + Sync {
    fn insert_key(&self, key: &ApiKeyRecord, audit: Option<&AuditContext>) -> Result<(), StorageError>;
    fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StorageError>;
    /// Keys of one user, or every key when `user` is `None`; newest first.
    fn list_keys(&self, user: Option<&UserId>) -> Result<Vec<ApiKeyRecord>, StorageError>;
    /// Revoke a key (of `user`, when given). `false` if there was no such key.
    /// Revoking a revoked key changes nothing and records nothing.
    fn revoke_key(
        &self,
        id: &ApiKeyId,
        user: Option<&UserId>,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<bool, StorageError>;
    fn touch_key(&self, id: &ApiKeyId, now: Timestamp) -> Result<(), StorageError>;
}
