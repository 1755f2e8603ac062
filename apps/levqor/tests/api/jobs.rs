//! Jobs over HTTP: durable intake, status, listing, cancel, retry, idempotency,
//! SSRF refusals, signed callbacks and queue health.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, Reply, TestApp};

const SECRET: &str = "callback-secret-0123456789abcdef0123456789";

async fn intake(app: &TestApp, key: &str, body: Value) -> Reply {
    app.post("/api/v1/intake", Some(key), &body).await
}

async fn echo_job_runs(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let (_, key) = app.new_user("echo@example.com").await;
    let r = intake(&app, &key, json!({"workflow": "echo", "payload": {"hello": "world"}, "priority": "high"})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["status"], "queued");
    let id = r.body["job_id"].as_str().unwrap().to_owned();
    let done = app.wait_done(&key, &id).await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    assert_eq!(done.body["result"], json!({"hello": "world"}));
    assert_eq!(done.body["attempts"], 1);
    assert_eq!(done.body["priority"], "high");
    for field in ["created_at", "started_at", "finished_at"] {
        assert!(done.body[field].is_string(), "{field} missing: {:?}", done.body);
    }
}

async fn intake_rejects_what_it_cannot_run(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let (_, key) = app.new_user("bad@example.com").await;
    let r = intake(&app, &key, json!({"workflow": "no.such.workflow", "payload": {}})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "workflow");
    let r = intake(&app, &key, json!({"workflow": "echo", "payload": {}, "max_attempts": 0, "timeout_s": 99999})).await;
    r.assert_error(400, "invalid_request");
    let r = intake(&app, &key, json!({"workflow": "echo", "payload": {}, "priority": "urgent"})).await;
    assert_eq!(r.problem_field(), "priority");
    let r = intake(&app, &key, json!({"workflow": "echo", "payload": {}, "callback_url": "ftp://example.com/x"})).await;
    assert_eq!(r.problem_field(), "callback_url");
    let big = "x".repeat(210 * 1024);
    intake(&app, &key, json!({"workflow": "echo", "payload": {"blob": big}}))
        .await
        .assert_error(413, "payload_too_large");
    // Admin keys belong to no user, so they cannot own jobs.
    intake(&app, ADMIN_KEY, json!({"workflow": "echo", "payload": {}})).await.assert_error(403, "forbidden");
    intake(&app, "", json!({"workflow": "echo", "payload": {}})).await.assert_error(401, "unauthorized");
}

async fn idempotency_key_replays_and_refuses_other_bodies(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let (_, key) = app.new_user("idem@example.com").await;
    let send = |body: Value, ik: &'static str| {
        app.send(
            app.client
                .post(app.url("/api/v1/intake"))
                .header("X-Api-Key", &key)
                .header("Idempotency-Key", ik)
                .json(&body),
        )
    };
    let first = send(json!({"workflow": "echo", "payload": {"n": 1}}), "order-1").await;
    let again = send(json!({"workflow": "echo", "payload": {"n": 1}}), "order-1").await;
    assert_eq!(first.status, 202);
    assert_eq!(again.status, 202);
    assert_eq!(first.body["job_id"], again.body["job_id"]);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = send(json!({"workflow": "echo", "payload": {"n": 2}}), "order-1").await;
    other.assert_error(422, "idempotency_mismatch");
    let fresh = send(json!({"workflow": "echo", "payload": {"n": 2}}), "order-2").await;
    assert_ne!(fresh.body["job_id"], first.body["job_id"]);
    // Keys are per API key: another user's identical key is independent.
    let (_, other_key) = app.new_user("idem2@example.com").await;
    let theirs = app
        .send(
            app.client
                .post(app.url("/api/v1/intake"))
                .header("X-Api-Key", &other_key)
                .header("Idempotency-Key", "order-1")
                .json(&json!({"workflow": "echo", "payload": {"n": 9}})),
        )
        .await;
    assert_eq!(theirs.status, 202);
    // A rejected request is not stored: fixing the body with the same key works.
    let bad = send(json!({"workflow": "nope", "payload": {}}), "order-3").await;
    assert_eq!(bad.status, 400);
    let fixed = send(json!({"workflow": "echo", "payload": {}}), "order-3").await;
    assert_eq!(fixed.status, 202, "{:?}", fixed.body);
    let listed = app.get("/api/v1/jobs", Some(&key)).await;
    assert_eq!(listed.body["jobs"].as_array().unwrap().len(), 3, "{:?}", listed.body);
}

async fn other_users_jobs_are_not_found(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let (_, a) = app.new_user("a@example.com").await;
    let (_, bk) = app.new_user("b@example.com").await;
    let id =
        intake(&app, &a, json!({"workflow": "echo", "payload": {}})).await.body["job_id"].as_str().unwrap().to_owned();
    app.get(&format!("/api/v1/status/{id}"), Some(&bk)).await.assert_error(404, "not_found");
    app.post(&format!("/api/v1/jobs/{id}/cancel"), Some(&bk), &json!({})).await.assert_error(404, "not_found");
    app.post(&format!("/api/v1/jobs/{id}/retry"), Some(&bk), &json!({})).await.assert_error(404, "not_found");
    assert_eq!(app.get(&format!("/api/v1/status/{id}"), Some(ADMIN_KEY)).await.status, 200, "admins see every job");
    app.get("/api/v1/status/not-a-job", Some(&a)).await.assert_error(404, "not_found");
}

async fn list_filters_and_pages(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.workers = 0).await else { return };
    let (_, key) = app.new_user("list@example.com").await;
    for n in 0..5 {
        let workflow = if n % 2 == 0 { "echo" } else { "http.request" };
        let payload =
            if workflow == "echo" { json!({"n": n}) } else { json!({"method": "GET", "url": "http://example.com/"}) };
        assert_eq!(intake(&app, &key, json!({"workflow": workflow, "payload": payload})).await.status, 202);
    }
    let page1 = app.get("/api/v1/jobs?limit=2", Some(&key)).await;
    assert_eq!(page1.body["jobs"].as_array().unwrap().len(), 2);
    let cursor = page1.body["next_cursor"].as_str().unwrap().to_owned();
    let page2 = app.get(&format!("/api/v1/jobs?limit=2&cursor={cursor}"), Some(&key)).await;
    let page3 = app
        .get(&format!("/api/v1/jobs?limit=2&cursor={}", page2.body["next_cursor"].as_str().unwrap()), Some(&key))
        .await;
    assert_eq!(page3.body["jobs"].as_array().unwrap().len(), 1);
    assert!(page3.body["next_cursor"].is_null());
    let ids: std::collections::HashSet<_> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| p.body["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].to_string()))
        .collect();
    assert_eq!(ids.len(), 5, "pages overlap");
    let echoes = app.get("/api/v1/jobs?workflow=echo&status=queued", Some(&key)).await;
    assert_eq!(echoes.body["jobs"].as_array().unwrap().len(), 3);
    app.get("/api/v1/jobs?status=bogus", Some(&key)).await.assert_error(400, "invalid_request");
    app.get("/api/v1/jobs?cursor=garbage", Some(&key)).await.assert_error(400, "invalid_request");
    let health = app.get("/ops/queue_health", None).await;
    // The five jobs, and the user's welcome mail (no worker runs it here).
    assert_eq!(health.body["queued"], 6);
    assert!(health.body["oldest_queued_age_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(health.body["workers"], 0);
}

async fn cancel_and_retry(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let (_, key) = app.new_user("cancel@example.com").await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let id = intake(&app, &key, json!({"workflow": "echo", "payload": {}, "run_at": later})).await.body["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.post(&format!("/api/v1/jobs/{id}/cancel"), Some(&key), &json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    app.post(&format!("/api/v1/jobs/{id}/cancel"), Some(&key), &json!({})).await.assert_error(409, "conflict");
    app.post(&format!("/api/v1/jobs/{id}/retry"), Some(&key), &json!({})).await.assert_error(409, "conflict");

    // A job that cannot succeed: the metadata address is refused by the SSRF guard.
    let failing = json!({"workflow": "http.request", "max_attempts": 1, "payload": {"method": "GET", "url": "http://169.254.169.254/latest/meta-data/"}});
    let id = intake(&app, &key, failing).await.body["job_id"].as_str().unwrap().to_owned();
    let dead = app.wait_done(&key, &id).await;
    assert_eq!(dead.body["status"], "dead", "{:?}", dead.body);
    let r = app.post(&format!("/api/v1/jobs/{id}/retry"), Some(&key), &json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["attempts"], 0);
    let again = app.wait_done(&key, &id).await;
    assert_eq!(again.body["status"], "dead");
    assert_eq!(again.body["attempts"], 1);
}

async fn ssrf_targets_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let (_, key) = app.new_user("ssrf@example.com").await;
    for url in [
        "http://127.0.0.1:9/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://localhost:9/",
        "file:///etc/passwd",
    ] {
        let r = intake(
            &app,
            &key,
            json!({"workflow": "http.request", "max_attempts": 1, "payload": {"method": "GET", "url": url}}),
        )
        .await;
        if r.status == 400 {
            continue; // refused at intake: also fine
        }
        let done = app.wait_done(&key, r.body["job_id"].as_str().unwrap()).await;
        assert_eq!(done.body["status"], "dead", "{url}: {:?}", done.body);
        let error = done.body["error"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            error.contains("refused")
                || error.contains("not allowed")
                || error.contains("private")
                || error.contains("scheme"),
            "{url}: {error}"
        );
    }
    // A callback to a private address is refused at intake unless allowed.
    let r =
        intake(&app, &key, json!({"workflow": "echo", "payload": {}, "callback_url": "http://127.0.0.1:9/hook"})).await;
    if r.status == 202 {
        let done = app.wait_done(&key, r.body["job_id"].as_str().unwrap()).await;
        assert_eq!(done.body["status"], "succeeded", "a refused callback does not fail the job");
    } else {
        assert_eq!(r.problem_field(), "callback_url");
    }
}

/// A one-request HTTP receiver on loopback: returns (url, the raw request it got).
async fn receiver() -> (String, tokio::sync::oneshot::Receiver<(String, Vec<u8>)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    let (tx, rx) = tokio::sync::oneshot::channel();
    actix_web::rt::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = sock.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| l.to_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    let head = text[..end].to_owned();
                    let body = buf[end + 4..end + 4 + len].to_vec();
                    sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await.unwrap();
                    let _ = tx.send((head, body));
                    return;
                }
            }
            if n == 0 {
                return;
            }
        }
    });
    (url, rx)
}

async fn callbacks_are_signed(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| {
        s.allow_private_targets = true;
        s.secret = Some(SECRET.to_owned());
    })
    .await
    else {
        return;
    };
    let (_, key) = app.new_user("cb@example.com").await;
    let (url, got) = receiver().await;
    let r = intake(&app, &key, json!({"workflow": "echo", "payload": {"x": 1}, "callback_url": url})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let (head, body) = tokio::time::timeout(Duration::from_secs(20), got).await.expect("callback arrived").unwrap();
    assert!(head.starts_with("POST /hook"), "{head}");
    let signature = head
        .lines()
        .find_map(|l| l.strip_prefix("x-levqor-signature: ").or_else(|| l.strip_prefix("X-Levqor-Signature: ")))
        .expect("signature header")
        .to_owned();
    let now = chrono::Utc::now();
    levqor_jobs::verify(SECRET.as_bytes(), &signature, &body, now, Duration::from_secs(300))
        .expect("signature verifies");
    assert!(levqor_jobs::verify(b"wrong secret", &signature, &body, now, Duration::from_secs(300)).is_err());
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["job_id"], r.body["job_id"]);
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["result"], json!({"x": 1}));
}

crate::on_both_backends!(
    echo_job_runs,
    intake_rejects_what_it_cannot_run,
    idempotency_key_replays_and_refuses_other_bodies,
    other_users_jobs_are_not_found,
    list_filters_and_pages,
    cancel_and_retry,
    ssrf_targets_are_refused,
    callbacks_are_signed,
);
