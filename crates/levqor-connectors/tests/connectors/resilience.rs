//! Retries, back-off, timeouts and the size cap of the shared client, through
//! the Slack connector: `list_channels` (a read, safe to repeat) and
//! `post_message` (a write that is not). Every write action of every connector
//! is covered in `writes.rs`.

use std::time::Duration;

use levqor_connectors::ConnectorError;
use serde_json::json;

use crate::support::{FakeServer, Reply, config, fixture, run, run_with};

fn post() -> serde_json::Value {
    json!({"channel": "C1", "text": "hello"})
}

fn ok() -> Reply {
    Reply::json(200, fixture("slack/chat.postMessage.json"))
}

fn channels() -> Reply {
    Reply::json(200, json!({"ok": true, "channels": [{"id": "C1"}], "response_metadata": {"next_cursor": ""}}))
}

#[tokio::test]
async fn a_429_is_retried_then_succeeds() {
    // https://api.slack.com/apis/rate-limits: HTTP 429 with Retry-After.
    let server = FakeServer::start(|_, n| match n {
        0 => Reply::json(429, fixture("slack/ratelimited.json")).header("Retry-After", "0"),
        _ => ok(),
    })
    .await;
    let result = run(&server, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap();
    assert_eq!(result["ts"], "1503435956.000247");
    assert_eq!(server.count(), 2, "a rate limit is retried even for a write: nothing was done");
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_gives_up_at_once() {
    let server =
        FakeServer::always(Reply::json(429, fixture("slack/ratelimited.json")).header("Retry-After", "120")).await;
    let err = run(&server, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap_err();
    assert_eq!(err, ConnectorError::RateLimited { retry_after: Some(120) });
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)), "the job backs off at least this long");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_for_reads_only() {
    let server = FakeServer::always(Reply::text(503, "maintenance")).await;
    let err = run(&server, "slack", "list_channels", json!({}), json!({"token": "xoxb-1"})).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::UpstreamRefused { status: 503, message } if message.contains("maintenance")),
        "{err:?}"
    );
    assert!(err.retryable());
    assert_eq!(server.count(), 3, "a read is retried with back-off");

    let server = FakeServer::always(Reply::text(503, "maintenance")).await;
    let err = run(&server, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::OutcomeUnknown(m) if m.contains("503")), "{err:?}");
    assert!(err.retryable());
    assert_eq!(err.code(), "upstream_outcome_unknown");
    assert_eq!(server.count(), 1, "the message may have been posted: not sent again");
}

#[tokio::test]
async fn a_read_recovers_after_a_server_error() {
    let server = FakeServer::start(|_, n| if n == 0 { Reply::text(502, "bad gateway") } else { channels() }).await;
    let result = run(&server, "slack", "list_channels", json!({}), json!({"token": "xoxb-1"})).await.unwrap();
    assert_eq!(result["channels"][0]["id"], "C1");
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn a_silent_server_is_an_unknown_outcome_for_a_write_and_retried_for_a_read() {
    let server = FakeServer::always(Reply::Hang).await;
    let mut config = config(&server);
    config.http.timeout = Duration::from_millis(300);
    let err = run_with(&config, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::OutcomeUnknown(m) if m.contains("in time")), "{err:?}");
    assert!(err.retryable());
    assert_eq!(server.count(), 1, "the service may have acted: not repeated");

    let server = FakeServer::always(Reply::Hang).await;
    let mut config = crate::support::config(&server);
    config.http.timeout = Duration::from_millis(300);
    let err = run_with(&config, "slack", "list_channels", json!({}), json!({"token": "xoxb-1"})).await.unwrap_err();
    assert_eq!(err, ConnectorError::Timeout);
    assert_eq!(server.count(), 3, "a read is safe to repeat");
}

#[tokio::test]
async fn oversize_responses_are_refused() {
    let big = json!({"ok": true, "ts": "1", "pad": "x".repeat(100 * 1024)});
    for reply in [Reply::json(200, big.clone()), Reply::json(200, big).without_length()] {
        let server = FakeServer::always(reply).await;
        let err = run(&server, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap_err();
        assert_eq!(err, ConnectorError::ResponseTooLarge { limit: 64 * 1024 });
        assert!(!err.retryable());
    }
}

#[tokio::test]
async fn an_unreachable_service_is_a_network_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let server = FakeServer::always(ok()).await;
    let mut config = config(&server);
    config.telegram_base = format!("http://{addr}");
    config.slack_base = format!("http://{addr}/api");
    let err = run_with(&config, "telegram", "get_me", json!({}), json!({"bot_token": "123456:SECRETpart"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Network(_)), "{err:?}");
    assert!(err.retryable());
    assert!(!err.to_string().contains("SECRETpart"), "{err}");
    // Nothing was sent, so even a write is a plain network error, not an unknown outcome.
    let err = run_with(&config, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Network(_)), "{err:?}");
}
