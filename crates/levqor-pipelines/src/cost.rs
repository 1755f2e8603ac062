//! What a run costs, in credits: a fixed price per run plus a price per step
//! that calls an AI model.

use levqor_core::Credits;
use serde::{Deserialize, Serialize};

use crate::document::{Pipeline, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostRules {
    /// Charged once per run (`RUN_COST`).
    pub run_cost: i64,
    /// Charged for each `ai` step that runs.
    pub ai_step_cost: i64,
}

impl Default for CostRules {
    fn default() -> Self {
        Self { run_cost: 1, ai_step_cost: 1 }
    }
}

/// Whether a step is billed as an AI step.
pub fn is_ai_step(step: &Step) -> bool {
    step.connector == "ai"
}

/// The credits one step costs when it succeeds.
pub fn step_cost(step: &Step, rules: &CostRules) -> Credits {
    Credits::new(if is_ai_step(step) { rules.ai_step_cost.max(0) } else { 0 })
}

/// The most a run of `pipeline` can cost: the run price plus every AI step.
pub fn estimate_cost(pipeline: &Pipeline, rules: &CostRules) -> Credits {
    let steps = pipeline.steps.iter().map(|s| step_cost(s, rules).get()).fold(0i64, i64::saturating_add);
    Credits::new(rules.run_cost.max(0).saturating_add(steps))
}
