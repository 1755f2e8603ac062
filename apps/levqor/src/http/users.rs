//! Users: upsert by email, lookup, read, patch, and `/api/v1/me`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use levqor_accounts::{Currency, Locale, ProfileChanges, User};
use levqor_core::{Email, FieldProblem, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::json::Json;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum CurrencyCode {
    #[serde(rename = "GBP")]
    Gbp,
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "EUR")]
    Eur,
}

impl From<CurrencyCode> for Currency {
    fn from(c: CurrencyCode) -> Self {
        match c {
            CurrencyCode::Gbp => Currency::Gbp,
            CurrencyCode::Usd => Currency::Usd,
            CurrencyCode::Eur => Currency::Eur,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub locale: Option<String>,
    /// `GBP`, `USD` or `EUR`.
    pub currency: Option<String>,
    pub meta: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            name: u.name,
            locale: u.locale.map(|l| l.to_string()),
            currency: u.currency.map(|c| c.code().to_owned()),
            meta: u.meta,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertUserRequest {
    /// Trimmed and lowercased before use.
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub name: Option<String>,
    /// A language tag such as `en-GB`.
    pub locale: Option<String>,
    pub currency: Option<CurrencyCode>,
    /// Merged into the existing meta (JSON merge patch: `null` removes a key).
    pub meta: Option<Map<String, Value>>,
    /// A referrer's code: attributes this sign-up to them (the first code wins).
    /// An unknown code is a 400 and nothing is written.
    #[schema(example = "7KQ2MX9P")]
    pub referral_code: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserRequest {
    pub name: Option<String>,
    pub locale: Option<String>,
    pub currency: Option<CurrencyCode>,
    /// Merged into the existing meta (JSON merge patch: `null` removes a key).
    pub meta: Option<Map<String, Value>>,
}

fn changes(
    name: Option<String>,
    locale: Option<String>,
    currency: Option<CurrencyCode>,
    meta: Option<Map<String, Value>>,
    problems: &mut Vec<FieldProblem>,
) -> ProfileChanges {
    let locale = locale.and_then(|l| Locale::parse(&l).map_err(|e| problems.push(FieldProblem::new("locale", e))).ok());
    ProfileChanges { name, locale, currency: currency.map(Into::into), meta }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpsertResponse {
    /// Present (true) when the user was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// Present (true) when an existing user was updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<bool>,
    pub user: UserDto,
}

/// Create or update a user by email (admin). A new user gets the free credits
/// (`FREE_CREDITS`) exactly once.
#[utoipa::path(post, path = "/api/v1/users/upsert", tag = "users", request_body = UpsertUserRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for 24 h")),
    responses(
        (status = 201, description = "created", body = UpsertResponse),
        (status = 200, description = "updated", body = UpsertResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn upsert(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    caller: Caller,
    body: super::json::JsonBody<UpsertUserRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.0.require_admin()?;
    let super::json::JsonBody { value: body, bytes } = body;
    let audit = super::audit::context(&caller);
    super::idempotency::keyed(&state, &req, &caller, &bytes, |_| upsert_user(state.clone(), body, audit)).await
}

async fn upsert_user(
    state: web::Data<AppState>,
    body: UpsertUserRequest,
    audit: levqor_core::AuditContext,
) -> Result<(actix_web::http::StatusCode, Value), ApiError> {
    let mut problems = Vec::new();
    let email = Email::parse(&body.email).map_err(|e| problems.push(FieldProblem::new("email", e.to_string()))).ok();
    let changes = changes(body.name, body.locale, body.currency, body.meta, &mut problems);
    let email = match email {
        Some(e) if problems.is_empty() => e,
        _ => return Err(ApiError::invalid(problems)),
    };
    let code = body.referral_code;
    let (user, created) =
        web::block(move || state.billing.sign_up(&email, &changes, code.as_deref(), &audit)).await??;
    let user = UserDto::from(user);
    Ok(if created {
        (
            actix_web::http::StatusCode::CREATED,
            serde_json::json!(UpsertResponse { created: Some(true), updated: None, user }),
        )
    } else {
        (
            actix_web::http::StatusCode::OK,
            serde_json::json!(UpsertResponse { created: None, updated: Some(true), user }),
        )
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LookupQuery {
    /// The email to look up (case and surrounding space do not matter).
    pub email: Option<String>,
}

/// Look a user up by email (admin, or the user itself).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(LookupQuery),
    responses((status = 200, body = UserDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn lookup(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, ApiError> {
    let raw = query
        .into_inner()
        .email
        .ok_or_else(|| ApiError::invalid_field("email", "the `email` query parameter is required"))?;
    let email = Email::parse(&raw).map_err(|e| ApiError::invalid_field("email", e.to_string()))?;
    let user = web::block(move || state.accounts.lookup(&caller.0, &email)).await??;
    Ok(HttpResponse::Ok().json(UserDto::from(user)))
}

/// A path id that does not parse cannot name anything: 404, like a foreign id.
pub fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("no such user"))
}

/// One user (admin, or the user itself).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    let user = web::block(move || state.accounts.get(&caller.0, &id)).await??;
    Ok(HttpResponse::Ok().json(UserDto::from(user)))
}

/// Change a user's name, locale, currency or meta (meta is merged).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "user id")), request_body = PatchUserRequest,
    responses((status = 200, body = UserDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn patch(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    Json(body): Json<PatchUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    let mut problems = Vec::new();
    let changes = changes(body.name, body.locale, body.currency, body.meta, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    let audit = super::audit::context(&caller);
    let user = web::block(move || state.accounts.patch(&caller.0, &id, &changes, &audit)).await??;
    Ok(HttpResponse::Ok().json(UserDto::from(user)))
}

/// The caller, with its credit balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeDto {
    #[serde(flatten)]
    pub user: UserDto,
    /// The caller's credit balance.
    pub credits: i64,
}

/// The caller's own user, with its credit balance.
#[utoipa::path(get, path = "/api/v1/me", tag = "users",
    responses((status = 200, body = MeDto), (status = 401, body = ErrorBody), (status = 403, description = "an admin key belongs to no user", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let id = caller.0.require_user()?.clone();
    let (user, credits) = web::block(move || -> Result<_, ApiError> {
        let user = state.accounts.get(&caller.0, &id)?;
        let credits = state.billing.balance(&id)?;
        Ok((user, credits))
    })
    .await??;
    Ok(HttpResponse::Ok().json(MeDto { user: UserDto::from(user), credits: credits.get() }))
}
