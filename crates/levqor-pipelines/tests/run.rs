//! The executor core with a fake StepRunner.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Mutex;

use chrono::{Duration, TimeZone, Utc};
use futures_util::future::{BoxFuture, FutureExt};
use levqor_core::{Credits, ManualClock};
use levqor_pipelines::{
    CostRules, Limits, Pipeline, RunState, RunStatus, Step, StepFailure, StepRunner, StepStatus, dry_run,
    estimate_cost, execute, validate_document,
};
use serde_json::{Map, Value, json};

struct Fake {
    calls: Mutex<Vec<(String, Value)>>,
    fail_slack: Mutex<bool>,
    clock: ManualClock,
}

impl StepRunner for Fake {
    fn run<'a>(&'a self, step: &'a Step, params: Map<String, Value>) -> BoxFuture<'a, Result<Value, StepFailure>> {
        async move {
            self.clock.advance(Duration::milliseconds(40));
            self.calls.lock().unwrap().push((step.qualified_action(), Value::Object(params.clone())));
            match step.qualified_action().as_str() {
                "notion.create_page" => Ok(json!({"id": "page-1", "url": "https://notion.so/page-1"})),
                "ai.summarize" => Ok(json!({"summary": format!("short: {}", params["text"].as_str().unwrap_or(""))})),
                "slack.post_message" if *self.fail_slack.lock().unwrap() => {
                    Err(StepFailure::new("slack: service unavailable (503)", true))
                }
                "slack.post_message" => Ok(json!({"ok": true, "ts": "1.2"})),
                "builtin.filter" => Ok(json!({"passed": params["value"] == json!("yes")})),
                other => Ok(json!({"ran": other})),
            }
        }
        .boxed()
    }
}

fn fake(fail_slack: bool) -> Fake {
    Fake {
        calls: Mutex::new(Vec::new()),
        fail_slack: Mutex::new(fail_slack),
        clock: ManualClock::new(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()),
    }
}

fn pipeline() -> Pipeline {
    validate_document(
        &json!({"description": "notify", "trigger": "manual", "actions": [
            {"type": "createPage", "connector": "notion", "params": {"databaseId": "db1", "title": "{{input.name}}", "content": "x"}},
            {"type": "summarize", "params": {"text": "{{input.name}} signed up"}},
            {"type": "sendSlack", "connector": "slack", "params": {"channel": "#general",
              "message": "New: {{input.name}} {{steps.s1.output.url}} ({{steps.s2.output.summary}})"}}]}),
        &support::catalogue(),
        &Limits::default(),
    )
    .unwrap()
}

const RULES: CostRules = CostRules { run_cost: 1, ai_step_cost: 2 };

#[tokio::test]
async fn runs_in_order_with_templated_params() {
    let p = pipeline();
    let runner = fake(false);
    let mut state = RunState::new(&p);
    let outcome = execute(&p, &json!({"name": "Ada"}), &mut state, &runner, &runner.clock, &RULES).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(outcome.ran, ["s1", "s2", "s3"]);
    let calls = runner.calls.lock().unwrap().clone();
    let order: Vec<&str> = calls.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(order, ["notion.create_page", "ai.summarize", "slack.post_message"]);
    assert_eq!(calls[0].1["title"], "Ada");
    assert_eq!(calls[2].1["text"], "New: Ada https://notion.so/page-1 (short: Ada signed up)");
    assert!(state.steps.iter().all(|s| s.status == StepStatus::Succeeded && s.attempts == 1));
    assert_eq!(state.steps[0].duration_ms, Some(40));
    assert_eq!(state.steps[1].credits, Credits::new(2));
    assert_eq!(state.total_cost(&RULES), Credits::new(3));
    assert_eq!(estimate_cost(&p, &RULES), Credits::new(3));
    // The record round-trips through JSON (the app stores it with the job).
    let back: RunState = serde_json::from_value(serde_json::to_value(&state).unwrap()).unwrap();
    assert_eq!(back, state);
}

#[tokio::test]
async fn a_failed_step_resumes_where_it_failed() {
    let p = pipeline();
    let runner = fake(true);
    let mut state = RunState::new(&p);
    let input = json!({"name": "Ada"});
    let first = execute(&p, &input, &mut state, &runner, &runner.clock, &RULES).await;
    assert_eq!(first.status, RunStatus::Failed);
    assert_eq!((first.failed_step.as_deref(), first.retryable), (Some("s3"), true));
    assert_eq!(state.steps[2].error.as_deref(), Some("slack: service unavailable (503)"));
    assert_eq!(state.steps[2].credits, Credits::ZERO);
    let credits_after_first = state.step_credits();

    // Fix the service, then retry: only the failed step runs, with the recorded outputs.
    *runner.fail_slack.lock().unwrap() = false;
    runner.calls.lock().unwrap().clear();
    assert_eq!(state.resume(), Some(2));
    let second = execute(&p, &input, &mut state, &runner, &runner.clock, &RULES).await;
    assert_eq!(second.status, RunStatus::Succeeded);
    assert_eq!(second.ran, ["s3"]);
    let calls = runner.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1["text"], "New: Ada https://notion.so/page-1 (short: Ada signed up)");
    assert_eq!(state.steps.iter().map(|s| s.attempts).collect::<Vec<_>>(), [1, 1, 2]);
    assert_eq!(state.step_credits(), credits_after_first, "completed steps are not billed twice");
    assert_eq!(state.resume(), None);
}

#[tokio::test]
async fn a_failing_second_step_resumes_at_step_two() {
    let p = validate_document(
        &json!({"actions": [
            {"type": "createPage", "params": {"database_id": "db1", "title": "{{input.name}}"}},
            {"type": "sendSlack", "params": {"channel": "#general", "text": "{{steps.s1.output.url}}"}}]}),
        &support::catalogue(),
        &Limits::default(),
    )
    .unwrap();
    let runner = fake(true);
    let mut state = RunState::new(&p);
    let input = json!({"name": "Ada"});
    assert_eq!(
        execute(&p, &input, &mut state, &runner, &runner.clock, &RULES).await.failed_step.as_deref(),
        Some("s2")
    );
    *runner.fail_slack.lock().unwrap() = false;
    assert_eq!(state.resume(), Some(1));
    let outcome = execute(&p, &input, &mut state, &runner, &runner.clock, &RULES).await;
    assert_eq!((outcome.status, outcome.ran.as_slice()), (RunStatus::Succeeded, &["s2".to_owned()][..]));
    let calls = runner.calls.lock().unwrap().clone();
    assert_eq!(calls.iter().filter(|(a, _)| a == "notion.create_page").count(), 1);
    assert_eq!(calls.last().unwrap().1["text"], "https://notion.so/page-1");
}

#[tokio::test]
async fn a_missing_input_fails_the_step_with_the_path() {
    let p = pipeline();
    let runner = fake(false);
    let mut state = RunState::new(&p);
    let outcome = execute(&p, &json!({}), &mut state, &runner, &runner.clock, &RULES).await;
    assert_eq!(
        (outcome.status, outcome.failed_step.as_deref(), outcome.retryable),
        (RunStatus::Failed, Some("s1"), false)
    );
    assert_eq!(state.steps[0].error.as_deref(), Some("title: `{{input.name}}` has no value"));
    assert!(runner.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_filter_that_does_not_pass_skips_the_rest() {
    let p = validate_document(
        &json!({"actions": [
            {"type": "filter", "params": {"input": "{{input}}", "field": "ok", "op": "eq", "value": "{{input.ok}}"}},
            {"type": "log", "params": {"message": "passed"}}]}),
        &support::catalogue(),
        &Limits::default(),
    )
    .unwrap();
    let runner = fake(false);
    let mut state = RunState::new(&p);
    let outcome = execute(&p, &json!({"ok": "no"}), &mut state, &runner, &runner.clock, &RULES).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(state.steps[1].status, StepStatus::Skipped);
    assert_eq!(runner.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn dry_run_renders_without_calling_anything() {
    let p = pipeline();
    let dry = dry_run(&p, &json!({"name": "Ada"}), &RULES);
    assert!(dry.ok);
    assert_eq!(dry.estimated_cost, Credits::new(3));
    assert_eq!(dry.steps[0].params.as_ref().unwrap()["title"], "Ada");
    assert_eq!(
        dry.steps[2].params.as_ref().unwrap()["text"],
        "New: Ada {{steps.s1.output.url}} ({{steps.s2.output.summary}})"
    );
    let missing = dry_run(&p, &json!({}), &RULES);
    assert!(!missing.ok);
    assert_eq!(missing.steps[0].error.as_deref(), Some("title: `{{input.name}}` has no value"));
    assert!(RunState::new(&p).matches(&p));
}

#[tokio::test]
async fn a_step_holding_a_placeholder_is_refused_without_calling_anything() {
    let p = validate_document(
        &json!({"trigger": "manual", "actions": [
            {"type": "log", "params": {"message": "start"}},
            {"type": "createPage", "params": {"databaseId": "your_database_id", "title": "{{input.name}}"}},
            {"type": "sendSlack", "params": {"channel": "#a", "message": "done"}}]}),
        &support::catalogue(),
        &Limits::default(),
    )
    .unwrap();
    let runner = fake(false);
    let mut state = RunState::new(&p);
    let outcome = execute(&p, &json!({"name": "Ada"}), &mut state, &runner, &runner.clock, &RULES).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.failed_step.as_deref(), Some("s2"));
    assert!(!outcome.retryable, "trying again cannot help");
    let error = state.steps[1].error.clone().unwrap();
    assert!(
        error.contains("step s2") && error.contains("`database_id`") && error.contains("your_database_id"),
        "{error}"
    );
    let calls: Vec<String> = runner.calls.lock().unwrap().iter().map(|(a, _)| a.clone()).collect();
    assert_eq!(calls, ["builtin.log"], "nothing was sent for the placeholder");
    assert_eq!(state.steps[2].status, StepStatus::Pending);
    let dry = dry_run(&p, &json!({"name": "Ada"}), &RULES);
    assert!(!dry.ok);
    assert!(dry.steps[1].error.as_deref().unwrap().contains("`database_id`"));
}

#[tokio::test]
async fn summarize_without_text_summarises_the_input() {
    let p = validate_document(
        &json!({"trigger": "webhook", "actions": [
            {"type": "summarize", "connector": "openai", "params": {}},
            {"type": "sendSlack", "params": {"channel": "#a", "message": "{{steps.s1.output.summary}}"}}]}),
        &support::catalogue(),
        &Limits::default(),
    )
    .unwrap();
    let runner = fake(false);
    let mut state = RunState::new(&p);
    let input = json!({"body": "a long message"});
    let outcome = execute(&p, &input, &mut state, &runner, &runner.clock, &RULES).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    let calls = runner.calls.lock().unwrap().clone();
    assert_eq!(calls[0].1["text"], "a long message");
    assert_eq!(calls[1].1["text"], "short: a long message");
    assert_eq!(dry_run(&p, &input, &RULES).steps[0].params.as_ref().unwrap()["text"], "a long message");
}
