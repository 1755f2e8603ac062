//! Levqor's storage: Diesel over SQLite (the embedded default) or PostgreSQL (for
//! scale-out), chosen from `DATABASE_URL`.
//!
//! This is the only crate that knows SQL. It implements the ports that the domain
//! crates declare; every call blocks, so async callers run it on a blocking pool.

mod accounts;
mod analytics;
mod audit;
pub mod backup;
mod connection;
mod connections;
mod error;
mod idempotency;
mod job_notify;
mod jobs;
mod ledger;
mod migrations;
mod ops;
mod pipelines;
mod referrals;
mod schema;
mod time;

#[cfg(feature = "testing")]
pub mod testing;

pub use connection::{Backend, DbConnection, Store, StoreOptions};
pub use error::StoreError;
pub use job_notify::JobListener;
pub use ops::{ActivityRecord, DailyOps, Outcome};
pub use pipelines::{RunStart, StartRunError};
