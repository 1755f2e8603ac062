//! The job state machine. Every change of a job's state goes through
//! [`transition`], in memory and (by the same rules) in the store.

use crate::job::JobState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// A worker took the job (queued → running).
    Claim,
    /// The workflow returned a result.
    Succeed,
    /// The attempt failed; `attempts_left` counts attempts not yet started.
    Fail { retryable: bool, attempts_left: u32 },
    /// The back-off of a failed job has elapsed.
    Requeue,
    /// The owner cancelled the job.
    Cancel,
    /// The owner asked for another go at a failed or dead job.
    Retry,
    /// The worker stopped heartbeating; treated like a retryable failure.
    LeaseExpired { attempts_left: u32 },
    /// A worker shutting down hands a job it has not finished back to the queue.
    Release,
}

impl JobEvent {
    pub fn name(self) -> &'static str {
        match self {
            JobEvent::Claim => "claim",
            JobEvent::Succeed => "succeed",
            JobEvent::Fail { .. } => "fail",
            JobEvent::Requeue => "requeue",
            JobEvent::Cancel => "cancel",
            JobEvent::Retry => "retry",
            JobEvent::LeaseExpired { .. } => "lease_expired",
            JobEvent::Release => "release",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {} job cannot {}", from.as_str(), event.name())]
pub struct IllegalTransition {
    pub from: JobState,
    pub event: JobEvent,
}

pub fn transition(from: JobState, event: JobEvent) -> Result<JobState, IllegalTransition> {
    use JobEvent as E;
    use JobState as S;
    let next = match (from, event) {
        (S::Queued, E::Claim) => S::Running,
        (S::Running, E::Succeed) => S::Succeeded,
        (S::Running, E::Fail { retryable, attempts_left }) => {
            if retryable && attempts_left > 0 {
                S::Failed
            } else {
                S::Dead
            }
        }
        (S::Running, E::LeaseExpired { attempts_left }) => {
            if attempts_left > 0 {
                S::Failed
            } else {
                S::Dead
            }
        }
        (S::Failed, E::Requeue) => S::Queued,
        // A failed job is only waiting for its back-off, so it can still be cancelled.
        (S::Queued | S::Running | S::Failed, E::Cancel) => S::Cancelled,
        (S::Failed | S::Dead, E::Retry) => S::Queued,
        (S::Running, E::Release) => S::Queued,
        _ => return Err(IllegalTransition { from, event }),
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobEvent as E;
    use JobState as S;

    fn events() -> Vec<JobEvent> {
        let mut all = vec![E::Claim, E::Succeed, E::Requeue, E::Cancel, E::Retry, E::Release];
        for retryable in [false, true] {
            for attempts_left in [0, 1, 5] {
                all.push(E::Fail { retryable, attempts_left });
            }
        }
        for attempts_left in [0, 1, 5] {
            all.push(E::LeaseExpired { attempts_left });
        }
        all
    }

    /// The whole table, written out independently of `transition`.
    fn expected(from: JobState, event: JobEvent) -> Option<JobState> {
        match (from, event) {
            (S::Queued, E::Claim) => Some(S::Running),
            (S::Running, E::Succeed) => Some(S::Succeeded),
            (S::Running, E::Fail { retryable: true, attempts_left: 1.. }) => Some(S::Failed),
            (S::Running, E::Fail { .. }) => Some(S::Dead),
            (S::Running, E::LeaseExpired { attempts_left: 0 }) => Some(S::Dead),
            (S::Running, E::LeaseExpired { .. }) => Some(S::Failed),
            (S::Failed, E::Requeue) => Some(S::Queued),
            (S::Queued, E::Cancel) | (S::Running, E::Cancel) | (S::Failed, E::Cancel) => Some(S::Cancelled),
            (S::Failed, E::Retry) | (S::Dead, E::Retry) => Some(S::Queued),
            (S::Running, E::Release) => Some(S::Queued),
            _ => None,
        }
    }

    #[test]
    fn every_state_and_event_matches_the_table() {
        let mut legal = 0;
        for from in JobState::ALL {
            for event in events() {
                let got = transition(from, event);
                match expected(from, event) {
                    Some(to) => {
                        legal += 1;
                        assert_eq!(got, Ok(to), "{from:?} + {event:?}");
                    }
                    None => assert_eq!(got, Err(IllegalTransition { from, event })),
                }
            }
        }
        assert_eq!(legal, 18);
    }

    #[test]
    fn terminal_states_only_leave_by_manual_retry() {
        for from in [S::Succeeded, S::Cancelled] {
            assert!(events().into_iter().all(|e| transition(from, e).is_err()));
        }
        for event in events() {
            let allowed = transition(S::Dead, event).is_ok();
            assert_eq!(allowed, event == E::Retry, "{event:?}");
        }
    }

    #[test]
    fn illegal_transitions_explain_themselves() {
        let err = transition(S::Succeeded, E::Cancel).unwrap_err();
        assert_eq!(err.to_string(), "a succeeded job cannot cancel");
    }
}
