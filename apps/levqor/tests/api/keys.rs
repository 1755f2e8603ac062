//! API keys over HTTP: shown once, listed without secrets, revoked.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

async fn keys_are_shown_once_and_listed_without_secrets(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (id, first_key) = app.new_user("keys@example.com").await;
    let r = app.post(&format!("/api/v1/users/{id}/keys"), Some(&first_key), &json!({"label": "laptop"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let secret = r.body["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(r.body["prefix"].as_str().unwrap()));
    assert!(secret.len() >= 40);
    assert_eq!(r.body["scope"], "user");
    assert_eq!(r.body["label"], "laptop");
    // Using the key records when it was last used.
    assert_eq!(app.get("/api/v1/me", Some(&secret)).await.status, 200);
    let list = app.get(&format!("/api/v1/users/{id}/keys"), Some(&secret)).await;
    assert_eq!(list.status, 200);
    let keys = list.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["label"], "laptop", "newest first");
    assert!(keys[0]["last_used_at"].is_string());
    let text = list.body.to_string();
    assert!(!text.contains(&secret) && !text.contains(&first_key), "a secret was listed");
    assert!(keys.iter().all(|k| k.get("key").is_none()));
}

async fn revoke_by_path_and_by_body(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (id, key) = app.new_user("rev@example.com").await;
    let second = app.post(&format!("/api/v1/users/{id}/keys"), Some(ADMIN_KEY), &json!({})).await;
    let second_id = second.body["id"].as_str().unwrap().to_owned();
    let second_key = second.body["key"].as_str().unwrap().to_owned();
    let r = app
        .with_body(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{id}/keys"),
            Some(&key),
            &json!({"key_id": second_id}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["revoked"], true);
    app.get("/api/v1/me", Some(&second_key)).await.assert_error(401, "unauthorized");
    assert_eq!(app.get("/api/v1/me", Some(&key)).await.status, 200, "revoking one key must not touch another");
    let list = app.get(&format!("/api/v1/users/{id}/keys"), Some(&key)).await;
    let revoked: Vec<_> =
        list.body["keys"].as_array().unwrap().iter().filter(|k| k["revoked_at"].is_string()).collect();
    assert_eq!(revoked.len(), 1);
    let missing = app
        .send(
            app.client
                .delete(app.url(&format!("/api/v1/users/{id}/keys/01a2190a-0000-7000-8000-000000000000")))
                .header("X-Api-Key", &key),
        )
        .await;
    missing.assert_error(404, "not_found");
}

async fn bad_key_requests_are_400(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (id, key) = app.new_user("badkey@example.com").await;
    let r =
        app.post(&format!("/api/v1/users/{id}/keys"), Some(&key), &json!({"expires_at": "2001-01-01T00:00:00Z"})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "expires_at");
    let r = app.post(&format!("/api/v1/users/{id}/keys"), Some(&key), &json!({"expires_at": "tomorrow"})).await;
    assert_eq!(r.problem_field(), "expires_at");
    let r = app.post(&format!("/api/v1/users/{id}/keys"), Some(&key), &json!({"scope": "admin"})).await;
    assert_eq!(r.problem_field(), "scope", "a user must not mint admin keys: {:?}", r.body);
    // No body at all is fine: all fields are optional.
    let r = app.send(app.client.post(app.url(&format!("/api/v1/users/{id}/keys"))).header("X-Api-Key", &key)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

crate::on_both_backends!(
    keys_are_shown_once_and_listed_without_secrets,
    revoke_by_path_and_by_body,
    bad_key_requests_are_400
);
