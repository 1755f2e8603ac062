//! Every write action against a fake that answers as its service does: a 503
//! reaches the service once and leaves the outcome unknown; a rate limit in the
//! service's own format is waited out when the wait is within the cap (1 s
//! here) and returned as `RateLimited` with the wait when it is not.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use levqor_connectors::ConnectorError;
use serde_json::{Value, json};

use crate::support::{FakeServer, Recorded, Reply, config_with_cap, fixture, run_with};

/// One write action, the path of the request that acts, and its service's
/// rate-limit answer for a wait of `n` seconds.
struct Write {
    connector: &'static str,
    action: &'static str,
    params: Value,
    credentials: Value,
    path: &'static str,
    throttled: fn(u64) -> Reply,
    done: fn() -> Reply,
}

const DS: &str = "248104cd-477e-80af-bc30-000bd28de8f9";

fn writes() -> Vec<Write> {
    vec![
        Write {
            connector: "slack",
            action: "post_message",
            params: json!({"channel": "C123ABC456", "text": "hello"}),
            credentials: json!({"token": "xoxb-1"}),
            path: "/api/chat.postMessage",
            // https://api.slack.com/apis/rate-limits: 429 + Retry-After (seconds).
            throttled: |n| Reply::json(429, fixture("slack/ratelimited.json")).header("Retry-After", &n.to_string()),
            done: || Reply::json(200, fixture("slack/chat.postMessage.json")),
        },
        Write {
            connector: "slack",
            action: "upload_file",
            params: json!({"filename": "a.txt", "content": "hello", "channel_id": "C123ABC456"}),
            credentials: json!({"token": "xoxb-1"}),
            path: "/api/files.completeUploadExternal",
            throttled: |n| Reply::json(429, fixture("slack/ratelimited.json")).header("Retry-After", &n.to_string()),
            // https://api.slack.com/methods/files.completeUploadExternal: example response.
            done: || Reply::json(200, json!({"ok": true, "files": [{"id": "F123ABC456", "title": "slack-test"}]})),
        },
        Write {
            connector: "notion",
            action: "create_page",
            params: json!({"data_source_id": DS, "title": "Tuscan kale"}),
            credentials: json!({"token": "secret_notion"}),
            path: "/v1/pages",
            // https://developers.notion.com/reference/request-limits: 429
            // `rate_limited` with Retry-After (seconds).
            throttled: |n| Reply::json(429, fixture("notion/rate_limited.json")).header("Retry-After", &n.to_string()),
            done: || Reply::json(200, fixture("notion/page.json")),
        },
        Write {
            connector: "gmail",
            action: "send_email",
            params: json!({"to": "ada@example.com", "subject": "s", "body": "b"}),
            credentials: json!({"access_token": "ya29.ok"}),
            path: "/gmail/v1/users/me/messages/send",
            // https://developers.google.com/gmail/api/guides/handle-errors: 429
            // "Too many requests" (reason rateLimitExceeded); Google's front end
            // sends Retry-After with it.
            throttled: |n| {
                let mut body = fixture("gmail/rateLimitExceeded.json");
                body["error"]["code"] = json!(429);
                Reply::json(429, body).header("Retry-After", &n.to_string())
            },
            done: || Reply::json(200, fixture("gmail/messages.send.json")),
        },
        Write {
            connector: "telegram",
            action: "send_message",
            params: json!({"chat_id": 42, "text": "hello"}),
            credentials: json!({"bot_token": "123456:ABCDEF"}),
            path: "/bot123456:ABCDEF/sendMessage",
            // https://core.telegram.org/bots/api#responseparameters: the wait in
            // `parameters.retry_after`, no header.
            throttled: |n| {
                let mut body = fixture("telegram/flood_control.json");
                body["parameters"]["retry_after"] = json!(n);
                body["description"] = json!(format!("Too Many Requests: retry after {n}"));
                Reply::json(429, body)
            },
            done: || Reply::json(200, fixture("telegram/sendMessage.json")),
        },
        Write {
            connector: "http",
            action: "request",
            params: json!({"method": "POST", "url": "{base}/hook", "body": {"a": 1}}),
            credentials: json!({}),
            path: "/hook",
            // RFC 9110 §10.2.3 / RFC 6585 §4: 429 with Retry-After.
            throttled: |n| Reply::text(429, "slow down").header("Retry-After", &n.to_string()),
            done: || Reply::json(200, json!({"received": true})),
        },
    ]
}

/// A fake that answers the write's own request from `script` (by how many
/// came before) and every preparatory request as the service would.
async fn fake(path: &'static str, script: Arc<dyn Fn(usize) -> Reply + Send + Sync>) -> FakeServer {
    let writes = Arc::new(AtomicUsize::new(0));
    FakeServer::start(move |r: &Recorded, _| {
        if r.path_only() == path {
            return script(writes.fetch_add(1, Ordering::SeqCst));
        }
        match r.path_only() {
            // https://api.slack.com/methods/files.getUploadURLExternal
            "/api/files.getUploadURLExternal" => {
                let host = r.header("host").unwrap_or_default().to_owned();
                Reply::json(
                    200,
                    json!({"ok": true, "upload_url": format!("http://{host}/upload/v1/abc"), "file_id": "F123ABC456"}),
                )
            }
            "/upload/v1/abc" => Reply::text(200, "OK - 5"),
            _ => Reply::json(404, json!({"error": "not part of this fake"})),
        }
    })
    .await
}

fn params_for(write: &Write, server: &FakeServer) -> Value {
    let text = write.params.to_string().replace("{base}", &server.base());
    serde_json::from_str(&text).unwrap()
}

fn hits(server: &FakeServer, path: &str) -> usize {
    server.requests().iter().filter(|r| r.path_only() == path).count()
}

#[tokio::test]
async fn a_503_reaches_the_service_once_and_leaves_the_outcome_unknown() {
    for write in writes() {
        let name = format!("{}.{}", write.connector, write.action);
        let server = fake(write.path, Arc::new(|_| Reply::text(503, "Service Unavailable"))).await;
        let config = config_with_cap(&server, Duration::from_secs(1));
        let params = params_for(&write, &server);
        let err =
            run_with(&config, write.connector, write.action, params, write.credentials.clone()).await.unwrap_err();
        assert!(matches!(err, ConnectorError::OutcomeUnknown(_)), "{name}: {err:?}");
        assert!(err.retryable(), "{name}");
        assert!(err.to_string().contains("outcome unknown"), "{name}: {err}");
        assert_eq!(hits(&server, write.path), 1, "{name}: exactly one request");
    }
}

#[tokio::test]
async fn a_rate_limit_within_the_cap_is_waited_out_and_sent_again() {
    for write in writes() {
        let name = format!("{}.{}", write.connector, write.action);
        let (throttled, done) = (write.throttled, write.done);
        let server = fake(write.path, Arc::new(move |n| if n == 0 { throttled(1) } else { done() })).await;
        let config = config_with_cap(&server, Duration::from_secs(1));
        let params = params_for(&write, &server);
        let result = run_with(&config, write.connector, write.action, params, write.credentials.clone()).await;
        assert!(result.is_ok(), "{name}: {result:?}");
        assert_eq!(hits(&server, write.path), 2, "{name}: the limited request did nothing, so it is sent again");
    }
}

#[tokio::test]
async fn a_rate_limit_beyond_the_cap_returns_the_wait() {
    for write in writes() {
        let name = format!("{}.{}", write.connector, write.action);
        let throttled = write.throttled;
        let server = fake(write.path, Arc::new(move |_| throttled(30))).await;
        let config = config_with_cap(&server, Duration::from_secs(1));
        let params = params_for(&write, &server);
        let err =
            run_with(&config, write.connector, write.action, params, write.credentials.clone()).await.unwrap_err();
        assert_eq!(err, ConnectorError::RateLimited { retry_after: Some(30) }, "{name}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)), "{name}");
        assert_eq!(hits(&server, write.path), 1, "{name}: not waited out within the call");
    }
}
