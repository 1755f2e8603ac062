//! One module per connector, plus the helpers they share.

mod ai;
mod builtin;
mod gmail;
mod http;
mod notion;
mod slack;
mod telegram;

pub use ai::{Ai, is_reasoning_model};
pub use builtin::Builtin;
pub use gmail::{Gmail, build_message};
pub use http::Http;
pub use notion::{NOTION_VERSION, Notion};
pub use slack::Slack;
pub use telegram::Telegram;

use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::connector::TaskFuture;
use crate::error::ConnectorError;

/// `base` + `/` + `path`, whatever slashes either carries.
pub(crate) fn endpoint(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// A future that fails at once (the call was refused before any I/O).
pub(crate) fn fail(err: ConnectorError) -> TaskFuture {
    futures_util::future::ready(Err(err)).boxed()
}

/// Params (already checked against the schema) as a typed struct.
pub(crate) fn parse<T: DeserializeOwned>(params: &Value) -> Result<T, ConnectorError> {
    serde_json::from_value(params.clone()).map_err(|e| ConnectorError::invalid_params("params", e.to_string()))
}

/// The action names the schema check let through but a connector's match did
/// not expect: a bug, reported as an unknown action rather than a panic.
pub(crate) fn unsupported(action: &str) -> ConnectorError {
    ConnectorError::UnknownAction { action: action.to_owned(), valid: Vec::new() }
}
