//! Rate limits: per client IP and global on writes, with every header of API.md.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, Reply, TestApp};

async fn upsert(app: &TestApp, n: usize, forwarded_for: Option<&str>) -> Reply {
    let mut req = app
        .client
        .post(app.url("/api/v1/users/upsert"))
        .header("X-Api-Key", ADMIN_KEY)
        .json(&json!({"email": format!("rl{n}@example.com")}));
    if let Some(ip) = forwarded_for {
        req = req.header("X-Forwarded-For", ip);
    }
    app.send(req).await
}

fn assert_limited(r: &Reply, policy: &str, limit: u32) {
    r.assert_error(429, "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(r.header("ratelimit-policy").unwrap(), format!("\"{policy}\";q={limit};w=60"));
    assert_eq!(r.header("ratelimit").unwrap(), format!("\"{policy}\";r=0;t={retry}"));
    assert_eq!(r.header("x-ratelimit-limit").unwrap(), limit.to_string());
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset >= chrono::Utc::now().timestamp(), "X-RateLimit-Reset is a future epoch second");
    crate::errors::assert_security_headers(r);
}

async fn per_ip_write_limit(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.rate_burst = 3).await else {
        return;
    };
    for n in 0..3 {
        let r = upsert(&app, n, None).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    assert_limited(&upsert(&app, 3, None).await, "per-ip", 3);
    // Reads are not write-limited.
    assert_eq!(app.get("/api/v1/users?email=rl0@example.com", Some(ADMIN_KEY)).await.status, 200);
}

async fn global_write_limit(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| {
        s.rate_global = 2;
        s.trusted_proxies = levqor::http::client_ip::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await
    else {
        return;
    };
    // Different clients (through a trusted proxy) still share the global budget.
    assert_eq!(upsert(&app, 0, Some("198.51.100.1")).await.status, 201);
    assert_eq!(upsert(&app, 1, Some("198.51.100.2")).await.status, 201);
    assert_limited(&upsert(&app, 2, Some("198.51.100.3")).await, "global", 2);
}

async fn forwarded_for_counts_only_from_trusted_proxies(b: Backend) {
    // Untrusted: X-Forwarded-For is ignored, so a client cannot dodge its limit.
    let Some(app) = TestApp::spawn(b, |s| s.rate_burst = 1).await else {
        return;
    };
    assert_eq!(upsert(&app, 0, Some("198.51.100.1")).await.status, 201);
    assert_limited(&upsert(&app, 1, Some("198.51.100.2")).await, "per-ip", 1);

    // Trusted: each forwarded client has its own bucket.
    let Some(app) = TestApp::spawn(b, |s| {
        s.rate_burst = 1;
        s.trusted_proxies = levqor::http::client_ip::TrustedProxies::parse("127.0.0.0/8").unwrap();
    })
    .await
    else {
        return;
    };
    assert_eq!(upsert(&app, 0, Some("198.51.100.1")).await.status, 201);
    assert_eq!(upsert(&app, 1, Some("198.51.100.2")).await.status, 201);
    assert_limited(&upsert(&app, 2, Some("198.51.100.2")).await, "per-ip", 1);
}

async fn read_limit(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.rate_read = 2).await else {
        return;
    };
    assert_eq!(app.get("/health", None).await.status, 200);
    assert_eq!(app.get("/health", None).await.status, 200);
    assert_limited(&app.get("/health", None).await, "read-per-ip", 2);
}

crate::on_both_backends!(
    per_ip_write_limit,
    global_write_limit,
    forwarded_for_counts_only_from_trusted_proxies,
    read_limit
);
