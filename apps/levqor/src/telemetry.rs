//! Structured JSON logs on stderr.

use std::str::FromStr;

use slog::Drain;

/// A JSON logger at `level`; keep the guard alive until exit so buffered lines flush.
pub fn json_logger(level: &str) -> (slog::Logger, slog_async::AsyncGuard) {
    let level = slog::Level::from_str(level).unwrap_or(slog::Level::Info);
    let json = slog_json::Json::new(std::io::stderr()).add_default_keys().build().fuse();
    let (drain, guard) = slog_async::Async::new(json).chan_size(8192).build_with_guard();
    let drain = slog::LevelFilter::new(drain.fuse(), level).fuse();
    (slog::Logger::root(drain, slog::o!("service" => "levqor")), guard)
}

/// A logger that drops everything (tests).
pub fn discard() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}
