//! The queue's rules as pure functions from a job to its next version. The
//! in-memory queue applies them directly; the store applies the same functions to
//! the row it locked inside its transaction (or mirrors them in SQL and is held to
//! them by the contract tests).

use std::cmp::Ordering;

use chrono::TimeDelta;
use levqor_core::Timestamp;
use serde_json::Value;

use crate::id::LeaseToken;
use crate::job::{Job, JobState};
use crate::retry::RetryPolicy;
use crate::state::{IllegalTransition, JobEvent, transition};

/// Longer error messages are cut: they are stored and shown, not archived.
pub const MAX_ERROR_CHARS: usize = 4000;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    Failed {
        error: String,
        retryable: bool,
        /// The next attempt waits at least this long (see [`crate::JobError::retry_after`]).
        retry_after: Option<std::time::Duration>,
    },
}

/// What becomes of a job whose attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePlan {
    /// `failed` (will retry at `run_at`) or `dead`.
    pub next_state: JobState,
    pub run_at: Timestamp,
}

/// Claim order: priority first (high before low), then `run_at`, then age; the id
/// breaks ties so the order is total.
pub fn claim_order(a: &Job, b: &Job) -> Ordering {
    b.priority
        .rank()
        .cmp(&a.priority.rank())
        .then(a.run_at.cmp(&b.run_at))
        .then(a.created_at.cmp(&b.created_at))
        .then(a.id.cmp(&b.id))
}

/// May a claim at `now` take this job?
pub fn is_due(job: &Job, now: Timestamp) -> bool {
    job.state.is_claimable() && job.run_at <= now
}

/// Does `token` hold the job's live lease? Finishing and heartbeats require it.
pub fn holds_lease(job: &Job, token: &LeaseToken) -> bool {
    job.state == JobState::Running && job.lease_token.as_ref() == Some(token)
}

/// A `std` duration as a chrono delta; absurdly long ones saturate.
pub fn delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

pub fn claim(job: &Job, token: LeaseToken, lease: TimeDelta, now: Timestamp) -> Result<Job, IllegalTransition> {
    // A failed job whose back-off elapsed is requeued and claimed in one step.
    let from = match job.state {
        JobState::Failed => transition(JobState::Failed, JobEvent::Requeue)?,
        other => other,
    };
    let state = transition(from, JobEvent::Claim)?;
    Ok(Job {
        state,
        attempts: job.attempts.saturating_add(1),
        lease_token: Some(token),
        lease_expires_at: Some(now.checked_add_signed(lease).unwrap_or(now)),
        started_at: Some(now),
        updated_at: now,
        ..job.clone()
    })
}

/// Decides what a failed attempt leads to. `unit` is the jitter sample in `[0, 1)`.
pub fn plan_failure(
    job: &Job,
    retryable: bool,
    policy: &RetryPolicy,
    now: Timestamp,
    unit: f64,
) -> Result<FailurePlan, IllegalTransition> {
    let event = JobEvent::Fail { retryable, attempts_left: job.attempts_left() };
    plan(job, event, policy, now, unit)
}

fn plan(
    job: &Job,
    event: JobEvent,
    policy: &RetryPolicy,
    now: Timestamp,
    unit: f64,
) -> Result<FailurePlan, IllegalTransition> {
    let next_state = transition(job.state, event)?;
    let run_at = if next_state == JobState::Failed {
        let wait = delta(policy.delay(job.attempts, unit));
        now.checked_add_signed(wait).unwrap_or(now)
    } else {
        job.run_at
    };
    Ok(FailurePlan { next_state, run_at })
}

/// The job after its attempt ended with `outcome`.
pub fn finish(
    job: &Job,
    outcome: &Outcome,
    policy: &RetryPolicy,
    now: Timestamp,
    unit: f64,
) -> Result<Job, IllegalTransition> {
    match outcome {
        Outcome::Succeeded(result) => {
            let state = transition(job.state, JobEvent::Succeed)?;
            Ok(Job { state, result: Some(result.clone()), error: None, finished_at: Some(now), ..released(job, now) })
        }
        Outcome::Failed { error, retryable, retry_after } => {
            let mut plan = plan_failure(job, *retryable, policy, now, unit)?;
            if plan.next_state == JobState::Failed
                && let Some(wait) = retry_after
            {
                let earliest = now.checked_add_signed(delta(*wait)).unwrap_or(now);
                plan.run_at = plan.run_at.max(earliest);
            }
            Ok(failed(job, plan, error, now))
        }
    }
}

/// The job after its lease ran out without a heartbeat.
pub fn rescue(job: &Job, policy: &RetryPolicy, now: Timestamp, unit: f64) -> Result<Job, IllegalTransition> {
    let event = JobEvent::LeaseExpired { attempts_left: job.attempts_left() };
    let plan = plan(job, event, policy, now, unit)?;
    Ok(failed(job, plan, "the worker stopped responding (lease expired)", now))
}

fn failed(job: &Job, plan: FailurePlan, error: &str, now: Timestamp) -> Job {
    Job {
        state: plan.next_state,
        run_at: plan.run_at,
        error: Some(truncate(error)),
        finished_at: (plan.next_state == JobState::Dead).then_some(now),
        ..released(job, now)
    }
}

pub fn cancel(job: &Job, now: Timestamp) -> Result<Job, IllegalTransition> {
    let state = transition(job.state, JobEvent::Cancel)?;
    Ok(Job { state, finished_at: Some(now), ..released(job, now) })
}

/// The owner's manual retry: a fresh set of attempts, due now.
pub fn retry(job: &Job, now: Timestamp) -> Result<Job, IllegalTransition> {
    let state = transition(job.state, JobEvent::Retry)?;
    Ok(Job {
        state,
        attempts: 0,
        run_at: now,
        result: None,
        error: None,
        started_at: None,
        finished_at: None,
        ..released(job, now)
    })
}

/// A shutting-down worker gives the job back; the attempt it never finished does
/// not count against the job.
pub fn release(job: &Job, now: Timestamp) -> Result<Job, IllegalTransition> {
    let state = transition(job.state, JobEvent::Release)?;
    Ok(Job { state, attempts: job.attempts.saturating_sub(1), ..released(job, now) })
}

/// The job with its lease dropped and `updated_at` bumped.
fn released(job: &Job, now: Timestamp) -> Job {
    Job { lease_token: None, lease_expires_at: None, updated_at: now, ..job.clone() }
}

fn truncate(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &error[..cut]),
        None => error.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Priority;
    use crate::new_job::{IntakeRequest, NewJob};
    use crate::retry::Jitter;
    use chrono::TimeZone;
    use levqor_core::UserId;
    use serde_json::json;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
    }

    fn job(max_attempts: u32) -> Job {
        let request: IntakeRequest =
            serde_json::from_value(json!({"workflow": "echo", "max_attempts": max_attempts})).unwrap();
        NewJob::from_intake(UserId::new(), request, t0(), &|_| true).unwrap().to_job()
    }

    fn policy() -> RetryPolicy {
        RetryPolicy { jitter: Jitter::None, ..RetryPolicy::default() }
    }

    fn claimed(job: &Job) -> Job {
        claim(job, LeaseToken::generate(), TimeDelta::seconds(30), t0()).unwrap()
    }

    #[test]
    fn claim_counts_an_attempt_and_takes_a_lease() {
        let j = claimed(&job(3));
        assert_eq!(j.state, JobState::Running);
        assert_eq!(j.attempts, 1);
        assert_eq!(j.lease_expires_at, Some(t0() + TimeDelta::seconds(30)));
        assert!(holds_lease(&j, j.lease_token.as_ref().unwrap()));
        assert!(!holds_lease(&j, &LeaseToken::generate()));
        assert!(claim(&j, LeaseToken::generate(), TimeDelta::seconds(1), t0()).is_err());
    }

    #[test]
    fn a_requested_wait_lengthens_the_back_off() {
        let j = claimed(&job(3));
        let limited = |secs| Outcome::Failed {
            error: "upstream_rate_limited".into(),
            retryable: true,
            retry_after: Some(std::time::Duration::from_secs(secs)),
        };
        let later = finish(&j, &limited(90), &policy(), t0(), 0.0).unwrap();
        assert_eq!(later.run_at, t0() + TimeDelta::seconds(90), "at least the service's wait");
        let sooner = finish(&j, &limited(0), &policy(), t0(), 0.0).unwrap();
        assert_eq!(sooner.run_at, t0() + TimeDelta::seconds(1), "never less than the back-off");
    }

    #[test]
    fn failures_back_off_then_die() {
        let j = claimed(&job(2));
        let fail = Outcome::Failed { error: "boom".into(), retryable: true, retry_after: None };
        let once = finish(&j, &fail, &policy(), t0(), 0.0).unwrap();
        assert_eq!(once.state, JobState::Failed);
        assert_eq!(once.run_at, t0() + TimeDelta::seconds(1));
        assert_eq!(once.lease_token, None);
        assert_eq!(once.finished_at, None);
        assert!(!is_due(&once, t0()));
        assert!(is_due(&once, once.run_at));

        let again = claim(&once, LeaseToken::generate(), TimeDelta::seconds(30), once.run_at).unwrap();
        assert_eq!(again.attempts, 2);
        let dead = finish(&again, &fail, &policy(), t0(), 0.0).unwrap();
        assert_eq!(dead.state, JobState::Dead);
        assert_eq!(dead.finished_at, Some(t0()));
        assert_eq!(dead.error.as_deref(), Some("boom"));
    }

    #[test]
    fn non_retryable_failures_die_at_once() {
        let j = claimed(&job(5));
        let plan = plan_failure(&j, false, &policy(), t0(), 0.0).unwrap();
        assert_eq!(plan.next_state, JobState::Dead);
    }

    #[test]
    fn back_off_grows_with_attempts() {
        let mut j = claimed(&job(5));
        j.attempts = 3;
        let plan = plan_failure(&j, true, &policy(), t0(), 0.0).unwrap();
        assert_eq!(plan.run_at, t0() + TimeDelta::seconds(4));
    }

    #[test]
    fn success_stores_the_result() {
        let j = finish(&claimed(&job(3)), &Outcome::Succeeded(json!(1)), &policy(), t0(), 0.0).unwrap();
        assert_eq!((j.state, j.result, j.finished_at), (JobState::Succeeded, Some(json!(1)), Some(t0())));
    }

    #[test]
    fn rescue_retry_release_and_cancel() {
        let j = claimed(&job(1));
        let rescued = rescue(&j, &policy(), t0(), 0.0).unwrap();
        assert_eq!(rescued.state, JobState::Dead);
        let retried = retry(&rescued, t0()).unwrap();
        assert_eq!((retried.state, retried.attempts, retried.error.clone()), (JobState::Queued, 0, None));

        let running = claimed(&retried);
        let back = release(&running, t0()).unwrap();
        assert_eq!((back.state, back.attempts, back.lease_token.clone()), (JobState::Queued, 0, None));

        let cancelled = cancel(&back, t0()).unwrap();
        assert_eq!(cancelled.state, JobState::Cancelled);
        assert!(cancel(&cancelled, t0()).is_err());
        assert!(retry(&cancelled, t0()).is_err());
    }

    #[test]
    fn order_is_priority_then_run_at_then_age() {
        let mut a = job(1);
        let mut b = job(1);
        assert_eq!(claim_order(&a, &b), Ordering::Less);
        b.priority = Priority::High;
        assert_eq!(claim_order(&a, &b), Ordering::Greater);
        b.priority = Priority::Normal;
        a.run_at = t0() + TimeDelta::seconds(1);
        assert_eq!(claim_order(&a, &b), Ordering::Greater);
    }

    #[test]
    fn long_errors_are_cut() {
        let j = claimed(&job(1));
        let fail = Outcome::Failed { error: "é".repeat(MAX_ERROR_CHARS + 10), retryable: false, retry_after: None };
        let dead = finish(&j, &fail, &policy(), t0(), 0.0).unwrap();
        assert_eq!(dead.error.unwrap().chars().count(), MAX_ERROR_CHARS + 1);
    }
}
