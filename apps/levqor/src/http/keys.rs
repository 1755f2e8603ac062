//! A user's API keys: create (shown once), list, revoke.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use levqor_accounts::{ApiKeyRecord, NewKeyRequest};
use levqor_core::ApiKeyId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::json::{Json, OptionalJson};
use super::users::user_id;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A note to recognise the key by.
    pub label: Option<String>,
    /// When the key stops working (RFC 3339); never, if absent.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyDto {
    pub id: String,
    /// The start of the key, e.g. `lq_ab12cd34`; the rest is never shown again.
    pub prefix: String,
    /// `user` or `admin`.
    pub scope: &'static str,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for KeyDto {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            prefix: k.prefix,
            scope: k.scope.as_str(),
            label: k.label,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key itself. Shown this once; store it now.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub id: String,
    pub revoked: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKeyRequest {
    pub key_id: String,
}

/// Create a key for a user (admin, or the user itself).
#[utoipa::path(post, path = "/api/v1/users/{id}/keys", tag = "keys", params(("id" = String, Path, description = "user id")), request_body(content = CreateKeyRequest, description = "optional"),
    responses((status = 201, body = CreatedKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    OptionalJson(body): OptionalJson<CreateKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    let request = NewKeyRequest { label: body.label, expires_at: body.expires_at };
    let audit = super::audit::context(&caller);
    let key = web::block(move || state.accounts.create_user_key(&caller.0, &id, &request, &audit)).await??;
    Ok(HttpResponse::Created().json(CreatedKey { key: key.secret, info: key.record.into() }))
}

/// A user's keys, newest first (never the secrets).
#[utoipa::path(get, path = "/api/v1/users/{id}/keys", tag = "keys", params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = KeyList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    let keys = web::block(move || state.accounts.list_keys(&caller.0, &id)).await??;
    Ok(HttpResponse::Ok().json(KeyList { keys: keys.into_iter().map(Into::into).collect() }))
}

async fn revoke_key(
    state: web::Data<AppState>,
    caller: Caller,
    user: &str,
    key: &str,
) -> Result<HttpResponse, ApiError> {
    let user = user_id(user)?;
    let key: ApiKeyId = key.parse().map_err(|_| ApiError::not_found("no such key"))?;
    let id = key.to_string();
    let audit = super::audit::context(&caller);
    web::block(move || state.accounts.revoke_key(&caller.0, &user, &key, &audit)).await??;
    Ok(HttpResponse::Ok().json(Revoked { id, revoked: true }))
}

/// Revoke one of a user's keys; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/users/{id}/keys/{key_id}", tag = "keys",
    params(("id" = String, Path, description = "user id"), ("key_id" = String, Path, description = "key id")),
    responses((status = 200, body = Revoked), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, key) = path.into_inner();
    revoke_key(state, caller, &user, &key).await
}

/// Revoke a key named in the body (the collection form of API.md).
#[utoipa::path(delete, path = "/api/v1/users/{id}/keys", tag = "keys", params(("id" = String, Path, description = "user id")), request_body = RevokeKeyRequest,
    responses((status = 200, body = Revoked), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn revoke_by_body(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    Json(body): Json<RevokeKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    revoke_key(state, caller, &id, &body.key_id).await
}
