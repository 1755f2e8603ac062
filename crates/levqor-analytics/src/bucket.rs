//! UTC buckets: an hour or a day, numbered from the Unix epoch.

use chrono::DateTime;
use levqor_core::Timestamp;

use crate::error::AnalyticsError;

/// The most buckets one summary may span (a month of hours, several years of days).
pub const MAX_BUCKETS: i64 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn parse(raw: &str) -> Result<Self, AnalyticsError> {
        match raw {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            _ => Err(AnalyticsError::invalid("bucket", "must be `hour` or `day`")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Self::Hour => 3600,
            Self::Day => 86_400,
        }
    }

    /// The number of the bucket holding `at` (floor, also before 1970).
    pub fn number(self, at: Timestamp) -> i64 {
        at.timestamp().div_euclid(self.seconds())
    }

    /// When bucket `n` starts.
    pub fn start(self, n: i64) -> Timestamp {
        DateTime::from_timestamp(n.saturating_mul(self.seconds()), 0).unwrap_or(DateTime::UNIX_EPOCH)
    }
}

/// Whole buckets `[first, end)`: from the bucket holding `from` up to, not
/// including, the first bucket that starts at or after `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketRange {
    pub bucket: Bucket,
    pub first: i64,
    pub end: i64,
}

impl BucketRange {
    pub fn new(bucket: Bucket, from: Timestamp, to: Timestamp) -> Result<Self, AnalyticsError> {
        if to <= from {
            return Err(AnalyticsError::invalid("to", "must be after `from`"));
        }
        let first = bucket.number(from);
        let end = (to.timestamp() + bucket.seconds() - 1).div_euclid(bucket.seconds());
        if end - first > MAX_BUCKETS {
            return Err(AnalyticsError::invalid(
                "to",
                format!("the range spans more than {MAX_BUCKETS} {} buckets", bucket.as_str()),
            ));
        }
        Ok(Self { bucket, first, end })
    }

    /// The same span in hour numbers (what the visitor counts filter on).
    pub fn hours(&self) -> (i64, i64) {
        let per = self.bucket.seconds() / 3600;
        (self.first * per, self.end * per)
    }

    pub fn len(&self) -> i64 {
        self.end - self.first
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn ranges_cover_whole_buckets() {
        let from = Utc.with_ymd_and_hms(2026, 11, 29, 23, 30, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 11, 30, 0, 30, 0).unwrap();
        let days = BucketRange::new(Bucket::Day, from, to).unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!(Bucket::Day.start(days.first), Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap());
        let hours = BucketRange::new(Bucket::Hour, from, to).unwrap();
        assert_eq!(hours.len(), 2);
        assert_eq!(days.hours(), (days.first * 24, days.end * 24));
        // An end on a boundary does not add a bucket.
        let midnight = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        assert_eq!(BucketRange::new(Bucket::Day, from, midnight).unwrap().len(), 1);
        assert!(BucketRange::new(Bucket::Day, to, from).is_err());
        assert!(BucketRange::new(Bucket::Hour, from, from + chrono::TimeDelta::days(365)).is_err());
        assert_eq!(Bucket::Hour.number(Utc.with_ymd_and_hms(1969, 12, 31, 23, 0, 1).unwrap()), -1);
    }
}
