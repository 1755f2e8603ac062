//! Levqor's connectors: Slack, Notion, Gmail, Telegram, a generic HTTP request,
//! AI text steps and the built-in pipeline steps, behind one interface.
//!
//! Every connector implements [`Connector`]: a name, a list of actions (each with
//! the JSON Schema of its params and the credential fields it needs) and
//! [`Connector::run_task`], which takes a [`TaskCall`] (`action`, `params`,
//! `credentials`) and returns the service's answer as JSON or a
//! [`ConnectorError`] that says what failed and whether retrying could help
//! ([`ConnectorError::retryable`]).
//!
//! The connectors fail closed. Before any network traffic a call is checked: the
//! action exists, the params match the schema (an error names the field) and
//! every required credential is present. An answer the connector does not
//! recognise (Slack's `ok: false`, a body that is not JSON, a missing id) is an
//! error, never a success.
//!
//! All outbound calls share [`HttpClient`]: a per-attempt timeout (15 s by
//! default), up to 3 attempts with exponential back-off, and a response size
//! cap (2 MiB) enforced while the body streams in. Each action declares
//! whether it is safe to repeat ([`ActionSpec::repeat`]): reads (and writes
//! the service de-duplicates) are retried after a 5xx or a timeout; writes
//! that would act twice are sent once and end in
//! [`ConnectorError::OutcomeUnknown`] (retryable, but the caller decides).
//! A rate limit is retried for every action, after the wait the service asked
//! for in its own format (`Retry-After`, Telegram's `parameters.retry_after`,
//! Gmail's 403 `rateLimitExceeded`, Slack's `ratelimited`) when it is within
//! the back-off cap; beyond it the call ends in [`ConnectorError::RateLimited`]
//! with the wait. Base URLs and limits come from [`ConnectorConfig`]; the
//! defaults point at the real services.
//!
//! | connector | actions | credentials |
//! |---|---|---|
//! | `slack` | `post_message`, `list_channels`, `upload_file` | `token` |
//! | `notion` | `search`, `query_database`, `create_page` | `token` |
//! | `gmail` | `list_labels`, `list_messages`, `send_email` | `access_token` (+ `refresh_token`, `client_id`, `client_secret`, `expires_at`) |
//! | `telegram` | `send_message`, `get_me`, `get_updates` | `bot_token` |
//! | `http` | `request` | – (SSRF-guarded) |
//! | `ai` | `summarize`, `classify` | – (`OPENAI_API_KEY` in the config, or `api_key`; a local engine otherwise) |
//! | `builtin` | `filter`, `transform`, `log` | – |
//!
//! Used on its own:
//!
//! ```no_run
//! use levqor_connectors::{ConnectorConfig, ConnectorRegistry, Credentials, TaskCall};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ConnectorConfig::from_lookup(|k| std::env::var(k).ok());
//! let registry = ConnectorRegistry::with_defaults(&config)?;
//!
//! let call = TaskCall::new(
//!     "post_message",
//!     json!({"channel": "#general", "text": "Deployed!"}),
//!     Credentials::new().with("token", "xoxb-…"),
//! );
//! match registry.run("slack", call).await {
//!     Ok(answer) => println!("posted at {}", answer["ts"]),
//!     Err(e) if e.retryable() => eprintln!("try again later: {e}"),
//!     Err(e) => eprintln!("failed: {e}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! With `levqor-jobs`, [`job_error`] turns a connector failure into a job
//! failure with the right retry behaviour (the app's `connector` job uses it).
//!
//! Stored credentials: [`ConnectionService`] seals a user's named credentials
//! with [`Vault`] (ChaCha20-Poly1305, key from the server secret by HKDF-SHA256)
//! before they reach a [`ConnectionRepo`] (the SQL side lives in `levqor-store`).
//!
//! Gmail: when the access token has expired (`expires_at` in the past) or the
//! API answers 401, the token is refreshed once with the refresh token and the
//! client credentials, and the new token comes back in the result's
//! `refreshed_credentials` (`access_token`, `expires_at`, and `refresh_token` if
//! Google rotated it) for the caller to store. Strip it before showing the
//! result to anyone.

pub mod client;
pub mod config;
pub mod connections;
pub mod connector;
pub mod connectors;
pub mod error;
pub mod registry;
pub mod schema;
pub mod vault;
pub mod workflow;

pub use client::{HttpClient, Policy, Repeat, Response, Throttle};
pub use config::{ConnectorConfig, HttpSettings};
pub use connections::{Connection, ConnectionError, ConnectionRepo, ConnectionService, StoredConnection};
pub use connector::{ActionSpec, Connector, Credentials, TaskCall, TaskFuture, prepare};
pub use connectors::{Ai, Builtin, Gmail, Http, Notion, Slack, Telegram};
pub use error::{ConnectorError, ErrorReport};
pub use registry::{ConnectorInfo, ConnectorRegistry, ConnectorRegistryError};
pub use vault::{Vault, VaultError};
pub use workflow::job_error;
