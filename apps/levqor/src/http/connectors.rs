//! Connectors: the public catalogue, and one action run with inline or stored
//! credentials.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::json::Json;
use crate::connectors::{CredentialSource, RunError, run_action};
use crate::state::AppState;

/// An older spelling of a parameter that is still accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct AliasDto {
    pub alias: &'static str,
    pub param: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDto {
    #[schema(example = "post_message")]
    pub name: &'static str,
    pub description: &'static str,
    /// The JSON Schema of `params`.
    #[schema(value_type = Object)]
    pub params: Value,
    /// Credential fields the action needs.
    pub credentials: Vec<&'static str>,
    /// Credential fields used when present.
    pub optional_credentials: Vec<&'static str>,
    pub aliases: Vec<AliasDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorDto {
    #[schema(example = "slack")]
    pub name: &'static str,
    pub description: &'static str,
    pub actions: Vec<ActionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    pub connectors: Vec<ConnectorDto>,
}

/// Every connector with its actions, their parameter schemas and the credential
/// fields they need.
#[utoipa::path(get, path = "/api/v1/connectors", tag = "connectors", responses((status = 200, body = Catalogue)))]
pub async fn catalogue(state: web::Data<AppState>) -> HttpResponse {
    let connectors = state
        .connectors
        .registry
        .catalogue()
        .into_iter()
        .map(|c| ConnectorDto {
            name: c.name,
            description: c.description,
            actions: c
                .actions
                .into_iter()
                .map(|a| ActionDto {
                    name: a.name,
                    description: a.description,
                    params: a.params,
                    credentials: a.credentials,
                    optional_credentials: a.optional_credentials,
                    aliases: a.aliases.into_iter().map(|(alias, param)| AliasDto { alias, param }).collect(),
                })
                .collect(),
        })
        .collect();
    HttpResponse::Ok().json(Catalogue { connectors })
}

/// The body of `POST /api/v1/connect/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectBody {
    #[schema(example = "post_message")]
    pub action: String,
    /// The action's params (see its schema in the catalogue).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Option<Value>,
    /// Credentials for this call only (not stored), e.g. `{"token": "xoxb-…"}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Value>,
    /// A stored connection's id or name. With neither this nor `credentials`, the
    /// caller's only stored connection for the connector is used.
    pub connection: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectResult {
    /// Always `ok`: failures are error answers.
    #[schema(example = "ok")]
    pub status: &'static str,
    pub connector: String,
    pub action: String,
    /// The service's answer, as the connector shapes it.
    #[schema(value_type = Object)]
    pub result: Value,
}

/// Run one connector action. Credentials come from the body, a named stored
/// connection, or the caller's only stored connection for the connector.
/// Errors: 400 `invalid_connector` (with the valid names), `invalid_request`
/// (unknown action, bad params, with the field), `missing_credentials`,
/// `invalid_credentials` (the service rejected them); 502 `upstream_refused`,
/// `upstream_unreachable`, `upstream_unexpected_response`,
/// `upstream_response_too_large`, `upstream_outcome_unknown` (a write that got a
/// 5xx or no answer: the service may have acted, so it was not sent again);
/// 429 `upstream_rate_limited` (with `Retry-After`, or 502 when the service gave
/// none); 504 `upstream_timeout`.
#[utoipa::path(post, path = "/api/v1/connect/{name}", tag = "connectors", request_body = ConnectBody,
    params(("name" = String, Path, description = "connector name, e.g. `slack`")),
    responses((status = 200, body = ConnectResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "the named stored connection does not exist", body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 502, description = "the service refused or failed", body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn connect(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
    Json(body): Json<ConnectBody>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.0.require_user()?.clone();
    let source = match (body.credentials, body.connection) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field("connection", "give either `credentials` or `connection`, not both"));
        }
        (Some(credentials), None) => CredentialSource::Inline(credentials),
        (None, reference) => CredentialSource::Stored(reference),
    };
    let params = body.params.unwrap_or_else(|| json!({}));
    let result =
        run_action(&state.connectors, &owner, &name, &body.action, params, source).await.map_err(|e| match e {
            RunError::Connector(c) => ApiError::from(c),
            RunError::Connection(c) => ApiError::from(c),
        })?;
    Ok(HttpResponse::Ok().json(ConnectResult {
        status: "ok",
        connector: name.into_inner(),
        action: body.action,
        result,
    }))
}
