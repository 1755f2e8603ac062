//! Cursor pagination: opaque cursors, a bounded page size.

use serde::{Deserialize, Serialize};

/// Where the next page starts; opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    /// Clamp a caller's requested page size into 1..=MAX_LIMIT.
    pub fn clamp_limit(requested: Option<u32>) -> u32 {
        requested.unwrap_or(Self::DEFAULT_LIMIT).clamp(1, Self::MAX_LIMIT)
    }
}
