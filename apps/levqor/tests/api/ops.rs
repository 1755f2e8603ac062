//! Analytics, `/metrics`, `/status` checks and the admin dashboard.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

const RAW: &str = "Secret.Person@example.com";
const RAW_IN_PROPS: &str = "other.person@example.org";
const RAW_ORIGINAL: &str = "original.shape@example.net";
const RAW_REFERRAL: &str = "referred.visitor@example.com";
const TOKEN: &str = "admin-token-0123456789abcdef-xyz";
const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef-x";

fn with_payments(s: &mut levqor::config::ServeSettings) {
    s.billing.stripe_secret_key = Some("sk_test_status".into());
    s.billing.stripe_webhook_secret = Some("whsec_status".into());
}

/// Runs one statement on the test database through a connection of our own.
fn exec(url: &str, sql: &str) {
    use diesel::{Connection, RunQueryDsl};
    if url.starts_with("postgres") {
        diesel::sql_query(sql).execute(&mut diesel::PgConnection::establish(url).unwrap()).unwrap();
    } else {
        let path = url.trim_start_matches("sqlite://");
        diesel::sql_query(sql).execute(&mut diesel::SqliteConnection::establish(path).unwrap()).unwrap();
    }
}

/// Everything the database holds that could carry an address: on SQLite the bytes
/// of the file and its WAL, on PostgreSQL every row of the tables written, as text.
fn stored_bytes(app: &TestApp) -> Vec<u8> {
    let url = app.db_url();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        return bytes;
    }
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        s: String,
    }
    let mut conn = diesel::PgConnection::establish(&url).unwrap();
    let mut out = Vec::new();
    for table in ["analytics_events", "referral_visits"] {
        let t: Text = diesel::sql_query(format!("SELECT coalesce(string_agg(t::text, ' '), '') AS s FROM {table} t"))
            .get_result(&mut conn)
            .unwrap();
        assert!(!t.s.is_empty(), "{table} has rows");
        out.extend(t.s.into_bytes());
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

async fn raw_emails_never_reach_the_database(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app
        .post(
            "/api/v1/events",
            None,
            &json!({"type": "signup", "email": RAW, "props": {"plan": "pro", "note": format!("cc {RAW_IN_PROPS}")}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/metrics/track",
            None,
            &json!({"type": "page_view", "payload": {"email": RAW_ORIGINAL, "path": "/pricing"}, "ref": "launch"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = app.post("/api/v1/referrals/track", None, &json!({"email": RAW_REFERRAL, "source": "newsletter"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = app.post("/api/v1/events", None, &json!({"type": "page_view", "props": [1]})).await;
    r.assert_error(400, "invalid_request");
    let r = app.post("/api/v1/events", None, &json!({"type": "x", "props": {"big": "y".repeat(5000)}})).await;
    r.assert_error(400, "invalid_request");

    let bytes = stored_bytes(&app);
    for raw in [RAW, RAW_IN_PROPS, RAW_ORIGINAL, RAW_REFERRAL] {
        assert!(!contains(&bytes, raw), "{raw} is stored in plain text");
    }
    assert!(contains(&bytes, "/pricing"), "the events were stored (the check looks at the right place)");

    let today = chrono::Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let day = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let query = format!("from={}&to={}", day(today), day(today + chrono::TimeDelta::days(1)));
    let s = app.get(&format!("/api/v1/metrics/summary?bucket=hour&{query}"), Some(ADMIN_KEY)).await;
    assert_eq!(s.status, 200, "{:?}", s.body);
    assert_eq!(s.body["totals"]["signup"], 1);
    assert_eq!(s.body["totals"]["page_view"], 1);
    assert_eq!(s.body["unique_visitors"], 2);
    assert_eq!(s.body["converted_visitors"], 1);
    assert_eq!(s.body["conversion_rate"], 0.5);
    assert_eq!(s.body["buckets"].as_array().unwrap().len(), 24);
    app.get("/api/v1/metrics/summary", None).await.assert_error(401, "unauthorized");
    let (_, user_key) = app.new_user("analyst@example.com").await;
    app.get("/api/v1/metrics/summary", Some(&user_key)).await.assert_error(403, "forbidden");
    app.get("/api/v1/metrics/summary?bucket=week", Some(ADMIN_KEY)).await.assert_error(400, "invalid_request");
    let a = app.get("/admin/analytics?bucket=day", Some(ADMIN_KEY)).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["bucket"], "day");
    assert_eq!(a.body["totals"]["signup"], 1, "the default range (7 days to now) holds today");
}

async fn metrics_are_prometheus_text(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.ops.metrics_token = Some(METRICS_TOKEN.into())).await else {
        return;
    };
    app.new_user("metered@example.com").await;
    assert_eq!(app.get("/health", None).await.status, 200);
    app.get("/metrics", None).await.assert_error(401, "unauthorized");
    let bad = app.send(app.client.get(app.url("/metrics")).bearer_auth("not-the-token")).await;
    assert_eq!(bad.status, 401);
    let by_admin = app.get("/metrics", Some(ADMIN_KEY)).await;
    assert_eq!(by_admin.status, 200);
    let res = app.client.get(app.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = res.text().await.unwrap();
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text");
    let find = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .find(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| s.value.clone())
    };
    match find("levqor_http_requests_total", Some(("route", "/health"))) {
        Some(prometheus_parse::Value::Counter(n)) => assert!(n >= 1.0),
        other => panic!("no request counter for /health: {other:?}\n{text}"),
    }
    assert!(
        matches!(find("levqor_http_request_duration_seconds", None), Some(prometheus_parse::Value::Histogram(_))),
        "latency is a histogram:\n{text}"
    );
    for state in ["queued", "running", "succeeded", "failed", "dead", "cancelled"] {
        assert!(find("levqor_queue_jobs", Some(("state", state))).is_some(), "queue depth for {state}");
    }
    for name in ["levqor_credits_granted_total", "levqor_credits_spent_total", "levqor_log_lines_dropped_total"] {
        assert!(find(name, None).is_some(), "{name} missing:\n{text}");
    }
    for outcome in ["sent", "failed"] {
        assert!(find("levqor_emails_total", Some(("outcome", outcome))).is_some(), "emails {outcome}");
    }
}

async fn status_turns_warn_and_fail_when_checks_break(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| {
        with_payments(s);
        s.workers = 0;
    })
    .await
    else {
        return;
    };
    let r = app.get("/status", None).await;
    assert_eq!(r.status, 200);
    for check in ["database", "queue", "scheduler", "email", "payments", "planner", "backup"] {
        assert_eq!(r.body["checks"][check]["status"], "pass", "{check}: {:?}", r.body);
    }
    assert_eq!(r.body["status"], "pass", "{:?}", r.body);
    assert!(!r.body.to_string().contains("sk_test_status"), "no secret in /status");

    // A due job nobody runs: waiting 10 minutes warns, 2 hours fails.
    let url = app.db_url();
    let job = |id: &str, minutes_ago: i64| {
        let at = (chrono::Utc::now() - chrono::TimeDelta::minutes(minutes_ago)).timestamp_micros();
        format!(
            "INSERT INTO jobs (id, owner, workflow, payload, state, priority, attempts, max_attempts, timeout_s, run_at, created_at, updated_at) \
             VALUES ('{id}', 'nobody', 'echo', '{{}}', 'queued', 1, 0, 3, 30, {at}, {at}, {at})"
        )
    };
    exec(&url, &job("0190a0a0-0000-7000-8000-000000000001", 10));
    let r = app.get("/status", None).await;
    assert_eq!(r.body["checks"]["queue"]["status"], "warn", "{:?}", r.body);
    assert_eq!(r.body["status"], "warn");
    exec(&url, &job("0190a0a0-0000-7000-8000-000000000002", 120));
    let r = app.get("/status", None).await;
    assert_eq!(r.body["checks"]["queue"]["status"], "fail", "{:?}", r.body);
    assert_eq!(r.body["status"], "fail");

    // Half a payments configuration fails; none warns.
    let Some(half) = TestApp::spawn(b, |s| s.billing.stripe_secret_key = Some("sk_test_half".into())).await else {
        return;
    };
    let r = half.get("/status", None).await;
    assert_eq!(r.body["checks"]["payments"]["status"], "fail", "{:?}", r.body);
    assert_eq!(r.body["status"], "fail");
    let Some(none) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    assert_eq!(none.get("/status", None).await.body["checks"]["payments"]["status"], "warn");
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn login(app: &TestApp, client: &reqwest::Client, token: &str) -> reqwest::Response {
    client.post(app.url("/admin/login")).form(&[("token", token)]).send().await.unwrap()
}

async fn dashboard_is_closed_without_a_token(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let client = no_redirects();
    assert_eq!(client.get(app.url("/admin/login")).send().await.unwrap().status(), 404);
    assert_eq!(login(&app, &client, "anything-at-all-0123456789").await.status(), 404);
    let r = client.get(app.url("/admin/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), 401, "closed, not a login redirect");
    let forged =
        client.get(app.url("/admin/dashboard")).header("Cookie", "levqor_admin=9999999999.abc").send().await.unwrap();
    assert_eq!(forged.status(), 401);
    // An admin API key still opens it.
    let r = client.get(app.url("/admin/dashboard")).header("X-Api-Key", ADMIN_KEY).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn dashboard_login_sets_a_strict_cookie_and_renders(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.ops.admin_token = Some(TOKEN.into())).await else {
        return;
    };
    app.post("/api/v1/events", None, &json!({"type": "page_view"})).await;
    let client = no_redirects();
    let r = client.get(app.url("/admin/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/login");
    let form = client.get(app.url("/admin/login")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("<form method=\"post\" action=\"/admin/login\">"));

    let wrong = login(&app, &client, "wrong-token-0123456789abcdefgh").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let ok = login(&app, &client, TOKEN).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/admin/dashboard");
    let set_cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = actix_web::cookie::Cookie::parse(set_cookie.clone()).unwrap();
    assert_eq!(cookie.name(), "levqor_admin");
    assert_eq!(cookie.http_only(), Some(true), "{set_cookie}");
    assert_eq!(cookie.secure(), Some(true), "{set_cookie}");
    assert_eq!(cookie.same_site(), Some(actix_web::cookie::SameSite::Strict), "{set_cookie}");
    assert_eq!(cookie.path(), Some("/admin"));
    assert!(!cookie.value().contains(TOKEN), "the cookie is not the token");

    let page = client
        .get(app.url("/admin/dashboard"))
        .header("Cookie", format!("levqor_admin={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    for needle in [
        "<svg",
        "Analytics events per day",
        "Jobs per day",
        "Credits granted per day",
        "Queue by state",
        "0 error reports · 0 support messages",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    for banned in ["<script", "style=", "<style", "http://", "https://"] {
        assert!(!html.contains(banned), "{banned} in the dashboard");
    }
    let css = client.get(app.url("/admin/assets/admin.css")).send().await.unwrap();
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    let analytics = client
        .get(app.url("/admin/analytics"))
        .header("Cookie", format!("levqor_admin={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(analytics.status(), 200);

    let (expires, _) = cookie.value().split_once('.').unwrap();
    let tampered = client
        .get(app.url("/admin/dashboard"))
        .header("Cookie", format!("levqor_admin={expires}.{}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 303, "a forged signature is no session");

    // Sign-in attempts are throttled per client: 5 a minute, 2 used above.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(login(&app, &client, "wrong-token-0123456789abcdefgh").await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

crate::on_both_backends!(
    raw_emails_never_reach_the_database,
    metrics_are_prometheus_text,
    status_turns_warn_and_fail_when_checks_break,
    dashboard_is_closed_without_a_token,
    dashboard_login_sets_a_strict_cookie_and_renders,
);
