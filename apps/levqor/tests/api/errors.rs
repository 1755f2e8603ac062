//! Every error class of API.md § Conventions, in the JSON error format.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

const UPSERT: &str = "/api/v1/users/upsert";

async fn raw_post(app: &TestApp, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> crate::helpers::Reply {
    let mut req = app.client.post(app.url(UPSERT)).header("X-Api-Key", ADMIN_KEY).body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    app.send(req).await
}

async fn malformed_json_is_400(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = raw_post(&app, Some("application/json"), "{\"email\": ").await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "body");
}

async fn wrong_type_names_the_field(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app.post(UPSERT, Some(ADMIN_KEY), &json!({"email": 5})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "email");
    let r = app.post(UPSERT, Some(ADMIN_KEY), &json!({"email": "a@b.io", "meta": []})).await;
    assert_eq!(r.problem_field(), "meta");
    let r = app.post(UPSERT, Some(ADMIN_KEY), &json!({"email": "a@b.io", "currency": "JPY"})).await;
    assert_eq!(r.problem_field(), "currency");
}

async fn unknown_and_missing_fields_are_400(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app.post(UPSERT, Some(ADMIN_KEY), &json!({"email": "a@b.io", "role": "admin"})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "role");
    let r = app.post(UPSERT, Some(ADMIN_KEY), &json!({"name": "x"})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "email");
    let r = raw_post(&app, Some("application/json"), "[1, 2]").await;
    assert_eq!(r.problem_field(), "body");
}

async fn domain_validation_names_fields(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app.post(UPSERT, Some(ADMIN_KEY), &json!({"email": "not-an-email", "locale": "english please"})).await;
    r.assert_error(400, "invalid_request");
    let fields: Vec<_> = r.body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "locale"]);
    let r = app.post(UPSERT, Some(ADMIN_KEY), &json!({"email": "a@b.io", "name": "   "})).await;
    assert_eq!(r.problem_field(), "name");
}

async fn wrong_content_type_is_415(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    raw_post(&app, Some("text/plain"), "{\"email\": \"a@b.io\"}").await.assert_error(415, "unsupported_media_type");
    raw_post(&app, None, "{\"email\": \"a@b.io\"}").await.assert_error(415, "unsupported_media_type");
    let ok = raw_post(&app, Some("application/json; charset=utf-8"), "{\"email\": \"a@b.io\"}").await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
}

async fn oversized_body_is_413(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.max_content_length = 2048).await else {
        return;
    };
    let big = json!({"email": "a@b.io", "name": "x".repeat(4096)}).to_string();
    raw_post(&app, Some("application/json"), big).await.assert_error(413, "payload_too_large");
    // Without a Content-Length the limit still holds while streaming.
    let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(vec![b' '; 3000])]);
    let r = app
        .send(
            app.client
                .post(app.url(UPSERT))
                .header("X-Api-Key", ADMIN_KEY)
                .header("Content-Type", "application/json")
                .body(reqwest::Body::wrap_stream(chunks)),
        )
        .await;
    r.assert_error(413, "payload_too_large");
}

async fn unknown_path_is_json_404_with_security_headers(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app.get("/no/such/path", None).await;
    r.assert_error(404, "not_found");
    assert_security_headers(&r);
    assert_security_headers(&app.get("/health", None).await);
}

pub fn assert_security_headers(r: &crate::helpers::Reply) {
    assert_eq!(r.header("strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
    assert_eq!(r.header("content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"));
    assert_eq!(r.header("cross-origin-opener-policy"), Some("same-origin"));
    assert_eq!(r.header("cross-origin-embedder-policy"), Some("require-corp"));
    assert_eq!(r.header("cross-origin-resource-policy"), Some("same-origin"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("referrer-policy"), Some("strict-origin-when-cross-origin"));
    assert!(r.header("permissions-policy").is_some_and(|p| p.contains("camera=()")));
    assert!(r.header("x-request-id").is_some());
}

async fn wrong_method_is_405_with_allow(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app.send(app.client.delete(app.url(UPSERT)).header("X-Api-Key", ADMIN_KEY)).await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST"));
    assert_security_headers(&r);
    let r = app.send(app.client.put(app.url("/api/v1/users/01a2190a-0000-7000-8000-000000000000"))).await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, PATCH"));
    // The bare 405 is rewrapped as JSON and keeps what the rate limiter said.
    assert_eq!(r.header("x-ratelimit-limit"), Some("10000"));
    assert!(r.header("x-ratelimit-remaining").is_some());
    assert!(r.header("ratelimit").is_some_and(|v| v.starts_with("\"per-ip\";r=")), "{:?}", r.headers);
}

async fn panics_become_json_500(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app.get("/test/panic", None).await;
    r.assert_error(500, "internal_error");
    assert!(!r.body.to_string().contains("deliberate"), "panic message leaked: {:?}", r.body);
    assert_security_headers(&r);
    // The worker survived.
    assert_eq!(app.get("/health", None).await.status, 200);
}

async fn request_ids_are_echoed_when_sane(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app.send(app.client.get(app.url("/nope")).header("X-Request-Id", "trace-42")).await;
    assert_eq!(r.header("x-request-id"), Some("trace-42"));
    assert_eq!(r.body["request_id"], "trace-42");
    let r = app.send(app.client.get(app.url("/health")).header("X-Request-Id", "bad id with spaces")).await;
    let id = r.header("x-request-id").unwrap();
    assert_ne!(id, "bad id with spaces");
    assert!(!id.is_empty());
}

async fn cors_only_for_configured_origins(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.cors_origins = vec!["https://levqor.example".into()]).await else {
        return;
    };
    let ok = app.send(app.client.get(app.url("/health")).header("Origin", "https://levqor.example")).await;
    assert_eq!(ok.header("access-control-allow-origin"), Some("https://levqor.example"));
    let other = app.send(app.client.get(app.url("/health")).header("Origin", "https://evil.example")).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    let preflight = app
        .send(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/v1/users/upsert"))
                .header("Origin", "https://evil.example")
                .header("Access-Control-Request-Method", "POST"),
        )
        .await;
    assert_eq!(preflight.header("access-control-allow-origin"), None);
    assert!(preflight.status >= 400, "{}", preflight.status);
}

crate::on_both_backends!(
    malformed_json_is_400,
    wrong_type_names_the_field,
    unknown_and_missing_fields_are_400,
    domain_validation_names_fields,
    wrong_content_type_is_415,
    oversized_body_is_413,
    unknown_path_is_json_404_with_security_headers,
    wrong_method_is_405_with_allow,
    panics_become_json_500,
    request_ids_are_echoed_when_sane,
    cors_only_for_configured_origins,
);
