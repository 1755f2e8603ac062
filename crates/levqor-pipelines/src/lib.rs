//! Levqor's pipelines, as pure domain logic: no HTTP server, no SQL.
//!
//! - [`document`]: the pipeline document. The original service's shape
//!   (`{trigger, schedule?, actions: [{type, connector, params}]}` with action
//!   types `sendSlack`, `createPage`, `sendEmail`, `summarize`, `filter`,
//!   `transform`, `log`) is accepted and normalised into a [`Pipeline`] whose
//!   [`Step`]s (`s1`, `s2`, …) name real connector actions.
//!   [`pipeline_schema`] is its JSON Schema.
//! - [`validate_document`]: every problem with a field path
//!   (`actions[1].params.channel`), checked against the live connector
//!   [`Catalogue`]: structure, known connector and action, params present and
//!   typed, references only to earlier steps, the step limit, the cron
//!   expression of `schedule` triggers. [`check_document`] adds warnings.
//! - [`original`]: the original's documents as it wrote them: placeholders
//!   (warned on create, refused at run time), AI steps without `text` (the
//!   run's input), `schedule` without a cron (inferred from the description).
//! - [`template`]: `{{input.a.b}}` and `{{steps.<id>.output.a}}` in params.
//! - [`planner`]: plain words → a validated pipeline, by OpenAI
//!   ([`OpenAiPlanner`], falling back to the rules) or by rules ([`RulePlanner`]).
//! - [`cost`]: the credits a run costs.
//! - [`run`]: the executor core: which step runs next, its rendered params,
//!   and the record of every step, with connector calls behind [`StepRunner`].
//! - [`ports`]: stored, versioned pipelines, runs and schedule claims
//!   ([`PipelineRepo`], [`RunRepo`], [`ScheduleClaims`]); [`memory`] keeps them
//!   in memory, `levqor-store` in SQL, and both pass [`contract`] (feature
//!   `contract-tests`).

pub mod catalogue;
#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;
pub mod cost;
pub mod document;
pub mod memory;
pub mod original;
pub mod planner;
pub mod ports;
pub mod run;
pub mod schedule;
pub mod template;
pub mod validate;

pub use catalogue::Catalogue;
pub use cost::{CostRules, estimate_cost};
pub use document::{ACTION_TYPES, Pipeline, Step, Trigger, pipeline_schema};
pub use memory::MemoryPipelines;
pub use planner::{OpenAiConfig, OpenAiPlanner, Plan, PlanError, Planner, PlannerKind, RulePlanner, extract_json};
pub use ports::{
    NewRun, PipelineId, PipelineRepo, PipelineStore, PipelinesError, RUN_WORKFLOW_PREFIX, RunRepo, ScheduleClaims,
    ScheduledPipeline, StoredPipeline, StoredRun, run_workflow, run_workflow_pipeline,
};
pub use run::{
    DryRun, DryRunStep, Next, Resolution, ResolveError, RunOutcome, RunState, RunStatus, StepFailure, StepRecord,
    StepRunner, StepStatus, dry_run, execute, execute_next,
};
pub use template::{TemplateContext, TemplateError, render};
pub use validate::{Limits, Validated, check_document, validate_document, validate_pipeline};
