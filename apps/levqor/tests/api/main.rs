//! HTTP integration tests: a real `levqor` server on port 0 over a real database,
//! driven by a real HTTP client. Every case runs on SQLite, and on PostgreSQL when
//! `LEVQOR_TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod audit;
mod auth;
mod billing;
mod connectors;
mod errors;
mod jobs;
mod keys;
mod notifications;
mod ops;
mod pipelines;
mod rate_limit;
mod referrals;
mod security;
mod service;
mod users;
