//! Who is calling, and what that caller may see.

use levqor_core::{Actor, ActorScope, ApiKeyId, AuditContext, RequestId, UserId};

use crate::api_key::KeyHash;
use crate::error::AccountsError;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An admin key: from `API_KEYS`/`API_KEYS_NEXT` (`key_id` is `None`) or stored.
    Admin { key_id: Option<ApiKeyId> },
    /// A user's key: sees only that user's objects.
    User { user_id: UserId, key_id: ApiKeyId },
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin { .. })
    }

    /// Who this caller is in the audit log.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Admin { key_id } => Actor { scope: ActorScope::Admin, key_id: key_id.clone(), user_id: None },
            Principal::User { user_id, key_id } => {
                Actor { scope: ActorScope::User, key_id: Some(key_id.clone()), user_id: Some(user_id.clone()) }
            }
        }
    }

    /// The audit context of a change this caller makes in request `request_id`.
    pub fn audit(&self, request_id: RequestId) -> AuditContext {
        AuditContext::new(self.actor(), Some(request_id))
    }

    pub fn require_admin(&self) -> Result<(), AccountsError> {
        if self.is_admin() { Ok(()) } else { Err(AccountsError::Forbidden("this endpoint needs an admin key")) }
    }

    /// The caller's own user id; admin keys belong to no user.
    pub fn require_user(&self) -> Result<&UserId, AccountsError> {
        match self {
            Principal::User { user_id, .. } => Ok(user_id),
            Principal::Admin { .. } => Err(AccountsError::Forbidden("this endpoint needs a user's key")),
        }
    }

    /// Admins see every user; a user sees only itself. Anything else is "not found",
    /// so that a caller cannot learn which ids exist.
    pub fn may_access_user(&self, user: &UserId) -> Result<(), AccountsError> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::User { user_id, .. } if user_id == user => Ok(()),
            Principal::User { .. } => Err(AccountsError::NotFound),
        }
    }
}

/// Admin keys from configuration, held only as hashes.
#[derive(Debug, Clone, Default)]
pub struct AdminKeys(Vec<KeyHash>);

impl AdminKeys {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self(keys.into_iter().map(KeyHash::of).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares against every configured key without stopping at the first match.
    pub fn matches(&self, presented: &KeyHash) -> bool {
        self.0.iter().fold(false, |found, k| k.ct_eq(presented) | found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_see_only_themselves() {
        let me = UserId::new();
        let other = UserId::new();
        let p = Principal::User { user_id: me.clone(), key_id: ApiKeyId::new() };
        assert!(p.may_access_user(&me).is_ok());
        assert_eq!(p.may_access_user(&other), Err(AccountsError::NotFound));
        assert!(matches!(p.require_admin(), Err(AccountsError::Forbidden(_))));
        assert_eq!(p.require_user().unwrap(), &me);
    }

    #[test]
    fn admins_see_everyone_but_are_nobody() {
        let p = Principal::Admin { key_id: None };
        assert!(p.may_access_user(&UserId::new()).is_ok());
        assert!(p.require_admin().is_ok());
        assert!(p.require_user().is_err());
    }

    #[test]
    fn admin_keys_match_only_configured_keys() {
        let keys = AdminKeys::new(["first-key-aaaaaaaaaaaaaaaaaaaa", "second-key-bbbbbbbbbbbbbbbbbbb"]);
        assert!(keys.matches(&KeyHash::of("second-key-bbbbbbbbbbbbbbbbbbb")));
        assert!(!keys.matches(&KeyHash::of("first-key")));
        assert!(AdminKeys::default().is_empty());
        assert!(!AdminKeys::default().matches(&KeyHash::of("")));
    }
}
