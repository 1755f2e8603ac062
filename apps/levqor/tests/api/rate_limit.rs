//! Rate limits: per client IP and global on writes, with every header of API.md on
//! the 429, and the same fields for the tightest limiter on every other answer.

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

/// The fields of a passed request: `policy` with `limit`, `remaining` left.
fn assert_standing(r: &Reply, policy: &str, limit: u32, remaining: u32) {
    assert_eq!(r.header("retry-after"), None, "only a 429 says when to retry");
    assert_eq!(r.header("ratelimit-policy").unwrap(), format!("\"{policy}\";q={limit};w=60"));
    let ratelimit = r.header("ratelimit").unwrap();
    let t: u64 = ratelimit
        .strip_prefix(&format!("\"{policy}\";r={remaining};t="))
        .unwrap_or_else(|| panic!("RateLimit {ratelimit:?} is not {policy} with {remaining} left"))
        .parse()
        .unwrap();
    assert!((1..=60).contains(&t), "RateLimit t={t}");
    assert_eq!(r.header("x-ratelimit-limit").unwrap(), limit.to_string());
    assert_eq!(r.header("x-ratelimit-remaining").unwrap(), remaining.to_string());
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset >= chrono::Utc::now().timestamp(), "X-RateLimit-Reset is a future epoch second");
}

async fn successful_reads_count_down(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.rate_read = 5).await else {
        return;
    };
    for remaining in [4, 3, 2] {
        let r = app.get("/health", None).await;
        assert_eq!(r.status, 200);
        assert_standing(&r, "read-per-ip", 5, remaining);
    }
    // Answers other than 2xx count and say so too.
    let r = app.get("/api/v1/me", None).await;
    r.assert_error(401, "unauthorized");
    assert_standing(&r, "read-per-ip", 5, 1);
    let r = app.get("/no/such/path", None).await;
    r.assert_error(404, "not_found");
    assert_standing(&r, "read-per-ip", 5, 0);
    assert_limited(&app.get("/health", None).await, "read-per-ip", 5);
}

async fn writes_report_the_tightest_limiter(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| {
        s.rate_burst = 3;
        s.rate_global = 5;
        s.trusted_proxies = levqor::http::client_ip::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await
    else {
        return;
    };
    // (client, the limiter with the fewest left, how many it has left): per-ip
    // while one client spends its own quota, global once all clients together
    // have spent more; a tie goes to the per-ip limiter, checked first.
    let steps = [
        ("198.51.100.1", "per-ip", 3, 2), // per-ip 2, global 4
        ("198.51.100.1", "per-ip", 3, 1), // per-ip 1, global 3
        ("198.51.100.2", "per-ip", 3, 2), // per-ip 2, global 2
        ("198.51.100.3", "global", 5, 1), // per-ip 2, global 1
        ("198.51.100.4", "global", 5, 0), // per-ip 2, global 0
    ];
    for (n, (ip, policy, limit, remaining)) in steps.into_iter().enumerate() {
        let r = upsert(&app, n, Some(ip)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_standing(&r, policy, limit, remaining);
    }
    assert_limited(&upsert(&app, 5, Some("198.51.100.5")).await, "global", 5);
    // Reads are limited apart from writes: the read limiter answers for them.
    let r = app.get("/api/v1/users?email=rl0@example.com", Some(ADMIN_KEY)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_standing(&r, "read-per-ip", 100_000, 99_999);
}

async fn every_write_answer_counts_and_says_so(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.rate_burst = 4).await else {
        return;
    };
    let r = upsert(&app, 0, None).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_standing(&r, "per-ip", 4, 3);
    // The same email again: 200, not 201.
    let r = upsert(&app, 0, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_standing(&r, "per-ip", 4, 2);
    let r = app.post("/api/v1/users/upsert", None, &json!({"email": "x@example.com"})).await;
    r.assert_error(401, "unauthorized");
    assert_standing(&r, "per-ip", 4, 1);
}

crate::on_both_backends!(
    successful_reads_count_down,
    writes_report_the_tightest_limiter,
    every_write_answer_counts_and_says_so,
    per_ip_write_limit,
    global_write_limit,
    forwarded_for_counts_only_from_trusted_proxies,
    read_limit
);
