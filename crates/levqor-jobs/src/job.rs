//! The job: its states, priorities and the record every backend stores.

use std::fmt;
use std::str::FromStr;

use levqor_core::{Timestamp, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::id::{JobId, LeaseToken};

/// Where a job is in its life. `failed` means "will retry"; `dead` means out of
/// attempts. `succeeded`, `dead` and `cancelled` are terminal (a manual retry of a
/// dead job starts a new life, see [`crate::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Dead,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a job state")]
pub struct UnknownState(pub String);

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Dead,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.chars().take(32).collect()))
    }

    /// No worker will touch the job again (unless its owner retries it).
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Dead | JobState::Cancelled)
    }

    /// States a claim may pick up once `run_at` has come: `queued`, and `failed`
    /// whose back-off has elapsed (the claim requeues and claims it in one step).
    pub fn is_claimable(self) -> bool {
        matches!(self, JobState::Queued | JobState::Failed)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a priority")]
pub struct UnknownPriority(pub String);

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Normal, Priority::High];

    /// Higher runs first. Stored as this integer so `ORDER BY priority DESC` works.
    pub fn rank(self) -> i16 {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
        }
    }

    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.rank() == rank)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownPriority> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPriority(s.chars().take(32).collect()))
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub owner: UserId,
    pub workflow: String,
    pub payload: Value,
    pub state: JobState,
    pub priority: Priority,
    /// Attempts started so far; a claim counts one.
    pub attempts: u32,
    pub max_attempts: u32,
    pub timeout_s: u32,
    /// Not claimed before this instant (initial schedule, or the retry back-off).
    pub run_at: Timestamp,
    pub callback_url: Option<String>,
    pub result: Option<Value>,
    pub error: Option<String>,
    #[serde(skip)]
    pub lease_token: Option<LeaseToken>,
    pub lease_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl Job {
    pub fn attempts_left(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts)
    }

    /// The document `GET /api/v1/status/{job_id}` answers and callbacks POST.
    pub fn status_doc(&self) -> JobStatusDoc {
        JobStatusDoc {
            job_id: self.id.clone(),
            status: self.state,
            workflow: self.workflow.clone(),
            attempts: self.attempts,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            result: self.result.clone(),
            error: self.error.clone(),
        }
    }
}

/// The public view of a job (API § Jobs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatusDoc {
    pub job_id: JobId,
    pub status: JobState,
    pub workflow: String,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub result: Option<Value>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_as_lowercase_strings() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        assert!(JobState::parse("Queued").is_err());
    }

    #[test]
    fn terminal_and_claimable_states() {
        let terminal: Vec<_> = JobState::ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal, [JobState::Succeeded, JobState::Dead, JobState::Cancelled]);
        let claimable: Vec<_> = JobState::ALL.into_iter().filter(|s| s.is_claimable()).collect();
        assert_eq!(claimable, [JobState::Queued, JobState::Failed]);
    }

    #[test]
    fn priorities_rank_high_first() {
        assert!(Priority::High.rank() > Priority::Normal.rank());
        assert!(Priority::Normal.rank() > Priority::Low.rank());
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(p.rank()), Some(p));
            assert_eq!(Priority::parse(p.as_str()), Ok(p));
        }
        assert_eq!(Priority::default(), Priority::Normal);
        assert!(Priority::parse("urgent").is_err());
    }
}
