//! The audit trail over HTTP: every entry for admins, a user's own entries for
//! that user. Entries are written by the store with the changes themselves; this
//! module only builds the context they carry and reads them back.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use levqor_accounts::Principal;
use levqor_core::{
    AuditAction, AuditContext, AuditEntry, AuditError, AuditFilter, Cursor, FieldProblem, ObjectType, Page, RequestId,
    UserId,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::request_id;
use crate::state::AppState;

/// The audit context of a change `caller` makes in the current request.
pub fn context(caller: &Caller) -> AuditContext {
    audit_of(&caller.0)
}

fn audit_of(principal: &Principal) -> AuditContext {
    principal.audit(RequestId::new(request_id::current()))
}

/// One recorded change. Objects are named by id; no entry holds a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryDto {
    pub id: String,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// `key.create`, `key.revoke`, `credits.grant`, `user.create`, `user.update`,
    /// `connection.create`, `connection.delete` or `pipeline.delete`.
    #[schema(example = "key.create")]
    pub action: &'static str,
    /// The scope of the key that acted: `admin` or `user`.
    pub actor_scope: &'static str,
    /// The id of the key that acted; absent for an admin key from `API_KEYS` and
    /// for the `levqor keys` command.
    pub actor_key_id: Option<String>,
    /// The user whose key acted; absent for admin keys.
    pub actor_user_id: Option<String>,
    /// `api_key`, `user`, `ledger_entry`, `connection` or `pipeline`.
    #[schema(example = "api_key")]
    pub object_type: &'static str,
    pub object_id: String,
    /// The user the object belongs to; absent for an admin key.
    pub subject_user_id: Option<String>,
    /// The `X-Request-Id` of the request that made the change; absent for the
    /// `levqor keys` command.
    pub request_id: Option<String>,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at,
            action: e.action.as_str(),
            actor_scope: e.actor.scope.as_str(),
            actor_key_id: e.actor.key_id.map(|k| k.to_string()),
            actor_user_id: e.actor.user_id.map(|u| u.to_string()),
            object_type: e.object.kind.as_str(),
            object_id: e.object.id,
            subject_user_id: e.subject_user.map(|u| u.to_string()),
            request_id: e.request_id.map(|r| r.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntryDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only changes made with a key of this user.
    pub actor_user_id: Option<String>,
    /// Only this action, e.g. `key.revoke`.
    pub action: Option<String>,
    /// Only objects of this type, e.g. `api_key`.
    pub object_type: Option<String>,
    /// Only this object (any type, unless `object_type` is given too).
    pub object_id: Option<String>,
    /// Only changes at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Only changes before this time (RFC 3339).
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MyAuditQuery {
    /// Only this action, e.g. `key.revoke`.
    pub action: Option<String>,
    /// Only objects of this type, e.g. `api_key`.
    pub object_type: Option<String>,
    /// Only this object.
    pub object_id: Option<String>,
    /// Only changes at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Only changes before this time (RFC 3339).
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

impl From<MyAuditQuery> for AuditQuery {
    fn from(q: MyAuditQuery) -> Self {
        Self {
            actor_user_id: None,
            action: q.action,
            object_type: q.object_type,
            object_id: q.object_id,
            from: q.from,
            to: q.to,
            cursor: q.cursor,
            limit: q.limit,
        }
    }
}

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> String {
    all.iter().map(|t| name(*t)).collect::<Vec<_>>().join(", ")
}

fn time(field: &str, raw: Option<String>, problems: &mut Vec<FieldProblem>) -> Option<DateTime<Utc>> {
    let raw = raw?;
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| problems.push(FieldProblem::new(field, "must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")))
        .ok()
}

/// The filter a query asks for, or every problem with it.
fn filter(q: AuditQuery) -> Result<(AuditFilter, Option<Cursor>, u32), ApiError> {
    let mut problems = Vec::new();
    let actor_user = q.actor_user_id.and_then(|raw| {
        raw.trim()
            .parse::<UserId>()
            .map_err(|_| problems.push(FieldProblem::new("actor_user_id", "is not a user id")))
            .ok()
    });
    let action = q.action.and_then(|raw| {
        AuditAction::parse(raw.trim())
            .ok_or_else(|| {
                let valid = names(AuditAction::ALL, AuditAction::as_str);
                problems.push(FieldProblem::new("action", format!("must be one of: {valid}")));
            })
            .ok()
    });
    let object_type = q.object_type.and_then(|raw| {
        ObjectType::parse(raw.trim())
            .ok_or_else(|| {
                let valid = names(ObjectType::ALL, ObjectType::as_str);
                problems.push(FieldProblem::new("object_type", format!("must be one of: {valid}")));
            })
            .ok()
    });
    let from = time("from", q.from, &mut problems);
    let to = time("to", q.to, &mut problems);
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        problems.push(FieldProblem::new("to", "must be after `from`"));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let object_id = q.object_id.map(|id| id.trim().to_owned()).filter(|id| !id.is_empty());
    let filter = AuditFilter { actor_user, action, object_type, object_id, from, to, involving: None };
    Ok((filter, q.cursor.map(Cursor), Page::<AuditEntry>::clamp_limit(q.limit)))
}

fn audit_error(e: AuditError) -> ApiError {
    match e {
        AuditError::Invalid(problems) => ApiError::invalid(problems),
        AuditError::Storage(e) => e.into(),
    }
}

async fn list_page(
    state: web::Data<AppState>,
    filter: AuditFilter,
    cursor: Option<Cursor>,
    limit: u32,
) -> Result<HttpResponse, ApiError> {
    let page =
        web::block(move || state.audit.audit_entries(&filter, cursor.as_ref(), limit)).await?.map_err(audit_error)?;
    Ok(HttpResponse::Ok().json(AuditList {
        entries: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|c| c.0),
    }))
}

/// The audit trail (admin): who created or revoked keys, granted credits,
/// created or changed users, created or deleted connections and deleted
/// pipelines; newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.0.require_admin()?;
    let (filter, cursor, limit) = filter(query.into_inner())?;
    list_page(state, filter, cursor, limit).await
}

/// The caller's own audit trail: changes made with the caller's keys, and
/// changes to the caller's account and objects (an admin's too); newest first.
#[utoipa::path(get, path = "/api/v1/me/audit", tag = "audit", params(MyAuditQuery),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "an admin key belongs to no user", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn mine(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<MyAuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let me = caller.0.require_user()?.clone();
    let (filter, cursor, limit) = filter(query.into_inner().into())?;
    list_page(state, AuditFilter { involving: Some(me), ..filter }, cursor, limit).await
}
