//! Every connector action against a fake of its service on loopback. Nothing
//! here reaches the internet.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod ai;
mod common;
mod gmail;
mod http;
mod notion;
mod resilience;
mod slack;
mod telegram;
mod writes;
