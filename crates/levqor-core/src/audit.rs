//! The audit trail: who changed what, when, through which request.
//!
//! Entries are written by the storage port that makes the change, in the same
//! transaction, so a change and its entry commit or fail together. They are
//! append-only: no port changes or removes one. An entry names objects by id and
//! never carries a secret (no key material, no credentials, no tokens).

use std::fmt;

use crate::clock::Timestamp;
use crate::ids::{ApiKeyId, UserId};
use crate::page::{Cursor, Page};
use crate::problem::FieldProblem;
use crate::storage::StorageError;

crate::define_id!(
    /// One audit entry. Time-ordered, so listing newest first is by id.
    AuditEntryId
);

/// Defines a closed set of names with `as_str`/`parse`/`ALL`.
macro_rules! names {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(
    /// What kind of key acted.
    ActorScope { Admin => "admin", User => "user" }
);

names!(
    /// What was done.
    AuditAction {
        KeyCreate => "key.create",
        KeyRevoke => "key.revoke",
        CreditsGrant => "credits.grant",
        UserCreate => "user.create",
        UserUpdate => "user.update",
        ConnectionCreate => "connection.create",
        ConnectionDelete => "connection.delete",
        PipelineDelete => "pipeline.delete",
    }
);

names!(
    /// What kind of object it was done to.
    ObjectType {
        ApiKey => "api_key",
        User => "user",
        LedgerEntry => "ledger_entry",
        Connection => "connection",
        Pipeline => "pipeline",
    }
);

/// Who acted: the key and its scope, and the user the key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub scope: ActorScope,
    /// `None` for an admin key from configuration (`API_KEYS`), which is stored
    /// nowhere, and for the operator's `levqor keys` command.
    pub key_id: Option<ApiKeyId>,
    /// `None` for admin keys, which belong to no user.
    pub user_id: Option<UserId>,
}

impl Actor {
    /// The operator at the command line: an admin without a key.
    pub fn operator() -> Self {
        Self { scope: ActorScope::Admin, key_id: None, user_id: None }
    }
}

/// The id of the request that made a change (its `X-Request-Id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is making a change and through which request: what a port needs, besides
/// the change itself, to write its audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: Actor,
    /// `None` outside HTTP (the `levqor keys` command).
    pub request_id: Option<RequestId>,
}

impl AuditContext {
    pub fn new(actor: Actor, request_id: Option<RequestId>) -> Self {
        Self { actor, request_id }
    }

    /// The entry recording `action` on `object`, which concerns `subject_user`.
    pub fn entry(
        &self,
        action: AuditAction,
        object: ObjectRef,
        subject_user: Option<UserId>,
        at: Timestamp,
    ) -> AuditEntry {
        AuditEntry {
            id: AuditEntryId::new(),
            at,
            actor: self.actor.clone(),
            action,
            object,
            subject_user,
            request_id: self.request_id.clone(),
        }
    }
}

/// Which object: its type and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: ObjectType,
    pub id: String,
}

impl ObjectRef {
    pub fn new(kind: ObjectType, id: impl fmt::Display) -> Self {
        Self { kind, id: id.to_string() }
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub at: Timestamp,
    pub actor: Actor,
    pub action: AuditAction,
    pub object: ObjectRef,
    /// The user the object belongs to (the key's owner, the user changed, the
    /// account credited, the connection's or pipeline's owner); `None` for an
    /// admin key, which belongs to nobody.
    pub subject_user: Option<UserId>,
    pub request_id: Option<RequestId>,
}

/// Which entries to list. Every field narrows; `None` does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries made with a key of this user.
    pub actor_user: Option<UserId>,
    pub action: Option<AuditAction>,
    pub object_type: Option<ObjectType>,
    pub object_id: Option<String>,
    /// At or after this time.
    pub from: Option<Timestamp>,
    /// Before this time.
    pub to: Option<Timestamp>,
    /// Entries this user made or that concern them (actor or subject): what a
    /// user may see of the log.
    pub involving: Option<UserId>,
}

impl AuditFilter {
    /// Whether `entry` passes every condition; the in-memory ports filter with it.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        let actor_user = entry.actor.user_id.as_ref();
        self.actor_user.as_ref().is_none_or(|u| actor_user == Some(u))
            && self.action.is_none_or(|a| entry.action == a)
            && self.object_type.is_none_or(|t| entry.object.kind == t)
            && self.object_id.as_ref().is_none_or(|id| &entry.object.id == id)
            && self.from.is_none_or(|from| entry.at >= from)
            && self.to.is_none_or(|to| entry.at < to)
            && self.involving.as_ref().is_none_or(|u| actor_user == Some(u) || entry.subject_user.as_ref() == Some(u))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// A cursor that is not one.
    #[error("the request is invalid")]
    Invalid(Vec<FieldProblem>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The cursor after `entry` in a newest-first listing.
pub fn audit_cursor(entry: &AuditEntryId) -> Cursor {
    Cursor(entry.to_string())
}

pub fn parse_audit_cursor(cursor: &Cursor) -> Result<AuditEntryId, AuditError> {
    cursor
        .0
        .parse()
        .map_err(|_| AuditError::Invalid(vec![FieldProblem::new("cursor", "is not a cursor from this listing")]))
}

/// Reading the audit log. Writing happens inside the ports that make changes.
pub trait AuditLog: Send + Sync {
    /// Entries that pass `filter`, newest first, after `cursor` (the previous
    /// page's `next_cursor`); at most `limit` (at least 1).
    fn audit_entries(
        &self,
        filter: &AuditFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<AuditEntry>, AuditError>;
}

/// An in-memory audit log for the in-memory ports: append, and list like the store.
#[derive(Debug, Default)]
pub struct MemoryAuditLog(std::sync::Mutex<Vec<AuditEntry>>);

impl MemoryAuditLog {
    pub fn append(&self, entry: AuditEntry) -> Result<(), StorageError> {
        self.0.lock().map_err(|_| StorageError::Failure("in-memory audit log poisoned".into()))?.push(entry);
        Ok(())
    }
}

impl AuditLog for MemoryAuditLog {
    fn audit_entries(
        &self,
        filter: &AuditFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<AuditEntry>, AuditError> {
        let after = cursor.map(parse_audit_cursor).transpose()?;
        let entries = self.0.lock().map_err(|_| StorageError::Failure("in-memory audit log poisoned".into()))?;
        let mut items: Vec<AuditEntry> =
            entries.iter().filter(|e| filter.matches(e) && after.as_ref().is_none_or(|a| &e.id < a)).cloned().collect();
        items.sort_by(|a, b| b.id.cmp(&a.id));
        let limit = limit.max(1) as usize;
        let next_cursor = (items.len() > limit).then(|| audit_cursor(&items[limit - 1].id));
        items.truncate(limit);
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn entry(ctx: &AuditContext, action: AuditAction, subject: Option<UserId>, at: Timestamp) -> AuditEntry {
        ctx.entry(action, ObjectRef::new(ObjectType::User, "x"), subject, at)
    }

    #[test]
    fn names_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
        for t in ObjectType::ALL {
            assert_eq!(ObjectType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(AuditAction::parse("key.delete"), None);
        assert_eq!(ActorScope::parse("root"), None);
    }

    #[test]
    fn involving_means_actor_or_subject() {
        let (me, other) = (UserId::new(), UserId::new());
        let now = Utc::now();
        let mine = AuditContext::new(
            Actor { scope: ActorScope::User, key_id: Some(ApiKeyId::new()), user_id: Some(me.clone()) },
            None,
        );
        let admin = AuditContext::new(Actor::operator(), Some(RequestId::new("r1")));
        let filter = AuditFilter { involving: Some(me.clone()), ..Default::default() };
        assert!(filter.matches(&entry(&mine, AuditAction::KeyCreate, Some(me.clone()), now)));
        assert!(filter.matches(&entry(&admin, AuditAction::CreditsGrant, Some(me.clone()), now)));
        assert!(!filter.matches(&entry(&admin, AuditAction::CreditsGrant, Some(other), now)));
        let window = AuditFilter { from: Some(now), to: Some(now + Duration::seconds(1)), ..Default::default() };
        assert!(window.matches(&entry(&admin, AuditAction::UserCreate, None, now)));
        assert!(!window.matches(&entry(&admin, AuditAction::UserCreate, None, now + Duration::seconds(1))));
    }

    #[test]
    fn memory_log_pages_newest_first() {
        let log = MemoryAuditLog::default();
        let ctx = AuditContext::new(Actor::operator(), None);
        let ids: Vec<_> = (0..5)
            .map(|_| {
                let e = entry(&ctx, AuditAction::UserUpdate, None, Utc::now());
                log.append(e.clone()).unwrap();
                e.id
            })
            .collect();
        let first = log.audit_entries(&AuditFilter::default(), None, 2).unwrap();
        assert_eq!(first.items.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), vec![ids[4].clone(), ids[3].clone()]);
        let second = log.audit_entries(&AuditFilter::default(), first.next_cursor.as_ref(), 10).unwrap();
        assert_eq!(second.items.len(), 3);
        assert_eq!(second.next_cursor, None);
        assert!(log.audit_entries(&AuditFilter::default(), Some(&Cursor("nope".into())), 2).is_err());
    }
}
