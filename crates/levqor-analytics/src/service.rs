//! Recording events and summarising them.

use std::collections::BTreeMap;
use std::sync::Arc;

use levqor_core::{Clock, EmailHasher, Timestamp};

use crate::bucket::{Bucket, BucketRange};
use crate::error::AnalyticsError;
use crate::event::{ClientFingerprint, EventInput, EventType};
use crate::ports::EventRepo;

/// The event types that count as a conversion unless configured otherwise.
pub const DEFAULT_CONVERSIONS: &[&str] = &["signup", "purchase"];

pub struct AnalyticsService {
    repo: Arc<dyn EventRepo>,
    hasher: EmailHasher,
    clock: Arc<dyn Clock>,
    conversions: Vec<EventType>,
}

/// One bucket of a [`Summary`].
#[derive(Debug, Clone, PartialEq)]
pub struct BucketSummary {
    pub start: Timestamp,
    pub counts: BTreeMap<String, u64>,
    pub total: u64,
    pub unique_visitors: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub bucket: Bucket,
    /// Start of the first bucket and end of the last one.
    pub from: Timestamp,
    pub to: Timestamp,
    /// Every bucket of the range, oldest first, empty ones included.
    pub buckets: Vec<BucketSummary>,
    pub totals: BTreeMap<String, u64>,
    pub unique_visitors: u64,
    pub converted_visitors: u64,
    /// `converted_visitors / unique_visitors`, 0 without visitors.
    pub conversion_rate: f64,
    pub conversion_types: Vec<String>,
}

impl AnalyticsService {
    pub fn new(repo: Arc<dyn EventRepo>, hasher: EmailHasher, clock: Arc<dyn Clock>) -> Self {
        let conversions = DEFAULT_CONVERSIONS.iter().filter_map(|t| EventType::parse(t).ok()).collect();
        Self { repo, hasher, clock, conversions }
    }

    /// Which event types count as conversions.
    pub fn with_conversions(mut self, types: &[String]) -> Result<Self, AnalyticsError> {
        self.conversions = types.iter().map(|t| EventType::parse(t)).collect::<Result<_, _>>()?;
        Ok(self)
    }

    pub fn hasher(&self) -> &EmailHasher {
        &self.hasher
    }

    /// Validates and stores one event (with every address replaced by its digest).
    pub fn record(&self, input: EventInput, client: &ClientFingerprint, id: String) -> Result<(), AnalyticsError> {
        let event = input.validate(&self.hasher, client, self.clock.now(), id)?;
        self.repo.insert_event(&event)?;
        Ok(())
    }

    /// Counts per type per bucket, unique visitors and the conversion rate over
    /// the whole buckets that cover `[from, to)`.
    pub fn summary(&self, from: Timestamp, to: Timestamp, bucket: Bucket) -> Result<Summary, AnalyticsError> {
        let range = BucketRange::new(bucket, from, to)?;
        let mut buckets: Vec<BucketSummary> = (range.first..range.end)
            .map(|n| BucketSummary { start: bucket.start(n), counts: BTreeMap::new(), total: 0, unique_visitors: 0 })
            .collect();
        let slot = |n: i64| usize::try_from(n - range.first).ok();
        let mut totals = BTreeMap::new();
        for c in self.repo.counts_by_bucket(&range)? {
            if let Some(b) = slot(c.bucket).and_then(|i| buckets.get_mut(i)) {
                *b.counts.entry(c.event_type.clone()).or_insert(0) += c.count;
                b.total += c.count;
                *totals.entry(c.event_type).or_insert(0) += c.count;
            }
        }
        for v in self.repo.visitors_by_bucket(&range)? {
            if let Some(b) = slot(v.bucket).and_then(|i| buckets.get_mut(i)) {
                b.unique_visitors = v.visitors;
            }
        }
        let (first_hour, end_hour) = range.hours();
        let unique_visitors = self.repo.distinct_visitors(first_hour, end_hour, None)?;
        let converted_visitors = if self.conversions.is_empty() {
            0
        } else {
            self.repo.distinct_visitors(first_hour, end_hour, Some(&self.conversions))?
        };
        let conversion_rate =
            if unique_visitors == 0 { 0.0 } else { converted_visitors as f64 / unique_visitors as f64 };
        Ok(Summary {
            bucket,
            from: bucket.start(range.first),
            to: bucket.start(range.end),
            buckets,
            totals,
            unique_visitors,
            converted_visitors,
            conversion_rate,
            conversion_types: self.conversions.iter().map(|t| t.as_str().to_owned()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::memory::MemoryEvents;
    use chrono::{TimeZone, Utc};
    use levqor_core::ManualClock;

    #[test]
    fn summary_over_memory() {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 29, 23, 10, 0).unwrap()));
        let service = AnalyticsService::new(
            Arc::new(MemoryEvents::default()),
            EmailHasher::new(b"0123456789abcdef0123456789abcdef"),
            clock.clone(),
        );
        crate::memory::tests::exercise_day_boundary(&service, &clock);
    }
}
