//! The Levqor server: an actix-web shell over the domain crates and the store.

pub mod cli;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod http;
pub mod jobs_runtime;
pub mod ops;
pub mod secret;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod wiring;
