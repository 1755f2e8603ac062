//! Request ids: the caller's `X-Request-Id` when it is sane, a fresh one otherwise.
//! Held in a task-local for the life of the request so error bodies can carry it.

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;

tokio::task_local! {
    static CURRENT: String;
}

pub const HEADER: &str = "x-request-id";

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The id for this request, recorded in its extensions.
pub fn assign(req: &ServiceRequest) -> String {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    id
}

/// Run `fut` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// The current request's id, or `unknown` outside a request.
pub fn current() -> String {
    CURRENT.try_with(Clone::clone).unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sanity() {
        assert!(super::is_sane("abc-123_x.y:z"));
        assert!(!super::is_sane(""));
        assert!(!super::is_sane("has space"));
        assert!(!super::is_sane(&"x".repeat(129)));
    }
}
