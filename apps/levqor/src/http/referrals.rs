//! Referrals over HTTP: the caller's code, rewarding a referred sign-up, and
//! marketing attribution. The rules live in `levqor-billing`; the flow in
//! [`crate::services::billing`].

use actix_web::{HttpResponse, web};
use levqor_core::Email;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::json::Json;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralRequest {
    /// The referrer's code (from `GET /api/v1/referrals/code`).
    #[serde(rename = "ref")]
    #[schema(example = "7KQ2MX9P")]
    pub code: String,
    /// The referred user's email. With a user's key it may be left out and, when
    /// given, must be the caller's own: a referral is claimed by the referred
    /// person. Required with an admin key.
    #[schema(example = "friend@example.com")]
    pub email: Option<String>,
}

/// Whether the referrer was rewarded, and why not.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralOutcome {
    pub rewarded: bool,
    /// Credits given to the referrer (when rewarded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits: Option<i64>,
    /// When not rewarded: `unknown_code`, `unknown_user` (admin keys only),
    /// `not_your_account`, `self_referral`, `other_referrer`, `already_rewarded`
    /// or `too_old`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "already_rewarded")]
    pub reason: Option<&'static str>,
    /// The reason in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Reward a referral: the code's owner gets `REFERRAL_CREDITS` once per referred
/// user, only if that user signed up within 24 h, is not the referrer and was not
/// referred by someone else. With a user's key the caller claims for their own
/// sign-up (another email gets `not_your_account`, whether or not it is
/// registered); an admin names the sign-up by email. Always 200 with the outcome.
#[utoipa::path(post, path = "/api/v1/referrals", tag = "referrals", request_body = ReferralRequest,
    responses((status = 200, body = ReferralOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn reward(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<ReferralRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = body
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_field("email", e.to_string()))?;
    let outcome = web::block(move || state.billing.reward(&caller.0, &body.code, email.as_ref())).await??;
    Ok(HttpResponse::Ok().json(match outcome {
        Ok(reward) => {
            ReferralOutcome { rewarded: true, credits: Some(reward.credits.get()), reason: None, message: None }
        }
        Err(why) => {
            ReferralOutcome { rewarded: false, credits: None, reason: Some(why.code()), message: Some(why.to_string()) }
        }
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackRequest {
    #[schema(example = "visitor@example.com")]
    pub email: String,
    /// Where the visitor came from, e.g. `newsletter`.
    #[schema(example = "newsletter")]
    pub source: String,
    pub campaign: Option<String>,
    pub medium: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Tracked {
    pub tracked: bool,
}

/// Record marketing attribution (public).
#[utoipa::path(post, path = "/api/v1/referrals/track", tag = "referrals", request_body = TrackRequest,
    responses((status = 201, body = Tracked), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn track(state: web::Data<AppState>, Json(body): Json<TrackRequest>) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email).map_err(|e| ApiError::invalid_field("email", e.to_string()))?;
    // Only the keyed digest goes further: the address is never stored.
    let email_hash = state.analytics.hasher().digest(&email);
    web::block(move || state.billing.track(email_hash, body.source, body.campaign, body.medium)).await??;
    Ok(HttpResponse::Created().json(Tracked { tracked: true }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralCodeDto {
    /// Share it; new users pass it as `referral_code` when they sign up.
    #[schema(example = "7KQ2MX9P")]
    pub code: String,
}

/// The caller's own referral code (user); made on first use.
#[utoipa::path(get, path = "/api/v1/referrals/code", tag = "referrals",
    responses((status = 200, body = ReferralCodeDto), (status = 401, body = ErrorBody), (status = 403, description = "an admin key belongs to no user", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn code(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let user = caller.0.require_user()?.clone();
    let code = web::block(move || state.billing.referral_code(&user)).await??;
    Ok(HttpResponse::Ok().json(ReferralCodeDto { code: code.to_string() }))
}
