//! Users: idempotent upsert, lookup, read, patch with meta merge, /me.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

async fn upsert_is_idempotent_and_normalises_email(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let first = app
        .post(
            "/api/v1/users/upsert",
            Some(ADMIN_KEY),
            &json!({"email": "  Ada@Example.COM ", "name": "Ada", "locale": "en_GB", "currency": "GBP"}),
        )
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["created"], true);
    let user = &first.body["user"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["locale"], "en-GB");
    assert_eq!(user["currency"], "GBP");
    let second =
        app.post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({"email": "ada@example.com", "name": "Ada L."})).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(second.body["updated"], true);
    assert_eq!(second.body["user"]["id"], user["id"]);
    assert_eq!(second.body["user"]["name"], "Ada L.");
    assert_eq!(second.body["user"]["currency"], "GBP", "an absent field must not be cleared");
    assert_eq!(second.body["user"]["created_at"], user["created_at"]);
}

async fn lookup_by_email(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (id, _) = app.new_user("look@example.com").await;
    let r = app.get("/api/v1/users?email=%20LOOK@example.com", Some(ADMIN_KEY)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    app.get("/api/v1/users?email=nobody@example.com", Some(ADMIN_KEY)).await.assert_error(404, "not_found");
    let r = app.get("/api/v1/users", Some(ADMIN_KEY)).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "email");
    app.get("/api/v1/users?email=nope", Some(ADMIN_KEY)).await.assert_error(400, "invalid_request");
}

async fn patch_merges_meta(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let created = app.post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({"email": "m@example.com", "meta": {"plan": "free", "prefs": {"theme": "dark", "tz": "UTC"}, "tmp": 1}})).await;
    let id = created.body["user"]["id"].as_str().unwrap().to_owned();
    let r = app
        .with_body(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(ADMIN_KEY),
            &json!({"meta": {"prefs": {"theme": "light"}, "tmp": null, "seen": true}, "name": "Em"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["meta"], json!({"plan": "free", "prefs": {"theme": "light", "tz": "UTC"}, "seen": true}));
    assert_eq!(r.body["name"], "Em");
    // Upsert merges meta the same way.
    let r = app
        .post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({"email": "m@example.com", "meta": {"plan": "pro"}}))
        .await;
    assert_eq!(r.body["user"]["meta"], json!({"plan": "pro", "prefs": {"theme": "light", "tz": "UTC"}, "seen": true}));
    let r = app.get(&format!("/api/v1/users/{id}"), Some(ADMIN_KEY)).await;
    assert_eq!(r.body["meta"]["plan"], "pro");
    let r = app
        .with_body(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(ADMIN_KEY),
            &json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!(r.problem_field(), "email", "email is not patchable: {:?}", r.body);
}

async fn unknown_ids_are_404(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    app.get("/api/v1/users/01a2190a-0000-7000-8000-000000000000", Some(ADMIN_KEY)).await.assert_error(404, "not_found");
    app.get("/api/v1/users/not-a-uuid", Some(ADMIN_KEY)).await.assert_error(404, "not_found");
    app.with_body(
        reqwest::Method::PATCH,
        "/api/v1/users/01a2190a-0000-7000-8000-000000000000",
        Some(ADMIN_KEY),
        &json!({"name": "x"}),
    )
    .await
    .assert_error(404, "not_found");
}

async fn me_is_the_caller(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (id, key) = app.new_user("me@example.com").await;
    let r = app.get("/api/v1/me", Some(&key)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["email"], "me@example.com");
}

async fn upsert_honours_idempotency_keys(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let send = |body: serde_json::Value, key: &'static str| {
        app.send(
            app.client
                .post(app.url("/api/v1/users/upsert"))
                .header("X-Api-Key", ADMIN_KEY)
                .header("Idempotency-Key", key)
                .json(&body),
        )
    };
    let first = send(json!({"email": "idem@example.com", "name": "One"}), "u-1").await;
    assert_eq!(first.status, 201);
    // A retry replays the first answer (201, created) instead of reporting an update.
    let again = send(json!({"email": "idem@example.com", "name": "One"}), "u-1").await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    send(json!({"email": "idem@example.com", "name": "Two"}), "u-1").await.assert_error(422, "idempotency_mismatch");
    let fresh = send(json!({"email": "idem@example.com", "name": "Two"}), "u-2").await;
    assert_eq!(fresh.status, 200);
}

crate::on_both_backends!(
    upsert_honours_idempotency_keys,
    upsert_is_idempotent_and_normalises_email,
    lookup_by_email,
    patch_merges_meta,
    unknown_ids_are_404,
    me_is_the_caller
);
