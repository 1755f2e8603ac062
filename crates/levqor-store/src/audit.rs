//! The audit log: appended to inside the write transactions of audited changes
//! ([`record`]), read through [`AuditLog`]. There is deliberately no update or
//! delete here; the migration's triggers refuse both in the database too.

use diesel::prelude::*;
use levqor_core::audit::{audit_cursor, parse_audit_cursor};
use levqor_core::{
    Actor, ActorScope, AuditAction, AuditContext, AuditEntry, AuditError, AuditFilter, AuditLog, Cursor, ObjectRef,
    ObjectType, Page, RequestId, StorageError, Timestamp, UserId,
};

use crate::connection::{DbConnection, Store};
use crate::error::db_error;
use crate::schema::audit_log;
use crate::time::{from_db, to_db};

#[derive(Queryable, Insertable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    id: String,
    at: i64,
    actor_scope: String,
    actor_key_id: Option<String>,
    actor_user_id: Option<String>,
    action: String,
    object_type: String,
    object_id: String,
    subject_user_id: Option<String>,
    request_id: Option<String>,
}

fn corrupt(what: &str, value: &str) -> StorageError {
    StorageError::Failure(format!("stored audit {what} `{value}` is not valid"))
}

impl AuditRow {
    fn from_entry(e: &AuditEntry) -> Self {
        Self {
            id: e.id.to_string(),
            at: to_db(e.at),
            actor_scope: e.actor.scope.as_str().to_owned(),
            actor_key_id: e.actor.key_id.as_ref().map(ToString::to_string),
            actor_user_id: e.actor.user_id.as_ref().map(ToString::to_string),
            action: e.action.as_str().to_owned(),
            object_type: e.object.kind.as_str().to_owned(),
            object_id: e.object.id.clone(),
            subject_user_id: e.subject_user.as_ref().map(ToString::to_string),
            request_id: e.request_id.as_ref().map(|r| r.as_str().to_owned()),
        }
    }

    fn into_entry(self) -> Result<AuditEntry, StorageError> {
        let user = |u: String| u.parse::<UserId>().map_err(|_| corrupt("user id", &u));
        Ok(AuditEntry {
            id: self.id.parse().map_err(|_| corrupt("id", &self.id))?,
            at: from_db(self.at),
            actor: Actor {
                scope: ActorScope::parse(&self.actor_scope).ok_or_else(|| corrupt("scope", &self.actor_scope))?,
                key_id: self.actor_key_id.map(|k| k.parse().map_err(|_| corrupt("key id", &k))).transpose()?,
                user_id: self.actor_user_id.map(user).transpose()?,
            },
            action: AuditAction::parse(&self.action).ok_or_else(|| corrupt("action", &self.action))?,
            object: ObjectRef {
                kind: ObjectType::parse(&self.object_type).ok_or_else(|| corrupt("object type", &self.object_type))?,
                id: self.object_id,
            },
            subject_user: self.subject_user_id.map(user).transpose()?,
            request_id: self.request_id.map(RequestId::new),
        })
    }
}

/// Appends the entry for `action` on `object` when the change is audited
/// (`audit` is `Some`). Call it inside the change's write transaction.
pub(crate) fn record(
    conn: &mut DbConnection,
    audit: Option<&AuditContext>,
    action: AuditAction,
    object: ObjectRef,
    subject_user: Option<&UserId>,
    at: Timestamp,
) -> Result<(), StorageError> {
    let Some(audit) = audit else { return Ok(()) };
    let entry = audit.entry(action, object, subject_user.cloned(), at);
    diesel::insert_into(audit_log::table)
        .values(AuditRow::from_entry(&entry))
        .execute(conn)
        .map(|_| ())
        .map_err(db_error)
}

impl AuditLog for Store {
    fn audit_entries(
        &self,
        filter: &AuditFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<AuditEntry>, AuditError> {
        let after = cursor.map(parse_audit_cursor).transpose()?;
        let limit = limit.max(1);
        let rows = self.read(|conn| {
            let mut query = audit_log::table.into_boxed();
            if let Some(user) = &filter.actor_user {
                query = query.filter(audit_log::actor_user_id.eq(user.to_string()));
            }
            if let Some(action) = filter.action {
                query = query.filter(audit_log::action.eq(action.as_str()));
            }
            if let Some(kind) = filter.object_type {
                query = query.filter(audit_log::object_type.eq(kind.as_str()));
            }
            if let Some(id) = &filter.object_id {
                query = query.filter(audit_log::object_id.eq(id.clone()));
            }
            if let Some(from) = filter.from {
                query = query.filter(audit_log::at.ge(to_db(from)));
            }
            if let Some(to) = filter.to {
                query = query.filter(audit_log::at.lt(to_db(to)));
            }
            if let Some(user) = &filter.involving {
                let user = user.to_string();
                query = query.filter(audit_log::actor_user_id.eq(user.clone()).or(audit_log::subject_user_id.eq(user)));
            }
            if let Some(after) = &after {
                query = query.filter(audit_log::id.lt(after.to_string()));
            }
            query
                .order(audit_log::id.desc())
                .limit(i64::from(limit) + 1)
                .select(AuditRow::as_select())
                .load::<AuditRow>(conn)
                .map_err(db_error)
        })?;
        let mut items = rows.into_iter().map(AuditRow::into_entry).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| audit_cursor(&e.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
