//! Mail, error reports and the support inbox over HTTP: a real server whose
//! `email.send` jobs deliver to the testkit's fake SMTP relay (or the outbox
//! folder), and a fake Sentry on loopback.

use std::path::Path;
use std::time::Duration;

use levqor_jobs::{Job, JobFilter, JobQueue, JobState};
use levqor_notifications::system_owner;
use levqor_testkit::smtp::{FakeSmtp, ReceivedMail};
use levqor_testkit::{FakeServer, Reply};
use mail_parser::MessageParser;
use serde_json::{Value, json};

use crate::billing::{deliver, event, fake_stripe, stripe_app};
use crate::helpers::{Backend, TestApp};

const RECEIVING: &str = "Levqor Support <support@levqor.example>";

/// Polls `check` every 50 ms for up to 30 s; the last result.
async fn eventually<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..600 {
        if let Some(found) = check() {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

/// The subjects of the `.eml` files in the outbox.
pub fn outbox_subjects(data: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data.join("outbox")) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| MessageParser::default().parse(&bytes).and_then(|m| m.subject().map(str::to_owned)))
        .collect()
}

/// Waits for the outbox mail with `subject` (a job writes it) and returns its text.
pub async fn outbox_mail(data: &Path, subject: &str) -> String {
    let found = eventually(|| {
        let entries = std::fs::read_dir(data.join("outbox")).ok()?;
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read(e.path()).ok())
            .find(|bytes| MessageParser::default().parse(bytes).is_some_and(|m| m.subject() == Some(subject)))
    })
    .await;
    String::from_utf8(found.unwrap_or_else(|| panic!("no outbox mail `{subject}`; have {:?}", outbox_subjects(data))))
        .unwrap()
}

async fn mail_to(smtp: &FakeSmtp, to: &str) -> ReceivedMail {
    eventually(|| smtp.mails().into_iter().find(|m| m.to.iter().any(|t| t == to)))
        .await
        .unwrap_or_else(|| panic!("no mail to {to}; got {:#?}", smtp.mails()))
}

fn mail_jobs(app: &TestApp) -> Vec<Job> {
    let filter = JobFilter { state: None, workflow: Some("email.send".into()) };
    app.db().store.list(&system_owner(), &filter, None, 100).unwrap().items
}

async fn smtp_app(b: Backend, smtp: &FakeSmtp) -> Option<TestApp> {
    let url = format!("smtp://levqor:relay-pass@{}", smtp.addr);
    TestApp::spawn(b, move |s| {
        s.notify.smtp_url = Some(url);
        s.notify.receiving_email = Some(RECEIVING.into());
        s.billing.public_url = Some("https://levqor.example".into());
    })
    .await
}

async fn welcome_mail_reaches_the_relay(b: Backend) {
    let smtp = FakeSmtp::start().await;
    let Some(app) = smtp_app(b, &smtp).await else { return };
    app.new_user("ada@example.com").await;
    let mail = mail_to(&smtp, "ada@example.com").await;
    assert_eq!(mail.auth, Some(("levqor".to_owned(), "relay-pass".to_owned())));
    assert_eq!(mail.from, "no-reply@levqor.invalid");
    let message = MessageParser::default().parse(mail.data.as_bytes()).expect("a parseable message");
    assert_eq!(message.subject(), Some("Welcome to Levqor"));
    assert!(message.message_id().is_some_and(|id| id.ends_with("@levqor.invalid")));
    assert_eq!(mail.header("Auto-Submitted").as_deref(), Some("auto-generated"));
    let text = message.body_text(0).unwrap();
    let html = message.body_html(0).unwrap();
    assert!(text.contains("ada@example.com") && text.contains("50 free credits"), "{text}");
    assert!(html.contains("<strong>ada@example.com</strong>"), "{html}");
    assert!(html.contains("href=\"https://levqor.example\""), "{html}");
    // A second upsert of the same user is not a sign-up.
    let again =
        app.post("/api/v1/users/upsert", Some(crate::helpers::ADMIN_KEY), &json!({"email": "ada@example.com"})).await;
    assert_eq!(again.status, 200);
    assert_eq!(mail_jobs(&app).len(), 1, "one welcome mail");
    // Mail jobs are Levqor's own: nobody can submit one.
    let (_, key) = app.new_user("mallory@example.com").await;
    let r = app
        .post(
            "/api/v1/intake",
            Some(&key),
            &json!({"workflow": "email.send", "payload": {"mail": {"to": "x@example.com"}}}),
        )
        .await;
    r.assert_error(400, "invalid_request");
}

async fn support_message_is_stored_then_forwarded(b: Backend) {
    let smtp = FakeSmtp::start().await;
    let Some(app) = smtp_app(b, &smtp).await else { return };
    let body = json!({
        "email": "Grace@Example.com",
        "message": "<img src=x onerror=alert(1)>\nMy run & my money",
        "subject": "Refund <now>",
        "url": "https://levqor.example/pricing",
    });
    let r = app.post("/api/v1/support/message", None, &body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["ok"], true);
    let id = r.body["id"].as_str().unwrap().to_owned();

    let path = app.data_dir().join("support.jsonl");
    let stored: Vec<Value> =
        std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["id"], id.as_str());
    assert_eq!(stored[0]["email"], "grace@example.com");
    assert_eq!(stored[0]["message"], "<img src=x onerror=alert(1)>\nMy run & my money");
    assert!(stored[0]["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let mail = mail_to(&smtp, "support@levqor.example").await;
    let message = MessageParser::default().parse(mail.data.as_bytes()).unwrap();
    assert_eq!(message.subject(), Some("[Levqor support] Refund <now>"));
    assert_eq!(message.reply_to().unwrap().first().unwrap().address(), Some("grace@example.com"));
    assert_eq!((message.text_body.len(), message.html_body.len()), (1, 1));
    let text = message.body_text(0).unwrap().replace("\r\n", "\n");
    let html = message.body_html(0).unwrap();
    assert!(text.contains("<img src=x onerror=alert(1)>\nMy run & my money"), "{text}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(html.contains("&#60;img src=x onerror=alert(1)&#62;"), "{html}");
    assert!(html.contains(&id), "{html}");

    let health = app.get("/api/v1/support/health", None).await;
    assert_eq!(health.status, 200);
    assert_eq!((health.body["today"].as_u64(), health.body["email"].as_bool()), (Some(1), Some(true)));
    assert!(!health.body.to_string().contains("support@levqor.example"), "the address is not shown");
}

/// The relay is down: the support message is stored and answered 201 at once,
/// the welcome and the forward are retried, and both arrive once it is back.
async fn a_relay_outage_delays_mail_but_loses_none(b: Backend) {
    let smtp = FakeSmtp::start().await;
    smtp.set_down(true);
    let Some(app) = smtp_app(b, &smtp).await else { return };
    app.new_user("outage@example.com").await;
    let r =
        app.post("/api/v1/support/message", None, &json!({"email": "outage@example.com", "message": "hello?"})).await;
    assert_eq!(r.status, 201, "a mail failure does not fail the request: {:?}", r.body);
    assert_eq!(app.get("/api/v1/support/health", None).await.body["today"], 1);
    let failed = eventually(|| {
        let jobs = mail_jobs(&app);
        (jobs.len() == 2 && jobs.iter().all(|j| j.attempts >= 1 && j.state == JobState::Failed)).then_some(jobs)
    })
    .await;
    assert!(failed.is_some(), "both mails were tried and wait for a retry: {:?}", mail_jobs(&app));
    assert!(smtp.mails().is_empty());

    smtp.set_down(false);
    mail_to(&smtp, "outage@example.com").await;
    mail_to(&smtp, "support@levqor.example").await;
    let done = eventually(|| mail_jobs(&app).iter().all(|j| j.state == JobState::Succeeded).then_some(())).await;
    assert!(done.is_some(), "{:?}", mail_jobs(&app));
    assert_eq!(smtp.mails().len(), 2, "each mail once");
}

async fn the_outbox_default_keeps_parseable_mail(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    app.new_user("outbox@example.com").await;
    let text = outbox_mail(app.data_dir(), "Welcome to Levqor").await;
    let message = MessageParser::default().parse(text.as_bytes()).expect("a parseable .eml");
    assert_eq!(message.to().unwrap().first().unwrap().address(), Some("outbox@example.com"));
    assert!(message.body_html(0).is_some() && message.body_text(0).is_some());
}

async fn a_granted_purchase_sends_a_receipt(b: Backend) {
    let fake = fake_stripe().await;
    let data = tempfile::tempdir().unwrap();
    let Some(app) = stripe_app(b, &fake, Some(data.path())).await else { return };
    let (uid, _) = app.new_user("buyer@example.com").await;
    let paid = event("evt_receipt_1", "checkout.session.completed", "cs_test_receipt_1", &uid, true);
    assert_eq!(deliver(&app, &paid).await.body["outcome"], "granted");
    assert_eq!(deliver(&app, &paid).await.body["outcome"], "already_granted");
    let text = outbox_mail(data.path(), "Your Levqor receipt: 100 credits added").await;
    let message = MessageParser::default().parse(text.as_bytes()).unwrap();
    let body = message.body_text(0).unwrap();
    assert!(body.contains("USD 9.00") && body.contains("150 credits") && body.contains("cs_test_receipt_1"), "{body}");
    let receipts = outbox_subjects(data.path()).iter().filter(|s| s.contains("receipt")).count();
    assert_eq!(receipts, 1);
}

/// A fake Sentry gets an envelope for a report and for the server's own panic;
/// the report is in `errors.jsonl` whatever Sentry does.
async fn reports_and_panics_reach_sentry(b: Backend) {
    let sentry = FakeServer::always(Reply::json(200, json!({"id": "ok"}))).await;
    let dsn = format!("http://sentrykey@{}/7", sentry.addr);
    let Some(app) = TestApp::spawn(b, move |s| s.notify.sentry_dsn = Some(dsn)).await else { return };
    let report = json!({
        "message": "ReferenceError: foo is not defined",
        "level": "error",
        "stack": "at main (app.js:10:5)",
        "url": "https://levqor.example/app",
        "userAgent": "Mozilla/5.0",
        "release": "web@1.2.3",
        "user": {"id": "u1"},
        "extra": {"route": "/app"},
    });
    let r = app.post("/api/v1/errors/report", None, &report).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().replace('-', "");
    let panic = app.get("/test/panic", None).await;
    panic.assert_error(500, "internal_error");

    let requests = eventually(|| (sentry.count() >= 2).then(|| sentry.requests())).await.expect("two envelopes");
    let mut events = Vec::new();
    for request in &requests {
        assert_eq!(request.path_only(), "/api/7/envelope/");
        assert!(request.header("x-sentry-auth").is_some_and(|a| a.contains("sentry_key=sentrykey")));
        let text = String::from_utf8(request.body.clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(lines.len() >= 3, "envelope header, item header, payload: {text}");
        for pair in lines[1..].chunks(2) {
            if pair[0]["type"] == "event" {
                events.push(pair[1].clone());
            }
        }
    }
    let reported = events.iter().find(|e| e["tags"]["source"] == "client").expect("the report's event");
    assert_eq!(reported["event_id"], id.as_str(), "the Sentry event is the stored record");
    assert_eq!(reported["message"], "ReferenceError: foo is not defined");
    assert_eq!(reported["release"], "web@1.2.3");
    let panicked = events.iter().find(|e| e["tags"]["source"] == "server").expect("the panic's event");
    assert_eq!(panicked["level"], "fatal");
    assert_eq!(panicked["exception"]["values"][0]["value"], "deliberate test panic");
    assert_eq!(panicked["tags"]["request_id"], panic.body["request_id"]);

    let stored = std::fs::read_to_string(app.data_dir().join("errors.jsonl")).unwrap();
    assert_eq!(stored.lines().count(), 1);
    assert!(stored.contains("ReferenceError"));
    let health = app.get("/api/v1/errors/health", None).await;
    assert_eq!((health.body["collector"].as_str(), health.body["today"].as_u64()), (Some("jsonl+sentry"), Some(1)));
}

/// Sentry unreachable: the report is still stored and answered 201.
async fn an_unreachable_sentry_loses_no_report(b: Backend) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dsn = format!("http://k@{closed}/1");
    let Some(app) = TestApp::spawn(b, move |s| s.notify.sentry_dsn = Some(dsn)).await else { return };
    let r = app.post("/api/v1/errors/report", None, &json!({"message": "boom", "level": "fatal"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(app.get("/api/v1/errors/health", None).await.body["today"], 1);
}

async fn inbox_fields_limits_and_throttles(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| {
        s.rate_burst = 1;
        s.notify.errors_rate = 3;
        s.notify.support_rate = 2;
    })
    .await
    else {
        return;
    };
    // Each route has its own per-IP throttle, not the general one (RATE_BURST = 1).
    for _ in 0..3 {
        let r = app.post("/api/v1/errors/report", None, &json!({"message": "m", "level": "warn"})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let limited = app.post("/api/v1/errors/report", None, &json!({"message": "m"})).await;
    limited.assert_error(429, "rate_limited");
    assert!(limited.header("ratelimit-policy").is_some_and(|p| p.starts_with("\"errors-per-ip\";q=3")));

    let long = "x".repeat(5001);
    let r = app.post("/api/v1/support/message", None, &json!({"email": "a@example.com", "message": long})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "message");
    let ok = "x".repeat(5000);
    let r = app.post("/api/v1/support/message", None, &json!({"email": "a@example.com", "message": ok})).await;
    assert_eq!(r.status, 201, "exactly 5000 characters are fine: {:?}", r.body);
    app.post("/api/v1/support/message", None, &json!({"email": "a@example.com", "message": "m", "x": 1}))
        .await
        .assert_error(429, "rate_limited");
    assert_eq!(app.get("/api/v1/support/health", None).await.body["today"], 1, "refused messages are not stored");
}

async fn inbox_validation(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else { return };
    let r = app.post("/api/v1/errors/report", None, &json!({"message": "m", "level": "loud"})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "level");
    app.post("/api/v1/errors/report", None, &json!({"level": "error"})).await.assert_error(400, "invalid_request");
    app.post("/api/v1/errors/report", None, &json!({"message": "m", "surprise": 1}))
        .await
        .assert_error(400, "invalid_request");
    let r = app.post("/api/v1/support/message", None, &json!({"email": "not-an-email", "message": "m"})).await;
    assert_eq!(r.problem_field(), "email");
    let r = app.post_raw("/api/v1/support/message", &[("Content-Type", "text/plain")], b"hi".to_vec()).await;
    r.assert_error(415, "unsupported_media_type");
    let health = app.get("/api/v1/errors/health", None).await;
    assert_eq!(health.body["collector"], "jsonl");
    assert_eq!(health.body["today"], 0);
}

crate::on_both_backends!(
    welcome_mail_reaches_the_relay,
    support_message_is_stored_then_forwarded,
    a_relay_outage_delays_mail_but_loses_none,
    the_outbox_default_keeps_parseable_mail,
    a_granted_purchase_sends_a_receipt,
    reports_and_panics_reach_sentry,
    an_unreachable_sentry_loses_no_report,
    inbox_fields_limits_and_throttles,
    inbox_validation,
);
