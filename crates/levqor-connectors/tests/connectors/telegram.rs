use levqor_connectors::ConnectorError;
use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, run};

const TOKEN: &str = "123456:ABCDEF";

fn creds() -> Value {
    json!({"bot_token": TOKEN})
}

/// The fake of the conformance harness: the token in the path decides.
fn telegram(r: &crate::support::Recorded, _: usize) -> Reply {
    let Some(rest) = r.path.strip_prefix("/bot") else {
        return Reply::json(404, json!({"ok": false, "error_code": 404, "description": "Not Found"}));
    };
    let (token, method) = rest.split_once('/').unwrap();
    if token != TOKEN {
        return Reply::json(401, json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    match method {
        "sendMessage" => {
            let data = r.json();
            if data["chat_id"] == 404 {
                return Reply::json(
                    400,
                    json!({"ok": false, "error_code": 400,
                                                "description": "Bad Request: chat not found"}),
                );
            }
            Reply::json(
                200,
                json!({"ok": true, "result": {"message_id": 7, "date": 1_700_000_000,
                "chat": {"id": data["chat_id"], "type": "private"}, "text": data["text"]}}),
            )
        }
        "getMe" => Reply::json(
            200,
            json!({"ok": true, "result": {"id": 123456, "is_bot": true,
                                                                   "first_name": "Levqor", "username": "levqor_bot"}}),
        ),
        "getUpdates" => Reply::json(200, json!({"ok": true, "result": [{"update_id": 10}]})),
        _ => Reply::json(404, json!({"ok": false, "error_code": 404, "description": "Not Found"})),
    }
}

#[tokio::test]
async fn send_message_posts_json_to_the_bot_path() {
    let server = FakeServer::start(telegram).await;
    let result = run(
        &server,
        "telegram",
        "send_message",
        json!({"chat_id": 42, "text": "*hi*", "parse_mode": "MarkdownV2"}),
        creds(),
    )
    .await
    .unwrap();
    assert_eq!(result["message_id"], 7);
    assert_eq!(result["chat"]["id"], 42);
    let r = server.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/bot123456:ABCDEF/sendMessage"));
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    assert_eq!(r.json(), json!({"chat_id": 42, "text": "*hi*", "parse_mode": "MarkdownV2"}));
}

#[tokio::test]
async fn get_me_and_get_updates() {
    let server = FakeServer::start(telegram).await;
    let me = run(&server, "telegram", "get_me", json!({}), creds()).await.unwrap();
    assert_eq!(me["username"], "levqor_bot");
    let updates = run(&server, "telegram", "get_updates", json!({"offset": 11, "limit": 5}), creds()).await.unwrap();
    assert_eq!(updates, json!([{"update_id": 10}]));
    let [get_me, get_updates] = server.requests().try_into().unwrap();
    assert_eq!((get_me.method.as_str(), get_me.path.as_str()), ("GET", "/bot123456:ABCDEF/getMe"));
    assert_eq!(get_updates.path, "/bot123456:ABCDEF/getUpdates");
    assert_eq!(get_updates.json(), json!({"offset": 11, "limit": 5, "timeout": 0}));
}

#[tokio::test]
async fn a_wrong_token_is_invalid_credentials_and_never_echoed() {
    let server = FakeServer::start(telegram).await;
    let err = run(&server, "telegram", "get_me", json!({}), json!({"bot_token": "999:WRONGsecret"})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidCredentials { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("WRONGsecret"));
}

#[tokio::test]
async fn a_malformed_token_is_refused_before_any_request() {
    let server = FakeServer::start(telegram).await;
    let err = run(&server, "telegram", "get_me", json!({}), json!({"bot_token": "../admin"})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidCredentials { .. }), "{err:?}");
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn telegram_refusals_carry_the_description() {
    let server = FakeServer::start(telegram).await;
    let err =
        run(&server, "telegram", "send_message", json!({"chat_id": 404, "text": "x"}), creds()).await.unwrap_err();
    match err {
        ConnectorError::UpstreamRefused { status, message } => {
            assert_eq!(status, 400);
            assert!(message.contains("chat not found"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn flood_control_reports_retry_after_from_the_body() {
    // https://core.telegram.org/bots/api#responseparameters: the wait is in the
    // body only; no Retry-After header.
    let server = FakeServer::always(Reply::json(429, crate::support::fixture("telegram/flood_control.json"))).await;
    let err = run(&server, "telegram", "get_me", json!({}), creds()).await.unwrap_err();
    assert_eq!(err, ConnectorError::RateLimited { retry_after: Some(35) });
    assert_eq!(server.count(), 1, "35 s is beyond the cap: the job waits, not the call");
}

#[tokio::test]
async fn an_answer_without_ok_is_unexpected() {
    let server = FakeServer::always(Reply::json(200, json!({"result": {}}))).await;
    let err = run(&server, "telegram", "get_me", json!({}), creds()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UnexpectedResponse(_)), "{err:?}");
}
