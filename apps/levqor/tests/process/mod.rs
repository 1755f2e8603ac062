//! Starting and signalling real `levqor` processes, for the tests that run the
//! binary as an operator would (`cli.rs`, `crash.rs`).

use std::path::Path;
use std::process::{Child, Command};

/// `levqor <subcommand>` with a clean environment: only `PATH`, the database and
/// the data folder are set; the caller adds the rest.
pub fn levqor(subcommand: &str, db: &str, data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_levqor"));
    command
        .arg(subcommand)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db)
        .env("LEVQOR_DATA_DIR", data);
    command
}

/// Sends `signal` (`TERM`, `KILL`, …) to the process.
pub fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} failed");
}
