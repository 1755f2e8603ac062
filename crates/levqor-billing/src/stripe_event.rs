//! The few fields of a Stripe event that Levqor acts on, read with serde from the
//! raw JSON. Every other field is ignored, so new fields Stripe adds (or a newer API
//! version) never make a genuine event unreadable.

use std::collections::HashMap;

use serde::Deserialize;

use crate::stripe_signature::WebhookError;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StripeEvent {
    /// `evt_…`; the key that makes redeliveries harmless.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix seconds.
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// A `checkout.session`, as far as granting credits needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckoutSessionObject {
    /// `cs_…`
    pub id: String,
    pub object: String,
    pub client_reference_id: Option<String>,
    /// Stripe sends `{}` when empty; `null` is tolerated too.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: HashMap<String, String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    /// `open`, `complete` or `expired`.
    pub status: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub customer_email: Option<String>,
    pub customer_details: Option<CustomerDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CustomerDetails {
    pub email: Option<String>,
}

fn null_as_empty<'de, D>(de: D) -> Result<HashMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<HashMap<String, String>>::deserialize(de)?.unwrap_or_default())
}

impl StripeEvent {
    /// Parses a raw (already verified) webhook body.
    pub fn parse(payload: &[u8]) -> Result<Self, WebhookError> {
        serde_json::from_slice(payload).map_err(|e| WebhookError::BadPayload(e.to_string()))
    }

    /// The event's object as a Checkout Session.
    pub fn checkout_session(&self) -> Result<CheckoutSessionObject, WebhookError> {
        let session = CheckoutSessionObject::deserialize(&self.data.object)
            .map_err(|e| WebhookError::BadPayload(format!("data.object: {e}")))?;
        if session.object != "checkout.session" {
            return Err(WebhookError::BadPayload(format!(
                "data.object is a {}, not a checkout.session",
                session.object
            )));
        }
        Ok(session)
    }
}

impl CheckoutSessionObject {
    /// The buyer's email as Stripe collected it, if any.
    pub fn email(&self) -> Option<&str> {
        self.customer_email.as_deref().or_else(|| self.customer_details.as_ref()?.email.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fixture_event_and_session() {
        let event = StripeEvent::parse(include_bytes!("../tests/fixtures/event.json")).unwrap();
        assert_eq!(event.id, "evt_1Pgc76B7WZ01zgkWwyRHS12y");
        assert_eq!(event.event_type, "plan.created");
        assert_eq!(event.created, 1_234_567_890);
        assert!(event.checkout_session().is_err(), "a plan is not a session");

        let object: serde_json::Value =
            serde_json::from_slice(include_bytes!("../tests/fixtures/checkout_session.json")).unwrap();
        let event = StripeEvent { data: EventData { object }, ..event };
        let session = event.checkout_session().unwrap();
        assert!(session.id.starts_with("cs_test_"));
        assert_eq!(session.payment_status, "unpaid");
        assert_eq!(session.status.as_deref(), Some("open"));
        assert!(session.metadata.is_empty());
        assert_eq!(session.email(), Some("example@example.com"));
    }

    #[test]
    fn garbage_is_a_bad_payload() {
        assert!(matches!(StripeEvent::parse(b"not json"), Err(WebhookError::BadPayload(_))));
        assert!(matches!(StripeEvent::parse(br#"{"id": "evt_1"}"#), Err(WebhookError::BadPayload(_))));
    }
}
