//! Creating Stripe Checkout Sessions (payment mode) through async-stripe's
//! `CreateCheckoutSession`. The API base URL is configurable so tests (and proxies)
//! can stand in for Stripe.
//!
//! async-stripe sends the `Stripe-Version` it was generated for (`=1.0.0-rc.10`:
//! 2026-09-30.endive) with every request, so the
//! session answer is read with the very types that version describes.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use levqor_core::{Email, UserId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData, ProductData,
};

use crate::error::BillingError;
use crate::packs::CreditPack;

pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// The Stripe API version every call asks for, so answers keep the shape this
/// code reads whatever the account's default version becomes
/// (https://docs.stripe.com/api/versioning). async-stripe sends the version its
/// release was generated for; this names it (a test checks the header sent), and
/// moves with the async-stripe pin in Cargo.toml.
pub const STRIPE_VERSION: &str = "2026-09-30.endive";
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

/// The session to create: payment mode, one line of the pack (by its Stripe price
/// when it has one, else priced inline), and the user and pack in both
/// `client_reference_id` and metadata for the webhook to read back.
fn session_params(request: &CheckoutRequest, config: &StripeConfig) -> CreateCheckoutSession {
    let pack = &request.pack;
    let user = request.user.to_string();
    let line = match &pack.stripe_price_id {
        Some(price) => CreateCheckoutSessionLineItems { price: Some(price.clone()), ..Default::default() },
        None => {
            // An unknown code is sent as written (`Currency::Unknown`): Stripe, not
            // Levqor, says which currencies it takes.
            let currency = stripe_types::Currency::from_str(&pack.currency).unwrap_or_else(|never| match never {});
            let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency);
            price.unit_amount = Some(pack.price_minor);
            price.product_data = Some(ProductData::new(format!("{} Levqor credits", pack.credits)));
            CreateCheckoutSessionLineItems { price_data: Some(price), ..Default::default() }
        }
    };
    let metadata = HashMap::from([
        ("user_id".to_owned(), user.clone()),
        ("pack_id".to_owned(), pack.id.clone()),
        ("credits".to_owned(), pack.credits.to_string()),
    ]);
    let mut params = CreateCheckoutSession::new()
        .mode(stripe_checkout::CheckoutSessionMode::Payment)
        .client_reference_id(user)
        .success_url(config.success_url.clone())
        .cancel_url(config.cancel_url.clone())
        .line_items(vec![CreateCheckoutSessionLineItems { quantity: Some(1), ..line }])
        .metadata(metadata);
    if let Some(email) = &request.customer_email {
        params = params.customer_email(email.as_str());
    }
    params
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
    client: stripe::Client,
    config: StripeConfig,
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
        // async-stripe appends `v1/…` to the base as written: it must end in `/`.
        let base = format!("{}/", base.as_str().trim_end_matches('/'));
        let client =
            stripe::ClientBuilder::new(config.secret_key.clone()).url(base).timeout(config.timeout).build().map_err(
                |e| match e {
                    StripeError::ConfigError(detail) => BillingError::invalid("STRIPE_API_BASE", detail),
                    // The key goes into a header: only visible ASCII will do.
                    other => BillingError::invalid("STRIPE_SECRET_KEY", format!("cannot be used: {other}")),
                },
            )?;
        Ok(Self { client, config })
    }

    pub fn config(&self) -> &StripeConfig {
        &self.config
    }

    /// Creates the session. Sent once (no retry here): a retry is the caller's,
    /// with the same `Idempotency-Key`, so Stripe answers it with the same session.
    pub async fn create_session(&self, request: &CheckoutRequest) -> Result<CheckoutSession, BillingError> {
        let strategy = match &request.idempotency_key {
            Some(key) => {
                let key = IdempotencyKey::new(stripe_idempotency_key(&request.user, key))
                    .map_err(|e| BillingError::invalid("Idempotency-Key", e.to_string()))?;
                RequestStrategy::Idempotent(key)
            }
            None => RequestStrategy::Once,
        };
        let session = session_params(request, &self.config)
            .customize()
            .request_strategy(strategy)
            .send(&self.client)
            .await
            .map_err(stripe_error)?;
        let url = session
            .url
            .ok_or_else(|| BillingError::StripeUnreadable(format!("session {} has no URL", session.id.as_str())))?;
        Ok(CheckoutSession { session_id: session.id.as_str().to_owned(), url })
    }
}

fn stripe_error(error: StripeError) -> BillingError {
    match error {
        StripeError::Stripe(body, status) => {
            let message = body.message.clone().unwrap_or_else(|| body.type_.as_str().to_owned());
            BillingError::Stripe { status, message }
        }
        StripeError::ClientError(detail) => BillingError::StripeUnreachable(detail),
        StripeError::Timeout => BillingError::StripeUnreachable("no answer in time".into()),
        // An answer that is not a Stripe object or a Stripe error (a proxy's error
        // page, a truncated body).
        StripeError::JSONDeserialize(detail) => BillingError::StripeUnreadable(detail),
        StripeError::ConfigError(detail) => BillingError::invalid("STRIPE_API_BASE", detail),
    }
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
        assert!(matches!(
            StripeCheckout::new(StripeConfig::new("sk_\n1", "https://a/", "https://b/")),
            Err(BillingError::Invalid(p)) if p[0].field == "STRIPE_SECRET_KEY"
        ));
        assert!(StripeCheckout::new(config().with_api_base(Some("http://127.0.0.1:9/"))).is_ok());
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
}
