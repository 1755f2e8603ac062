//! Timestamps are stored as microseconds since the Unix epoch.

use chrono::DateTime;
use levqor_core::Timestamp;

pub(crate) fn to_db(ts: Timestamp) -> i64 {
    ts.timestamp_micros()
}

pub(crate) fn from_db(micros: i64) -> Timestamp {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_at_microsecond_precision() {
        let now = chrono::Utc::now();
        let back = super::from_db(super::to_db(now));
        assert_eq!(back.timestamp_micros(), now.timestamp_micros());
    }
}
