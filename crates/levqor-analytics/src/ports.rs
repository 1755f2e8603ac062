//! What analytics needs from storage. `levqor-store` implements it on SQLite and
//! PostgreSQL; [`crate::MemoryEvents`] in memory.

use levqor_core::StorageError;

use crate::bucket::BucketRange;
use crate::event::{EventType, NewEvent};

/// Events of one type in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketCount {
    pub bucket: i64,
    pub event_type: String,
    pub count: u64,
}

/// Distinct visitors in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketVisitors {
    pub bucket: i64,
    pub visitors: u64,
}

pub trait EventRepo: Send + Sync {
    fn insert_event(&self, event: &NewEvent) -> Result<(), StorageError>;

    /// Counts per bucket and type within the range (buckets without events absent).
    fn counts_by_bucket(&self, range: &BucketRange) -> Result<Vec<BucketCount>, StorageError>;

    /// Distinct visitors per bucket within the range.
    fn visitors_by_bucket(&self, range: &BucketRange) -> Result<Vec<BucketVisitors>, StorageError>;

    /// Distinct visitors over hours `[first_hour, end_hour)`, only counting events
    /// of `types` when given.
    fn distinct_visitors(
        &self,
        first_hour: i64,
        end_hour: i64,
        types: Option<&[EventType]>,
    ) -> Result<u64, StorageError>;
}
