//! Mail leaving Levqor for real: the lettre SMTP client against the testkit's
//! fake relay on loopback, the outbox folder, the `email.send` workflow on a job
//! queue while the relay is down and back, and Sentry envelopes to a fake Sentry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use levqor_core::{Clock, SystemClock};
use levqor_jobs::{
    Jitter, JobContext, JobQueue, JobState, MemoryQueue, RetryPolicy, Shutdown, WorkerConfig, WorkerPool, Workflow,
    WorkflowRegistry,
};
use levqor_notifications::templates::{SupportForward, Welcome};
use levqor_notifications::{
    Brand, EmailContent, EmailSend, ErrorReport, Mail, NewErrorReport, Notifier, SentryForwarder, ServerError,
    Transport, TransportConfig, system_owner,
};
use levqor_testkit::smtp::FakeSmtp;
use levqor_testkit::{FakeServer, Reply};
use mail_parser::{MessageParser, MimeHeaders};

const FROM: &str = "Levqor <no-reply@levqor.example>";

fn brand() -> Brand {
    Brand::new("https://levqor.example")
}

fn support_mail() -> Mail {
    let forward = SupportForward {
        id: "sup-1".into(),
        email: "ada@example.com".into(),
        subject: Some("Invoice <question>".into()),
        message: "<script>alert('x')</script>\nThanks & bye".into(),
        url: Some("https://levqor.example/pricing".into()),
        received_at: "2030-01-01T00:00:00+00:00".into(),
    };
    let (text, html) = forward.render(&brand()).unwrap();
    Mail::new("ops@levqor.example", &forward.subject(&brand()), text, html).with_reply_to("ada@example.com")
}

#[tokio::test]
async fn smtp_delivers_a_multipart_mail_with_auth_and_escaped_html() {
    let smtp = FakeSmtp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("smtp://levqor:s%40cret@{}", smtp.addr);
    let transport = Transport::build(&TransportConfig::Smtp { url }, FROM, dir.path()).unwrap();
    transport.send("job-1", &support_mail()).await.unwrap();

    let got = smtp.only();
    assert_eq!(got.auth, Some(("levqor".to_owned(), "s@cret".to_owned())));
    assert_eq!(got.from, "no-reply@levqor.example");
    assert_eq!(got.to, ["ops@levqor.example"]);
    let message = MessageParser::default().parse(got.data.as_bytes()).expect("a parseable message");
    assert_eq!(message.subject(), Some("[Levqor support] Invoice <question>"));
    assert_eq!(message.message_id(), Some("job-1@levqor.example"));
    assert_eq!(message.from().unwrap().first().unwrap().address(), Some("no-reply@levqor.example"));
    assert_eq!(message.reply_to().unwrap().first().unwrap().address(), Some("ada@example.com"));
    assert_eq!(message.text_body.len(), 1);
    assert_eq!(message.html_body.len(), 1);
    let text = message.body_text(0).unwrap().replace("\r\n", "\n");
    let html = message.body_html(0).unwrap();
    assert!(text.contains("<script>alert('x')</script>\nThanks & bye"), "{text}");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;"), "{html}");
    assert!(message.content_type().is_some_and(|ct| ct.subtype() == Some("alternative")));
    assert_eq!(transport.health().sent, 1);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "SMTP mail touches no file");
}

#[tokio::test]
async fn resend_relay_logs_in_with_the_api_key() {
    let smtp = FakeSmtp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = TransportConfig::choose(None, Some("re_test_key"), "127.0.0.1", smtp.addr.port());
    assert_eq!(config.name(), "resend");
    let transport = Transport::build(&config, FROM, dir.path()).unwrap();
    let welcome = Welcome { email: "ada@example.com".into(), free_credits: 50 };
    let (text, html) = welcome.render(&brand()).unwrap();
    transport.send("w-1", &Mail::new("ada@example.com", &welcome.subject(&brand()), text, html)).await.unwrap();
    let got = smtp.only();
    assert_eq!(got.auth, Some(("resend".to_owned(), "re_test_key".to_owned())));
    assert_eq!(got.header("Subject").as_deref(), Some("Welcome to Levqor"));
}

#[tokio::test]
async fn the_outbox_default_writes_a_parseable_private_eml() {
    let dir = tempfile::tempdir().unwrap();
    let transport = Transport::build(&TransportConfig::Outbox, FROM, dir.path()).unwrap();
    transport.send("job-2", &support_mail()).await.unwrap();
    transport.send("job-2", &support_mail()).await.unwrap();
    let outbox = dir.path().join("outbox");
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "a retried job writes the same file: {files:?}");
    let bytes = std::fs::read(&files[0]).unwrap();
    let message = MessageParser::default().parse(&bytes).expect("a parseable .eml");
    assert_eq!(message.to().unwrap().first().unwrap().address(), Some("ops@levqor.example"));
    assert!(message.date().is_some());
    assert!(message.body_html(0).unwrap().contains("Thanks &#38; bye"));
    assert!(message.body_text(0).unwrap().contains("Thanks & bye"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

/// The relay is down when the mail is queued: attempts fail and are retried with
/// the job back-off; once the relay is back the mail arrives, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_mail_survives_a_relay_outage() {
    let smtp = FakeSmtp::start().await;
    smtp.set_down(true);
    let dir = tempfile::tempdir().unwrap();
    let transport = Arc::new(Transport::build(&TransportConfig::Smtp { url: smtp.url() }, FROM, dir.path()).unwrap());
    let queue = Arc::new(MemoryQueue::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let notifier = Notifier::new(queue.clone(), clock.clone(), brand());
    let mut registry = WorkflowRegistry::new();
    registry.register_internal(Arc::new(EmailSend::new(transport.clone(), 20))).unwrap();
    let config = WorkerConfig {
        concurrency: 2,
        poll_interval: Duration::from_millis(20),
        retry_policy: RetryPolicy {
            base: Duration::from_millis(50),
            factor: 2.0,
            cap: Duration::from_millis(200),
            jitter: Jitter::None,
        },
        ..WorkerConfig::default()
    };
    let shutdown = Shutdown::new();
    let pool = WorkerPool::start(queue.clone(), Arc::new(registry), config, clock.clone(), shutdown.clone());

    let welcome = Welcome { email: "ada@example.com".into(), free_credits: 50 };
    let levqor_notifications::Enqueued::New(id) =
        notifier.send("ada@example.com", &welcome, None, Some("welcome:ada")).unwrap()
    else {
        panic!("queued")
    };
    let job = |q: &MemoryQueue| q.get(&id).unwrap().unwrap();
    for _ in 0..400 {
        if job(&queue).attempts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(job(&queue).attempts >= 2, "attempts were made while the relay was down: {:?}", job(&queue));
    assert!(smtp.mails().is_empty());
    assert!(transport.health().last_failure.is_some_and(|f| f.contains("SMTP")));

    smtp.set_down(false);
    for _ in 0..400 {
        if job(&queue).state == JobState::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(job(&queue).state, JobState::Succeeded, "{:?}", job(&queue));
    let mail = smtp.only();
    assert_eq!(mail.to, ["ada@example.com"]);
    assert_eq!(mail.header("Subject").as_deref(), Some("Welcome to Levqor"));
    shutdown.trigger();
    pool.join().await;
}

#[tokio::test]
async fn a_mail_that_cannot_be_delivered_is_kept_not_dropped() {
    let smtp = FakeSmtp::start().await;
    smtp.set_down(true);
    let dir = tempfile::tempdir().unwrap();
    let transport = Arc::new(Transport::build(&TransportConfig::Smtp { url: smtp.url() }, FROM, dir.path()).unwrap());
    let workflow = EmailSend::new(transport, 3);
    let ctx = |attempt| JobContext {
        job_id: levqor_jobs::JobId::new(),
        owner: system_owner(),
        workflow: "email.send".into(),
        payload: serde_json::json!({ "mail": support_mail() }),
        attempt,
    };
    let early = workflow.run(ctx(1)).await.unwrap_err();
    assert!(early.retryable, "{early:?}");
    let last = ctx(3);
    let id = last.job_id.to_string();
    let failed = workflow.run(last).await.unwrap_err();
    assert!(!failed.retryable);
    assert!(failed.message.contains("kept in"), "{}", failed.message);
    let kept = dir.path().join("outbox/undelivered").join(format!("{id}.eml"));
    assert!(MessageParser::default().parse(&std::fs::read(kept).unwrap()).is_some());

    let mut foreign = ctx(1);
    foreign.owner = levqor_core::UserId::new();
    assert!(!workflow.run(foreign).await.unwrap_err().retryable, "only Levqor's own mail jobs run");
}

/// A Sentry envelope: a header line, then item header and payload lines.
fn envelope_events(body: &[u8]) -> Vec<serde_json::Value> {
    let text = String::from_utf8(body.to_vec()).expect("an envelope is UTF-8 JSON lines");
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert!(header.get("event_id").is_some() || header.get("sent_at").is_some(), "{header}");
    let mut events = Vec::new();
    while let Some(item) = lines.next() {
        let item: serde_json::Value = serde_json::from_str(item).unwrap();
        let payload: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        if item["type"] == "event" {
            events.push(payload);
        }
    }
    events
}

// The fake Sentry runs on this runtime while the test blocks in `flush`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_gets_a_well_formed_envelope_for_a_report_and_a_panic() {
    let sentry = FakeServer::always(Reply::json(200, serde_json::json!({"id": "ok"}))).await;
    let dsn = format!("http://publickey@{}/42", sentry.addr);
    let forwarder = SentryForwarder::new(&dsn, "levqor@test").unwrap();
    let report = ErrorReport::parse(NewErrorReport {
        message: "TypeError: x is undefined".into(),
        level: Some("fatal".into()),
        url: Some("https://levqor.example/app".into()),
        user_agent: Some("Firefox/140".into()),
        stack: Some("at f (app.js:1:2)".into()),
        extra: Some(serde_json::json!({"component": "checkout"})),
        ..NewErrorReport::default()
    })
    .unwrap();
    let id = uuid::Uuid::now_v7();
    forwarder.report(id, &report);
    forwarder.server_error(&ServerError {
        method: "GET".into(),
        route: "/test/panic".into(),
        status: 500,
        request_id: "req-9".into(),
        message: "deliberate test panic".into(),
        panicked: true,
    });
    assert!(tokio::task::block_in_place(|| forwarder.flush(Duration::from_secs(10))));

    let requests = sentry.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let mut events = Vec::new();
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path_only(), "/api/42/envelope/");
        let auth = request.header("x-sentry-auth").unwrap();
        assert!(auth.starts_with("Sentry ") && auth.contains("sentry_key=publickey"), "{auth}");
        events.extend(envelope_events(&request.body));
    }
    let report_event = events.iter().find(|e| e["tags"]["source"] == "client").expect("the report");
    assert_eq!(report_event["event_id"], id.simple().to_string());
    assert_eq!(report_event["level"], "fatal");
    assert_eq!(report_event["message"], "TypeError: x is undefined");
    assert_eq!(report_event["request"]["url"], "https://levqor.example/app");
    assert_eq!(report_event["extra"]["component"], "checkout");
    assert_eq!(report_event["release"], "levqor@test");
    let panic_event = events.iter().find(|e| e["tags"]["source"] == "server").expect("the panic");
    assert_eq!(panic_event["level"], "fatal");
    assert_eq!(panic_event["exception"]["values"][0]["type"], "panic");
    assert_eq!(panic_event["exception"]["values"][0]["value"], "deliberate test panic");
    assert_eq!(panic_event["tags"]["request_id"], "req-9");
}

#[test]
fn a_dsn_that_is_not_one_is_refused() {
    assert!(SentryForwarder::new("not a dsn", "x").is_err());
}
