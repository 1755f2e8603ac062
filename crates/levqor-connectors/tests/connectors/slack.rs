use levqor_connectors::ConnectorError;
use serde_json::json;

use crate::support::{FakeServer, Recorded, Reply, run};

const TOKEN: &str = "xoxb-test-token";

fn creds() -> serde_json::Value {
    json!({"token": TOKEN})
}

fn assert_slack_auth(r: &Recorded) {
    assert_eq!(r.header("authorization"), Some("Bearer xoxb-test-token"));
}

#[tokio::test]
async fn post_message_sends_channel_and_text() {
    let server = FakeServer::always(Reply::json(
        200,
        json!({"ok": true, "channel": "C123", "ts": "1700000000.000100",
               "message": {"text": "Deployed", "type": "message"}}),
    ))
    .await;
    let result = run(&server, "slack", "post_message", json!({"channel": "#general", "text": "Deployed"}), creds())
        .await
        .unwrap();
    assert_eq!(result["ts"], "1700000000.000100");
    assert_eq!(result["channel"], "C123");

    let r = server.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/chat.postMessage"));
    assert_slack_auth(&r);
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    assert_eq!(r.json(), json!({"channel": "#general", "text": "Deployed"}));
}

#[tokio::test]
async fn post_message_accepts_the_original_message_field() {
    let server =
        FakeServer::always(Reply::json(200, json!({"ok": true, "channel": "C1", "ts": "1.2", "message": {}}))).await;
    run(
        &server,
        "slack",
        "post_message",
        json!({"channel": "C1", "message": "from a pipeline", "thread_ts": "1.1"}),
        creds(),
    )
    .await
    .unwrap();
    assert_eq!(server.only().json(), json!({"channel": "C1", "text": "from a pipeline", "thread_ts": "1.1"}));
}

#[tokio::test]
async fn ok_false_is_an_error_with_slacks_code() {
    let server = FakeServer::always(Reply::json(200, json!({"ok": false, "error": "channel_not_found"}))).await;
    let err = run(&server, "slack", "post_message", json!({"channel": "#nonexistent", "text": "hi"}), creds())
        .await
        .unwrap_err();
    match &err {
        ConnectorError::UpstreamRefused { message, .. } => {
            assert!(message.contains("channel_not_found"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.retryable());
    assert_eq!(server.count(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn bad_tokens_are_invalid_credentials() {
    for code in ["not_authed", "invalid_auth", "token_revoked"] {
        let server = FakeServer::always(Reply::json(200, json!({"ok": false, "error": code}))).await;
        let err = run(&server, "slack", "list_channels", json!({}), creds()).await.unwrap_err();
        match err {
            ConnectorError::InvalidCredentials { message } => assert!(message.contains(code)),
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn ok_without_a_ts_or_without_ok_is_unexpected() {
    for body in [json!({"ok": true}), json!({"channel": "C1", "ts": "1"}), json!([1])] {
        let server = FakeServer::always(Reply::json(200, body.clone())).await;
        let err =
            run(&server, "slack", "post_message", json!({"channel": "C1", "text": "x"}), creds()).await.unwrap_err();
        assert!(matches!(err, ConnectorError::UnexpectedResponse(_)), "{body}: {err:?}");
    }
}

#[tokio::test]
async fn list_channels_follows_the_cursor() {
    let server = FakeServer::start(|r, _| {
        let cursor = r.query().get("cursor").cloned().unwrap_or_default();
        match cursor.as_str() {
            "" => Reply::json(
                200,
                json!({"ok": true, "channels": [{"id": "C1", "name": "general"}],
                                          "response_metadata": {"next_cursor": "dGVhbTpDMDYx"}}),
            ),
            "dGVhbTpDMDYx" => Reply::json(
                200,
                json!({"ok": true, "channels": [{"id": "C2", "name": "random"}],
                                                      "response_metadata": {"next_cursor": ""}}),
            ),
            _ => Reply::json(200, json!({"ok": false, "error": "invalid_cursor"})),
        }
    })
    .await;
    let result = run(
        &server,
        "slack",
        "list_channels",
        json!({"types": "public_channel,private_channel", "limit": 100}),
        creds(),
    )
    .await
    .unwrap();
    let names: Vec<&str> = result["channels"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["general", "random"]);
    assert_eq!(result["next_cursor"], "");
    assert_eq!(result["pages"], 2);

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path_only()), ("GET", "/api/conversations.list"));
        assert_slack_auth(r);
        let q = r.query();
        assert_eq!(q["limit"], "100");
        assert_eq!(q["types"], "public_channel,private_channel");
        assert_eq!(q["exclude_archived"], "true");
    }
    assert_eq!(requests[1].query()["cursor"], "dGVhbTpDMDYx");
}

#[tokio::test]
async fn list_channels_stops_after_max_pages() {
    let server = FakeServer::always(Reply::json(
        200,
        json!({"ok": true, "channels": [{"id": "C1"}], "response_metadata": {"next_cursor": "more"}}),
    ))
    .await;
    let result = run(&server, "slack", "list_channels", json!({"max_pages": 3}), creds()).await.unwrap();
    assert_eq!(server.count(), 3);
    assert_eq!(result["channels"].as_array().unwrap().len(), 3);
    assert_eq!(result["next_cursor"], "more", "the caller can go on");
}

#[tokio::test]
async fn upload_file_runs_the_external_upload_flow() {
    let server = FakeServer::start(|r, _| match r.path_only() {
        "/api/files.getUploadURLExternal" => {
            let host = r.header("host").unwrap();
            Reply::json(
                200,
                json!({"ok": true, "file_id": "F0123",
                                    "upload_url": format!("http://{host}/upload/v1/abc")}),
            )
        }
        "/upload/v1/abc" => Reply::text(200, "OK - 11"),
        "/api/files.completeUploadExternal" => {
            Reply::json(200, json!({"ok": true, "files": [{"id": "F0123", "title": "Notes"}]}))
        }
        _ => Reply::json(404, json!({"ok": false, "error": "unknown_method"})),
    })
    .await;
    let result = run(
        &server,
        "slack",
        "upload_file",
        json!({"filename": "notes.txt", "content": "hello world", "title": "Notes",
               "channel": "C123", "initial_comment": "fyi"}),
        creds(),
    )
    .await
    .unwrap();
    assert_eq!(result["file_id"], "F0123");
    assert_eq!(result["files"][0]["title"], "Notes");

    let [get_url, upload, complete] = server.requests().try_into().unwrap();
    assert_eq!(get_url.method, "POST");
    assert_slack_auth(&get_url);
    assert_eq!(get_url.header("content-type"), Some("application/x-www-form-urlencoded"));
    let form = get_url.form();
    assert_eq!((form["filename"].as_str(), form["length"].as_str()), ("notes.txt", "11"));

    assert_eq!((upload.method.as_str(), upload.path.as_str()), ("POST", "/upload/v1/abc"));
    assert_eq!(upload.body, b"hello world");
    assert_eq!(upload.header("authorization"), None, "the token stays with Slack's API");

    assert_eq!(complete.path, "/api/files.completeUploadExternal");
    assert_slack_auth(&complete);
    assert_eq!(
        complete.json(),
        json!({"files": [{"id": "F0123", "title": "Notes"}], "channel_id": "C123",
               "initial_comment": "fyi"})
    );
}

#[tokio::test]
async fn upload_file_binary_content_and_failed_upload() {
    let server = FakeServer::start(|r, _| match r.path_only() {
        "/api/files.getUploadURLExternal" => {
            let host = r.header("host").unwrap();
            Reply::json(200, json!({"ok": true, "file_id": "F1", "upload_url": format!("http://{host}/up")}))
        }
        _ => Reply::text(400, "bad upload"),
    })
    .await;
    let err = run(&server, "slack", "upload_file", json!({"filename": "a.bin", "content_base64": "AAEC/w=="}), creds())
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::UpstreamRefused { status: 400, .. }), "{err:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "no completion after a failed upload");
    assert_eq!(requests[1].body, [0, 1, 2, 255]);
    assert_eq!(requests[0].form()["length"], "4");

    let err = run(&server, "slack", "upload_file", json!({"filename": "a"}), creds()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidParams { ref field, .. } if field == "content"), "{err:?}");
}

#[tokio::test]
async fn rate_limited_answers_carry_retry_after() {
    let server =
        FakeServer::always(Reply::json(429, json!({"ok": false, "error": "ratelimited"})).header("Retry-After", "0"))
            .await;
    let err = run(&server, "slack", "post_message", json!({"channel": "C1", "text": "x"}), creds()).await.unwrap_err();
    assert_eq!(err, ConnectorError::RateLimited { retry_after: Some(0) });
    assert!(err.retryable());
    assert_eq!(server.count(), 3, "retried up to the attempt limit");
}

#[tokio::test]
async fn json_posts_say_charset_utf8() {
    // https://api.slack.com/web#posting_json: without the charset Slack answers
    // with a `missing_charset` warning.
    let server = FakeServer::always(Reply::json(200, crate::support::fixture("slack/chat.postMessage.json"))).await;
    run(&server, "slack", "post_message", json!({"channel": "C123ABC456", "text": "héllo"}), creds()).await.unwrap();
    assert_eq!(server.only().header("content-type"), Some("application/json; charset=utf-8"));
}

#[tokio::test]
async fn ok_false_ratelimited_is_a_rate_limit() {
    // https://api.slack.com/methods/chat.postMessage#errors: `ratelimited`,
    // "Refer to the Retry-After header for when to retry the request".
    let server = FakeServer::start(|_, n| match n {
        0 => Reply::json(200, crate::support::fixture("slack/ratelimited.json")).header("Retry-After", "0"),
        _ => Reply::json(200, crate::support::fixture("slack/chat.postMessage.json")),
    })
    .await;
    let result = run(&server, "slack", "post_message", json!({"channel": "C1", "text": "x"}), creds()).await.unwrap();
    assert_eq!(result["channel"], "C123ABC456");
    assert_eq!(server.count(), 2);

    let server = FakeServer::always(
        Reply::json(200, crate::support::fixture("slack/ratelimited.json")).header("Retry-After", "60"),
    )
    .await;
    let err = run(&server, "slack", "post_message", json!({"channel": "C1", "text": "x"}), creds()).await.unwrap_err();
    assert_eq!(err, ConnectorError::RateLimited { retry_after: Some(60) });
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn internal_error_after_a_post_is_an_unknown_outcome() {
    // https://api.slack.com/methods/chat.postMessage#errors: `internal_error`,
    // "it's possible some aspect of the operation succeeded".
    let server = FakeServer::always(Reply::json(200, crate::support::fixture("slack/internal_error.json"))).await;
    let err = run(&server, "slack", "post_message", json!({"channel": "C1", "text": "x"}), creds()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::OutcomeUnknown(ref m) if m.contains("internal_error")), "{err:?}");
    assert_eq!(server.count(), 1);
}
