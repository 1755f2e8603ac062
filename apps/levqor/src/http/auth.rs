//! Authentication: `X-Api-Key: <key>` (the original's header) or
//! `Authorization: Bearer <key>`, turned into a [`Principal`].

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use levqor_accounts::{AuthError, Principal};

use super::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

fn presented_key(req: &HttpRequest) -> Option<String> {
    if let Some(key) = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim().to_owned());
    }
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = presented_key(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let key = key.filter(|k| !k.is_empty()).ok_or(AuthError::Missing)?;
            if let Some(principal) = state.accounts.authenticate_cached(&key) {
                return Ok(Caller(principal));
            }
            let principal = web::block(move || state.accounts.authenticate(&key)).await??;
            Ok(Caller(principal))
        })
    }
}
