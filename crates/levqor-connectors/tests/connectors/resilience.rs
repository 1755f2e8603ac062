//! Retries, back-off, timeouts and the size cap, through the Slack connector
//! (they live in the shared client, so one connector shows them for all).

use std::time::{Duration, Instant};

use levqor_connectors::ConnectorError;
use serde_json::json;

use crate::support::{FakeServer, Reply, config, run, run_with};

fn post() -> serde_json::Value {
    json!({"channel": "C1", "text": "hello"})
}

fn ok() -> Reply {
    Reply::json(200, json!({"ok": true, "channel": "C1", "ts": "1.0", "message": {}}))
}

#[tokio::test]
async fn a_429_is_retried_then_succeeds() {
    let server = FakeServer::start(|_, n| match n {
        0 => Reply::text(429, "slow down").header("Retry-After", "0"),
        _ => ok(),
    })
    .await;
    let result = run(&server, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap();
    assert_eq!(result["ts"], "1.0");
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_gives_up_at_once() {
    let server = FakeServer::always(Reply::text(429, "later").header("Retry-After", "120")).await;
    let started = Instant::now();
    let err = run(&server, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap_err();
    assert_eq!(err, ConnectorError::RateLimited { retry_after: Some(120) });
    assert_eq!(server.count(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn server_errors_are_retried_with_back_off_then_reported() {
    let server = FakeServer::always(Reply::text(503, "maintenance")).await;
    let err = run(&server, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::UpstreamRefused { status: 503, message } if message.contains("maintenance")),
        "{err:?}"
    );
    assert!(err.retryable());
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn a_silent_server_times_out_without_retry() {
    let server = FakeServer::always(Reply::Hang).await;
    let mut config = config(&server);
    config.http.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = run_with(&config, "slack", "post_message", post(), json!({"token": "xoxb-1"})).await.unwrap_err();
    assert_eq!(err, ConnectorError::Timeout);
    assert!(err.retryable());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(server.count(), 1, "the service may have acted: not repeated");
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
    let err = run_with(&config, "telegram", "get_me", json!({}), json!({"bot_token": "123456:SECRETpart"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Network(_)), "{err:?}");
    assert!(err.retryable());
    assert!(!err.to_string().contains("SECRETpart"), "{err}");
}
