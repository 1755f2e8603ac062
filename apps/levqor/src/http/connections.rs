//! Stored connections: a user's named credentials for a connector, encrypted at
//! rest and never shown again.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use levqor_connectors::Connection;
use levqor_core::ConnectionId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::json::Json;
use crate::state::AppState;

/// The body of `POST /api/v1/connections`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    #[schema(example = "slack")]
    pub connector: String,
    /// Unique per user and connector; 1–64 characters.
    #[schema(example = "work")]
    pub name: String,
    /// The connector's credential fields (see the catalogue), e.g. `{"token": "xoxb-…"}`.
    #[schema(value_type = Object)]
    pub credentials: Value,
}

/// A stored connection. Credential values are never returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionDto {
    pub id: String,
    pub connector: String,
    pub name: String,
    /// Which credential fields are stored.
    #[schema(example = json!(["token"]))]
    pub credential_fields: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<Connection> for ConnectionDto {
    fn from(c: Connection) -> Self {
        Self {
            id: c.id.to_string(),
            connector: c.connector,
            name: c.name,
            credential_fields: c.credential_fields,
            created_at: c.created_at,
            updated_at: c.updated_at,
            last_used_at: c.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionDeleted {
    pub id: String,
    pub deleted: bool,
}

fn connection_id(raw: &str) -> Result<ConnectionId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("no such connection"))
}

/// Store credentials for a connector under a name. They are encrypted at rest
/// and never returned; 400 `invalid_connector`, `missing_credentials` or
/// `invalid_request` (with the field) for what cannot be stored, 409 when the
/// name is taken for that connector.
#[utoipa::path(post, path = "/api/v1/connections", tag = "connectors", request_body = CreateConnection,
    responses((status = 201, body = ConnectionDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "a connection with this name exists for the connector", body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<CreateConnection>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let svc = state.connectors.connections.clone();
    let audit = super::audit::context(&caller);
    let created =
        web::block(move || svc.create(&owner, &body.connector, &body.name, body.credentials, &audit)).await??;
    Ok(HttpResponse::Created().json(ConnectionDto::from(created)))
}

/// The caller's stored connections, oldest first (never the credentials).
#[utoipa::path(get, path = "/api/v1/connections", tag = "connectors",
    responses((status = 200, body = ConnectionList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let svc = state.connectors.connections.clone();
    let all = web::block(move || svc.list(&owner)).await??;
    Ok(HttpResponse::Ok().json(ConnectionList { connections: all.into_iter().map(Into::into).collect() }))
}

/// One of the caller's stored connections.
#[utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connectors", params(("id" = String, Path, description = "connection id")),
    responses((status = 200, body = ConnectionDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let id = connection_id(&id)?;
    let svc = state.connectors.connections.clone();
    let found = web::block(move || svc.get(&owner, &id)).await??;
    Ok(HttpResponse::Ok().json(ConnectionDto::from(found)))
}

/// Delete one of the caller's stored connections and its credentials.
#[utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connectors", params(("id" = String, Path, description = "connection id")),
    responses((status = 200, body = ConnectionDeleted), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let id = connection_id(&id)?;
    let shown = id.to_string();
    let svc = state.connectors.connections.clone();
    let audit = super::audit::context(&caller);
    web::block(move || svc.delete(&owner, &id, &audit)).await??;
    Ok(HttpResponse::Ok().json(ConnectionDeleted { id: shown, deleted: true }))
}
