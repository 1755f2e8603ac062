//! Authentication and authorisation: fail closed, scopes, and no peeking at other
//! users' objects.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

async fn no_key_or_bad_key_is_401(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let body = json!({"email": "x@example.com"});
    let r = app.post("/api/v1/users/upsert", None, &body).await;
    r.assert_error(401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    app.post("/api/v1/users/upsert", Some("lq_wrong_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), &body)
        .await
        .assert_error(401, "unauthorized");
    app.get("/api/v1/me", Some("")).await.assert_error(401, "unauthorized");
}

async fn bearer_header_works(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app
        .send(
            app.client
                .post(app.url("/api/v1/users/upsert"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"email": "bearer@example.com"})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

async fn user_keys_cannot_do_admin_things(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (_, key) = app.new_user("plain@example.com").await;
    app.post("/api/v1/users/upsert", Some(&key), &json!({"email": "z@example.com"}))
        .await
        .assert_error(403, "forbidden");
    // And admin keys are nobody.
    app.get("/api/v1/me", Some(ADMIN_KEY)).await.assert_error(403, "forbidden");
}

async fn other_users_objects_are_not_found(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (a, key_a) = app.new_user("a@example.com").await;
    let (b_id, _) = app.new_user("b@example.com").await;
    app.get(&format!("/api/v1/users/{b_id}"), Some(&key_a)).await.assert_error(404, "not_found");
    app.with_body(reqwest::Method::PATCH, &format!("/api/v1/users/{b_id}"), Some(&key_a), &json!({"name": "pwned"}))
        .await
        .assert_error(404, "not_found");
    app.get("/api/v1/users?email=b@example.com", Some(&key_a)).await.assert_error(404, "not_found");
    app.get(&format!("/api/v1/users/{b_id}/keys"), Some(&key_a)).await.assert_error(404, "not_found");
    app.post(&format!("/api/v1/users/{b_id}/keys"), Some(&key_a), &json!({})).await.assert_error(404, "not_found");
    // The same requests on oneself succeed.
    assert_eq!(app.get(&format!("/api/v1/users/{a}"), Some(&key_a)).await.status, 200);
    assert_eq!(app.get("/api/v1/users?email=a@example.com", Some(&key_a)).await.status, 200);
    let b_after = app.get(&format!("/api/v1/users/{b_id}"), Some(ADMIN_KEY)).await;
    assert_eq!(b_after.body["name"], serde_json::Value::Null);
}

async fn admin_endpoints_are_closed_without_admin_keys(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.api_keys.clear()).await else {
        return;
    };
    let body = json!({"email": "x@example.com"});
    app.post("/api/v1/users/upsert", None, &body).await.assert_error(401, "unauthorized");
    app.post("/api/v1/users/upsert", Some(ADMIN_KEY), &body).await.assert_error(401, "unauthorized");
    app.post("/api/v1/users/upsert", Some(""), &body).await.assert_error(401, "unauthorized");
    let status = app.get("/status", None).await;
    assert_eq!(status.body["checks"]["admin_auth"]["status"], "warn");
}

async fn revoked_and_expired_keys_stop_working(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (id, key) = app.new_user("k@example.com").await;
    assert_eq!(app.get("/api/v1/me", Some(&key)).await.status, 200);
    let key_id = app.get(&format!("/api/v1/users/{id}/keys"), Some(&key)).await.body["keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .send(app.client.delete(app.url(&format!("/api/v1/users/{id}/keys/{key_id}"))).header("X-Api-Key", &key))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app.get("/api/v1/me", Some(&key)).await;
    r.assert_error(401, "unauthorized");
    assert!(r.body["message"].as_str().unwrap().contains("revoked"));

    let expires = (chrono::Utc::now() + chrono::Duration::seconds(4)).to_rfc3339();
    let short = app.post(&format!("/api/v1/users/{id}/keys"), Some(ADMIN_KEY), &json!({"expires_at": expires})).await;
    assert_eq!(short.status, 201, "{:?}", short.body);
    let short = short.body["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", Some(&short)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let r = app.get("/api/v1/me", Some(&short)).await;
    r.assert_error(401, "unauthorized");
    assert!(r.body["message"].as_str().unwrap().contains("expired"));
}

crate::on_both_backends!(
    no_key_or_bad_key_is_401,
    bearer_header_works,
    user_keys_cannot_do_admin_things,
    other_users_objects_are_not_found,
    admin_endpoints_are_closed_without_admin_keys,
    revoked_and_expired_keys_stop_working,
);
