//! Levqor's durable jobs (stub docs, rewritten below).

pub mod error;
pub mod id;
pub mod job;
pub mod memory;
pub mod new_job;
pub mod queue;
pub mod retry;
pub mod rules;
pub mod ssrf;
pub mod state;
pub mod workflow;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;
#[cfg(test)]
mod test_support;
