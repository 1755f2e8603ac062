//! Steps whose outcome is unknown: the run stops there, the user resolves it
//! (skip or send again), or the step opts into `retry_unknown`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Mutex;

use chrono::{TimeZone, Utc};
use futures_util::future::{BoxFuture, FutureExt};
use levqor_core::ManualClock;
use levqor_pipelines::{
    CostRules, Limits, Pipeline, Resolution, ResolveError, RunState, RunStatus, Step, StepFailure, StepRunner,
    StepStatus, execute, validate_document,
};
use serde_json::{Map, Value, json};

/// Slack answers 503 to a post (outcome unknown) while `down` is set.
struct Runner {
    down: Mutex<bool>,
    calls: Mutex<Vec<String>>,
}

impl StepRunner for Runner {
    fn run<'a>(&'a self, step: &'a Step, _: Map<String, Value>) -> BoxFuture<'a, Result<Value, StepFailure>> {
        async move {
            self.calls.lock().unwrap().push(step.qualified_action());
            match step.qualified_action().as_str() {
                "slack.post_message" if *self.down.lock().unwrap() => Err(StepFailure::new(
                    "upstream_outcome_unknown: outcome unknown, the service may have acted (HTTP 503)",
                    true,
                )
                .outcome_unknown()),
                "slack.post_message" => Ok(json!({"ok": true, "ts": "1.2"})),
                other => Ok(json!({"ran": other})),
            }
        }
        .boxed()
    }
}

fn runner() -> Runner {
    Runner { down: Mutex::new(true), calls: Mutex::new(Vec::new()) }
}

fn pipeline(retry_unknown: bool) -> Pipeline {
    validate_document(
        &json!({"actions": [
            {"type": "sendSlack", "params": {"channel": "#general", "text": "hi"}, "retry_unknown": retry_unknown},
            {"type": "log", "params": {"message": "after"}}]}),
        &support::catalogue(),
        &Limits::default(),
    )
    .unwrap()
}

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
}

const RULES: CostRules = CostRules { run_cost: 1, ai_step_cost: 2 };

#[tokio::test]
async fn an_unknown_outcome_stops_the_run_at_the_step() {
    let (p, r, clock) = (pipeline(false), runner(), clock());
    let mut state = RunState::new(&p);
    let outcome = execute(&p, &json!({}), &mut state, &r, &clock, &RULES).await;
    assert_eq!(outcome.status, RunStatus::Unknown);
    assert_eq!(outcome.failed_step.as_deref(), Some("s1"));
    assert!(!outcome.retryable, "the job must not send it again by itself");
    assert_eq!(state.steps[0].status, StepStatus::Unknown);
    assert_eq!(state.steps[1].status, StepStatus::Pending);
    assert_eq!(*r.calls.lock().unwrap(), ["slack.post_message"]);

    // A failed-run resume (what a plain job retry does) leaves it alone.
    assert_eq!(state.resume(), None);
    let again = execute(&p, &json!({}), &mut state, &r, &clock, &RULES).await;
    assert_eq!(again.status, RunStatus::Unknown);
    assert_eq!(r.calls.lock().unwrap().len(), 1, "not sent again");
    // Stored and read back, it is still unknown.
    let back: RunState = serde_json::from_value(serde_json::to_value(&state).unwrap()).unwrap();
    assert_eq!(back.steps[0].status, StepStatus::Unknown);
}

#[tokio::test]
async fn skip_goes_on_after_the_step_without_sending_it() {
    let (p, r, clock) = (pipeline(false), runner(), clock());
    let mut state = RunState::new(&p);
    execute(&p, &json!({}), &mut state, &r, &clock, &RULES).await;
    assert_eq!(state.resolve("s1", Resolution::Skip), Ok(0));
    let outcome = execute(&p, &json!({}), &mut state, &r, &clock, &RULES).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(outcome.ran, ["s2"]);
    assert_eq!(*r.calls.lock().unwrap(), ["slack.post_message", "builtin.log"]);
    assert_eq!(state.steps[0].status, StepStatus::Skipped);
    assert!(state.steps[0].error.is_some(), "why it has no output stays on record");
}

#[tokio::test]
async fn send_again_sends_the_step_again() {
    let (p, r, clock) = (pipeline(false), runner(), clock());
    let mut state = RunState::new(&p);
    execute(&p, &json!({}), &mut state, &r, &clock, &RULES).await;
    *r.down.lock().unwrap() = false;
    assert_eq!(state.resolve("s1", Resolution::SendAgain), Ok(0));
    let outcome = execute(&p, &json!({}), &mut state, &r, &clock, &RULES).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(outcome.ran, ["s1", "s2"]);
    assert_eq!(state.steps[0].attempts, 2);
    assert_eq!(state.steps[0].output, Some(json!({"ok": true, "ts": "1.2"})));
}

#[tokio::test]
async fn only_an_unknown_step_can_be_resolved() {
    let (p, r, clock) = (pipeline(false), runner(), clock());
    let mut state = RunState::new(&p);
    assert!(matches!(state.resolve("s1", Resolution::Skip), Err(ResolveError::NotUnknown { .. })));
    execute(&p, &json!({}), &mut state, &r, &clock, &RULES).await;
    assert!(matches!(state.resolve("s2", Resolution::Skip), Err(ResolveError::NotUnknown { .. })));
    assert_eq!(state.resolve("s9", Resolution::Skip), Err(ResolveError::NoSuchStep("s9".into())));
}

#[tokio::test]
async fn retry_unknown_makes_it_an_ordinary_retryable_failure() {
    let (p, r, clock) = (pipeline(true), runner(), clock());
    assert!(p.steps[0].retry_unknown);
    assert_eq!(p.to_value()["steps"][0]["retry_unknown"], true, "kept when stored");
    assert!(p.to_value()["steps"][1].get("retry_unknown").is_none());
    let mut state = RunState::new(&p);
    let outcome = execute(&p, &json!({}), &mut state, &r, &clock, &RULES).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(outcome.retryable, "the job's back-off sends it again");
    assert_eq!(state.steps[0].status, StepStatus::Failed);
    *r.down.lock().unwrap() = false;
    assert_eq!(state.resume(), Some(0));
    let outcome = execute(&p, &json!({}), &mut state, &r, &clock, &RULES).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
}

#[test]
fn retry_unknown_must_be_a_boolean() {
    let problems = validate_document(
        &json!({"actions": [{"type": "sendSlack", "params": {"channel": "#a", "text": "hi"}, "retry_unknown": "yes"}]}),
        &support::catalogue(),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(problems[0].field, "actions[0].retry_unknown");
}
