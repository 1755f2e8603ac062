//! In-memory [`EventRepo`], for tests and database-less runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use levqor_core::StorageError;

use crate::bucket::{Bucket, BucketRange};
use crate::event::{EventType, NewEvent};
use crate::ports::{BucketCount, BucketVisitors, EventRepo};

#[derive(Default)]
pub struct MemoryEvents {
    events: Mutex<Vec<NewEvent>>,
}

impl MemoryEvents {
    fn events(&self) -> Result<MutexGuard<'_, Vec<NewEvent>>, StorageError> {
        self.events.lock().map_err(|_| StorageError::Failure("in-memory events poisoned".into()))
    }

    fn in_range<'a>(events: &'a [NewEvent], range: &'a BucketRange) -> impl Iterator<Item = (i64, &'a NewEvent)> {
        events.iter().map(|e| (range.bucket.number(e.at), e)).filter(|(n, _)| (range.first..range.end).contains(n))
    }
}

impl EventRepo for MemoryEvents {
    fn insert_event(&self, event: &NewEvent) -> Result<(), StorageError> {
        self.events()?.push(event.clone());
        Ok(())
    }

    fn counts_by_bucket(&self, range: &BucketRange) -> Result<Vec<BucketCount>, StorageError> {
        let events = self.events()?;
        let mut counts: BTreeMap<(i64, String), u64> = BTreeMap::new();
        for (n, e) in Self::in_range(&events, range) {
            *counts.entry((n, e.event_type.as_str().to_owned())).or_insert(0) += 1;
        }
        Ok(counts.into_iter().map(|((bucket, event_type), count)| BucketCount { bucket, event_type, count }).collect())
    }

    fn visitors_by_bucket(&self, range: &BucketRange) -> Result<Vec<BucketVisitors>, StorageError> {
        let events = self.events()?;
        let mut seen: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
        for (n, e) in Self::in_range(&events, range) {
            seen.entry(n).or_default().insert(&e.visitor);
        }
        Ok(seen.into_iter().map(|(bucket, v)| BucketVisitors { bucket, visitors: v.len() as u64 }).collect())
    }

    fn distinct_visitors(
        &self,
        first_hour: i64,
        end_hour: i64,
        types: Option<&[EventType]>,
    ) -> Result<u64, StorageError> {
        let events = self.events()?;
        let visitors: BTreeSet<&str> = events
            .iter()
            .filter(|e| (first_hour..end_hour).contains(&Bucket::Hour.number(e.at)))
            .filter(|e| types.is_none_or(|t| t.contains(&e.event_type)))
            .map(|e| e.visitor.as_str())
            .collect();
        Ok(visitors.len() as u64)
    }
}

/// Cases shared by the in-memory repo and the store's tests on both backends
/// (feature `contract-tests`, like the other domain crates' contracts).
#[cfg(any(test, feature = "contract-tests"))]
#[doc(hidden)]
pub mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use chrono::{TimeDelta, TimeZone, Utc};
    use levqor_core::{Clock, ManualClock};

    use crate::{AnalyticsService, Bucket, ClientFingerprint, EventInput};

    fn send(service: &AnalyticsService, t: &str, email: Option<&str>, ip: [u8; 4]) {
        let client = ClientFingerprint { ip: Some(ip.into()), user_agent: "test-agent".into() };
        let input = EventInput { event_type: t.into(), email: email.map(str::to_owned), ..EventInput::default() };
        service.record(input, &client, uuid_like()).unwrap();
    }

    fn uuid_like() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        format!("evt-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
    }

    /// Events at 23:10 and 23:50 on 29 November and at 00:20 on 30 November (UTC):
    /// two day buckets, three hour buckets, visitors and conversions counted per
    /// bucket and over the range. `clock` must start at 2026-11-29T23:10:00Z.
    pub fn exercise_day_boundary(service: &AnalyticsService, clock: &ManualClock) {
        let start = Utc.with_ymd_and_hms(2026, 11, 29, 23, 10, 0).unwrap();
        assert_eq!(clock.now(), start, "the clock must start at {start}");
        send(service, "page_view", None, [203, 0, 113, 1]);
        send(service, "page_view", None, [203, 0, 113, 2]);
        clock.advance(TimeDelta::minutes(40)); // 23:50
        send(service, "page_view", None, [203, 0, 113, 1]);
        send(service, "signup", Some("ann@example.com"), [203, 0, 113, 1]);
        clock.advance(TimeDelta::minutes(30)); // 00:20 the next day
        send(service, "page_view", None, [203, 0, 113, 1]);
        send(service, "page_view", Some("ann@example.com"), [203, 0, 113, 3]);
        send(service, "purchase", Some("ann@example.com"), [203, 0, 113, 3]);

        let from = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let days = service.summary(from, to, Bucket::Day).unwrap();
        assert_eq!(days.buckets.len(), 2);
        let (d1, d2) = (&days.buckets[0], &days.buckets[1]);
        assert_eq!(d1.start, from);
        assert_eq!(d1.counts.get("page_view"), Some(&3));
        assert_eq!(d1.counts.get("signup"), Some(&1));
        assert_eq!(d1.total, 4);
        // 203.0.113.1 and .2 anonymously, and ann.
        assert_eq!(d1.unique_visitors, 3);
        assert_eq!(d2.start, from + TimeDelta::days(1));
        assert_eq!(d2.counts.get("page_view"), Some(&2));
        assert_eq!(d2.counts.get("purchase"), Some(&1));
        // The anonymous digest changes with the UTC day: .1 is a new visitor.
        assert_eq!(d2.unique_visitors, 2);
        assert_eq!(days.totals.get("page_view"), Some(&5));
        // .1 on day one, .1 on day two, .2, ann.
        assert_eq!(days.unique_visitors, 4);
        assert_eq!(days.converted_visitors, 1);
        assert!((days.conversion_rate - 0.25).abs() < 1e-9, "{}", days.conversion_rate);

        let hours =
            service.summary(start - TimeDelta::minutes(10), start + TimeDelta::minutes(80), Bucket::Hour).unwrap();
        assert_eq!(hours.buckets.len(), 2, "23:00 and 00:00");
        assert_eq!(hours.buckets[0].total, 4);
        assert_eq!(hours.buckets[1].total, 3);
        assert_eq!(hours.buckets[1].start, Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap());

        // Only the second day.
        let second = service.summary(from + TimeDelta::days(1), to, Bucket::Day).unwrap();
        assert_eq!(second.buckets.len(), 1);
        assert_eq!(second.unique_visitors, 2);
        assert_eq!(second.converted_visitors, 1);
        assert!((second.conversion_rate - 0.5).abs() < 1e-9);

        // Nothing before.
        let before = service.summary(from - TimeDelta::days(3), from, Bucket::Day).unwrap();
        assert_eq!(before.buckets.iter().map(|b| b.total).sum::<u64>(), 0);
        assert_eq!(before.unique_visitors, 0);
        assert_eq!(before.conversion_rate, 0.0);
    }
}
