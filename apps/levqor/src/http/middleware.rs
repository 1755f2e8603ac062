//! The outermost layer of every request: request id, panic containment, the JSON
//! error format for answers that inner layers left bare, security headers, and the
//! access log.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use futures_util::FutureExt;

use super::error::ApiError;
use super::request_id;
use super::routes_table::RouteTable;
use crate::state::AppState;

const JSON_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
const PERMISSIONS: &str = "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=(), interest-cohort=()";

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = request_id::assign(&req);
    request_id::scope(id.clone(), handle(req, next, id)).await
}

async fn handle(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    id: String,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    // Never clone the HttpRequest before routing: the router needs it unshared.
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let client = state
        .as_ref()
        .and_then(|s| s.settings.trusted_proxies.for_request(&req))
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let routes = req.app_data::<web::Data<RouteTable>>().cloned();
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let access = |status: u16, failure: Option<String>| {
        let Some(state) = &state else { return };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            let route = routes.as_ref().and_then(|t| t.pattern_for(&path)).unwrap_or_else(|| "(no route)".into());
            report_server_error(state, &method, &route, status, &id, failure.as_deref());
            slog::error!(state.log, "request failed"; "request_id" => &id, "method" => &method, "path" => &path, "status" => status, "ms" => ms, "client" => &client, "error" => failure.unwrap_or_default());
        } else {
            slog::info!(state.log, "request"; "request_id" => &id, "method" => &method, "path" => &path, "status" => status, "ms" => ms, "client" => &client);
        }
    };

    let mut res = match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(Ok(res)) => res.map_into_boxed_body(),
        // A layer failed outright; answer with our JSON error (which carries the
        // request id and the security headers itself).
        Ok(Err(err)) => {
            let status = err.as_response_error().status_code();
            access(status.as_u16(), Some(err.to_string()));
            return Err(ApiError::from_status(status).into());
        }
        Err(panic) => {
            let what = panic_message(&panic);
            access(500, Some(format!("{PANICKED}{what}")));
            return Err(ApiError::internal(what).into());
        }
    };

    // Inner layers (actix's own 405, a failed extractor without our handler) may
    // answer with a bare status; give every error the JSON shape.
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if status.as_u16() >= 400 && !is_json {
        let error = if status.as_u16() == 405 {
            let allow = routes
                .as_ref()
                .and_then(|t| res.request().match_pattern().and_then(|p| t.allow(&p)))
                .unwrap_or_else(|| "GET, HEAD".into());
            ApiError::method_not_allowed(&allow)
        } else {
            ApiError::from_status(status)
        };
        let mut fresh = error.error_response();
        // Keep what the rate limiter said about this request.
        for (name, value) in res.headers() {
            let name_str = name.as_str();
            if name_str.starts_with("x-ratelimit") || name_str.starts_with("ratelimit") || name == header::RETRY_AFTER {
                fresh.headers_mut().insert(name.clone(), value.clone());
            }
        }
        let request = res.request().clone();
        res = ServiceResponse::new(request, fresh);
    }

    let is_page = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    set_security_headers(res.headers_mut(), is_page, &id);
    access(res.status().as_u16(), res.response().error().map(ToString::to_string));
    Ok(res)
}

/// The security headers of API.md, and the request id.
pub fn set_security_headers(headers: &mut HeaderMap, is_page: bool, id: &str) {
    let mut set = |name: &'static str, value: &'static str| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    };
    set("strict-transport-security", "max-age=31536000; includeSubDomains");
    set("content-security-policy", if is_page { PAGE_CSP } else { JSON_CSP });
    set("cross-origin-opener-policy", "same-origin");
    set("cross-origin-embedder-policy", "require-corp");
    set("cross-origin-resource-policy", "same-origin");
    set("x-content-type-options", "nosniff");
    set("x-frame-options", "DENY");
    set("referrer-policy", "strict-origin-when-cross-origin");
    set("permissions-policy", PERMISSIONS);
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert(HeaderName::from_static(request_id::HEADER), v);
    }
}

/// A 5xx answer or a panic, to Sentry when `SENTRY_DSN` is set (queued to the
/// client's own thread: the answer never waits for it). Only the route pattern
/// leaves, never the path: a path may carry a secret (`/hooks/{id}/{token}`).
fn report_server_error(state: &AppState, method: &str, route: &str, status: u16, id: &str, failure: Option<&str>) {
    let message = failure.unwrap_or("no cause recorded");
    let panicked = message.starts_with(PANICKED);
    state.inbox.server_error(&levqor_notifications::ServerError {
        method: method.to_owned(),
        route: route.to_owned(),
        status,
        request_id: id.to_owned(),
        message: message.trim_start_matches(PANICKED).to_owned(),
        panicked,
    });
}

const PANICKED: &str = "handler panicked: ";

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
