//! Connectors over HTTP against a fake Slack on loopback: the catalogue, one-off
//! actions with inline and stored credentials, stored connections (sealed at rest,
//! owner-scoped, never shown or logged) and the `connector` job.

use levqor_connectors::ConnectionRepo;
use levqor_testkit::{FakeServer, Recorded, Reply as FakeReply};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, Reply, TestApp};

const TOKEN: &str = "xoxb-test-token-4f1c9a77e2";

/// Slack's `chat.postMessage`: `ok: false` for an unknown channel or a bad token.
async fn fake_slack() -> FakeServer {
    FakeServer::start(|req: &Recorded, _| {
        if !req.header("authorization").is_some_and(|a| a.starts_with("Bearer xoxb-")) {
            return FakeReply::json(200, json!({"ok": false, "error": "not_authed"}));
        }
        let body = req.json();
        if req.path_only() != "/api/chat.postMessage" {
            return FakeReply::json(200, json!({"ok": false, "error": "unknown_method"}));
        }
        if body["channel"] == "#nonexistent" {
            return FakeReply::json(200, json!({"ok": false, "error": "channel_not_found"}));
        }
        FakeReply::json(
            200,
            json!({"ok": true, "channel": "C123", "ts": "1700000000.000100",
                   "message": {"text": body["text"], "type": "message"}}),
        )
    })
    .await
}

async fn spawn(b: Backend, slack: &FakeServer) -> Option<TestApp> {
    let base = format!("{}/api", slack.base());
    TestApp::spawn(b, move |s| {
        s.slack_api_base = base;
        s.secret = Some("connectors-test-secret-0123456789abcdef0123".into());
    })
    .await
}

fn post_message(channel: &str, text: &str) -> Value {
    json!({"action": "post_message", "params": {"channel": channel, "text": text}})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn assert_no_token(r: &Reply) {
    assert!(!r.body.to_string().contains(TOKEN), "an answer shows the token: {:?}", r.body);
}

async fn catalogue_lists_connectors_and_schemas(b: Backend) {
    let slack = fake_slack().await;
    let Some(app) = spawn(b, &slack).await else { return };
    let r = app.get("/api/v1/connectors", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let connectors = r.body["connectors"].as_array().unwrap();
    let find = |name: &str| connectors.iter().find(|c| c["name"] == name).cloned().unwrap();
    for (name, action) in
        [("gmail", "send_email"), ("notion", "create_page"), ("slack", "post_message"), ("telegram", "send_message")]
    {
        let c = find(name);
        let a = c["actions"].as_array().unwrap().iter().find(|a| a["name"] == action).cloned().unwrap();
        assert_eq!(a["params"]["type"], "object", "{name}.{action}");
        assert!(!a["credentials"].as_array().unwrap().is_empty(), "{name}.{action} needs credentials");
    }
    let post = find("slack")["actions"][0].clone();
    assert_eq!(post["name"], "post_message");
    assert_eq!(post["credentials"], json!(["token"]));
    assert!(post["params"]["required"].as_array().unwrap().contains(&json!("channel")));
}

async fn connect_calls_slack_and_surfaces_its_errors(b: Backend) {
    let slack = fake_slack().await;
    let Some(app) = spawn(b, &slack).await else { return };
    let (_, key) = app.new_user("slack@example.com").await;
    let creds = json!({"token": TOKEN});

    let r = app
        .post(
            "/api/v1/connect/slack",
            Some(&key),
            &with(post_message("#general", "hello"), "credentials", creds.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["connector"], "slack");
    assert_eq!(r.body["action"], "post_message");
    assert_eq!(r.body["result"]["ts"], "1700000000.000100");
    assert_no_token(&r);
    let sent = slack.only();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path_only(), "/api/chat.postMessage");
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert!(sent.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    assert_eq!(sent.json()["channel"], "#general");
    assert_eq!(sent.json()["text"], "hello");

    // Slack's ok:false is an error that names Slack's code, never a success.
    let r = app
        .post(
            "/api/v1/connect/slack",
            Some(&key),
            &with(post_message("#nonexistent", "x"), "credentials", creds.clone()),
        )
        .await;
    r.assert_error(502, "upstream_refused");
    assert!(r.body["message"].as_str().unwrap().contains("channel_not_found"), "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/connect/slack",
            Some(&key),
            &with(post_message("#general", "x"), "credentials", json!({"token": "bad"})),
        )
        .await;
    r.assert_error(400, "invalid_credentials");
    assert!(r.body["message"].as_str().unwrap().contains("not_authed"), "{:?}", r.body);
    let calls = slack.count();

    // Unknown connector: 400 with the valid names.
    let r = app
        .post("/api/v1/connect/smtp", Some(&key), &with(post_message("#a", "x"), "credentials", creds.clone()))
        .await;
    r.assert_error(400, "invalid_connector");
    assert_eq!(r.problem_field(), "connector");
    for name in ["gmail", "notion", "slack", "telegram"] {
        assert!(r.body["message"].as_str().unwrap().contains(name), "{:?}", r.body);
    }
    // Unknown action, bad params, missing credentials: 400 with the field, and
    // nothing reaches Slack.
    let r = app.post("/api/v1/connect/slack", Some(&key), &json!({"action": "dance", "credentials": creds})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "action");
    let r = app
        .post(
            "/api/v1/connect/slack",
            Some(&key),
            &json!({"action": "post_message", "params": {"channel": "#a"}, "credentials": creds}),
        )
        .await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "params.text");
    let r = app.post("/api/v1/connect/slack", Some(&key), &post_message("#general", "x")).await;
    r.assert_error(400, "missing_credentials");
    let r = app
        .post("/api/v1/connect/slack", Some(&key), &with(post_message("#general", "x"), "credentials", json!({})))
        .await;
    r.assert_error(400, "missing_credentials");
    assert_eq!(r.problem_field(), "credentials.token");
    let r = app
        .post(
            "/api/v1/connect/slack",
            Some(&key),
            &json!({"action": "post_message", "params": {}, "credentials": creds, "connection": "x"}),
        )
        .await;
    r.assert_error(400, "invalid_request");
    assert_eq!(slack.count(), calls, "a refused call reached Slack");

    app.post("/api/v1/connect/slack", None, &post_message("#a", "x")).await.assert_error(401, "unauthorized");
    app.post("/api/v1/connect/slack", Some(ADMIN_KEY), &post_message("#a", "x")).await.assert_error(403, "forbidden");
    assert!(!app.logs.text().contains(TOKEN), "the token was logged");
}

async fn stored_connections_are_sealed_scoped_and_used(b: Backend) {
    let slack = fake_slack().await;
    let Some(app) = spawn(b, &slack).await else { return };
    let (ada_id, ada) = app.new_user("ada@example.com").await;
    let (_, bob) = app.new_user("bob@example.com").await;
    let mut answers = Vec::new();

    let r = app
        .post(
            "/api/v1/connections",
            Some(&ada),
            &json!({"connector": "slack", "name": "work", "credentials": {"token": TOKEN}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["connector"], "slack");
    assert_eq!(r.body["name"], "work");
    assert_eq!(r.body["credential_fields"], json!(["token"]));
    assert!(r.body["created_at"].is_string() && r.body.get("credentials").is_none());
    let id = r.body["id"].as_str().unwrap().to_owned();
    answers.push(r);

    let r = app.get("/api/v1/connections", Some(&ada)).await;
    assert_eq!(r.body["connections"].as_array().unwrap().len(), 1, "{:?}", r.body);
    answers.push(r);
    let r = app.get(&format!("/api/v1/connections/{id}"), Some(&ada)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], id.as_str());
    answers.push(r);

    // Another user sees nothing of it.
    app.get(&format!("/api/v1/connections/{id}"), Some(&bob)).await.assert_error(404, "not_found");
    assert_eq!(app.get("/api/v1/connections", Some(&bob)).await.body["connections"], json!([]));
    let r = app.with_body(reqwest::Method::DELETE, &format!("/api/v1/connections/{id}"), Some(&bob), &json!({})).await;
    r.assert_error(404, "not_found");
    app.post("/api/v1/connect/slack", Some(&bob), &with(post_message("#a", "x"), "connection", json!("work")))
        .await
        .assert_error(404, "not_found");
    app.post("/api/v1/connect/slack", Some(&bob), &with(post_message("#a", "x"), "connection", json!(id)))
        .await
        .assert_error(404, "not_found");
    app.get("/api/v1/connections/not-an-id", Some(&ada)).await.assert_error(404, "not_found");

    // Validation.
    let create = async |body: Value| app.post("/api/v1/connections", Some(&ada), &body).await;
    create(json!({"connector": "slack", "name": "work", "credentials": {"token": "xoxb-2"}}))
        .await
        .assert_error(409, "conflict");
    create(json!({"connector": "smtp", "name": "x", "credentials": {"token": "t"}}))
        .await
        .assert_error(400, "invalid_connector");
    let r = create(json!({"connector": "slack", "name": "x", "credentials": {}})).await;
    r.assert_error(400, "missing_credentials");
    assert_eq!(r.problem_field(), "credentials.token");
    let r = create(json!({"connector": "slack", "name": "x", "credentials": {"token": "t", "pw": "p"}})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "credentials.pw");
    create(json!({"connector": "slack", "name": "", "credentials": {"token": "t"}}))
        .await
        .assert_error(400, "invalid_request");

    // Used implicitly (the only slack connection), by name and by id.
    for body in [
        post_message("#general", "implicit"),
        with(post_message("#general", "by name"), "connection", json!("work")),
        with(post_message("#general", "by id"), "connection", json!(id)),
    ] {
        let r = app.post("/api/v1/connect/slack", Some(&ada), &body).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let sent = slack.requests().pop().unwrap();
        assert_eq!(sent.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(sent.json()["text"], body["params"]["text"]);
        answers.push(r);
    }
    let r = app.get(&format!("/api/v1/connections/{id}"), Some(&ada)).await;
    assert!(r.body["last_used_at"].is_string(), "{:?}", r.body);

    // Two slack connections: the caller must say which.
    create(json!({"connector": "slack", "name": "second", "credentials": {"token": "xoxb-second"}})).await;
    let r = app.post("/api/v1/connect/slack", Some(&ada), &post_message("#general", "x")).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "connection");

    // At rest: ciphertext only.
    let owner = ada_id.parse().unwrap();
    let stored = app.db().store.get_connection(&owner, &id.parse().unwrap()).unwrap().unwrap();
    assert!(stored.sealed.starts_with("v1.") && !stored.sealed.contains(TOKEN));
    if let Some(path) = app.db().url().strip_prefix("sqlite://") {
        for file in [path.to_owned(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "{file} holds the token");
            }
        }
    }
    for r in &answers {
        assert_no_token(r);
    }
    assert!(!app.logs.text().contains(TOKEN), "the token was logged");
    assert!(app.logs.text().contains("/api/v1/connections"), "the access log is captured");

    let r = app.with_body(reqwest::Method::DELETE, &format!("/api/v1/connections/{id}"), Some(&ada), &json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["deleted"], true);
    app.get(&format!("/api/v1/connections/{id}"), Some(&ada)).await.assert_error(404, "not_found");
    app.post("/api/v1/connections", None, &json!({})).await.assert_error(401, "unauthorized");
}

async fn connector_job_runs_with_a_stored_connection(b: Backend) {
    let slack = fake_slack().await;
    let Some(app) = spawn(b, &slack).await else { return };
    let (_, key) = app.new_user("jobs@example.com").await;
    let r = app
        .post(
            "/api/v1/connections",
            Some(&key),
            &json!({"connector": "slack", "name": "work", "credentials": {"token": TOKEN}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    let payload = json!({"connector": "slack", "action": "post_message",
                         "params": {"channel": "#general", "text": "from a job"}, "connection": "work"});
    let r = app.post("/api/v1/intake", Some(&key), &json!({"workflow": "connector", "payload": payload})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let done = app.wait_done(&key, r.body["job_id"].as_str().unwrap()).await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    assert_eq!(done.body["result"]["ts"], "1700000000.000100");
    assert_no_token(&done);
    let sent = slack.only();
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(sent.json()["text"], "from a job");

    // Slack refuses: the job fails for good with Slack's code.
    let payload =
        json!({"connector": "slack", "action": "post_message", "params": {"channel": "#nonexistent", "text": "x"}});
    let r = app.post("/api/v1/intake", Some(&key), &json!({"workflow": "connector", "payload": payload})).await;
    let done = app.wait_done(&key, r.body["job_id"].as_str().unwrap()).await;
    assert_eq!(done.body["status"], "dead", "{:?}", done.body);
    assert!(done.body["error"].as_str().unwrap().contains("channel_not_found"), "{:?}", done.body);

    // Inline credentials would be stored in the job row: refused.
    let payload = json!({"connector": "slack", "action": "post_message",
                         "params": {"channel": "#a", "text": "x"}, "credentials": {"token": TOKEN}});
    let r = app.post("/api/v1/intake", Some(&key), &json!({"workflow": "connector", "payload": payload})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "payload.credentials");
    let r = app
        .post(
            "/api/v1/intake",
            Some(&key),
            &json!({"workflow": "connector", "payload": {"connector": "smtp", "action": "x"}}),
        )
        .await;
    assert_eq!(r.problem_field(), "payload.connector");
    let r = app
        .post(
            "/api/v1/intake",
            Some(&key),
            &json!({"workflow": "connector", "payload": {"connector": "slack", "action": "x"}}),
        )
        .await;
    assert_eq!(r.problem_field(), "payload.action");

    // A missing stored connection fails the job closed.
    let payload = json!({"connector": "slack", "action": "post_message",
                         "params": {"channel": "#a", "text": "x"}, "connection": "nope"});
    let r = app.post("/api/v1/intake", Some(&key), &json!({"workflow": "connector", "payload": payload})).await;
    let done = app.wait_done(&key, r.body["job_id"].as_str().unwrap()).await;
    assert_eq!(done.body["status"], "dead", "{:?}", done.body);
    assert!(done.body["error"].as_str().unwrap().starts_with("connection_not_found"), "{:?}", done.body);
    assert!(!app.logs.text().contains(TOKEN), "the token was logged");
}

crate::on_both_backends!(
    catalogue_lists_connectors_and_schemas,
    connect_calls_slack_and_surfaces_its_errors,
    stored_connections_are_sealed_scoped_and_used,
    connector_job_runs_with_a_stored_connection,
);
