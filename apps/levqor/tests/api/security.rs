//! The findings of the outside probe (look-alike accounts, unknown pipeline
//! workflows, trailing garbage, internal messages, per-user caps, what the HTTP
//! layer answers below the app), each as the request an attacker sent.

use std::io::{Read, Write};

use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

async fn look_alike_domains_are_refused_and_idn_stored_as_ascii(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    app.new_user("alice@example.com").await;
    // A Cyrillic `а` in the domain.
    let r = app.post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({"email": "alice@ex\u{0430}mple.com"})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "email");
    assert!(r.body["message"].as_str().unwrap().contains("look-alike"), "{:?}", r.body);
    // A real international domain is kept in its ASCII form, so it is visible.
    let r = app.post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({"email": "Anna@Bücher.example"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["user"]["email"], "anna@xn--bcher-kva.example");
    let r = app.get("/api/v1/users?email=anna@bücher.example", Some(ADMIN_KEY)).await;
    assert_eq!(r.body["email"], "anna@xn--bcher-kva.example", "{:?}", r.body);
}

async fn unknown_or_foreign_pipeline_workflows_are_400_at_intake(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let (_, owner) = app.new_user("owner@example.com").await;
    let (_, other) = app.new_user("other@example.com").await;
    let doc = json!({"description": "log it", "trigger": "manual",
        "actions": [{"type": "log", "connector": "builtin", "params": {"message": "hi"}}]});
    let r = app.post("/api/v1/pipelines", Some(&owner), &doc).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["pipeline"]["id"].as_str().or(r.body["id"].as_str()).unwrap().to_owned();
    let mut answers = Vec::new();
    for workflow in [
        format!("pipeline:{id}"),                               // someone else's
        "pipeline:0190a5c8-0000-7000-8000-000000000000".into(), // nobody's
        "pipeline:not-an-id".into(),
    ] {
        let r = app.post("/api/v1/intake", Some(&other), &json!({"workflow": workflow, "payload": {}})).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(r.problem_field(), "workflow");
        answers.push(r.body["details"].clone());
    }
    assert_eq!(answers[0], answers[1], "another user's pipeline reads like none at all");
    let r =
        app.post("/api/v1/intake", Some(&owner), &json!({"workflow": format!("pipeline:{id}"), "payload": {}})).await;
    assert_eq!(r.status, 202, "the owner may: {:?}", r.body);
}

async fn intake_payload_is_a_required_object(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.workers = 0).await else { return };
    let (_, key) = app.new_user("payload@example.com").await;
    for body in [
        json!({"workflow": "echo"}),
        json!({"workflow": "echo", "payload": [1, 2]}),
        json!({"workflow": "echo", "payload": "x"}),
    ] {
        let r = app.post("/api/v1/intake", Some(&key), &body).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(r.problem_field(), "payload", "{body}");
    }
}

async fn trailing_garbage_after_the_body_is_400(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.workers = 0).await else { return };
    let (_, key) = app.new_user("garbage@example.com").await;
    for body in [&b"{\"workflow\":\"echo\",\"payload\":{}} xx"[..], b"{\"workflow\":\"echo\",\"payload\":{}}{}"] {
        let r = app
            .send(
                app.client
                    .post(app.url("/api/v1/intake"))
                    .header("X-Api-Key", &key)
                    .header("Content-Type", "application/json")
                    .body(body.to_vec()),
            )
            .await;
        r.assert_error(400, "invalid_request");
        assert_eq!(r.problem_field(), "body");
    }
    let r = app
        .post_raw(
            "/api/v1/intake",
            &[("Content-Type", "application/json"), ("X-Api-Key", &key)],
            b"{\"workflow\":\"echo\",\"payload\":{}}  \n".to_vec(),
        )
        .await;
    assert_eq!(r.status, 202, "trailing whitespace is fine: {:?}", r.body);
}

async fn answers_carry_no_internal_messages(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| {
        s.billing.stripe_webhook_secret = Some("whsec_internal_messages".into());
        s.allow_private_targets = true;
    })
    .await
    else {
        return;
    };
    let (_, key) = app.new_user("plain@example.com").await;
    let leaks = ["Query deserialize", "expected struct", "error sending request", "tcp connect", "builder error"];
    let assert_plain = |r: &crate::helpers::Reply| {
        let message = r.body["message"].as_str().unwrap_or_default().to_owned();
        let details = r.body["details"].to_string();
        for leak in leaks {
            assert!(!message.contains(leak) && !details.contains(leak), "{leak}: {:?}", r.body);
        }
    };
    // A query parameter of the wrong type.
    let r = app.get("/api/v1/jobs?limit=many", Some(&key)).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "query");
    assert_plain(&r);
    let r = app.get("/api/v1/jobs?bogus=1", Some(&key)).await;
    assert_eq!(r.problem_field(), "bogus", "{:?}", r.body);
    assert_plain(&r);
    // A validly signed body that is no Stripe event.
    let payload = br#"["not", "an", "event", 1, 2]"#.to_vec();
    let sig = levqor_billing::signature_header(
        &levqor_billing::WebhookSecret::new("whsec_internal_messages"),
        chrono::Utc::now().timestamp(),
        &payload,
    );
    let r = app
        .post_raw("/billing/webhook", &[("Content-Type", "application/json"), ("Stripe-Signature", &sig)], payload)
        .await;
    r.assert_error(400, "invalid_request");
    assert_plain(&r);
    // A connector call to a port where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let r = app
        .post(
            "/api/v1/connect/http",
            Some(&key),
            &json!({"action": "request", "params": {"method": "GET", "url": format!("http://{closed}/")}}),
        )
        .await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    assert_eq!(r.body["message"], "the service could not be reached");
    assert_plain(&r);
    // A credential that cannot go into a header is the caller's to fix, not a 502.
    let r = app
        .post(
            "/api/v1/connect/slack",
            Some(&key),
            &json!({"action": "list_channels", "params": {}, "credentials": {"token": "xoxb-a\nb"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_plain(&r);
    // The detail is in the log, with the request id.
    assert!(app.logs.text().contains("error sending request") || app.logs.text().contains("Connect"));
}

async fn waiting_jobs_are_capped_per_user(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| {
        s.workers = 0;
        s.max_queued_per_user = 3;
    })
    .await
    else {
        return;
    };
    let (_, key) = app.new_user("flood@example.com").await;
    let (_, other) = app.new_user("calm@example.com").await;
    for _ in 0..3 {
        let r = app.post("/api/v1/intake", Some(&key), &json!({"workflow": "echo", "payload": {}})).await;
        assert_eq!(r.status, 202, "{:?}", r.body);
    }
    let r = app.post("/api/v1/intake", Some(&key), &json!({"workflow": "echo", "payload": {}})).await;
    r.assert_error(429, "rate_limited");
    assert!(r.body["message"].as_str().unwrap().contains("at most 3 may wait"), "{:?}", r.body);
    let r = app.post("/api/v1/intake", Some(&other), &json!({"workflow": "echo", "payload": {}})).await;
    assert_eq!(r.status, 202, "another user is not affected: {:?}", r.body);
}

async fn active_keys_are_capped_per_user(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.max_keys_per_user = 3).await else { return };
    let (id, key) = app.new_user("keys@example.com").await;
    let path = format!("/api/v1/users/{id}/keys");
    let r = app.post(&path, Some(&key), &json!({})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let second = r.body["key_id"].as_str().or(r.body["id"].as_str()).unwrap().to_owned();
    assert_eq!(app.post(&path, Some(ADMIN_KEY), &json!({})).await.status, 201);
    let r = app.post(&path, Some(&key), &json!({})).await;
    r.assert_error(409, "conflict");
    assert!(r.body["message"].as_str().unwrap().contains("revoke one"), "{:?}", r.body);
    let r = app.with_body(reqwest::Method::DELETE, &format!("{path}/{second}"), Some(&key), &json!({})).await;
    assert!(r.status == 200 || r.status == 204, "{:?}", r.body);
    assert_eq!(app.post(&path, Some(&key), &json!({})).await.status, 201, "a revoked key frees a place");
}

/// Malformed requests are answered by actix's HTTP/1 parser before any
/// application code runs: a bare 400 (431 for huge headers) and a closed
/// connection. docs/SECURITY.md says so; this pins that the server answers
/// them, stays up, and never answers 5xx.
async fn malformed_http_is_refused_below_the_app(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let addr = app.base.trim_start_matches("http://").to_owned();
    let raw = |request: Vec<u8>| {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let _ = stream.write_all(&request);
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
    };
    let huge = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(140 * 1024));
    for (request, status) in [
        (b"GET / HTTP/9.9 nonsense\r\n\r\n".to_vec(), "400"),
        (b"POST /api/v1/intake HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(), "400"),
        (huge.into_bytes(), "431"),
    ] {
        let answer = raw(request).await.unwrap();
        let first = answer.lines().next().unwrap_or_default().to_owned();
        assert!(first.contains(status), "{first}");
    }
    assert_eq!(app.get("/health", None).await.status, 200, "the server is still up");
}

crate::on_both_backends!(
    look_alike_domains_are_refused_and_idn_stored_as_ascii,
    unknown_or_foreign_pipeline_workflows_are_400_at_intake,
    intake_payload_is_a_required_object,
    trailing_garbage_after_the_body_is_400,
    answers_carry_no_internal_messages,
    waiting_jobs_are_capped_per_user,
    active_keys_are_capped_per_user,
    malformed_http_is_refused_below_the_app,
);
