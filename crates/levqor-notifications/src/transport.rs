//! Where mail goes: an SMTP relay (`SMTP_URL`), Resend's SMTP relay
//! (`RESEND_API_KEY`), or, with neither, `.eml` files in the outbox folder.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;

use crate::mail::Mail;
use crate::outbox::{Outbox, Written};

pub const RESEND_SMTP_HOST: &str = "smtp.resend.com";
pub const RESEND_SMTP_PORT: u16 = 465;
/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Which transport, from configuration.
#[derive(Clone, PartialEq, Eq)]
pub enum TransportConfig {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic|none]` or
    /// `smtps://…` (TLS from the first byte, port 465 by default). Plain `smtp://`
    /// uses STARTTLS (required) unless the host is loopback (a local relay).
    Smtp { url: String },
    /// Resend's SMTP relay: user `resend`, the API key as password.
    Resend { api_key: String, host: String, port: u16 },
    /// `.eml` files in the outbox folder.
    Outbox,
}

impl std::fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { .. } => f.write_str("Smtp { url: <hidden> }"),
            Self::Resend { host, port, .. } => write!(f, "Resend {{ host: {host:?}, port: {port} }}"),
            Self::Outbox => f.write_str("Outbox"),
        }
    }
}

impl TransportConfig {
    /// `SMTP_URL` wins over `RESEND_API_KEY`; with neither, the outbox.
    pub fn choose(smtp_url: Option<&str>, resend_api_key: Option<&str>, resend_host: &str, resend_port: u16) -> Self {
        let set = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        match (set(smtp_url), set(resend_api_key)) {
            (Some(url), _) => Self::Smtp { url },
            (None, Some(api_key)) => Self::Resend { api_key, host: resend_host.trim().to_owned(), port: resend_port },
            (None, None) => Self::Outbox,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Smtp { .. } => "smtp",
            Self::Resend { .. } => "resend",
            Self::Outbox => "outbox",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("SMTP_URL: {0}")]
    SmtpUrl(String),
    #[error("`{0}` is not a usable sender address (EMAIL_FROM)")]
    From(String),
    #[error("TLS for {0}: {1}")]
    Tls(String, String),
}

/// Why a delivery failed, and whether another attempt could succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    pub retryable: bool,
}

/// What `/status` shows about mail: no host, no address, no secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MailHealth {
    pub transport: &'static str,
    pub sent: u64,
    pub failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<levqor_core::Timestamp>,
}

enum Kind {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(Outbox),
}

/// A configured transport. Cheap to share (`Arc`); the SMTP one pools connections.
pub struct Transport {
    kind: Kind,
    name: &'static str,
    from: Mailbox,
    undelivered: Outbox,
    health: Mutex<MailHealth>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").field("name", &self.name).field("from", &self.from.to_string()).finish()
    }
}

impl Transport {
    /// Builds the transport; `data_dir` holds the outbox (and undeliverable mail).
    pub fn build(config: &TransportConfig, from: &str, data_dir: &Path) -> Result<Self, TransportError> {
        let from: Mailbox = from.trim().parse().map_err(|_| TransportError::From(from.to_owned()))?;
        let outbox = Outbox::new(data_dir);
        let kind = match config {
            TransportConfig::Smtp { url } => Kind::Smtp(smtp_from_url(url)?),
            TransportConfig::Resend { api_key, host, port } => {
                let tls = tls_for(host, *port, false, None)?;
                Kind::Smtp(
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                        .port(*port)
                        .tls(tls)
                        .credentials(Credentials::new("resend".into(), api_key.clone()))
                        .timeout(Some(SMTP_TIMEOUT))
                        .build(),
                )
            }
            TransportConfig::Outbox => Kind::Outbox(outbox.clone()),
        };
        let name = config.name();
        let health = Mutex::new(MailHealth { transport: name, ..MailHealth::default() });
        Ok(Self { kind, name, from, undelivered: outbox.undelivered(), health })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The outbox folder (for the default transport: where mail goes).
    pub fn outbox_dir(data_dir: &Path) -> PathBuf {
        Outbox::new(data_dir).dir().to_owned()
    }

    pub fn health(&self) -> MailHealth {
        self.health.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Delivers `mail`; `id` (the job id) names the message, so a retried job
    /// writes the same outbox file and sends the same `Message-ID`.
    pub async fn send(&self, id: &str, mail: &Mail) -> Result<(), SendError> {
        let message = mail.message(&self.from, id).map_err(|e| SendError { message: e.to_string(), retryable: false });
        let outcome = match (message, &self.kind) {
            (Err(e), _) => Err(e),
            (Ok(message), Kind::Smtp(smtp)) => smtp.send(message).await.map(|_| ()).map_err(|e| SendError {
                // A permanent refusal (a 5xx: unknown mailbox, bad credentials)
                // will not change on retry; anything else (connection refused, a
                // 4xx, a timeout) may.
                retryable: !e.is_permanent(),
                message: format!("SMTP: {e}"),
            }),
            (Ok(message), Kind::Outbox(outbox)) => {
                write_blocking(outbox.clone(), id.to_owned(), message.formatted()).await.map(|_| ())
            }
        };
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        match &outcome {
            Ok(()) => health.sent += 1,
            Err(e) => {
                health.failed += 1;
                health.last_failure = Some(e.message.chars().take(300).collect());
                health.last_failure_at = Some(chrono::Utc::now());
            }
        }
        outcome
    }

    /// Keeps a mail that will not be delivered as `outbox/undelivered/<id>.eml`,
    /// for an operator: a mail is never silently dropped.
    pub async fn keep_undelivered(&self, id: &str, mail: &Mail) -> Result<PathBuf, SendError> {
        let message =
            mail.message(&self.from, id).map_err(|e| SendError { message: e.to_string(), retryable: false })?;
        write_blocking(self.undelivered.clone(), id.to_owned(), message.formatted()).await?;
        Ok(self.undelivered.dir().join(format!("{}.eml", crate::mail::file_safe(id))))
    }
}

async fn write_blocking(outbox: Outbox, id: String, bytes: Vec<u8>) -> Result<Written, SendError> {
    tokio::task::spawn_blocking(move || outbox.write(&id, &bytes))
        .await
        .map_err(|e| SendError { message: format!("outbox writer: {e}"), retryable: true })?
        .map_err(|e| SendError { message: format!("outbox: {e}"), retryable: true })
}

fn smtp_from_url(raw: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, TransportError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| TransportError::SmtpUrl("is not a URL".into()))?;
    let implicit_tls = match url.scheme() {
        "smtps" => true,
        "smtp" => false,
        other => return Err(TransportError::SmtpUrl(format!("scheme `{other}` is not smtp or smtps"))),
    };
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| TransportError::SmtpUrl("has no host".into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let tls_param = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    let loopback = is_loopback(&host);
    let port = url.port().unwrap_or(match (implicit_tls, tls_param.as_deref()) {
        (true, _) => 465,
        (false, Some("none")) => 25,
        (false, None) if loopback => 25,
        _ => 587,
    });
    let tls = tls_for(&host, port, implicit_tls, tls_param.as_deref())?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
        .port(port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if !url.username().is_empty() {
        let decode = |s: &str| percent_decode(s);
        builder =
            builder.credentials(Credentials::new(decode(url.username()), decode(url.password().unwrap_or_default())));
    }
    Ok(builder.build())
}

/// The TLS mode: `smtps` (or Resend's port 465) wraps the connection in TLS;
/// otherwise STARTTLS is required, except towards a loopback relay (a local
/// MTA, or a test's fake server), where it is off unless asked for.
fn tls_for(host: &str, port: u16, implicit: bool, param: Option<&str>) -> Result<Tls, TransportError> {
    let parameters =
        || TlsParameters::new(host.to_owned()).map_err(|e| TransportError::Tls(host.to_owned(), e.to_string()));
    Ok(match param {
        _ if implicit => Tls::Wrapper(parameters()?),
        Some("required") => Tls::Required(parameters()?),
        Some("opportunistic") => Tls::Opportunistic(parameters()?),
        Some("none") => Tls::None,
        Some(other) => {
            return Err(TransportError::SmtpUrl(format!("tls=`{other}`: use required, opportunistic or none")));
        }
        None if is_loopback(host) => Tls::None,
        None if port == 465 => Tls::Wrapper(parameters()?),
        None => Tls::Required(parameters()?),
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_transport_is_chosen_from_configuration() {
        assert_eq!(TransportConfig::choose(None, None, RESEND_SMTP_HOST, 465), TransportConfig::Outbox);
        assert_eq!(TransportConfig::choose(Some(" "), Some(""), RESEND_SMTP_HOST, 465), TransportConfig::Outbox);
        assert_eq!(
            TransportConfig::choose(None, Some("re_1"), "smtp.resend.com", 465),
            TransportConfig::Resend { api_key: "re_1".into(), host: "smtp.resend.com".into(), port: 465 }
        );
        assert_eq!(
            TransportConfig::choose(Some("smtp://mx.example.com"), Some("re_1"), RESEND_SMTP_HOST, 465).name(),
            "smtp"
        );
        assert!(!format!("{:?}", TransportConfig::Smtp { url: "smtp://u:secret@h".into() }).contains("secret"));
    }

    /// The pooled SMTP transport needs a Tokio runtime to be built and dropped.
    #[tokio::test]
    async fn tls_is_required_away_from_loopback() {
        assert!(matches!(tls_for("mx.example.com", 587, false, None).unwrap(), Tls::Required(_)));
        assert!(matches!(tls_for("mx.example.com", 465, false, None).unwrap(), Tls::Wrapper(_)));
        assert!(matches!(tls_for("mx.example.com", 2525, true, None).unwrap(), Tls::Wrapper(_)));
        assert!(matches!(tls_for("127.0.0.1", 2525, false, None).unwrap(), Tls::None));
        assert!(matches!(tls_for("localhost", 25, false, Some("required")).unwrap(), Tls::Required(_)));
        assert!(tls_for("mx.example.com", 25, false, Some("maybe")).is_err());
        assert!(smtp_from_url("http://mx.example.com").is_err());
        assert!(smtp_from_url("smtp://").is_err());
        assert!(smtp_from_url("smtps://user:p%40ss@mx.example.com").is_ok());
        assert_eq!(percent_decode("p%40ss+word"), "p@ss+word");
        assert!(Transport::build(&TransportConfig::Outbox, "not an address", Path::new("/tmp")).is_err());
    }
}
