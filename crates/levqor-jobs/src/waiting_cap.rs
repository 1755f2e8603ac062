//! The per-user cap on waiting jobs (`LEVQOR_MAX_QUEUED_PER_USER`): intake refuses
//! a user's job once that many of theirs wait to run, so one key cannot fill the
//! queue (and the disk) for everyone.
//!
//! Counting a user's waiting jobs on every intake would put a query on the
//! hottest path, so the count is read from the queue at most once per
//! [`REFRESH`] per user and the intakes admitted since are added to it. The cap
//! is exact within one process; with several processes each may admit up to one
//! refresh period's intakes past it before its next count sees the others'.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::TimeDelta;
use levqor_core::{StorageError, Timestamp, UserId};

/// How long a counted figure is trusted before the queue is asked again.
pub const REFRESH: TimeDelta = TimeDelta::seconds(1);

/// The default cap.
pub const DEFAULT_MAX_WAITING: u64 = 10_000;

/// Entries kept before stale ones are dropped (memory stays bounded).
const PRUNE_AT: usize = 4_096;

/// The cap is reached: `waiting` of the user's jobs wait, `cap` may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{waiting} of your jobs are already waiting to run (at most {cap} may wait); wait for some to finish")]
pub struct CapReached {
    pub waiting: u64,
    pub cap: u64,
}

#[derive(Debug, Clone, Copy)]
struct Counted {
    waiting: u64,
    at: Timestamp,
}

#[derive(Debug)]
pub struct WaitingCap {
    cap: u64,
    counted: Mutex<HashMap<UserId, Counted>>,
}

impl WaitingCap {
    pub fn new(cap: u64) -> Self {
        Self { cap: cap.max(1), counted: Mutex::new(HashMap::new()) }
    }

    /// Whether a figure for `owner` is fresh enough to decide without the queue.
    pub fn needs_count(&self, owner: &UserId, now: Timestamp) -> bool {
        self.counted.lock().map_or(true, |m| m.get(owner).is_none_or(|c| now - c.at >= REFRESH))
    }

    /// Records the queue's count for `owner` (read because [`Self::needs_count`]).
    pub fn set_count(&self, owner: &UserId, waiting: u64, now: Timestamp) {
        if let Ok(mut m) = self.counted.lock() {
            if m.len() >= PRUNE_AT {
                m.retain(|_, c| now - c.at < REFRESH);
            }
            m.insert(owner.clone(), Counted { waiting, at: now });
        }
    }

    /// Admits one more job of `owner`, or says the cap is reached. Without a fresh
    /// figure, `count` asks the queue.
    pub fn admit(
        &self,
        owner: &UserId,
        now: Timestamp,
        count: impl FnOnce() -> Result<u64, StorageError>,
    ) -> Result<Result<(), CapReached>, StorageError> {
        if self.needs_count(owner, now) {
            self.set_count(owner, count()?, now);
        }
        Ok(self.admit_counted(owner))
    }

    /// Admits one more job against the figure already held (see [`Self::admit`]).
    pub fn admit_counted(&self, owner: &UserId) -> Result<(), CapReached> {
        let Ok(mut m) = self.counted.lock() else {
            return Ok(());
        };
        let Some(c) = m.get_mut(owner) else {
            return Ok(());
        };
        if c.waiting >= self.cap {
            return Err(CapReached { waiting: c.waiting, cap: self.cap });
        }
        c.waiting += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use std::cell::Cell;

    #[test]
    fn admits_up_to_the_cap_and_counts_once_per_refresh() {
        let cap = WaitingCap::new(3);
        let owner = UserId::new();
        let now = Utc::now();
        let asked = Cell::new(0);
        let count = || {
            asked.set(asked.get() + 1);
            Ok(1)
        };
        assert_eq!(cap.admit(&owner, now, count), Ok(Ok(())));
        assert_eq!(cap.admit(&owner, now, count), Ok(Ok(())));
        assert_eq!(cap.admit(&owner, now, count), Ok(Err(CapReached { waiting: 3, cap: 3 })));
        assert_eq!(asked.get(), 1, "one count within the refresh period");
        // A second later the queue is asked again: two jobs finished meanwhile.
        let later = now + REFRESH;
        assert_eq!(cap.admit(&owner, later, || Ok(1)), Ok(Ok(())));
        // Another user is not affected.
        assert_eq!(cap.admit(&UserId::new(), now, || Ok(0)), Ok(Ok(())));
    }

    #[test]
    fn a_failed_count_is_an_error_not_an_admission() {
        let cap = WaitingCap::new(3);
        let err = cap.admit(&UserId::new(), Utc::now(), || Err(StorageError::Unavailable("down".into())));
        assert!(err.is_err());
    }

    #[test]
    fn the_message_says_what_to_do() {
        let text = CapReached { waiting: 10_000, cap: 10_000 }.to_string();
        assert!(text.contains("at most 10000 may wait"), "{text}");
    }
}
