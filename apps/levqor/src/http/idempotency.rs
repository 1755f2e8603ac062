//! `Idempotency-Key` over HTTP, for any endpoint: the first response is stored per
//! API key for 24 h and replayed for a retry with the same body; the same key with
//! another body is a 422; a retry while the first is in flight is a 409.

use actix_web::http::StatusCode;
use std::future::Future;

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use levqor_accounts::Principal;
use levqor_jobs::RecordedResponse;
use levqor_jobs::{Begin, Fingerprint, IdempotencyKey, StoredResponse};
use serde_json::Value;

use super::error::ApiError;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";

/// A request that carries a key and runs for the first time.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub caller: String,
    pub key: IdempotencyKey,
}

impl Claimed {
    /// The record to commit together with the write this response describes.
    pub fn recorded(&self, status: StatusCode, body: &serde_json::Value) -> RecordedResponse {
        RecordedResponse {
            caller: self.caller.clone(),
            key: self.key.clone(),
            response: StoredResponse { status: status.as_u16(), body: body.to_string() },
        }
    }
}

pub enum Start {
    /// No key: run normally.
    Unkeyed,
    /// Run, then complete (or abandon) the claim.
    Run(Claimed),
    /// Answer with this (a replay or an error).
    Answer(HttpResponse),
}

/// Keys are scoped to the API key that sent them.
fn caller_of(principal: &Principal) -> String {
    match principal {
        Principal::User { key_id, .. } => key_id.to_string(),
        Principal::Admin { key_id: Some(id) } => id.to_string(),
        Principal::Admin { key_id: None } => "configured-admin-key".to_owned(),
    }
}

pub async fn start(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    principal: &Principal,
    body: &[u8],
) -> Result<Start, ApiError> {
    let Some(raw) = req.headers().get(HEADER) else { return Ok(Start::Unkeyed) };
    let key = raw
        .to_str()
        .ok()
        .and_then(|k| IdempotencyKey::parse(k).ok())
        .ok_or_else(|| ApiError::invalid_field("Idempotency-Key", "must be 1 to 255 visible ASCII characters"))?;
    let fingerprint = Fingerprint::of(req.method().as_str(), req.path(), body);
    let caller = caller_of(principal);
    let (keys, c, k) = (state.idempotency.clone(), caller.clone(), key.clone());
    let now = levqor_core::Clock::now(&levqor_core::SystemClock);
    let decision = web::block(move || keys.begin(&c, &k, &fingerprint, now)).await??;
    Ok(match decision {
        Begin::Fresh => Start::Run(Claimed { caller, key }),
        Begin::Replay(stored) => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            Start::Answer(
                HttpResponse::build(status)
                    .insert_header(("Idempotent-Replayed", "true"))
                    .content_type("application/json")
                    .body(stored.body),
            )
        }
        Begin::Mismatch => Start::Answer(ApiError::idempotency_mismatch().into()),
        Begin::InFlight => Start::Answer(
            ApiError::conflict("a request with this Idempotency-Key is still being processed; retry shortly").into(),
        ),
    })
}

/// Store the response for replay (when it is worth replaying) or forget the claim.
pub async fn finish(
    state: &web::Data<AppState>,
    claimed: Claimed,
    status: StatusCode,
    body: Option<&serde_json::Value>,
) {
    let keys = state.idempotency.clone();
    let now = levqor_core::Clock::now(&levqor_core::SystemClock);
    let replayable = body.filter(|_| levqor_jobs::idempotency::should_store(status.as_u16()));
    let recorded = replayable.map(|b| claimed.recorded(status, b));
    let _ = web::block(move || match recorded {
        Some(r) => keys.complete(&r.caller, &r.key, &r.response, now),
        None => keys.abandon(&claimed.caller, &claimed.key),
    })
    .await;
}

/// Runs `run` once per Idempotency-Key (when one is sent): the first answer is
/// stored and replayed; the key is also handed to `run` to pass on to Stripe.
pub async fn keyed<F, Fut>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    caller: &super::auth::Caller,
    body: &[u8],
    run: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let claimed = match start(state, req, &caller.0, body).await? {
        Start::Answer(response) => return Ok(response),
        Start::Run(claimed) => Some(claimed),
        Start::Unkeyed => None,
    };
    let key = claimed.as_ref().map(|c| c.key.as_str().to_owned());
    match run(key).await {
        Ok((status, answer)) => {
            if let Some(c) = claimed {
                finish(state, c, status, Some(&answer)).await;
            }
            Ok(HttpResponse::build(status).json(answer))
        }
        Err(e) => {
            if let Some(c) = claimed {
                finish(state, c, e.status_code(), None).await;
            }
            Err(e)
        }
    }
}
