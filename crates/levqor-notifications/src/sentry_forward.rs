//! Forwarding to Sentry with the official client: error reports from the site,
//! and the server's own panics and 5xx answers. Each forwarder has its own client
//! and hub (no process-global state), and sends from the client's own background
//! thread: capturing never blocks a request, and a Sentry outage only loses the
//! copy in Sentry, never the record in `errors.jsonl`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sentry::protocol::{Event, Exception, Level, Request, User, Value as SentryValue};
use sentry::{ClientOptions, Hub, Scope};

use crate::inbox::{ErrorLevel, ErrorReport};

/// How long one envelope upload may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SentryError {
    #[error("SENTRY_DSN is not a Sentry DSN: {0}")]
    Dsn(String),
    #[error("the Sentry HTTP client could not be built: {0}")]
    Client(String),
}

/// A failure of the server itself, for Sentry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub method: String,
    /// The route pattern when known (`/api/v1/jobs/{id}`), else the path.
    pub route: String,
    pub status: u16,
    pub request_id: String,
    /// The panic message or the logged cause (never shown to the caller).
    pub message: String,
    pub panicked: bool,
}

pub struct SentryForwarder {
    hub: Arc<Hub>,
    client: Arc<sentry::Client>,
}

impl std::fmt::Debug for SentryForwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SentryForwarder")
    }
}

impl SentryForwarder {
    pub fn new(dsn: &str, release: &str) -> Result<Self, SentryError> {
        let dsn: sentry::types::Dsn =
            dsn.trim().parse().map_err(|e: sentry::types::ParseDsnError| SentryError::Dsn(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(UPLOAD_TIMEOUT)
            .build()
            .map_err(|e| SentryError::Client(e.to_string()))?;
        let transport = move |options: &ClientOptions| -> Arc<dyn sentry::Transport> {
            Arc::new(sentry::transports::ReqwestHttpTransport::with_client(options, http.clone()))
        };
        let options = ClientOptions {
            dsn: Some(dsn),
            release: Some(Cow::Owned(release.to_owned())),
            transport: Some(Arc::new(transport)),
            // No personal data beyond what a report carries itself.
            send_default_pii: false,
            default_integrations: false,
            shutdown_timeout: Duration::from_secs(2),
            ..ClientOptions::default()
        };
        let client = Arc::new(sentry::Client::with_options(options));
        let hub = Arc::new(Hub::new(Some(client.clone()), Arc::new(Scope::default())));
        Ok(Self { hub, client })
    }

    /// Forwards a site's error report, with the record's id as the event id.
    pub fn report(&self, id: uuid::Uuid, report: &ErrorReport) {
        let mut extra: BTreeMap<String, SentryValue> = BTreeMap::new();
        if let Some(serde_json::Value::Object(map)) = &report.extra {
            extra.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if let Some(stack) = &report.stack {
            extra.insert("stack".into(), SentryValue::String(stack.clone()));
        }
        let user = report.user.as_ref().map(|u| match u {
            serde_json::Value::Object(map) => User {
                id: map.get("id").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
                email: map.get("email").and_then(|v| v.as_str()).map(str::to_owned),
                username: map.get("username").and_then(|v| v.as_str()).map(str::to_owned),
                ..User::default()
            },
            other => {
                User { id: Some(other.as_str().map_or_else(|| other.to_string(), str::to_owned)), ..User::default() }
            }
        });
        let request = report.url.as_ref().map(|url| Request {
            url: url.parse().ok(),
            headers: report.user_agent.iter().map(|ua| ("User-Agent".to_owned(), ua.clone())).collect(),
            ..Request::default()
        });
        let mut tags = BTreeMap::new();
        tags.insert("source".to_owned(), "client".to_owned());
        let event = Event {
            event_id: id,
            level: level(report.level),
            message: Some(report.message.clone()),
            platform: Cow::Borrowed("javascript"),
            release: report.release.clone().map(Cow::Owned),
            user,
            request,
            tags,
            extra,
            ..Event::default()
        };
        self.hub.capture_event(event);
    }

    /// Forwards a panic or a 5xx answer of this server.
    pub fn server_error(&self, error: &ServerError) {
        let mut tags = BTreeMap::new();
        tags.insert("source".to_owned(), "server".to_owned());
        tags.insert("route".to_owned(), error.route.clone());
        tags.insert("method".to_owned(), error.method.clone());
        tags.insert("status".to_owned(), error.status.to_string());
        tags.insert("request_id".to_owned(), error.request_id.clone());
        let kind = if error.panicked { "panic" } else { "ServerError" };
        let event = Event {
            level: if error.panicked { Level::Fatal } else { Level::Error },
            message: Some(format!("{} {} answered {}", error.method, error.route, error.status)),
            exception: vec![Exception {
                ty: kind.to_owned(),
                value: Some(error.message.chars().take(2000).collect()),
                ..Exception::default()
            }]
            .into(),
            transaction: Some(format!("{} {}", error.method, error.route)),
            tags,
            ..Event::default()
        };
        self.hub.capture_event(event);
    }

    /// Waits until queued events are sent (tests, and a clean stop).
    pub fn flush(&self, timeout: Duration) -> bool {
        self.client.flush(Some(timeout))
    }
}

fn level(level: ErrorLevel) -> Level {
    match level {
        ErrorLevel::Debug => Level::Debug,
        ErrorLevel::Info => Level::Info,
        ErrorLevel::Warning => Level::Warning,
        ErrorLevel::Error => Level::Error,
        ErrorLevel::Fatal => Level::Fatal,
    }
}
