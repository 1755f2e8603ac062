//! The executor core, as pure logic: a [`RunState`] records every step of a
//! run (status, rendered params, output, error, times, credits) and says which
//! step runs next; [`execute`] drives it through a [`StepRunner`], the port
//! the application plugs the connectors into.
//!
//! A run resumes where it failed: [`RunState::resume`] puts the failed step
//! back to pending, steps that succeeded keep their outputs for the templates
//! and are never run (nor billed) again. A `builtin.filter` step whose answer
//! has `"passed": false` ends the run early: the remaining steps are skipped.
//!
//! A step whose outcome is unknown (a write that got a 5xx or no answer: the
//! service may have acted) is not repeated by itself: the run stops at it,
//! marked [`StepStatus::Unknown`], until the user resolves it
//! ([`RunState::resolve`]: skip it, or send it again). A step with
//! `"retry_unknown": true` is failed as retryable instead, so the job's
//! back-off sends it again.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use levqor_core::{Clock, Credits, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cost::{CostRules, estimate_cost, step_cost};
use crate::document::{Pipeline, Step};
use crate::template::{TemplateContext, TemplateError, render};
use crate::validate::own_placeholder_field;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Succeeded,
    Failed,
    /// Not run: an earlier filter stopped the run, or the user skipped it.
    Skipped,
    /// Sent, but whether the service acted is unknown; the run waits here for
    /// the user to skip it or send it again.
    Unknown,
}

/// One step of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub connector: String,
    pub action: String,
    pub status: StepStatus,
    /// How many times the step was started.
    pub attempts: u32,
    /// The params of the last attempt, rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether trying the step again could help (for a failed step).
    #[serde(default)]
    pub retryable: bool,
    /// The wait the service asked for before another attempt, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Charged for this step (once, when it succeeded).
    pub credits: Credits,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Some step is still pending.
    Running,
    Succeeded,
    Failed,
    /// Stopped at a step whose outcome is unknown, waiting for the user.
    Unknown,
}

/// What the user decides for a step whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The service did act (or it does not matter): go on after the step.
    Skip,
    /// The service did not act: send the step again.
    SendAgain,
}

/// Why [`RunState::resolve`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("the run has no step `{0}`")]
    NoSuchStep(String),
    #[error("step `{step}` is {status:?}, not unknown: only a step whose outcome is unknown can be resolved")]
    NotUnknown { step: String, status: StepStatus },
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run the step at this index.
    Run(usize),
    /// Nothing left to run.
    Done(RunStatus),
}

/// A step could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepFailure {
    pub message: String,
    pub retryable: bool,
    /// The step may have acted at the service (see [`StepStatus::Unknown`]).
    pub outcome_unknown: bool,
    /// The wait the service asked for before another attempt.
    pub retry_after: Option<std::time::Duration>,
}

impl StepFailure {
    pub fn new(message: impl Into<String>, retryable: bool) -> Self {
        Self { message: message.into(), retryable, outcome_unknown: false, retry_after: None }
    }

    /// The step may have acted: the run stops for the user unless the step
    /// opted into `retry_unknown`.
    pub fn outcome_unknown(mut self) -> Self {
        self.outcome_unknown = true;
        self
    }

    pub fn retry_after(mut self, wait: Option<std::time::Duration>) -> Self {
        self.retry_after = wait;
        self
    }
}

/// Runs one step's connector action with rendered params.
pub trait StepRunner: Send + Sync {
    fn run<'a>(&'a self, step: &'a Step, params: Map<String, Value>) -> BoxFuture<'a, Result<Value, StepFailure>>;
}

/// The record of a run, step by step; serialisable, so the application can
/// store it with the job and pick it up again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub steps: Vec<StepRecord>,
}

impl RunState {
    /// Every step pending.
    pub fn new(pipeline: &Pipeline) -> Self {
        let steps = pipeline
            .steps
            .iter()
            .map(|s| StepRecord {
                id: s.id.clone(),
                connector: s.connector.clone(),
                action: s.action.clone(),
                status: StepStatus::Pending,
                attempts: 0,
                params: None,
                output: None,
                error: None,
                retryable: false,
                retry_after_s: None,
                started_at: None,
                finished_at: None,
                duration_ms: None,
                credits: Credits::ZERO,
            })
            .collect();
        Self { steps }
    }

    /// Whether this record belongs to `pipeline` (same steps in the same order).
    pub fn matches(&self, pipeline: &Pipeline) -> bool {
        self.steps.len() == pipeline.steps.len()
            && self
                .steps
                .iter()
                .zip(&pipeline.steps)
                .all(|(r, s)| r.id == s.id && r.connector == s.connector && r.action == s.action)
    }

    pub fn next(&self) -> Next {
        for (i, step) in self.steps.iter().enumerate() {
            match step.status {
                StepStatus::Failed => return Next::Done(RunStatus::Failed),
                StepStatus::Unknown => return Next::Done(RunStatus::Unknown),
                StepStatus::Pending => return Next::Run(i),
                StepStatus::Succeeded | StepStatus::Skipped => {}
            }
        }
        Next::Done(RunStatus::Succeeded)
    }

    pub fn status(&self) -> RunStatus {
        match self.next() {
            Next::Run(_) => RunStatus::Running,
            Next::Done(status) => status,
        }
    }

    /// Puts the failed step back to pending (for a retry) and returns its index.
    pub fn resume(&mut self) -> Option<usize> {
        let index = self.steps.iter().position(|s| s.status == StepStatus::Failed)?;
        let step = &mut self.steps[index];
        step.status = StepStatus::Pending;
        step.error = None;
        step.retryable = false;
        step.retry_after_s = None;
        Some(index)
    }

    /// The user's decision for the step whose outcome is unknown: skip it (the
    /// run goes on after it) or send it again (it is pending once more).
    /// Returns the step's index.
    pub fn resolve(&mut self, step_id: &str, resolution: Resolution) -> Result<usize, ResolveError> {
        let index = self
            .steps
            .iter()
            .position(|s| s.id == step_id)
            .ok_or_else(|| ResolveError::NoSuchStep(step_id.chars().take(64).collect()))?;
        let step = &mut self.steps[index];
        if step.status != StepStatus::Unknown {
            return Err(ResolveError::NotUnknown { step: step.id.clone(), status: step.status });
        }
        match resolution {
            // The error stays on record: it says why the step has no output.
            Resolution::Skip => step.status = StepStatus::Skipped,
            Resolution::SendAgain => {
                step.status = StepStatus::Pending;
                step.error = None;
            }
        }
        step.retryable = false;
        step.retry_after_s = None;
        Ok(index)
    }

    /// Outputs of the steps that succeeded, by id.
    pub fn outputs(&self) -> BTreeMap<String, Value> {
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Succeeded)
            .filter_map(|s| s.output.clone().map(|o| (s.id.clone(), o)))
            .collect()
    }

    /// The params of step `index` with the input and earlier outputs filled in.
    pub fn render_params(
        &self,
        pipeline: &Pipeline,
        index: usize,
        input: &Value,
    ) -> Result<Map<String, Value>, TemplateError> {
        let Some(step) = pipeline.steps.get(index) else {
            return Ok(Map::new());
        };
        let outputs = self.outputs();
        let ctx = TemplateContext::new(input, &outputs);
        let mut params = render(&step.params, &ctx, own_placeholder_field(&step.connector, &step.action))?;
        crate::original::fill_input_text(step, &mut params, input);
        Ok(params)
    }

    /// Marks step `index` as started.
    pub fn start(&mut self, index: usize, params: Option<Map<String, Value>>, at: Timestamp) {
        if let Some(step) = self.steps.get_mut(index) {
            step.attempts = step.attempts.saturating_add(1);
            step.params = params;
            step.started_at = Some(at);
            step.finished_at = None;
            step.duration_ms = None;
        }
    }

    fn finish(step: &mut StepRecord, at: Timestamp) {
        step.finished_at = Some(at);
        step.duration_ms = step.started_at.map(|s| u64::try_from((at - s).num_milliseconds()).unwrap_or(0));
    }

    pub fn record_success(&mut self, index: usize, output: Value, credits: Credits, at: Timestamp) {
        if let Some(step) = self.steps.get_mut(index) {
            step.status = StepStatus::Succeeded;
            step.output = Some(output);
            step.error = None;
            step.credits = credits;
            Self::finish(step, at);
        }
    }

    pub fn record_failure(&mut self, index: usize, error: impl Into<String>, retryable: bool, at: Timestamp) {
        if let Some(step) = self.steps.get_mut(index) {
            step.status = StepStatus::Failed;
            step.error = Some(error.into());
            step.retryable = retryable;
            step.retry_after_s = None;
            Self::finish(step, at);
        }
    }

    /// A failure as the step runner reported it: an unknown outcome stops the
    /// run at the step (unless the step opted into `retry_unknown`, which makes
    /// it an ordinary retryable failure).
    pub fn record_step_failure(&mut self, index: usize, failure: StepFailure, retry_unknown: bool, at: Timestamp) {
        let wait = failure.retry_after.map(|w| w.as_secs() + u64::from(w.subsec_nanos() > 0));
        if failure.outcome_unknown && !retry_unknown {
            self.record_failure(index, failure.message, false, at);
            if let Some(step) = self.steps.get_mut(index) {
                step.status = StepStatus::Unknown;
            }
        } else {
            self.record_failure(index, failure.message, failure.retryable, at);
            if let Some(step) = self.steps.get_mut(index) {
                step.retry_after_s = wait;
            }
        }
    }

    /// Skips every pending step after `index`.
    pub fn skip_after(&mut self, index: usize) {
        for step in self.steps.iter_mut().skip(index + 1) {
            if step.status == StepStatus::Pending {
                step.status = StepStatus::Skipped;
            }
        }
    }

    /// Credits charged for the steps so far.
    pub fn step_credits(&self) -> Credits {
        Credits::new(self.steps.iter().map(|s| s.credits.get()).fold(0, i64::saturating_add))
    }

    /// What the run costs in all: the run price plus the steps that ran.
    pub fn total_cost(&self, rules: &CostRules) -> Credits {
        Credits::new(rules.run_cost.max(0).saturating_add(self.step_credits().get()))
    }
}

/// How a call to [`execute`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// The id of the step that failed, or whose outcome is unknown.
    pub failed_step: Option<String>,
    pub retryable: bool,
    /// The wait the failed step's service asked for.
    pub retry_after: Option<std::time::Duration>,
    /// Steps run by this call.
    pub ran: Vec<String>,
}

/// Runs the pending steps of `state` in order until one fails (or its outcome
/// is unknown) or none is left. Call [`RunState::resume`] first to retry a
/// failed run, [`RunState::resolve`] to go on after an unknown step.
pub async fn execute(
    pipeline: &Pipeline,
    input: &Value,
    state: &mut RunState,
    runner: &dyn StepRunner,
    clock: &dyn Clock,
    rules: &CostRules,
) -> RunOutcome {
    let mut ran = Vec::new();
    loop {
        match execute_next(pipeline, input, state, runner, clock, rules).await {
            Some(id) => ran.push(id),
            None => return outcome(state, ran),
        }
    }
}

/// What `state` says about a finished run, with the steps this call ran.
pub fn outcome(state: &RunState, ran: Vec<String>) -> RunOutcome {
    let failed = state.steps.iter().find(|s| matches!(s.status, StepStatus::Failed | StepStatus::Unknown));
    RunOutcome {
        status: state.status(),
        failed_step: failed.map(|s| s.id.clone()),
        retryable: failed.is_some_and(|s| s.status == StepStatus::Failed && s.retryable),
        retry_after: failed.and_then(|s| s.retry_after_s).map(std::time::Duration::from_secs),
        ran,
    }
}

/// Runs the next pending step of `state`, if there is one, and returns its id;
/// `None` when the run is done (succeeded, failed or stopped at an unknown
/// step). Lets the caller store the state between steps.
pub async fn execute_next(
    pipeline: &Pipeline,
    input: &Value,
    state: &mut RunState,
    runner: &dyn StepRunner,
    clock: &dyn Clock,
    rules: &CostRules,
) -> Option<String> {
    let index = match state.next() {
        Next::Run(i) => i,
        Next::Done(_) => return None,
    };
    let Some(step) = pipeline.steps.get(index) else {
        state.record_failure(index, "the pipeline has no such step", false, clock.now());
        return state.steps.get(index).map(|s| s.id.clone());
    };
    // A value the original left for the user to fill in is never sent anywhere.
    if let Some(why) = crate::original::unfilled(step) {
        let now = clock.now();
        state.start(index, None, now);
        state.record_failure(index, why, false, now);
        return Some(step.id.clone());
    }
    let params = match state.render_params(pipeline, index, input) {
        Ok(params) => params,
        Err(e) => {
            let now = clock.now();
            state.start(index, None, now);
            state.record_failure(index, e.to_string(), false, now);
            return Some(step.id.clone());
        }
    };
    state.start(index, Some(params.clone()), clock.now());
    match runner.run(step, params).await {
        Ok(output) => {
            let stop = step.connector == "builtin" && step.action == "filter" && output["passed"] == Value::Bool(false);
            state.record_success(index, output, step_cost(step, rules), clock.now());
            if stop {
                state.skip_after(index);
            }
        }
        Err(failure) => state.record_step_failure(index, failure, step.retry_unknown, clock.now()),
    }
    Some(step.id.clone())
}

/// One step of a dry run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRunStep {
    pub id: String,
    pub connector: String,
    pub action: String,
    /// Rendered against the input; outputs of earlier steps stay as placeholders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a run would do, without doing it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRun {
    /// Every step rendered.
    pub ok: bool,
    pub steps: Vec<DryRunStep>,
    pub estimated_cost: Credits,
}

/// Renders every step's params against `input` and estimates the cost;
/// nothing is called.
pub fn dry_run(pipeline: &Pipeline, input: &Value, rules: &CostRules) -> DryRun {
    let outputs = BTreeMap::new();
    let ctx = TemplateContext { keep_pending_steps: true, ..TemplateContext::new(input, &outputs) };
    let steps: Vec<DryRunStep> = pipeline
        .steps
        .iter()
        .map(|s| {
            let rendered = render(&s.params, &ctx, own_placeholder_field(&s.connector, &s.action)).map(|mut p| {
                crate::original::fill_input_text(s, &mut p, input);
                p
            });
            let rendered = match crate::original::unfilled(s) {
                Some(why) => Err(why),
                None => rendered.map_err(|e| e.to_string()),
            };
            DryRunStep {
                id: s.id.clone(),
                connector: s.connector.clone(),
                action: s.action.clone(),
                error: rendered.as_ref().err().cloned(),
                params: rendered.ok(),
            }
        })
        .collect();
    DryRun { ok: steps.iter().all(|s| s.error.is_none()), steps, estimated_cost: estimate_cost(pipeline, rules) }
}
