use levqor_connectors::ConnectorError;
use serde_json::{Value, json};

use crate::support::{FakeServer, Reply, config, run, run_with};

const TEXT: &str = "Levqor runs automation jobs for small teams. The weather was nice today. \
    Automation jobs retry when a service fails, and automation jobs report their results.";

fn completion(content: &str) -> Reply {
    Reply::json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
               "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
               "message": {"role": "assistant", "content": content, "refusal": null}}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}),
    )
}

async fn with_key(server: &FakeServer, action: &str, params: Value) -> Result<Value, ConnectorError> {
    let mut config = config(server);
    config.openai_api_key = Some("sk-test".into());
    run_with(&config, "ai", action, params, json!({})).await
}

#[tokio::test]
async fn without_a_key_the_local_engine_answers_and_says_so() {
    let server = FakeServer::always(completion("unused")).await;
    let summary = run(&server, "ai", "summarize", json!({"text": TEXT, "max_words": 20}), json!({})).await.unwrap();
    assert_eq!(summary["engine"], "local");
    let text = summary["summary"].as_str().unwrap();
    assert!(text.contains("automation"), "{text}");
    assert!(text.split_whitespace().count() <= 20, "{text}");

    let class = run(
        &server,
        "ai",
        "classify",
        json!({"text": "The invoice was charged twice, please refund", "labels": ["billing refund", "bug", "sales"]}),
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(class["engine"], "local");
    assert_eq!(class["label"], "billing refund");
    assert_eq!(class["scores"]["billing refund"], 1);
    assert_eq!(server.count(), 0, "no model was called");
}

#[tokio::test]
async fn summarize_calls_chat_completions() {
    let server = FakeServer::always(completion("Levqor runs and retries automation jobs.")).await;
    let result = with_key(&server, "summarize", json!({"text": TEXT, "max_words": 30})).await.unwrap();
    assert_eq!(
        result,
        json!({"summary": "Levqor runs and retries automation jobs.", "engine": "openai", "model": "gpt-4o-mini"})
    );
    let r = server.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(r.header("authorization"), Some("Bearer sk-test"));
    let body = r.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["max_tokens"], 110);
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(body["messages"][0]["content"].as_str().unwrap().contains("30 words"));
    assert_eq!(body["messages"][1], json!({"role": "user", "content": TEXT}));
}

#[tokio::test]
async fn classify_accepts_only_a_listed_label() {
    let server = FakeServer::always(completion("\"Billing\".")).await;
    let result =
        with_key(&server, "classify", json!({"text": "refund me", "labels": ["billing", "bug"]})).await.unwrap();
    assert_eq!(result["label"], "billing");
    assert_eq!(result["engine"], "openai");
    assert!(server.only().json()["messages"][0]["content"].as_str().unwrap().contains("- bug"));

    let server = FakeServer::always(completion("Sure! Here is my analysis of your text.")).await;
    let err =
        with_key(&server, "classify", json!({"text": "refund me", "labels": ["billing", "bug"]})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UnexpectedResponse(_)), "{err:?}");
}

#[tokio::test]
async fn openai_failures_keep_their_class() {
    let server = FakeServer::always(Reply::json(
        401,
        json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}),
    ))
    .await;
    let err = with_key(&server, "summarize", json!({"text": TEXT})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidCredentials { .. }), "{err:?}");

    let server =
        FakeServer::always(Reply::json(500, json!({"error": {"message": "boom", "type": "server_error"}}))).await;
    let err = with_key(&server, "summarize", json!({"text": TEXT})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UpstreamRefused { status: 500, .. }), "{err:?}");
    assert!(err.retryable());
    assert_eq!(server.count(), 3);

    let server = FakeServer::always(Reply::json(200, json!({"choices": []}))).await;
    let err = with_key(&server, "summarize", json!({"text": TEXT})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UnexpectedResponse(_)), "{err:?}");
}
