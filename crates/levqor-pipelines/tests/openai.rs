//! The OpenAI planner against a fake OpenAI on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use levqor_pipelines::{Limits, OpenAiConfig, OpenAiPlanner, Plan, Planner, PlannerKind};
use serde_json::{Value, json};
use support::openai::{FakeOpenAi, Reply};

const CONTACT: &str =
    "When someone fills out the contact form on my website, create a task in Notion and notify me on Slack";

fn good_pipeline() -> Value {
    json!({"trigger": "webhook", "actions": [
        {"type": "createPage", "connector": "notion",
         "params": {"databaseId": "db123", "title": "New contact", "content": "From {{input.name}}"}},
        {"type": "sendSlack", "connector": "slack",
         "params": {"channel": "#notifications", "message": "New contact form: {{steps.s1.output.url}}"}}]})
}

async fn plan_with(replies: Vec<Reply>, timeout: Duration) -> (Plan, FakeOpenAi) {
    let fake = FakeOpenAi::start(replies).await;
    let mut config = OpenAiConfig::new("sk-test-key");
    config.base_url = fake.base_url.clone();
    config.timeout = timeout;
    let planner = OpenAiPlanner::new(config, support::catalogue(), Limits::default()).unwrap();
    let plan = planner.plan(CONTACT).await.expect("every case ends in a valid pipeline");
    (plan, fake)
}

fn connectors(plan: &Plan) -> Vec<&str> {
    plan.pipeline.steps.iter().map(|s| s.connector.as_str()).collect()
}

fn assert_fell_back(plan: &Plan, why: &str) {
    assert_eq!(plan.planner, PlannerKind::Rules);
    assert!(plan.warnings[0].contains(why) && plan.warnings[0].contains("rule-based"), "{:?}", plan.warnings);
    assert_eq!(connectors(plan), ["notion", "slack"]);
}

#[tokio::test]
async fn a_valid_pipeline_is_used_and_the_request_is_well_formed() {
    let (plan, fake) = plan_with(vec![Reply::Content(good_pipeline().to_string())], Duration::from_secs(5)).await;
    assert_eq!(plan.planner, PlannerKind::OpenAi);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    assert_eq!(connectors(&plan), ["notion", "slack"]);
    assert_eq!(plan.pipeline.steps[0].params["database_id"], "db123");
    assert_eq!(plan.pipeline.steps[1].params["text"], "New contact form: {{steps.s1.output.url}}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.authorization.as_deref(), Some("Bearer sk-test-key"));
    assert_eq!(r.body["model"], "gpt-4o-mini");
    assert_eq!(r.body["response_format"], json!({"type": "json_object"}));
    assert!(r.body["temperature"].as_f64().unwrap() <= 0.2);
    assert!(r.body["max_completion_tokens"].as_u64().unwrap() > 0);
    assert!(r.body.get("max_tokens").is_none());
    let messages = r.body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    for needle in [
        "slack.post_message(",
        "channel*:string",
        "notion.create_page(",
        "database_id:string",
        "telegram.send_message(",
        "email.received",
    ] {
        assert!(system.contains(needle), "system prompt lacks {needle}:\n{system}");
    }
    assert_eq!(messages[1], json!({"role": "user", "content": CONTACT}));
}

#[tokio::test]
async fn json_in_code_fences_is_accepted() {
    let fenced = format!("```json\n{}\n```", good_pipeline());
    let (plan, _) = plan_with(vec![Reply::Content(fenced)], Duration::from_secs(5)).await;
    assert_eq!(plan.planner, PlannerKind::OpenAi);
    assert_eq!(connectors(&plan), ["notion", "slack"]);
}

#[tokio::test]
async fn prose_falls_back_to_the_rules() {
    let prose = "Sure! Here is your workflow: do the thing, then the other thing.".to_owned();
    let (plan, fake) = plan_with(vec![Reply::Content(prose)], Duration::from_secs(5)).await;
    assert_fell_back(&plan, "prose");
    assert_eq!(fake.requests().len(), 1, "prose is not worth a repair");
}

#[tokio::test]
async fn an_unknown_connector_is_repaired_once() {
    let wrong = json!({"trigger": "webhook", "actions": [
        {"type": "createPage", "connector": "notion", "params": {"databaseId": "db123", "title": "New contact"}},
        {"connector": "discord", "action": "post", "params": {"channel": "#notifications", "text": "hi"}}]});
    let (plan, fake) = plan_with(
        vec![Reply::Content(wrong.to_string()), Reply::Content(good_pipeline().to_string())],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(plan.planner, PlannerKind::OpenAi);
    assert_eq!(connectors(&plan), ["notion", "slack"]);
    assert!(plan.warnings.iter().any(|w| w.contains("repaired")), "{:?}", plan.warnings);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let messages = requests[1].body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[2]["role"], "assistant");
    let repair = messages[3]["content"].as_str().unwrap();
    assert!(repair.contains("actions[1].connector") && repair.contains("discord"), "{repair}");
    assert_eq!(requests[1].body["response_format"], json!({"type": "json_object"}));
}

#[tokio::test]
async fn wrong_twice_falls_back_with_a_warning() {
    let wrong = json!({"trigger": "webhook", "actions": [{"connector": "discord", "action": "post", "params": {}}]})
        .to_string();
    let (plan, fake) =
        plan_with(vec![Reply::Content(wrong.clone()), Reply::Content(wrong)], Duration::from_secs(5)).await;
    assert_fell_back(&plan, "invalid pipeline twice");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn server_errors_fall_back() {
    let (plan, _) =
        plan_with(vec![Reply::Status(500, json!({"error": {"message": "boom"}}))], Duration::from_secs(5)).await;
    assert_fell_back(&plan, "server error (500)");
}

#[tokio::test]
async fn rate_limits_fall_back() {
    let (plan, _) =
        plan_with(vec![Reply::Status(429, json!({"error": {"message": "slow down"}}))], Duration::from_secs(5)).await;
    assert_fell_back(&plan, "rate limiting");
}

#[tokio::test]
async fn a_refusal_falls_back() {
    let (plan, _) = plan_with(vec![Reply::Refusal("I can't help with that".into())], Duration::from_secs(5)).await;
    assert_fell_back(&plan, "refused");
}

#[tokio::test]
async fn a_hang_past_the_timeout_falls_back() {
    let (plan, _) = plan_with(vec![Reply::Hang], Duration::from_millis(300)).await;
    assert_fell_back(&plan, "timed out");
}

#[tokio::test]
async fn blank_descriptions_are_refused_without_a_request() {
    let fake = FakeOpenAi::start(vec![]).await;
    let mut config = OpenAiConfig::new("sk-test-key");
    config.base_url = fake.base_url.clone();
    let planner = OpenAiPlanner::new(config, support::catalogue(), Limits::default()).unwrap();
    assert!(planner.plan("  ").await.is_err());
    assert!(fake.requests().is_empty());
}

/// An o-series model as OpenAI serves it
/// (https://platform.openai.com/docs/api-reference/chat/create): `max_tokens`
/// is refused with 400 `unsupported_parameter`, and so is a temperature other
/// than the default.
#[tokio::test]
async fn a_reasoning_model_gets_max_completion_tokens() {
    let server = levqor_testkit::FakeServer::start(|r, _| {
        let body = r.json();
        if body.get("max_tokens").is_some() {
            return levqor_testkit::Reply::json(
                400,
                json!({"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                                 "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}),
            );
        }
        if body.get("temperature").is_some() {
            return levqor_testkit::Reply::json(
                400,
                json!({"error": {"message": "Unsupported value: 'temperature' does not support 0.1 with this model. Only the default (1) value is supported.",
                                 "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"}}),
            );
        }
        levqor_testkit::Reply::json(
            200,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1_741_570_283, "model": "o3-mini",
                   "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                                "message": {"role": "assistant", "content": good_pipeline().to_string(), "refusal": null}}],
                   "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20,
                             "completion_tokens_details": {"reasoning_tokens": 0}}}),
        )
    })
    .await;
    let config = OpenAiConfig::from_lookup(|k| match k {
        "OPENAI_API_KEY" => Some("sk-test-key".into()),
        "OPENAI_BASE_URL" => Some(format!("{}/v1", server.base())),
        "OPENAI_MODEL" => Some("o3-mini".into()),
        _ => None,
    })
    .unwrap();
    let planner = OpenAiPlanner::new(config, support::catalogue(), Limits::default()).unwrap();
    let plan = planner.plan(CONTACT).await.unwrap();
    assert_eq!(plan.planner, PlannerKind::OpenAi, "{:?}", plan.warnings);
    let body = server.only().json();
    assert_eq!(body["model"], "o3-mini");
    assert!(body["max_completion_tokens"].as_u64().unwrap() > 1500, "room for the reasoning");
}
