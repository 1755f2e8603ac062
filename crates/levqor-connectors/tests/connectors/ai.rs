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
    assert_eq!(body["max_completion_tokens"], 110);
    assert!(body.get("max_tokens").is_none(), "deprecated, and refused by reasoning models");
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
    assert_eq!(server.count(), 3, "a completion acts on nothing: safe to repeat");

    let server = FakeServer::always(Reply::json(200, json!({"choices": []}))).await;
    let err = with_key(&server, "summarize", json!({"text": TEXT})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UnexpectedResponse(_)), "{err:?}");
}

/// OpenAI for an o-series model
/// (https://platform.openai.com/docs/api-reference/chat/create): `max_tokens`
/// is refused with 400 `unsupported_parameter`, and so is a temperature other
/// than the default 1.
fn reasoning_model(r: &crate::support::Recorded, _: usize) -> Reply {
    let body = r.json();
    if body.get("max_tokens").is_some() {
        return Reply::json(400, crate::support::fixture("openai/unsupported_max_tokens.json"));
    }
    if body.get("temperature").is_some_and(|t| t.as_f64() != Some(1.0)) {
        return Reply::json(
            400,
            json!({"error": {"message": "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.",
                             "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"}}),
        );
    }
    let mut answer = crate::support::fixture("openai/chat.completion.json");
    answer["model"] = body["model"].clone();
    answer["choices"][0]["message"]["content"] = json!("billing");
    Reply::json(200, answer)
}

#[tokio::test]
async fn the_configured_model_gets_max_completion_tokens() {
    let server = FakeServer::start(reasoning_model).await;
    let mut config = config(&server);
    config.openai_api_key = Some("sk-test".into());
    config.openai_model = "o3-mini".into();
    let result =
        run_with(&config, "ai", "classify", json!({"text": "refund me", "labels": ["billing", "bug"]}), json!({}))
            .await
            .unwrap();
    assert_eq!(result, json!({"label": "billing", "engine": "openai", "model": "o3-mini"}));
    let body = server.only().json();
    assert_eq!(body["model"], "o3-mini");
    assert!(body["max_completion_tokens"].as_u64().unwrap() > 30, "room for the model's reasoning");

    assert!(body.get("max_tokens").is_none() && body.get("temperature").is_none(), "{body}");
}

#[test]
fn openai_model_is_read_from_the_environment() {
    let config =
        levqor_connectors::ConnectorConfig::from_lookup(|k| (k == "OPENAI_MODEL").then(|| "gpt-5-mini".into()));
    assert_eq!(config.openai_model, "gpt-5-mini");
}
