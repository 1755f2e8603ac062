//! Levqor site analytics.
//!
//! Events (`POST /api/v1/events`) arrive with a type, optional properties, an
//! optional email and an optional referral code. The email never reaches storage:
//! it is replaced by its keyed digest ([`levqor_core::EmailDigest`]), and so is any
//! address found among the properties. Each event is stored with its UTC hour and
//! day bucket numbers, so the store aggregates by plain `GROUP BY` on either
//! backend: counts per type per bucket, unique visitors, and a conversion rate.

mod bucket;
mod error;
mod event;
mod memory;
mod ports;
mod service;

pub use bucket::{Bucket, BucketRange, MAX_BUCKETS};
pub use error::AnalyticsError;
pub use event::{ClientFingerprint, EventInput, EventType, MAX_PROPS_BYTES, NewEvent, Props};
pub use memory::MemoryEvents;
/// Cases the store runs on both backends.
#[cfg(any(test, feature = "contract-tests"))]
#[doc(hidden)]
pub use memory::tests as test_cases;
pub use ports::{BucketCount, BucketVisitors, EventRepo};
pub use service::{AnalyticsService, BucketSummary, DEFAULT_CONVERSIONS, Summary};
