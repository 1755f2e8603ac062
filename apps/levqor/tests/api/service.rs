//! Health, readiness, status, version and the OpenAPI document.

use crate::helpers::{Backend, TestApp};

async fn health_ready_status_uptime(b: Backend) {
    // Payments configured: without them `/status` warns.
    let Some(app) = TestApp::spawn(b, |s| {
        s.billing.stripe_secret_key = Some("sk_test_status".into());
        s.billing.stripe_webhook_secret = Some("whsec_status".into());
    })
    .await
    else {
        return;
    };
    let r = app.get("/health", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["ok"], true);
    assert!(r.body["ts"].as_str().unwrap().ends_with('Z'));
    let r = app.get("/ready", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["checks"]["database"]["status"], "pass");
    assert_eq!(r.body["checks"]["migrations"]["status"], "pass");
    let backend = match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    };
    assert_eq!(r.body["checks"]["database"]["detail"], backend);
    let r = app.get("/status", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "pass", "{:?}", r.body);
    let r = app.get("/ops/uptime", None).await;
    assert!(r.body["uptime_s"].is_u64());
    assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
    assert!(r.body["build"].is_string());
    let r = app.get("/api/v1", None).await;
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["service"], "levqor");
}

async fn openapi_documents_every_route(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let doc = app.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(app.get("/public/openapi.json", None).await.body, doc.body);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/health", "get"),
        ("/ready", "get"),
        ("/status", "get"),
        ("/ops/uptime", "get"),
        ("/api/v1", "get"),
        ("/api/v1/users/upsert", "post"),
        ("/api/v1/users", "get"),
        ("/api/v1/users/{id}", "get"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/me", "get"),
        ("/api/v1/users/{id}/keys", "post"),
        ("/api/v1/users/{id}/keys", "get"),
        ("/api/v1/users/{id}/keys", "delete"),
        ("/api/v1/users/{id}/keys/{key_id}", "delete"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not documented");
    }
    let upsert = &paths["/api/v1/users/upsert"]["post"];
    assert!(upsert["requestBody"].is_object());
    for status in ["200", "201", "400", "401", "403"] {
        assert!(upsert["responses"][status].is_object(), "upsert lacks {status}");
    }
    assert!(upsert["security"].is_array());
    let schemes = &doc.body["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
}

crate::on_both_backends!(health_ready_status_uptime, openapi_documents_every_route);
