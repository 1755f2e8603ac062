//! Planners: plain words → a validated [`Pipeline`].

use futures_util::future::BoxFuture;
use levqor_core::FieldProblem;
use serde::Serialize;

use crate::document::Pipeline;

mod http;
mod openai;
mod rules;
pub mod schedule;
mod trigger;

pub use openai::{OpenAiConfig, OpenAiPlanner, extract_json};
pub use rules::RulePlanner;

#[allow(clippy::expect_used)] // constant patterns, compiled by every test
fn re(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).expect("a valid constant pattern")
}

/// Longest description a planner accepts, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// Which planner produced a plan (`"openai"` or `"rules"` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlannerKind {
    #[serde(rename = "openai")]
    OpenAi,
    Rules,
}

impl PlannerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlannerKind::OpenAi => "openai",
            PlannerKind::Rules => "rules",
        }
    }
}

/// A validated pipeline, who made it, and what the caller should know
/// (guessed values, a fallback from OpenAI to the rules).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub pipeline: Pipeline,
    pub planner: PlannerKind,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// Blank or too long (a 400).
    #[error("the description is invalid: {0}")]
    InvalidDescription(String),
    /// Nothing in the description maps to a connector action (a 422).
    #[error("could not find anything to do in the description: {hint}")]
    NotUnderstood { hint: String },
    /// The planner produced a pipeline that does not validate (a 422).
    #[error("the planned pipeline is invalid")]
    Invalid(Vec<FieldProblem>),
}

/// Turns a description into a validated pipeline.
pub trait Planner: Send + Sync {
    fn plan<'a>(&'a self, description: &'a str) -> BoxFuture<'a, Result<Plan, PlanError>>;
}

/// The description, trimmed, or why it cannot be planned.
pub fn check_description(description: &str) -> Result<&str, PlanError> {
    let trimmed = description.trim();
    if trimmed.is_empty() {
        return Err(PlanError::InvalidDescription("it is empty".into()));
    }
    if trimmed.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(PlanError::InvalidDescription(format!("it is longer than {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(trimmed)
}
