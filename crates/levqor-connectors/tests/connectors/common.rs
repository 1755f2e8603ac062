//! Properties every connector shares: fail closed without credentials, params
//! checked (naming the field) before any request, a catalogue.

use levqor_connectors::{ConnectorConfig, ConnectorError, ConnectorRegistry};
use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, run};

fn valid_calls() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("slack", "post_message", json!({"channel": "C1", "text": "hi"})),
        ("slack", "list_channels", json!({})),
        ("slack", "upload_file", json!({"filename": "a.txt", "content": "x"})),
        ("notion", "search", json!({"query": "x"})),
        ("notion", "query_database", json!({"database_id": "598337872cf94fdf8782e53db20768a5"})),
        ("notion", "create_page", json!({"database_id": "598337872cf94fdf8782e53db20768a5", "title": "t"})),
        ("gmail", "list_labels", json!({})),
        ("gmail", "list_messages", json!({"query": "is:unread"})),
        ("gmail", "send_email", json!({"to": "a@example.com", "subject": "s", "body": "b"})),
        ("telegram", "send_message", json!({"chat_id": 1, "text": "hi"})),
        ("telegram", "get_me", json!({})),
        ("telegram", "get_updates", json!({})),
    ]
}

#[tokio::test]
async fn missing_credentials_fail_closed_for_every_connector() {
    let server = FakeServer::always(Reply::json(200, json!({"ok": true}))).await;
    for (connector, action, params) in valid_calls() {
        for credentials in [json!({}), Value::Null, json!({"token": "", "bot_token": " ", "access_token": null})] {
            let err = run(&server, connector, action, params.clone(), credentials.clone()).await.unwrap_err();
            assert!(
                matches!(err, ConnectorError::MissingCredentials { .. }),
                "{connector}.{action} with {credentials}: {err:?}"
            );
            assert!(!err.retryable());
        }
    }
    assert_eq!(server.count(), 0, "nothing was sent without credentials");
}

#[tokio::test]
async fn invalid_params_name_the_field_before_any_request() {
    let server = FakeServer::always(Reply::json(200, json!({"ok": true}))).await;
    let creds = json!({"token": "xoxb-1", "bot_token": "1:a", "access_token": "ya29"});
    for (connector, action, params, field) in [
        ("slack", "post_message", json!({"channel": "C1"}), "text"),
        ("slack", "post_message", json!({"channel": "C1", "text": ""}), "text"),
        ("slack", "post_message", json!({"channel": "C1", "text": "x", "colour": 1}), "colour"),
        ("slack", "list_channels", json!({"limit": 0}), "limit"),
        ("notion", "create_page", json!({"database_id": "598337872cf94fdf8782e53db20768a5"}), "title"),
        ("notion", "query_database", json!({"database_id": 42}), "database_id"),
        ("gmail", "list_messages", json!({"max_results": 501}), "max_results"),
        ("gmail", "send_email", json!({"to": "a@example.com", "subject": "s"}), "body"),
        (
            "gmail",
            "send_email",
            json!({"to": ["a@example.com", "not-an-address"], "subject": "s", "body": "b"}),
            "to[1]",
        ),
        ("telegram", "send_message", json!({"chat_id": true, "text": "x"}), "chat_id"),
        ("telegram", "send_message", json!({"chat_id": 1, "text": "x".repeat(4097)}), "text"),
        ("telegram", "get_updates", json!({"limit": 101}), "limit"),
        ("ai", "classify", json!({"text": "x", "labels": ["a", 2]}), "labels[1]"),
        ("ai", "summarize", json!({"text": "x", "max_words": 1}), "max_words"),
        ("http", "request", json!({"method": "FETCH", "url": "http://x/"}), "method"),
        ("builtin", "filter", json!({"field": "a"}), "op"),
    ] {
        let err = run(&server, connector, action, params, creds.clone()).await.unwrap_err();
        match err {
            ConnectorError::InvalidParams { field: f, .. } => {
                assert_eq!(f, field, "{connector}.{action}")
            }
            other => panic!("{connector}.{action}: {other:?}"),
        }
    }
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn unknown_actions_list_the_valid_ones() {
    let server = FakeServer::always(Reply::json(200, json!({"ok": true}))).await;
    let err = run(&server, "telegram", "send_photo", json!({}), json!({"bot_token": "1:a"})).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::UnknownAction {
            action: "send_photo".into(),
            valid: vec!["send_message".into(), "get_me".into(), "get_updates".into()],
        }
    );
}

#[test]
fn the_catalogue_has_schemas_and_credentials() {
    let registry = ConnectorRegistry::with_defaults(&ConnectorConfig::default()).unwrap();
    let catalogue = serde_json::to_value(registry.catalogue()).unwrap();
    let slack = catalogue.as_array().unwrap().iter().find(|c| c["name"] == "slack").unwrap();
    let post = &slack["actions"][0];
    assert_eq!(post["name"], "post_message");
    assert_eq!(post["credentials"], json!(["token"]));
    assert_eq!(post["params"]["required"], json!(["channel", "text"]));
}

#[tokio::test]
async fn connector_failures_map_to_job_failures() {
    use levqor_connectors::{Credentials, TaskCall, job_error};

    let server = FakeServer::always(Reply::text(503, "down")).await;
    let registry = ConnectorRegistry::with_defaults(&crate::support::config(&server)).unwrap();
    let creds = || Credentials::from_value(json!({"bot_token": "1:a"})).unwrap();
    let err = registry.run("telegram", TaskCall::new("get_me", json!({}), creds())).await.unwrap_err();
    let job = job_error(&err);
    assert!(job.retryable, "{}", job.message);
    assert!(!job.message.contains("1:a"), "{}", job.message);
    let err = registry.run("telegram", TaskCall::new("get_me", json!({}), Credentials::new())).await.unwrap_err();
    assert!(!job_error(&err).retryable);
    // A write whose outcome is unknown is not sent again by the job's back-off.
    let before = server.count();
    let err = registry
        .run("telegram", TaskCall::new("send_message", json!({"chat_id": 1, "text": "hi"}), creds()))
        .await
        .unwrap_err();
    let job = job_error(&err);
    assert!(!job.retryable, "{}", job.message);
    assert!(job.message.starts_with("upstream_outcome_unknown"), "{}", job.message);
    assert_eq!(server.count() - before, 1);
}
