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
    assert_eq!(r.header("allow"), Some("GET, HEAD, PATCH"));
    // The bare 405 is rewrapped as JSON and keeps what the rate limiter said.
    assert_eq!(r.header("x-ratelimit-limit"), Some("10000"));
    assert!(r.header("x-ratelimit-remaining").is_some());
    assert!(r.header("ratelimit").is_some_and(|v| v.starts_with("\"per-ip\";r=")), "{:?}", r.headers);
    let r = app.send(app.client.post(app.url("/health"))).await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // HEAD on a POST-only path is refused like any other method.
    let r = app.send(app.client.head(app.url(UPSERT))).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
}

/// Headers whose values legitimately differ between two answers.
const VOLATILE: [&str; 6] =
    ["date", "x-request-id", "ratelimit", "x-ratelimit-remaining", "x-ratelimit-reset", "content-length"];

/// HEAD answers like GET: same status, same headers, no body.
async fn assert_head_like_get(app: &TestApp, path: &str, key: Option<&str>, status: u16) {
    let with_key = |req: reqwest::RequestBuilder| match key {
        Some(k) => req.header("X-Api-Key", k),
        None => req,
    };
    let get = app.send(with_key(app.client.get(app.url(path)))).await;
    let head = app.send(with_key(app.client.head(app.url(path)))).await;
    assert_eq!(get.status, status, "GET {path}: {:?}", get.body);
    assert_eq!(head.status, status, "HEAD {path}");
    assert_eq!(head.body, serde_json::Value::Null, "HEAD {path} has no body");
    let names = |r: &crate::helpers::Reply| {
        let mut names: Vec<String> = r.headers.keys().map(|n| n.as_str().to_owned()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&head), names(&get), "HEAD {path} has the GET's headers");
    for (name, value) in &get.headers {
        if !VOLATILE.contains(&name.as_str()) {
            assert_eq!(head.headers.get(name), Some(value), "HEAD {path}: {name}");
        }
    }
    // The length of the body a GET would get (the same unless the body has a clock in it).
    let length = |r: &crate::helpers::Reply| r.header("content-length").map(str::parse::<usize>);
    assert!(matches!(length(&head), Some(Ok(n)) if n > 0), "HEAD {path} announces the GET's length");
}

async fn head_answers_like_get(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    assert_head_like_get(&app, "/health", None, 200).await;
    let (id, key) = app.new_user("head@example.com").await;
    let me = format!("/api/v1/users/{id}");
    assert_head_like_get(&app, &me, Some(&key), 200).await;
    assert_head_like_get(&app, &me, None, 401).await;
    assert_head_like_get(&app, "/api/v1/users/01a2190a-0000-7000-8000-000000000000", Some(&key), 404).await;
    let get = app.get(&me, Some(&key)).await;
    let head = app.send(app.client.head(app.url(&me)).header("X-Api-Key", &key)).await;
    assert_eq!(head.header("content-length"), get.header("content-length"));
}

/// On the wire: a HEAD answer ends with its headers, not a single byte of body.
async fn head_sends_no_body_bytes(b: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let mut socket = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    socket.write_all(b"HEAD /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("\r\ncontent-length: "), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "a body followed the headers: {answer}");
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
    head_answers_like_get,
    head_sends_no_body_bytes,
    panics_become_json_500,
    request_ids_are_echoed_when_sane,
    cors_only_for_configured_origins,
);
