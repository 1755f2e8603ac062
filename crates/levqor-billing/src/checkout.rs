//! Creating Stripe Checkout Sessions (payment mode) with a plain HTTP client:
//! `POST {STRIPE_API_BASE}/v1/checkout/sessions`, form-encoded, bearer-authenticated.
//! The base URL is configurable so tests (and proxies) can stand in for Stripe.

use std::fmt;
use std::time::Duration;

use levqor_core::{Email, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BillingError;
use crate::packs::CreditPack;

pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// The Stripe API version every call asks for, so answers keep the shape this
/// code reads whatever the account's default version becomes
/// (https://docs.stripe.com/api/versioning). The one place it is set.
pub const STRIPE_VERSION: &str = "2025-03-31.basil";
/// Stripe refuses longer idempotency keys.
const MAX_IDEMPOTENCY_KEY: usize = 255;

#[derive(Clone)]
pub struct StripeConfig {
    /// `sk_…`; kept out of `Debug` output.
    pub secret_key: String,
    /// `STRIPE_API_BASE`, without the `/v1`.
    pub api_base: String,
    /// May contain `{CHECKOUT_SESSION_ID}`, which Stripe fills in.
    pub success_url: String,
    pub cancel_url: String,
    pub timeout: Duration,
}

impl StripeConfig {
    pub fn new(secret_key: impl Into<String>, success_url: impl Into<String>, cancel_url: impl Into<String>) -> Self {
        Self {
            secret_key: secret_key.into(),
            api_base: DEFAULT_API_BASE.into(),
            success_url: success_url.into(),
            cancel_url: cancel_url.into(),
            timeout: Duration::from_secs(15),
        }
    }

    pub fn with_api_base(mut self, base: Option<impl Into<String>>) -> Self {
        if let Some(base) = base {
            self.api_base = base.into();
        }
        self
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"..")
            .field("api_base", &self.api_base)
            .field("success_url", &self.success_url)
            .field("cancel_url", &self.cancel_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One purchase of one pack by one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    pub user: UserId,
    pub pack: CreditPack,
    pub customer_email: Option<Email>,
    /// The caller's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
}

/// What the purchase endpoints answer: `{"sessionId", "url"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckoutSession {
    #[serde(rename = "sessionId")]
    pub session_id: String,
    pub url: String,
}

#[derive(Deserialize)]
struct SessionReply {
    id: String,
    url: Option<String>,
}

#[derive(Deserialize)]
struct ErrorReply {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// The form fields of the session, in the order they are sent.
pub fn session_form(request: &CheckoutRequest, config: &StripeConfig) -> Vec<(String, String)> {
    let pack = &request.pack;
    let user = request.user.to_string();
    let mut form: Vec<(String, String)> =
        vec![("mode".into(), "payment".into()), ("client_reference_id".into(), user.clone())];
    if let Some(email) = &request.customer_email {
        form.push(("customer_email".into(), email.as_str().into()));
    }
    form.push(("success_url".into(), config.success_url.clone()));
    form.push(("cancel_url".into(), config.cancel_url.clone()));
    match &pack.stripe_price_id {
        Some(price) => form.push(("line_items[0][price]".into(), price.clone())),
        None => {
            form.push(("line_items[0][price_data][currency]".into(), pack.currency.clone()));
            form.push(("line_items[0][price_data][unit_amount]".into(), pack.price_minor.to_string()));
            form.push((
                "line_items[0][price_data][product_data][name]".into(),
                format!("{} Levqor credits", pack.credits),
            ));
        }
    }
    form.push(("line_items[0][quantity]".into(), "1".into()));
    form.push(("metadata[user_id]".into(), user));
    form.push(("metadata[pack_id]".into(), pack.id.clone()));
    form.push(("metadata[credits]".into(), pack.credits.to_string()));
    form
}

/// The key sent to Stripe. Stripe's idempotency is per Stripe account, not per
/// Levqor user, so the caller's key is scoped to the user: two users who happen to
/// pick the same key must never be handed each other's session.
pub fn stripe_idempotency_key(user: &UserId, key: &str) -> String {
    let scoped = format!("levqor-checkout:{user}:{key}");
    if scoped.len() <= MAX_IDEMPOTENCY_KEY {
        scoped
    } else {
        format!("levqor-checkout:{user}:sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}

pub struct StripeCheckout {
    http: reqwest::Client,
    config: StripeConfig,
    endpoint: String,
}

impl StripeCheckout {
    pub fn new(config: StripeConfig) -> Result<Self, BillingError> {
        if config.secret_key.trim().is_empty() {
            return Err(BillingError::Unconfigured("STRIPE_SECRET_KEY"));
        }
        let base = url::Url::parse(&config.api_base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| BillingError::invalid("STRIPE_API_BASE", "must be an http(s) URL"))?;
        for (field, value) in [("success_url", &config.success_url), ("cancel_url", &config.cancel_url)] {
            if url::Url::parse(value).is_err() {
                return Err(BillingError::invalid(field, "must be an absolute URL"));
            }
        }
        let endpoint = format!("{}/v1/checkout/sessions", base.as_str().trim_end_matches('/'));
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| BillingError::Stripe { status: 0, message: format!("cannot build the HTTP client: {e}") })?;
        Ok(Self { http, config, endpoint })
    }

    pub fn config(&self) -> &StripeConfig {
        &self.config
    }

    /// Creates the session. Never retried here: a retry is the caller's, with the
    /// same `Idempotency-Key`, so Stripe answers it with the same session.
    pub async fn create_session(&self, request: &CheckoutRequest) -> Result<CheckoutSession, BillingError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(session_form(request, &self.config))
            .finish();
        let mut http = self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.config.secret_key)
            .header("Stripe-Version", STRIPE_VERSION)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(key) = &request.idempotency_key {
            http = http.header("Idempotency-Key", stripe_idempotency_key(&request.user, key));
        }
        let response = http
            .send()
            .await
            .map_err(|e| BillingError::Stripe { status: 0, message: format!("Stripe could not be reached: {e}") })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| BillingError::Stripe {
            status: status.as_u16(),
            message: format!("reading Stripe's answer failed: {e}"),
        })?;
        if !status.is_success() {
            return Err(stripe_error(status.as_u16(), &bytes));
        }
        let reply: SessionReply = serde_json::from_slice(&bytes).map_err(|e| BillingError::Stripe {
            status: status.as_u16(),
            message: format!("unexpected answer from Stripe: {e}"),
        })?;
        let url = reply.url.ok_or_else(|| BillingError::Stripe {
            status: status.as_u16(),
            message: format!("session {} has no URL", reply.id),
        })?;
        Ok(CheckoutSession { session_id: reply.id, url })
    }
}

fn stripe_error(status: u16, body: &[u8]) -> BillingError {
    let message = match serde_json::from_slice::<ErrorReply>(body) {
        Ok(ErrorReply { error }) => match (error.message, error.kind) {
            (Some(message), _) => message,
            (None, Some(kind)) => kind,
            (None, None) => "Stripe refused the request".into(),
        },
        Err(_) => format!("Stripe answered HTTP {status}"),
    };
    BillingError::Stripe { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> StripeConfig {
        StripeConfig::new("sk_test_1", "https://levqor.test/ok", "https://levqor.test/no")
    }

    #[test]
    fn config_is_checked_and_the_key_is_hidden() {
        assert!(!format!("{:?}", config()).contains("sk_test_1"));
        assert!(matches!(
            StripeCheckout::new(StripeConfig::new("", "https://a/", "https://b/")),
            Err(BillingError::Unconfigured("STRIPE_SECRET_KEY"))
        ));
        assert!(matches!(StripeCheckout::new(config().with_api_base(Some("ftp://x"))), Err(BillingError::Invalid(_))));
        assert!(matches!(
            StripeCheckout::new(StripeConfig::new("sk", "/relative", "https://b/")),
            Err(BillingError::Invalid(_))
        ));
        let client = StripeCheckout::new(config().with_api_base(Some("http://127.0.0.1:9/"))).unwrap();
        assert_eq!(client.endpoint, "http://127.0.0.1:9/v1/checkout/sessions");
    }

    #[test]
    fn idempotency_keys_are_scoped_and_bounded() {
        let (a, b) = (UserId::new(), UserId::new());
        assert_ne!(stripe_idempotency_key(&a, "k"), stripe_idempotency_key(&b, "k"));
        assert_eq!(stripe_idempotency_key(&a, "k"), stripe_idempotency_key(&a, "k"));
        let long = "x".repeat(400);
        let key = stripe_idempotency_key(&a, &long);
        assert!(key.len() <= MAX_IDEMPOTENCY_KEY);
        assert_ne!(key, stripe_idempotency_key(&a, &"y".repeat(400)));
    }

    #[test]
    fn stripe_errors_keep_stripes_message() {
        let body = br#"{"error": {"message": "No such price: 'price_x'", "type": "invalid_request_error"}}"#;
        assert_eq!(
            stripe_error(400, body),
            BillingError::Stripe { status: 400, message: "No such price: 'price_x'".into() }
        );
        assert_eq!(
            stripe_error(502, b"<html>"),
            BillingError::Stripe { status: 502, message: "Stripe answered HTTP 502".into() }
        );
    }
}
