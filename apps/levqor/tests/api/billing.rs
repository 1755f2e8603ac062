//! Credits and billing over HTTP: the free grant, packs, Stripe Checkout against a
//! fake Stripe on loopback, the signed webhook (exactly once per event and per
//! session), admin corrections and payments health.

use std::path::Path;

use chrono::Utc;
use levqor_billing::{WebhookSecret, signature_header};
use levqor_testkit::{FakeServer, Recorded, Reply as FakeReply};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, Reply, TestApp};

/// Stripe's own objects (stripe-mock's fixtures3.json), so that async-stripe reads
/// the fake's answers and the test events as it reads Stripe's.
const SESSION_FIXTURE: &str = include_str!("../fixtures/stripe_checkout_session.json");
const EVENT_FIXTURE: &str = include_str!("../fixtures/stripe_event.json");

const SECRET_KEY: &str = "sk_test_levqor_123";
const WEBHOOK_SECRET: &str = "whsec_test_levqor";

async fn balance(app: &TestApp, key: &str) -> i64 {
    let r = app.get("/api/v1/credits", Some(key)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["balance"].as_i64().unwrap()
}

/// A signed-able Stripe event around a real-shaped, paid checkout session.
pub(crate) fn event(event_id: &str, kind: &str, session_id: &str, user: &str, paid: bool) -> Value {
    let mut session: Value = serde_json::from_str(SESSION_FIXTURE).unwrap();
    session["id"] = json!(session_id);
    session["client_reference_id"] = json!(user);
    session["metadata"] = json!({"user_id": user, "pack_id": "pack_100", "credits": "100"});
    session["payment_status"] = json!(if paid { "paid" } else { "unpaid" });
    session["status"] = json!("complete");
    session["currency"] = json!("usd");
    session["amount_total"] = json!(900);
    let mut event: Value = serde_json::from_str(EVENT_FIXTURE).unwrap();
    event["id"] = json!(event_id);
    event["type"] = json!(kind);
    event["created"] = json!(Utc::now().timestamp());
    event["data"] = json!({"object": session});
    event
}

fn sign(payload: &[u8], secret: &str, at: i64) -> String {
    signature_header(&WebhookSecret::new(secret), at, payload)
}

/// A fake Stripe that answers `POST /v1/checkout/sessions` with the fixture
/// session carrying what was asked for (a fresh `cs_test_…` id, the form's mode,
/// user, email, URLs and metadata), as Stripe would, and 404 otherwise.
pub(crate) async fn fake_stripe() -> FakeServer {
    FakeServer::start(|req: &Recorded, _| {
        if req.method != "POST" || req.path_only() != "/v1/checkout/sessions" {
            let message = format!("Unrecognized request URL ({})", req.path);
            return FakeReply::json(404, json!({"error": {"type": "invalid_request_error", "message": message}}));
        }
        let form = req.form();
        let mut session: Value = serde_json::from_str(SESSION_FIXTURE).unwrap();
        let id = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
        let metadata: serde_json::Map<String, Value> = form
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("metadata[")?.strip_suffix(']')?.to_owned(), json!(v))))
            .collect();
        session["id"] = json!(id);
        session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
        for field in ["mode", "client_reference_id", "customer_email", "success_url", "cancel_url"] {
            session[field] = json!(form.get(field));
        }
        session["metadata"] = Value::Object(metadata);
        session["payment_status"] = json!("unpaid");
        session["status"] = json!("open");
        FakeReply::json(200, session)
    })
    .await
}

pub(crate) async fn deliver(app: &TestApp, event: &Value) -> Reply {
    let payload = event.to_string().into_bytes();
    let sig = sign(&payload, WEBHOOK_SECRET, Utc::now().timestamp());
    app.post_raw(
        "/billing/webhook",
        &[("Content-Type", "application/json; charset=utf-8"), ("Stripe-Signature", &sig)],
        payload,
    )
    .await
}

pub(crate) async fn stripe_app(b: Backend, fake: &FakeServer, data: Option<&Path>) -> Option<TestApp> {
    let base = fake.base();
    let data = data.map(Path::to_path_buf);
    TestApp::spawn(b, move |s| {
        s.billing.stripe_secret_key = Some(SECRET_KEY.into());
        s.billing.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
        s.billing.stripe_api_base = base;
        s.billing.public_url = Some("https://levqor.example/".into());
        if let Some(d) = data {
            s.store.data_dir = d;
        }
    })
    .await
}

async fn free_credits_exactly_once(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (id, key) = app.new_user("free@example.com").await;
    assert_eq!(balance(&app, &key).await, 50);
    for _ in 0..3 {
        let r = app.post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({"email": "free@example.com"})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let r = app.get("/api/v1/credits", Some(&key)).await;
    assert_eq!(r.body["balance"], 50);
    let entries = r.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["kind"], "free_grant");
    assert_eq!(entries[0]["amount"], 50);
    assert_eq!(entries[0]["balance_after"], 50);
    let me = app.get("/api/v1/me", Some(&key)).await;
    assert_eq!(me.body["credits"], 50, "{:?}", me.body);
    assert_eq!(me.body["id"], id.as_str());
    app.get("/api/v1/credits", Some(ADMIN_KEY)).await.assert_error(403, "forbidden");
    app.get("/api/v1/credits", None).await.assert_error(401, "unauthorized");
    app.get("/api/v1/credits?cursor=nope", Some(&key)).await.assert_error(400, "invalid_request");
}

async fn free_credits_follow_configuration(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.billing.free_credits = 7).await else {
        return;
    };
    let (_, key) = app.new_user("seven@example.com").await;
    assert_eq!(balance(&app, &key).await, 7);
}

async fn packs_are_public(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app.get("/api/v1/credits/packs", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({"packs": [{"id": "pack_100", "credits": 100, "price_minor": 900, "currency": "usd"}]}));
    let packs = levqor_billing::Packs::parse("small:10:150:gbp,big:1000:7900:usd:price_big1").unwrap();
    let Some(app) = TestApp::spawn(b, move |s| s.billing.packs = Some(packs)).await else {
        return;
    };
    let r = app.get("/api/v1/credits/packs", None).await;
    assert_eq!(r.body["packs"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["packs"][1]["id"], "big");
    assert!(!r.body.to_string().contains("price_big1"), "Stripe price ids are not shown");
}

async fn purchase_creates_a_checkout_session(b: Backend) {
    let fake = fake_stripe().await;
    let Some(app) = stripe_app(b, &fake, None).await else {
        return;
    };
    let (uid, key) = app.new_user("buyer@example.com").await;
    let send = |idem: &'static str| {
        let req = app
            .client
            .post(app.url("/api/v1/credits/purchase"))
            .header("X-Api-Key", &key)
            .header("Idempotency-Key", idem)
            .json(&json!({"pack_id": "pack_100"}));
        app.send(req)
    };
    let r = send("buy-1").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let sid = r.body["sessionId"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("cs_test_"), "{sid}");
    assert_eq!(r.body["url"], format!("https://checkout.stripe.com/c/pay/{sid}"));

    let sent = fake.requests();
    assert_eq!(sent.len(), 1);
    let req = &sent[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/v1/checkout/sessions"));
    assert_eq!(req.headers["authorization"], format!("Bearer {SECRET_KEY}"));
    assert!(req.headers["content-type"].starts_with("application/x-www-form-urlencoded"));
    assert!(req.headers["idempotency-key"].contains("buy-1"), "{:?}", req.headers);
    let form = req.form();
    let field = |name: &str| form.get(name).cloned().unwrap_or_else(|| panic!("no {name} in {form:?}"));
    assert_eq!(field("mode"), "payment");
    assert_eq!(field("client_reference_id"), uid);
    assert_eq!(field("customer_email"), "buyer@example.com");
    assert_eq!(field("line_items[0][price_data][currency]"), "usd");
    assert_eq!(field("line_items[0][price_data][unit_amount]"), "900");
    assert_eq!(field("line_items[0][quantity]"), "1");
    assert_eq!(field("metadata[user_id]"), uid);
    assert_eq!(field("metadata[pack_id]"), "pack_100");
    assert_eq!(field("metadata[credits]"), "100");
    assert_eq!(field("success_url"), "https://levqor.example/billing/success?session_id={CHECKOUT_SESSION_ID}");
    assert_eq!(field("cancel_url"), "https://levqor.example/billing/cancel");

    // The same Idempotency-Key replays the first answer without asking Stripe again.
    let again = send("buy-1").await;
    assert_eq!(again.body["sessionId"], sid.as_str());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(fake.requests().len(), 1);

    let r = app.post("/api/v1/credits/purchase", Some(&key), &json!({"pack_id": "pack_nope"})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "pack_id");
    app.post("/api/v1/credits/purchase", Some(ADMIN_KEY), &json!({"pack_id": "pack_100"}))
        .await
        .assert_error(403, "forbidden");
    app.post("/api/v1/credits/purchase", None, &json!({"pack_id": "pack_100"})).await.assert_error(401, "unauthorized");
    let r = app.post("/api/v1/credits/purchase", Some(&key), &json!({"pack": "pack_100"})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(fake.requests().len(), 1, "refused requests never reach Stripe");

    // The original's form.
    let r = app.post("/billing/create-checkout-session", Some(&key), &json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["sessionId"].as_str().unwrap().starts_with("cs_"));
    let r = app
        .post(
            "/billing/create-checkout-session",
            Some(&key),
            &json!({"price_id": "pack_100", "email": "Other@Example.com", "user_id": uid}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.form().get("customer_email").map(String::as_str), Some("other@example.com"));
    assert_eq!(last.form().get("client_reference_id"), Some(&uid));
    let (other, _) = app.new_user("other@example.com").await;
    app.post("/billing/create-checkout-session", Some(&key), &json!({"user_id": other}))
        .await
        .assert_error(403, "forbidden");
    let r = app.post("/billing/create-checkout-session", Some(&key), &json!({"price_id": "price_nope"})).await;
    assert_eq!(r.problem_field(), "price_id", "{:?}", r.body);
}

async fn stripe_failures_are_502(b: Backend) {
    // Stripe refuses the first purchase; then something other than Stripe (a
    // proxy's error page) answers the second.
    let stripe = FakeServer::sequence(vec![
        FakeReply::json(
            400,
            json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****_123"}}),
        ),
        FakeReply::new(502, "text/html", "<html>bad gateway</html>"),
    ])
    .await;
    let Some(app) = stripe_app(b, &stripe, None).await else {
        return;
    };
    let (_, key) = app.new_user("declined@example.com").await;
    let r = app.post("/api/v1/credits/purchase", Some(&key), &json!({"pack_id": "pack_100"})).await;
    r.assert_error(502, "upstream_error");
    assert!(r.body["message"].as_str().unwrap().contains("Stripe refused"), "{:?}", r.body);
    assert!(!r.body.to_string().contains("sk_test"), "{:?}", r.body);
    let r = app.post("/api/v1/credits/purchase", Some(&key), &json!({"pack_id": "pack_100"})).await;
    r.assert_error(502, "upstream_error");
    assert!(r.body["message"].as_str().unwrap().contains("could not read"), "{:?}", r.body);
    assert!(!r.body.to_string().contains("html"), "{:?}", r.body);
    assert_eq!(stripe.count(), 2, "each purchase asked Stripe once");
    // Nothing listens here: Stripe cannot be reached.
    let Some(app) = TestApp::spawn(b, |s| {
        s.billing.stripe_secret_key = Some(SECRET_KEY.into());
        s.billing.stripe_api_base = "http://127.0.0.1:9".into();
    })
    .await
    else {
        return;
    };
    let (_, key) = app.new_user("unreachable@example.com").await;
    let r = app.post("/api/v1/credits/purchase", Some(&key), &json!({"pack_id": "pack_100"})).await;
    r.assert_error(502, "upstream_error");
    assert!(r.body["message"].as_str().unwrap().contains("could not be reached"), "{:?}", r.body);
}

async fn unconfigured_payments_are_503(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (uid, key) = app.new_user("nopay@example.com").await;
    let r = app.post("/api/v1/credits/purchase", Some(&key), &json!({"pack_id": "pack_100"})).await;
    r.assert_error(503, "unavailable");
    assert!(r.body["message"].as_str().unwrap().contains("STRIPE_SECRET_KEY"));
    let e = event("evt_nosecret", "checkout.session.completed", "cs_test_nosecret", &uid, true);
    let r = deliver(&app, &e).await;
    r.assert_error(503, "unavailable");
    assert!(r.body["message"].as_str().unwrap().contains("STRIPE_WEBHOOK_SECRET"));
    assert_eq!(balance(&app, &key).await, 50);
    let h = app.get("/billing/health", None).await;
    assert_eq!(h.status, 503, "{:?}", h.body);
    assert_eq!(h.body["configured"], false);
    assert_eq!(h.body["missing"], json!(["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"]));

    let fake = fake_stripe().await;
    let Some(app) = stripe_app(b, &fake, None).await else {
        return;
    };
    let h = app.get("/billing/health", None).await;
    assert_eq!(h.status, 200, "{:?}", h.body);
    assert_eq!(h.body["configured"], true);
    assert!(!h.body.to_string().contains(SECRET_KEY) && !h.body.to_string().contains(WEBHOOK_SECRET));
}

async fn webhook_grants_once_per_event_and_session(b: Backend) {
    let fake = fake_stripe().await;
    let Some(app) = stripe_app(b, &fake, None).await else {
        return;
    };
    let (uid, key) = app.new_user("paid@example.com").await;
    let completed = event("evt_paid_1", "checkout.session.completed", "cs_test_paid_1", &uid, true);
    let first = deliver(&app, &completed).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["outcome"], "granted");
    assert_eq!(first.body["credits"], 100);
    for _ in 0..9 {
        let r = deliver(&app, &completed).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["outcome"], "already_granted");
    }
    assert_eq!(balance(&app, &key).await, 150);
    // Another event about the same session grants nothing.
    let mut second = completed.clone();
    second["id"] = json!("evt_paid_2");
    let r = deliver(&app, &second).await;
    assert_eq!((r.status, r.body["outcome"].as_str()), (200, Some("already_granted")), "{:?}", r.body);
    let mut late = completed.clone();
    late["id"] = json!("evt_paid_3");
    late["type"] = json!("checkout.session.async_payment_succeeded");
    assert_eq!(deliver(&app, &late).await.body["outcome"], "already_granted");
    assert_eq!(balance(&app, &key).await, 150);
    let r = app.get("/api/v1/credits", Some(&key)).await;
    let purchase = &r.body["entries"][0];
    assert_eq!(purchase["kind"], "purchase");
    assert_eq!(purchase["amount"], 100);
    assert_eq!(purchase["reference"], "cs_test_paid_1");
    // Unknown events are acknowledged and ignored.
    let other: Value = serde_json::from_str(EVENT_FIXTURE).unwrap();
    let mut other = other;
    other["created"] = json!(Utc::now().timestamp());
    let r = deliver(&app, &other).await;
    assert_eq!((r.status, r.body["outcome"].as_str()), (200, Some("ignored")), "{:?}", r.body);
    assert_eq!(balance(&app, &key).await, 150);
}

async fn webhook_grants_nothing_when_the_amount_is_not_the_packs(b: Backend) {
    let fake = fake_stripe().await;
    let Some(app) = stripe_app(b, &fake, None).await else {
        return;
    };
    let (uid, key) = app.new_user("cheap@example.com").await;
    for (n, (amount, currency)) in
        [(json!(1), json!("usd")), (json!(900), json!("jpy")), (Value::Null, json!("usd"))].into_iter().enumerate()
    {
        let mut cheap =
            event(&format!("evt_cheap_{n}"), "checkout.session.completed", &format!("cs_cheap_{n}"), &uid, true);
        cheap["data"]["object"]["amount_total"] = amount;
        cheap["data"]["object"]["currency"] = currency;
        let r = deliver(&app, &cheap).await;
        assert_eq!((r.status, r.body["outcome"].as_str()), (200, Some("amount_mismatch")), "{:?}", r.body);
    }
    assert_eq!(balance(&app, &key).await, 50, "only the free credits");
    let paid = event("evt_full", "checkout.session.completed", "cs_full", &uid, true);
    assert_eq!(deliver(&app, &paid).await.body["outcome"], "granted");
    assert_eq!(balance(&app, &key).await, 150);
}

async fn webhook_events_out_of_order(b: Backend) {
    let fake = fake_stripe().await;
    let Some(app) = stripe_app(b, &fake, None).await else {
        return;
    };
    let (uid, key) = app.new_user("async@example.com").await;
    // The async success arrives before the completion.
    let early = event("evt_ooo_1", "checkout.session.async_payment_succeeded", "cs_test_ooo_1", &uid, true);
    assert_eq!(deliver(&app, &early).await.body["outcome"], "granted");
    let completed = event("evt_ooo_2", "checkout.session.completed", "cs_test_ooo_1", &uid, true);
    assert_eq!(deliver(&app, &completed).await.body["outcome"], "already_granted");
    assert_eq!(balance(&app, &key).await, 150);
    // A completion still waiting for the money grants nothing; the async success does.
    let waiting = event("evt_ooo_3", "checkout.session.completed", "cs_test_ooo_2", &uid, false);
    let r = deliver(&app, &waiting).await;
    assert_eq!((r.status, r.body["outcome"].as_str()), (200, Some("ignored")), "{:?}", r.body);
    assert_eq!(balance(&app, &key).await, 150);
    let paid = event("evt_ooo_4", "checkout.session.async_payment_succeeded", "cs_test_ooo_2", &uid, true);
    assert_eq!(deliver(&app, &paid).await.body["outcome"], "granted");
    assert_eq!(deliver(&app, &waiting).await.body["outcome"], "ignored");
    assert_eq!(balance(&app, &key).await, 250);
}

/// What is wrong, the extra headers, the body.
type BadDelivery = (&'static str, Vec<(&'static str, String)>, Vec<u8>);

async fn webhook_refuses_bad_deliveries(b: Backend) {
    let fake = fake_stripe().await;
    let Some(app) = stripe_app(b, &fake, None).await else {
        return;
    };
    let (uid, key) = app.new_user("forged@example.com").await;
    let payload =
        event("evt_bad_1", "checkout.session.completed", "cs_test_bad_1", &uid, true).to_string().into_bytes();
    // Signed, but the session lacks a field async-stripe requires: refused, so that
    // Stripe redelivers a purchase rather than Levqor dropping it.
    let mut broken = event("evt_bad_2", "checkout.session.completed", "cs_test_bad_2", &uid, true);
    broken["data"]["object"].as_object_mut().unwrap().remove("payment_status");
    let unreadable = broken.to_string().into_bytes();
    let now = Utc::now().timestamp();
    let json_ct = ("Content-Type", "application/json");
    let cases: Vec<BadDelivery> = vec![
        ("bad signature", vec![("Stripe-Signature", sign(&payload, "whsec_someone_else", now))], payload.clone()),
        ("stale timestamp", vec![("Stripe-Signature", sign(&payload, WEBHOOK_SECRET, now - 301))], payload.clone()),
        ("future timestamp", vec![("Stripe-Signature", sign(&payload, WEBHOOK_SECRET, now + 600))], payload.clone()),
        ("missing header", vec![], payload.clone()),
        ("garbage header", vec![("Stripe-Signature", "nonsense".to_owned())], payload.clone()),
        ("tampered body", vec![("Stripe-Signature", sign(&payload, WEBHOOK_SECRET, now))], {
            let mut p = payload.clone();
            let at = p.len() - 2;
            p[at] = b' ';
            p
        }),
        ("malformed body", vec![("Stripe-Signature", sign(b"{not json", WEBHOOK_SECRET, now))], b"{not json".to_vec()),
        ("not an event", vec![("Stripe-Signature", sign(b"{\"a\":1}", WEBHOOK_SECRET, now))], b"{\"a\":1}".to_vec()),
        ("unreadable session", vec![("Stripe-Signature", sign(&unreadable, WEBHOOK_SECRET, now))], unreadable.clone()),
    ];
    for (what, headers, body) in cases {
        let mut all: Vec<(&str, &str)> = vec![json_ct];
        all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let r = app.post_raw("/billing/webhook", &all, body).await;
        assert_eq!(r.status, 400, "{what}: {:?}", r.body);
        r.assert_error(400, "invalid_request");
    }
    let sig = sign(&payload, WEBHOOK_SECRET, now);
    let r =
        app.post_raw("/billing/webhook", &[("Content-Type", "text/plain"), ("Stripe-Signature", &sig)], payload).await;
    r.assert_error(415, "unsupported_media_type");
    assert_eq!(balance(&app, &key).await, 50, "nothing was granted");
}

async fn failed_async_payment_emails_the_buyer(b: Backend) {
    let fake = fake_stripe().await;
    let data = tempfile::tempdir().unwrap();
    let Some(app) = stripe_app(b, &fake, Some(data.path())).await else {
        return;
    };
    let (uid, key) = app.new_user("unlucky@example.com").await;
    let failed = event("evt_fail_1", "checkout.session.async_payment_failed", "cs_test_fail_1", &uid, false);
    let r = deliver(&app, &failed).await;
    assert_eq!((r.status, r.body["outcome"].as_str()), (200, Some("notified")), "{:?}", r.body);
    assert_eq!(deliver(&app, &failed).await.body["outcome"], "already_notified");
    // The notice is a queued `email.send` job; without SMTP settings it lands in
    // the outbox folder (next to the welcome mail), once.
    let subject = "Your Levqor credit purchase did not go through";
    let mail = crate::notifications::outbox_mail(data.path(), subject).await;
    assert!(mail.contains("To: unlucky@example.com"), "{mail}");
    assert!(mail.contains("From: "), "{mail}");
    assert!(mail.contains("Date: "), "{mail}");
    assert!(mail.contains("cs_test_fail_1"), "{mail}");
    let notices = crate::notifications::outbox_subjects(data.path()).iter().filter(|s| *s == subject).count();
    assert_eq!(notices, 1, "a redelivered event queues no second notice");
    assert_eq!(balance(&app, &key).await, 50);
}

async fn admin_adds_credits(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (uid, key) = app.new_user("topup@example.com").await;
    let r = app
        .post("/api/v1/credits/add", Some(ADMIN_KEY), &json!({"user_id": uid, "credits": 25, "reason": "goodwill"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["credits_added"], 25);
    assert_eq!(r.body["new_balance"], 75);
    assert_eq!(r.body["entry"]["kind"], "admin_adjustment");
    assert_eq!(app.get("/api/v1/me", Some(&key)).await.body["credits"], 75);
    app.post("/api/v1/credits/add", Some(ADMIN_KEY), &json!({"user_id": uid, "credits": -76, "reason": "too much"}))
        .await
        .assert_error(402, "insufficient_credits");
    let r = app
        .post("/api/v1/credits/add", Some(ADMIN_KEY), &json!({"user_id": uid, "credits": -75, "reason": "reset"}))
        .await;
    assert_eq!(r.body["new_balance"], 0, "{:?}", r.body);
    app.post("/api/v1/credits/add", Some(&key), &json!({"user_id": uid, "credits": 1000, "reason": "me"}))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(balance(&app, &key).await, 0);
    let nobody = "01a2190a-0000-7000-8000-000000000000";
    app.post("/api/v1/credits/add", Some(ADMIN_KEY), &json!({"user_id": nobody, "credits": 5, "reason": "x"}))
        .await
        .assert_error(404, "not_found");
    let r =
        app.post("/api/v1/credits/add", Some(ADMIN_KEY), &json!({"user_id": uid, "credits": 0, "reason": "x"})).await;
    assert_eq!(r.problem_field(), "credits", "{:?}", r.body);
    let r =
        app.post("/api/v1/credits/add", Some(ADMIN_KEY), &json!({"user_id": uid, "credits": 5, "reason": " "})).await;
    assert_eq!(r.problem_field(), "reason", "{:?}", r.body);
    let r =
        app.post("/api/v1/credits/add", Some(ADMIN_KEY), &json!({"user_id": uid, "credits": "5", "reason": "x"})).await;
    assert_eq!(r.problem_field(), "credits", "{:?}", r.body);
}

async fn statement_is_paginated(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (uid, key) = app.new_user("pages@example.com").await;
    for n in 1..=3 {
        let r = app
            .post(
                "/api/v1/credits/add",
                Some(ADMIN_KEY),
                &json!({"user_id": uid, "credits": n, "reason": format!("n{n}")}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/credits?limit=2".to_owned();
    loop {
        let r = app.get(&path, Some(&key)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["balance"], 56);
        for e in r.body["entries"].as_array().unwrap() {
            seen.push(e["reason"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/credits?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["n3", "n2", "n1", "free tier"]);
}

crate::on_both_backends!(
    free_credits_exactly_once,
    free_credits_follow_configuration,
    packs_are_public,
    purchase_creates_a_checkout_session,
    stripe_failures_are_502,
    unconfigured_payments_are_503,
    webhook_grants_once_per_event_and_session,
    webhook_grants_nothing_when_the_amount_is_not_the_packs,
    webhook_events_out_of_order,
    webhook_refuses_bad_deliveries,
    failed_async_payment_emails_the_buyer,
    admin_adds_credits,
    statement_is_paginated,
);
