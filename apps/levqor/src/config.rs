//! Configuration: typed, read once from the environment (and `.env`), with the
//! names and defaults of API.md § Configuration. clap does the reading, so a bad
//! value stops start-up with a message that names the variable, and `--help` lists
//! every variable with its default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::http::client_ip::TrustedProxies;

pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/levqor.db";
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_RATE_BURST: u32 = 20;
pub const DEFAULT_RATE_GLOBAL: u32 = 200;
pub const DEFAULT_RATE_READ: u32 = 1200;
pub const DEFAULT_MAX_CONTENT_LENGTH: usize = 512 * 1024;
/// Admin keys shorter than this are refused at start-up: a guessable admin key is
/// worse than none.
pub const MIN_ADMIN_KEY_LEN: usize = 24;

/// Where the data lives; every command needs it.
#[derive(Debug, Clone, Args)]
pub struct StoreSettings {
    /// `sqlite://PATH` (the embedded default) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,

    /// Logs, email outbox and backups go here.
    #[arg(long, env = "LEVQOR_DATA_DIR", value_name = "LEVQOR_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Database connections in this process's pool.
    #[arg(long, env = "LEVQOR_DB_POOL", value_name = "LEVQOR_DB_POOL", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub db_pool: u32,
}

impl StoreSettings {
    pub fn new(database_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self { database_url: database_url.into(), data_dir: data_dir.into(), db_pool: 16 }
    }
}

/// Everything `levqor serve` reads.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    #[command(flatten)]
    pub store: StoreSettings,

    /// Address to listen on (`0` as the port picks a free one).
    #[arg(long, env = "LEVQOR_ADDR", value_name = "LEVQOR_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,

    /// Comma-separated admin API keys; none set means no admin access at all.
    #[arg(long, env = "API_KEYS", value_name = "API_KEYS", value_delimiter = ',', hide_env_values = true, value_parser = parse_admin_key)]
    pub api_keys: Vec<String>,

    /// Comma-separated admin keys that are also accepted, for rotation.
    #[arg(long, env = "API_KEYS_NEXT", value_name = "API_KEYS_NEXT", value_delimiter = ',', hide_env_values = true, value_parser = parse_admin_key)]
    pub api_keys_next: Vec<String>,

    /// Write requests (POST, PUT, PATCH, DELETE) per minute per client IP.
    #[arg(long, env = "RATE_BURST", value_name = "RATE_BURST", default_value_t = DEFAULT_RATE_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,

    /// Write requests per minute from all clients together.
    #[arg(long, env = "RATE_GLOBAL", value_name = "RATE_GLOBAL", default_value_t = DEFAULT_RATE_GLOBAL, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_global: u32,

    /// Read requests (GET, HEAD) per minute per client IP.
    #[arg(long, env = "RATE_READ", value_name = "RATE_READ", default_value_t = DEFAULT_RATE_READ, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_read: u32,

    /// Largest request body in bytes.
    #[arg(long, env = "MAX_CONTENT_LENGTH", value_name = "MAX_CONTENT_LENGTH", default_value_t = DEFAULT_MAX_CONTENT_LENGTH, value_parser = parse_body_limit)]
    pub max_content_length: usize,

    /// Comma-separated IPs or CIDRs of proxies whose `X-Forwarded-For` is believed.
    #[arg(long, env = "LEVQOR_TRUSTED_PROXIES", value_name = "LEVQOR_TRUSTED_PROXIES", default_value = "", value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,

    /// Comma-separated browser origins allowed by CORS (e.g. `https://levqor.example`); none by default.
    #[arg(long, env = "LEVQOR_CORS_ORIGINS", value_name = "LEVQOR_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Jobs run at once by this process's workers; 0 serves the API only.
    #[arg(long, env = "LEVQOR_WORKERS", value_name = "LEVQOR_WORKERS", default_value_t = default_workers())]
    pub workers: usize,

    /// Jobs of one user run at once by this process at most (0: half of LEVQOR_WORKERS, at least 1).
    #[arg(long, env = "LEVQOR_OWNER_CONCURRENCY", value_name = "LEVQOR_OWNER_CONCURRENCY", default_value_t = 0)]
    pub owner_concurrency: u32,

    /// Jobs of one user that may wait to run (queued, or failed awaiting a retry);
    /// intake answers 429 beyond it.
    #[arg(long, env = "LEVQOR_MAX_QUEUED_PER_USER", value_name = "LEVQOR_MAX_QUEUED_PER_USER", default_value_t = levqor_jobs::waiting_cap::DEFAULT_MAX_WAITING, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_queued_per_user: u64,

    /// Active (unrevoked, unexpired) API keys one user may hold.
    #[arg(long, env = "LEVQOR_MAX_KEYS_PER_USER", value_name = "LEVQOR_MAX_KEYS_PER_USER", default_value_t = levqor_accounts::DEFAULT_MAX_ACTIVE_KEYS)]
    pub max_keys_per_user: usize,

    /// Seconds a worker holds a job before the sweeper may hand it to another
    /// worker; running jobs renew it every third of this.
    #[arg(long, env = "LEVQOR_LEASE_S", value_name = "LEVQOR_LEASE_S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease_s: u64,

    /// Keys callback signatures (and later email hashes and stored credentials); at
    /// least 32 characters. Unset: generated once into LEVQOR_DATA_DIR/secret.
    #[arg(long, env = "LEVQOR_SECRET", value_name = "LEVQOR_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub secret: Option<String>,

    /// Let callbacks and HTTP jobs reach private, loopback and link-local addresses.
    #[arg(long, env = "LEVQOR_ALLOW_PRIVATE_TARGETS", value_name = "LEVQOR_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_private_targets: bool,

    /// Slack Web API base URL (tests and proxies point it elsewhere).
    #[arg(long, env = "SLACK_API_BASE", value_name = "SLACK_API_BASE", default_value = levqor_connectors::config::SLACK_BASE)]
    pub slack_api_base: String,

    /// Notion API base URL.
    #[arg(long, env = "NOTION_API_BASE", value_name = "NOTION_API_BASE", default_value = levqor_connectors::config::NOTION_BASE)]
    pub notion_api_base: String,

    /// Gmail API base URL.
    #[arg(long, env = "GMAIL_API_BASE", value_name = "GMAIL_API_BASE", default_value = levqor_connectors::config::GMAIL_BASE)]
    pub gmail_api_base: String,

    /// Google OAuth token endpoint, for refreshing Gmail access tokens.
    #[arg(long, env = "GMAIL_TOKEN_URL", value_name = "GMAIL_TOKEN_URL", default_value = levqor_connectors::config::GMAIL_TOKEN_URL)]
    pub gmail_token_url: String,

    /// Telegram Bot API base URL.
    #[arg(long, env = "TELEGRAM_API_BASE", value_name = "TELEGRAM_API_BASE", default_value = levqor_connectors::config::TELEGRAM_BASE)]
    pub telegram_api_base: String,

    /// OpenAI API key for the `ai` connector; unset: its local fallback answers.
    #[arg(long, env = "OPENAI_API_KEY", value_name = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,

    /// OpenAI-compatible API base URL.
    #[arg(long, env = "OPENAI_BASE_URL", value_name = "OPENAI_BASE_URL", default_value = levqor_connectors::config::OPENAI_BASE)]
    pub openai_base_url: String,

    /// Model for the `ai` connector.
    #[arg(long, env = "OPENAI_MODEL", value_name = "OPENAI_MODEL", default_value = levqor_connectors::config::OPENAI_MODEL)]
    pub openai_model: String,

    /// The longest wait, in milliseconds, a connector call sits out when a
    /// service rate-limits it (its own wait, or the back-off); a longer wait ends
    /// the call as rate-limited and the job backs off at least that long.
    #[arg(long, env = "CONNECTOR_WAIT_CAP_MS", value_name = "CONNECTOR_WAIT_CAP_MS", default_value_t = levqor_connectors::config::WAIT_CAP_MS)]
    pub connector_wait_cap_ms: u64,

    /// Pipelines each user may plan per minute (`POST /api/v1/plan`; each may call OpenAI).
    #[arg(long, env = "PLAN_RATE", value_name = "PLAN_RATE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub plan_rate: u32,

    /// Log level: error, warn, info, debug.
    #[arg(long, env = "LEVQOR_LOG", value_name = "LEVQOR_LOG", default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: String,

    #[command(flatten)]
    pub billing: BillingSettings,

    #[command(flatten)]
    pub notify: NotifySettings,

    #[command(flatten)]
    pub ops: crate::ops::settings::OpsSettings,
}

/// Credits, packs, Stripe and referral settings (API.md § Configuration). `Debug`
/// shows whether each Stripe secret is set, never its value.
#[derive(Clone, Args)]
pub struct BillingSettings {
    /// Credits granted once to every new user.
    #[arg(long, env = "FREE_CREDITS", value_name = "FREE_CREDITS", default_value_t = 50, value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
    pub free_credits: i64,

    /// Credits one run costs.
    #[arg(long, env = "RUN_COST", value_name = "RUN_COST", default_value_t = 1, value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
    pub run_cost: i64,

    /// Credits each `ai` step of a pipeline run costs, on top of RUN_COST.
    #[arg(long, env = "AI_STEP_COST", value_name = "AI_STEP_COST", default_value_t = 1, value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
    pub ai_step_cost: i64,

    /// Credits a user may spend on pipeline runs per UTC day (0: no cap); beyond it
    /// `POST /api/v1/run` answers 402 `daily_credit_cap`.
    #[arg(long, env = "DAILY_CREDIT_CAP", value_name = "DAILY_CREDIT_CAP", default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..=1_000_000_000))]
    pub daily_credit_cap: i64,

    /// The most one pipeline run may cost; a run estimated above it is refused (400).
    #[arg(long, env = "MAX_RUN_COST", value_name = "MAX_RUN_COST", default_value_t = 100, value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
    pub max_run_cost: i64,

    /// Credits a referrer gets per rewarded sign-up.
    #[arg(long, env = "REFERRAL_CREDITS", value_name = "REFERRAL_CREDITS", default_value_t = 20, value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
    pub referral_credits: i64,

    /// Stripe secret API key (`sk_…`); unset: purchases answer 503.
    #[arg(long, env = "STRIPE_SECRET_KEY", value_name = "STRIPE_SECRET_KEY", hide_env_values = true, value_parser = parse_non_empty)]
    pub stripe_secret_key: Option<String>,

    /// Stripe webhook signing secret (`whsec_…`); unset: the webhook answers 503.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", value_name = "STRIPE_WEBHOOK_SECRET", hide_env_values = true, value_parser = parse_non_empty)]
    pub stripe_webhook_secret: Option<String>,

    /// Base URL of the Stripe API (for tests and proxies).
    #[arg(long, env = "STRIPE_API_BASE", value_name = "STRIPE_API_BASE", default_value = levqor_billing::DEFAULT_API_BASE, value_parser = parse_http_url)]
    pub stripe_api_base: String,

    /// Credit packs: comma-separated `id:credits:price_minor:currency[:stripe_price_id]`
    /// (default `pack_100:100:900:usd`).
    #[arg(long, env = "PACKS", value_name = "PACKS", value_parser = parse_packs)]
    pub packs: Option<levqor_billing::Packs>,

    /// The site's public base URL; checkout success and cancel URLs default to
    /// `<it>/billing/success?session_id={CHECKOUT_SESSION_ID}` and `<it>/billing/cancel`.
    /// Default: `http://LEVQOR_ADDR`.
    #[arg(long, env = "LEVQOR_PUBLIC_URL", value_name = "LEVQOR_PUBLIC_URL", value_parser = parse_http_url)]
    pub public_url: Option<String>,

    /// Where Stripe sends the buyer after paying (overrides the LEVQOR_PUBLIC_URL default).
    #[arg(long, env = "CHECKOUT_SUCCESS_URL", value_name = "CHECKOUT_SUCCESS_URL", value_parser = parse_http_url)]
    pub checkout_success_url: Option<String>,

    /// Where Stripe sends the buyer who cancels (overrides the LEVQOR_PUBLIC_URL default).
    #[arg(long, env = "CHECKOUT_CANCEL_URL", value_name = "CHECKOUT_CANCEL_URL", value_parser = parse_http_url)]
    pub checkout_cancel_url: Option<String>,

    /// Sender of the emails Levqor writes (e.g. a failed payment notice).
    #[arg(long, env = "EMAIL_FROM", value_name = "EMAIL_FROM", default_value = DEFAULT_EMAIL_FROM, value_parser = parse_mailbox)]
    pub email_from: String,
}

pub const DEFAULT_EMAIL_FROM: &str = "Levqor <no-reply@levqor.invalid>";

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            free_credits: 50,
            run_cost: 1,
            ai_step_cost: 1,
            max_run_cost: 100,
            daily_credit_cap: 0,
            referral_credits: 20,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: levqor_billing::DEFAULT_API_BASE.to_owned(),
            packs: None,
            public_url: None,
            checkout_success_url: None,
            checkout_cancel_url: None,
            email_from: DEFAULT_EMAIL_FROM.to_owned(),
        }
    }
}

impl std::fmt::Debug for BillingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "set" } else { "unset" };
        f.debug_struct("BillingSettings")
            .field("free_credits", &self.free_credits)
            .field("run_cost", &self.run_cost)
            .field("ai_step_cost", &self.ai_step_cost)
            .field("max_run_cost", &self.max_run_cost)
            .field("daily_credit_cap", &self.daily_credit_cap)
            .field("referral_credits", &self.referral_credits)
            .field("stripe_secret_key", &set(&self.stripe_secret_key))
            .field("stripe_webhook_secret", &set(&self.stripe_webhook_secret))
            .field("stripe_api_base", &self.stripe_api_base)
            .field("packs", &self.packs)
            .field("public_url", &self.public_url)
            .field("checkout_success_url", &self.checkout_success_url)
            .field("checkout_cancel_url", &self.checkout_cancel_url)
            .field("email_from", &self.email_from)
            .finish()
    }
}

impl BillingSettings {
    pub fn rules(&self) -> levqor_billing::CreditRules {
        use levqor_core::Credits;
        levqor_billing::CreditRules {
            free_credits: Credits::new(self.free_credits),
            run_cost: Credits::new(self.run_cost),
            referral_credits: Credits::new(self.referral_credits),
        }
    }

    /// The checkout success and cancel URLs; `addr` stands in for a missing public URL.
    pub fn checkout_urls(&self, addr: SocketAddr) -> (String, String) {
        let base = self.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        let base = base.trim_end_matches('/');
        let success = self
            .checkout_success_url
            .clone()
            .unwrap_or_else(|| format!("{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"));
        let cancel = self.checkout_cancel_url.clone().unwrap_or_else(|| format!("{base}/billing/cancel"));
        (success, cancel)
    }
}

fn parse_non_empty(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err("must not be empty (leave it unset instead)".into());
    }
    Ok(value.to_owned())
}

fn parse_http_url(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(value.to_owned()),
        _ => Err(format!("`{value}` is not an absolute http(s) URL")),
    }
}

fn parse_packs(raw: &str) -> Result<levqor_billing::Packs, String> {
    levqor_billing::Packs::from_config(Some(raw)).map_err(|e| e.to_string())
}

fn parse_mailbox(raw: &str) -> Result<String, String> {
    raw.trim()
        .parse::<lettre::message::Mailbox>()
        .map(|m| m.to_string())
        .map_err(|_| format!("`{}` is not an email address (e.g. `Levqor <billing@example.com>`)", raw.trim()))
}

impl ServeSettings {
    /// Defaults for everything but the database: for tests and embedding, where the
    /// process environment must not leak in.
    pub fn new(store: StoreSettings) -> Self {
        Self {
            store,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_keys: Vec::new(),
            api_keys_next: Vec::new(),
            rate_burst: DEFAULT_RATE_BURST,
            rate_global: DEFAULT_RATE_GLOBAL,
            rate_read: DEFAULT_RATE_READ,
            max_content_length: DEFAULT_MAX_CONTENT_LENGTH,
            trusted_proxies: TrustedProxies::default(),
            cors_origins: Vec::new(),
            workers: default_workers(),
            owner_concurrency: 0,
            max_queued_per_user: levqor_jobs::waiting_cap::DEFAULT_MAX_WAITING,
            max_keys_per_user: levqor_accounts::DEFAULT_MAX_ACTIVE_KEYS,
            lease_s: 60,
            secret: None,
            allow_private_targets: false,
            slack_api_base: levqor_connectors::config::SLACK_BASE.into(),
            notion_api_base: levqor_connectors::config::NOTION_BASE.into(),
            gmail_api_base: levqor_connectors::config::GMAIL_BASE.into(),
            gmail_token_url: levqor_connectors::config::GMAIL_TOKEN_URL.into(),
            telegram_api_base: levqor_connectors::config::TELEGRAM_BASE.into(),
            openai_api_key: None,
            openai_base_url: levqor_connectors::config::OPENAI_BASE.into(),
            openai_model: levqor_connectors::config::OPENAI_MODEL.into(),
            connector_wait_cap_ms: levqor_connectors::config::WAIT_CAP_MS,
            log_level: "info".into(),
            plan_rate: 10,
            billing: BillingSettings::default(),
            notify: NotifySettings::default(),
            ops: Default::default(),
        }
    }

    /// Where the connectors send their requests, from these settings.
    pub fn connector_config(&self) -> levqor_connectors::ConnectorConfig {
        levqor_connectors::ConnectorConfig::from_lookup(|key| match key {
            "SLACK_API_BASE" => Some(self.slack_api_base.clone()),
            "NOTION_API_BASE" => Some(self.notion_api_base.clone()),
            "GMAIL_API_BASE" => Some(self.gmail_api_base.clone()),
            "GMAIL_TOKEN_URL" => Some(self.gmail_token_url.clone()),
            "TELEGRAM_API_BASE" => Some(self.telegram_api_base.clone()),
            "OPENAI_BASE_URL" => Some(self.openai_base_url.clone()),
            "OPENAI_API_KEY" => self.openai_api_key.clone(),
            "OPENAI_MODEL" => Some(self.openai_model.clone()),
            "LEVQOR_ALLOW_PRIVATE_TARGETS" => Some(self.allow_private_targets.to_string()),
            "CONNECTOR_WAIT_CAP_MS" => Some(self.connector_wait_cap_ms.to_string()),
            _ => None,
        })
    }

    /// The per-owner limit in force.
    pub fn owner_limit(&self) -> u32 {
        if self.owner_concurrency > 0 {
            self.owner_concurrency
        } else {
            u32::try_from(self.workers.div_ceil(2)).unwrap_or(u32::MAX).max(1)
        }
    }

    pub fn admin_keys(&self) -> impl Iterator<Item = &str> {
        self.api_keys.iter().chain(&self.api_keys_next).map(String::as_str).filter(|k| !k.is_empty())
    }
}

/// Email, the error and support inboxes, and Sentry (API.md § Configuration).
/// `Debug` shows whether each secret is set, never its value.
#[derive(Clone, Args)]
pub struct NotifySettings {
    /// SMTP relay: `smtp://user:pass@host:587` (STARTTLS, required unless the host
    /// is loopback; `?tls=opportunistic|none` to change), or `smtps://…:465` (TLS).
    /// Wins over RESEND_API_KEY; with neither, mail goes to LEVQOR_DATA_DIR/outbox.
    #[arg(long, env = "SMTP_URL", value_name = "SMTP_URL", hide_env_values = true, value_parser = parse_non_empty)]
    pub smtp_url: Option<String>,

    /// Resend API key: mail goes through Resend's SMTP relay (user `resend`).
    #[arg(long, env = "RESEND_API_KEY", value_name = "RESEND_API_KEY", hide_env_values = true, value_parser = parse_non_empty)]
    pub resend_api_key: Option<String>,

    /// Resend's SMTP host (tests and proxies point it elsewhere).
    #[arg(long, env = "RESEND_SMTP_HOST", value_name = "RESEND_SMTP_HOST", default_value = levqor_notifications::transport::RESEND_SMTP_HOST)]
    pub resend_smtp_host: String,

    /// Resend's SMTP port: 465 is TLS from the first byte, others use STARTTLS.
    #[arg(long, env = "RESEND_SMTP_PORT", value_name = "RESEND_SMTP_PORT", default_value_t = levqor_notifications::transport::RESEND_SMTP_PORT)]
    pub resend_smtp_port: u16,

    /// Where error/fatal reports and support messages are forwarded; unset: they
    /// are only stored.
    #[arg(long, env = "RECEIVING_EMAIL", value_name = "RECEIVING_EMAIL", value_parser = parse_mailbox)]
    pub receiving_email: Option<String>,

    /// Delivery attempts per mail before it is set aside in outbox/undelivered.
    #[arg(long, env = "EMAIL_MAX_ATTEMPTS", value_name = "EMAIL_MAX_ATTEMPTS", default_value_t = levqor_notifications::queue::DEFAULT_MAX_ATTEMPTS, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub email_max_attempts: u32,

    /// Forward error reports, and this server's panics and 5xx answers, to Sentry.
    #[arg(long, env = "SENTRY_DSN", value_name = "SENTRY_DSN", hide_env_values = true, value_parser = parse_non_empty)]
    pub sentry_dsn: Option<String>,

    /// `POST /api/v1/errors/report` per minute per client IP.
    #[arg(long, env = "ERRORS_RATE", value_name = "ERRORS_RATE", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub errors_rate: u32,

    /// `POST /api/v1/support/message` per minute per client IP.
    #[arg(long, env = "SUPPORT_RATE", value_name = "SUPPORT_RATE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub support_rate: u32,

    /// `errors.jsonl` and `support.jsonl` are rotated before growing past this many bytes.
    #[arg(long, env = "INBOX_MAX_BYTES", value_name = "INBOX_MAX_BYTES", default_value_t = levqor_notifications::inbox::DEFAULT_MAX_BYTES, value_parser = clap::value_parser!(u64).range(4096..))]
    pub inbox_max_bytes: u64,

    /// Rotated inbox files kept (`errors.jsonl.1` … `.N`).
    #[arg(long, env = "INBOX_KEEP", value_name = "INBOX_KEEP", default_value_t = levqor_notifications::inbox::DEFAULT_KEEP, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub inbox_keep: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            resend_api_key: None,
            resend_smtp_host: levqor_notifications::transport::RESEND_SMTP_HOST.to_owned(),
            resend_smtp_port: levqor_notifications::transport::RESEND_SMTP_PORT,
            receiving_email: None,
            email_max_attempts: levqor_notifications::queue::DEFAULT_MAX_ATTEMPTS,
            sentry_dsn: None,
            errors_rate: 60,
            support_rate: 10,
            inbox_max_bytes: levqor_notifications::inbox::DEFAULT_MAX_BYTES,
            inbox_keep: levqor_notifications::inbox::DEFAULT_KEEP,
        }
    }
}

impl std::fmt::Debug for NotifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "set" } else { "unset" };
        f.debug_struct("NotifySettings")
            .field("smtp_url", &set(&self.smtp_url))
            .field("resend_api_key", &set(&self.resend_api_key))
            .field("resend_smtp_host", &self.resend_smtp_host)
            .field("resend_smtp_port", &self.resend_smtp_port)
            .field("receiving_email", &self.receiving_email)
            .field("email_max_attempts", &self.email_max_attempts)
            .field("sentry_dsn", &set(&self.sentry_dsn))
            .field("errors_rate", &self.errors_rate)
            .field("support_rate", &self.support_rate)
            .field("inbox_max_bytes", &self.inbox_max_bytes)
            .field("inbox_keep", &self.inbox_keep)
            .finish()
    }
}

impl NotifySettings {
    pub fn transport(&self) -> levqor_notifications::TransportConfig {
        levqor_notifications::TransportConfig::choose(
            self.smtp_url.as_deref(),
            self.resend_api_key.as_deref(),
            &self.resend_smtp_host,
            self.resend_smtp_port,
        )
    }
}

fn parse_admin_key(raw: &str) -> Result<String, String> {
    let key = raw.trim();
    if !key.is_empty() && key.len() < MIN_ADMIN_KEY_LEN {
        return Err(format!("admin keys must be at least {MIN_ADMIN_KEY_LEN} characters long"));
    }
    Ok(key.to_owned())
}

fn parse_body_limit(raw: &str) -> Result<usize, String> {
    let n: usize = raw.trim().parse().map_err(|_| format!("`{raw}` is not a number of bytes"))?;
    if !(1024..=64 * 1024 * 1024).contains(&n) {
        return Err("must be between 1024 and 67108864 bytes".into());
    }
    Ok(n)
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

fn parse_secret(raw: &str) -> Result<String, String> {
    if raw.len() < 32 {
        return Err("must be at least 32 characters".into());
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn billing_debug_hides_secrets_and_urls_default_sensibly() {
        let mut billing = BillingSettings {
            stripe_secret_key: Some("sk_test_secret".into()),
            stripe_webhook_secret: Some("whsec_secret".into()),
            ..BillingSettings::default()
        };
        let shown = format!("{billing:?}");
        assert!(!shown.contains("sk_test_secret") && !shown.contains("whsec_secret"), "{shown}");
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            billing.checkout_urls(addr),
            (
                "http://127.0.0.1:8080/billing/success?session_id={CHECKOUT_SESSION_ID}".to_owned(),
                "http://127.0.0.1:8080/billing/cancel".to_owned()
            )
        );
        billing.public_url = Some("https://levqor.example/".into());
        billing.checkout_cancel_url = Some("https://levqor.example/pricing".into());
        let (success, cancel) = billing.checkout_urls(addr);
        assert!(success.starts_with("https://levqor.example/billing/success?"), "{success}");
        assert_eq!(cancel, "https://levqor.example/pricing");
        assert_eq!(billing.rules(), levqor_billing::CreditRules::default());
    }

    #[test]
    fn billing_values_are_checked() {
        assert!(parse_http_url("https://api.stripe.com").is_ok());
        assert!(parse_http_url("ftp://x").is_err());
        assert!(parse_http_url("/relative").is_err());
        assert!(parse_non_empty("  ").is_err());
        assert!(parse_packs("p:1:1:usd").is_ok());
        assert!(parse_packs("p:1:1").unwrap_err().contains("id:credits"));
        assert_eq!(parse_mailbox(" Levqor <a@example.com> ").unwrap(), "Levqor <a@example.com>");
        assert!(parse_mailbox("nope").is_err());
    }

    #[test]
    fn notify_debug_hides_secrets() {
        let notify = NotifySettings {
            smtp_url: Some("smtp://u:smtp-secret@mx.example.com".into()),
            resend_api_key: Some("re_secret".into()),
            sentry_dsn: Some("https://dsn-secret@o1.ingest.sentry.io/1".into()),
            ..NotifySettings::default()
        };
        let shown = format!("{notify:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(notify.transport().name(), "smtp");
        assert_eq!(NotifySettings::default().transport().name(), "outbox");
    }
}
