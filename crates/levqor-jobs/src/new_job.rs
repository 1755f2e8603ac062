//! Intake: turning a caller's request into a valid [`NewJob`].

use chrono::TimeDelta;
use levqor_core::{FieldProblem, Timestamp, UserId};
use serde::Deserialize;
use serde_json::Value;

use crate::id::JobId;
use crate::job::{Job, JobState, Priority};

pub const MAX_PAYLOAD_BYTES: usize = 200 * 1024;
pub const MAX_WORKFLOW_CHARS: usize = 100;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u32> = 1..=20;
pub const DEFAULT_TIMEOUT_S: u32 = 300;
pub const TIMEOUT_S_RANGE: std::ops::RangeInclusive<u32> = 1..=3600;
pub const MAX_CALLBACK_URL_CHARS: usize = 2048;
/// How far ahead `run_at` may schedule a job.
pub const MAX_SCHEDULE_AHEAD_DAYS: i64 = 366;

/// The body of `POST /api/v1/intake`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeRequest {
    pub workflow: String,
    #[serde(default = "empty_object")]
    pub payload: Value,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub timeout_s: Option<u32>,
    #[serde(default)]
    pub run_at: Option<Timestamp>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A validated job, ready to be stored. The id and creation time are fixed here so
/// the intake path can answer with the id and group commits stay deterministic.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: JobId,
    pub owner: UserId,
    pub workflow: String,
    pub payload: Value,
    pub priority: Priority,
    pub max_attempts: u32,
    pub timeout_s: u32,
    pub run_at: Timestamp,
    pub callback_url: Option<String>,
    pub created_at: Timestamp,
}

impl NewJob {
    /// Validates an intake request. `is_known_workflow` lets the caller reject an
    /// unknown workflow here (a 400 at intake, not a failure later) together with
    /// every other problem.
    pub fn from_intake(
        owner: UserId,
        request: IntakeRequest,
        now: Timestamp,
        is_known_workflow: &dyn Fn(&str) -> bool,
    ) -> Result<Self, Vec<FieldProblem>> {
        let mut problems = Vec::new();

        let workflow = request.workflow.trim().to_owned();
        if workflow.is_empty() {
            problems.push(FieldProblem::new("workflow", "must not be empty"));
        } else if workflow.chars().count() > MAX_WORKFLOW_CHARS {
            problems.push(FieldProblem::new("workflow", format!("must be at most {MAX_WORKFLOW_CHARS} characters")));
        } else if workflow.chars().any(char::is_control) {
            problems.push(FieldProblem::new("workflow", "must not contain control characters"));
        } else if !is_known_workflow(&workflow) {
            problems.push(FieldProblem::new("workflow", "is not a known workflow"));
        }

        match json_len(&request.payload) {
            Ok(len) if len > MAX_PAYLOAD_BYTES => problems
                .push(FieldProblem::new("payload", format!("must be at most {MAX_PAYLOAD_BYTES} bytes as JSON"))),
            Ok(_) => {}
            Err(_) => problems.push(FieldProblem::new("payload", "is not serializable JSON")),
        }

        let max_attempts = request.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !MAX_ATTEMPTS_RANGE.contains(&max_attempts) {
            problems.push(FieldProblem::new(
                "max_attempts",
                format!("must be between {} and {}", MAX_ATTEMPTS_RANGE.start(), MAX_ATTEMPTS_RANGE.end()),
            ));
        }

        let timeout_s = request.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
        if !TIMEOUT_S_RANGE.contains(&timeout_s) {
            problems.push(FieldProblem::new(
                "timeout_s",
                format!("must be between {} and {} seconds", TIMEOUT_S_RANGE.start(), TIMEOUT_S_RANGE.end()),
            ));
        }

        if let Some(Err(problem)) = request.callback_url.as_deref().map(check_callback_url) {
            problems.push(FieldProblem::new("callback_url", problem));
        }

        // A past run_at would jump the queue ahead of older jobs: treat it as "now".
        let run_at = match request.run_at {
            Some(at) if at > now + TimeDelta::days(MAX_SCHEDULE_AHEAD_DAYS) => {
                problems.push(FieldProblem::new("run_at", format!("must be within {MAX_SCHEDULE_AHEAD_DAYS} days")));
                now
            }
            Some(at) => at.max(now),
            None => now,
        };

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(NewJob {
            id: JobId::new(),
            owner,
            workflow,
            payload: request.payload,
            priority: request.priority.unwrap_or_default(),
            max_attempts,
            timeout_s,
            run_at,
            callback_url: request.callback_url,
            created_at: now,
        })
    }

    /// The job as first stored: queued, no attempts yet.
    pub fn to_job(&self) -> Job {
        Job {
            id: self.id.clone(),
            owner: self.owner.clone(),
            workflow: self.workflow.clone(),
            payload: self.payload.clone(),
            state: JobState::Queued,
            priority: self.priority,
            attempts: 0,
            max_attempts: self.max_attempts,
            timeout_s: self.timeout_s,
            run_at: self.run_at,
            callback_url: self.callback_url.clone(),
            result: None,
            error: None,
            lease_token: None,
            lease_expires_at: None,
            created_at: self.created_at,
            started_at: None,
            finished_at: None,
            updated_at: self.created_at,
        }
    }
}

fn check_callback_url(raw: &str) -> Result<(), &'static str> {
    if raw.len() > MAX_CALLBACK_URL_CHARS {
        return Err("is too long");
    }
    let url = url::Url::parse(raw).map_err(|_| "must be an absolute http or https URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an absolute http or https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    Ok(())
}

/// The length of `value` as compact JSON, counted without building the text (this
/// runs for every intake).
fn json_len(value: &serde_json::Value) -> Result<usize, serde_json::Error> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value)?;
    Ok(count.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
    }

    fn request(body: Value) -> IntakeRequest {
        serde_json::from_value(body).unwrap()
    }

    fn validate(body: Value) -> Result<NewJob, Vec<FieldProblem>> {
        NewJob::from_intake(UserId::new(), request(body), now(), &|w| w == "echo")
    }

    fn fields(problems: Vec<FieldProblem>) -> Vec<String> {
        problems.into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn defaults_apply() {
        let job = validate(json!({"workflow": "echo", "payload": {"a": 1}})).unwrap();
        assert_eq!(job.max_attempts, 3);
        assert_eq!(job.timeout_s, 300);
        assert_eq!(job.priority, Priority::Normal);
        assert_eq!(job.run_at, now());
        let stored = job.to_job();
        assert_eq!(stored.state, JobState::Queued);
        assert_eq!(stored.attempts, 0);
        assert_eq!(stored.payload, json!({"a": 1}));
    }

    #[test]
    fn missing_payload_is_an_empty_object() {
        let job = validate(json!({"workflow": "echo"})).unwrap();
        assert_eq!(job.payload, json!({}));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<IntakeRequest, _> = serde_json::from_value(json!({"workflow": "echo", "surprise": 1}));
        assert!(parsed.is_err());
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let problems = validate(json!({
            "workflow": "",
            "max_attempts": 0,
            "timeout_s": 3601,
            "callback_url": "ftp://example.com/x",
        }))
        .unwrap_err();
        assert_eq!(fields(problems), ["workflow", "max_attempts", "timeout_s", "callback_url"]);
    }

    #[test]
    fn ranges_are_inclusive() {
        assert!(validate(json!({"workflow": "echo", "max_attempts": 20, "timeout_s": 3600})).is_ok());
        assert!(validate(json!({"workflow": "echo", "max_attempts": 1, "timeout_s": 1})).is_ok());
        assert!(validate(json!({"workflow": "echo", "max_attempts": 21})).is_err());
    }

    #[test]
    fn oversized_payload_is_refused() {
        let big = "x".repeat(MAX_PAYLOAD_BYTES);
        let problems = validate(json!({"workflow": "echo", "payload": {"big": big}})).unwrap_err();
        assert_eq!(fields(problems), ["payload"]);
    }

    #[test]
    fn workflow_rules() {
        let long = "w".repeat(MAX_WORKFLOW_CHARS + 1);
        assert_eq!(fields(validate(json!({"workflow": long})).unwrap_err()), ["workflow"]);
        let unknown = validate(json!({"workflow": "nope"})).unwrap_err();
        assert_eq!(unknown[0].problem, "is not a known workflow");
    }

    #[test]
    fn callback_urls_must_be_http() {
        assert!(validate(json!({"workflow": "echo", "callback_url": "https://example.com/cb"})).is_ok());
        for bad in ["not a url", "/relative", "javascript:alert(1)", "https://u:p@example.com/"] {
            let problems = validate(json!({"workflow": "echo", "callback_url": bad})).unwrap_err();
            assert_eq!(fields(problems), ["callback_url"], "{bad}");
        }
    }

    #[test]
    fn run_at_is_clamped_to_now_and_bounded() {
        let past = validate(json!({"workflow": "echo", "run_at": "2001-01-01T00:00:00Z"})).unwrap();
        assert_eq!(past.run_at, now());
        let later = validate(json!({"workflow": "echo", "run_at": "2030-01-02T00:00:00Z"})).unwrap();
        assert_eq!(later.run_at, now() + TimeDelta::days(1));
        assert!(validate(json!({"workflow": "echo", "run_at": "2040-01-01T00:00:00Z"})).is_err());
    }

    #[test]
    fn json_len_counts_the_compact_text() {
        let v = serde_json::json!({"a": [1, 2.5, "é", null], "b": {"c": true}});
        assert_eq!(super::json_len(&v).unwrap(), serde_json::to_vec(&v).unwrap().len());
    }
}
