//! What a verified Stripe event means for Levqor. Deciding is pure; the app then
//! does what the [`WebhookAction`] says (a grant through
//! [`crate::Ledger::grant_once`] with [`WebhookAction::once_keys`], in the same
//! transaction) and answers Stripe quickly, without calling Stripe back.

use levqor_core::{Credits, Timestamp, UserId};

use crate::error::BillingError;
use crate::packs::Packs;
use crate::stripe_event::{CheckoutSessionObject, StripeEvent};
use crate::stripe_signature::{DEFAULT_TOLERANCE_SECS, WebhookSecret, verify};

pub const COMPLETED: &str = "checkout.session.completed";
pub const ASYNC_SUCCEEDED: &str = "checkout.session.async_payment_succeeded";
pub const ASYNC_FAILED: &str = "checkout.session.async_payment_failed";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAction {
    /// Grant the pack's credits, once per event and once per session.
    Grant { user: UserId, credits: Credits, pack_id: String, event_id: String, session_id: String },
    /// A delayed payment (bank debit…) failed: tell the user, grant nothing.
    PaymentFailed { user: UserId, session_id: String, email: Option<String> },
    /// Acknowledge and do nothing. `reason` is for the log; reasons other than an
    /// unhandled type or an unpaid session mean a paid purchase could not be
    /// credited and deserve an operator's look.
    Ignore { reason: String },
    /// A paid session that does not match its pack (amount or currency): nothing
    /// is granted, and an operator must look (a tampered or misconfigured
    /// checkout, or a price changed in Stripe but not in `PACKS`).
    Mismatch { reason: String },
}

impl WebhookAction {
    /// The once-keys a grant must claim (empty for other actions).
    pub fn once_keys(&self) -> Vec<String> {
        match self {
            WebhookAction::Grant { event_id, session_id, .. } => {
                vec![crate::ports::stripe_event_key(event_id), crate::ports::stripe_session_key(session_id)]
            }
            _ => Vec::new(),
        }
    }
}

fn ignore(reason: impl Into<String>) -> WebhookAction {
    WebhookAction::Ignore { reason: reason.into() }
}

/// Whose session it is: `client_reference_id`, else `metadata.user_id`; both must
/// agree when both are present.
fn session_user(session: &CheckoutSessionObject) -> Result<UserId, String> {
    let reference = session.client_reference_id.as_deref();
    let meta = session.metadata.get("user_id").map(String::as_str);
    let raw = match (reference, meta) {
        (Some(r), Some(m)) if r != m => {
            return Err(format!("session {}: client_reference_id and metadata.user_id disagree", session.id));
        }
        (Some(r), _) => r,
        (None, Some(m)) => m,
        (None, None) => return Err(format!("session {} names no user", session.id)),
    };
    raw.parse().map_err(|_| format!("session {}: `{raw}` is not a user id", session.id))
}

/// Why a grant was not decided: an ordinary reason to acknowledge and move on,
/// or a mismatch between what was paid and the pack.
enum NoGrant {
    Ignore(String),
    Mismatch(String),
}

impl From<String> for NoGrant {
    fn from(reason: String) -> Self {
        NoGrant::Ignore(reason)
    }
}

impl From<NoGrant> for WebhookAction {
    fn from(no: NoGrant) -> Self {
        match no {
            NoGrant::Ignore(reason) => WebhookAction::Ignore { reason },
            NoGrant::Mismatch(reason) => WebhookAction::Mismatch { reason },
        }
    }
}

fn grant(event: &StripeEvent, packs: &Packs) -> Result<WebhookAction, NoGrant> {
    let session = event.checkout_session().map_err(|e| e.to_string())?;
    if session.payment_status != "paid" {
        return Err(format!("session {} is {}: waiting for the payment", session.id, session.payment_status).into());
    }
    let user = session_user(&session)?;
    let pack_id =
        session.metadata.get("pack_id").ok_or_else(|| format!("session {} has no metadata.pack_id", session.id))?;
    // The credits come from our own pack table, never from the event: metadata is
    // ours, but a pack's size is configuration, not something to echo back.
    let pack = packs.get(pack_id).ok_or_else(|| format!("session {}: unknown pack `{pack_id}`", session.id))?;
    // What was paid must be the pack's price: a signed event proves Stripe sent
    // it, not that the buyer paid the price (a checkout created elsewhere with the
    // same metadata, or a price changed in Stripe).
    let paid = (session.currency.as_deref(), session.amount_total);
    match paid {
        (Some(currency), Some(amount))
            if currency.eq_ignore_ascii_case(&pack.currency) && amount == pack.price_minor => {}
        (currency, amount) => {
            return Err(NoGrant::Mismatch(format!(
                "session {} paid {} {}, pack `{pack_id}` costs {} {}",
                session.id,
                amount.map_or_else(|| "no amount".to_owned(), |a| a.to_string()),
                currency.unwrap_or("in no currency"),
                pack.price_minor,
                pack.currency
            )));
        }
    }
    Ok(WebhookAction::Grant {
        user,
        credits: Credits::new(pack.credits),
        pack_id: pack.id.clone(),
        event_id: event.id.clone(),
        session_id: session.id,
    })
}

/// Decides what a verified event means.
pub fn decide(event: &StripeEvent, packs: &Packs) -> WebhookAction {
    match event.event_type.as_str() {
        COMPLETED | ASYNC_SUCCEEDED => grant(event, packs).unwrap_or_else(WebhookAction::from),
        ASYNC_FAILED => {
            let failed = event.checkout_session().map_err(|e| e.to_string()).and_then(|s| {
                Ok(WebhookAction::PaymentFailed {
                    user: session_user(&s)?,
                    email: s.email().map(str::to_owned),
                    session_id: s.id,
                })
            });
            failed.unwrap_or_else(ignore)
        }
        other => ignore(format!("unhandled event type {other}")),
    }
}

/// The webhook endpoint's whole decision: refuse when no secret is configured
/// (`Unconfigured`, a 503), verify the signature over the raw body (`Webhook`, a
/// 400), parse the event (`Webhook(BadPayload)`, a 400), decide.
pub fn verify_and_decide(
    secret: Option<&WebhookSecret>,
    signature_header: Option<&str>,
    payload: &[u8],
    now: Timestamp,
    packs: &Packs,
) -> Result<(StripeEvent, WebhookAction), BillingError> {
    let secret = secret.ok_or(BillingError::Unconfigured("STRIPE_WEBHOOK_SECRET"))?;
    verify(secret, signature_header, payload, now, DEFAULT_TOLERANCE_SECS)?;
    let event = StripeEvent::parse(payload)?;
    let action = decide(&event, packs);
    Ok((event, action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe_signature::{WebhookError, signature_header};
    use chrono::{TimeZone, Utc};
    use serde_json::{Value, json};

    const T: i64 = 1_900_000_000;

    fn now() -> Timestamp {
        Utc.timestamp_opt(T, 0).single().unwrap()
    }

    /// A real-shaped event of `event_type` around the fixture session, changed by `edit`.
    fn event(event_type: &str, edit: impl FnOnce(&mut Value)) -> Value {
        let mut session: Value =
            serde_json::from_slice(include_bytes!("../tests/fixtures/checkout_session.json")).unwrap();
        session["id"] = json!("cs_test_levqor_1");
        session["payment_status"] = json!("paid");
        session["status"] = json!("complete");
        session["currency"] = json!("usd");
        session["amount_total"] = json!(900);
        edit(&mut session);
        let mut event: Value = serde_json::from_slice(include_bytes!("../tests/fixtures/event.json")).unwrap();
        event["id"] = json!("evt_levqor_1");
        event["type"] = json!(event_type);
        event["created"] = json!(T);
        event["data"]["object"] = session;
        event
    }

    fn with_user(user: &UserId) -> impl FnOnce(&mut Value) + '_ {
        move |s| {
            s["client_reference_id"] = json!(user.to_string());
            s["metadata"] = json!({"user_id": user.to_string(), "pack_id": "pack_100", "credits": "100"});
        }
    }

    fn decide_json(value: &Value) -> WebhookAction {
        let event = StripeEvent::parse(value.to_string().as_bytes()).unwrap();
        decide(&event, &Packs::default())
    }

    fn is_ignore(action: &WebhookAction, containing: &str) -> bool {
        matches!(action, WebhookAction::Ignore { reason } if reason.contains(containing))
    }

    fn is_mismatch(action: &WebhookAction, containing: &str) -> bool {
        matches!(action, WebhookAction::Mismatch { reason } if reason.contains(containing))
    }

    #[test]
    fn paid_completion_grants_the_packs_credits() {
        let user = UserId::new();
        let action = decide_json(&event(COMPLETED, with_user(&user)));
        assert_eq!(
            action,
            WebhookAction::Grant {
                user: user.clone(),
                credits: Credits::new(100),
                pack_id: "pack_100".into(),
                event_id: "evt_levqor_1".into(),
                session_id: "cs_test_levqor_1".into(),
            }
        );
        assert_eq!(
            action.once_keys(),
            vec!["stripe-event:evt_levqor_1".to_owned(), "stripe-session:cs_test_levqor_1".to_owned()]
        );
        let late = decide_json(&event(ASYNC_SUCCEEDED, with_user(&user)));
        assert!(matches!(late, WebhookAction::Grant { .. }));
    }

    #[test]
    fn credits_come_from_the_pack_not_the_event() {
        let user = UserId::new();
        let action = decide_json(&event(COMPLETED, |s| {
            with_user(&user)(s);
            s["metadata"]["credits"] = json!("1000000");
        }));
        assert!(matches!(action, WebhookAction::Grant { credits, .. } if credits == Credits::new(100)));
        let unknown = decide_json(&event(COMPLETED, |s| {
            with_user(&user)(s);
            s["metadata"]["pack_id"] = json!("pack_free_money");
        }));
        assert!(is_ignore(&unknown, "unknown pack"));
        let wrong_currency = decide_json(&event(COMPLETED, |s| {
            with_user(&user)(s);
            s["currency"] = json!("eur");
        }));
        assert!(is_mismatch(&wrong_currency, "eur"));
    }

    #[test]
    fn the_paid_amount_must_be_the_packs_price() {
        let user = UserId::new();
        for edit in [json!(1), json!(899), json!(901), Value::Null] {
            let action = decide_json(&event(COMPLETED, |s| {
                with_user(&user)(s);
                s["amount_total"] = edit.clone();
            }));
            assert!(is_mismatch(&action, "pack `pack_100` costs 900 usd"), "{edit}: {action:?}");
            assert!(action.once_keys().is_empty());
        }
        let no_currency = decide_json(&event(COMPLETED, |s| {
            with_user(&user)(s);
            s["currency"] = Value::Null;
        }));
        assert!(is_mismatch(&no_currency, "in no currency"), "{no_currency:?}");
        let upper = decide_json(&event(COMPLETED, |s| {
            with_user(&user)(s);
            s["currency"] = json!("USD");
        }));
        assert!(matches!(upper, WebhookAction::Grant { .. }), "{upper:?}");
    }

    #[test]
    fn unpaid_completion_waits_for_the_async_result() {
        let user = UserId::new();
        let action = decide_json(&event(COMPLETED, |s| {
            with_user(&user)(s);
            s["payment_status"] = json!("unpaid");
        }));
        assert!(is_ignore(&action, "waiting"));
    }

    #[test]
    fn failed_async_payment_notifies() {
        let user = UserId::new();
        let action = decide_json(&event(ASYNC_FAILED, |s| {
            with_user(&user)(s);
            s["payment_status"] = json!("unpaid");
        }));
        assert_eq!(
            action,
            WebhookAction::PaymentFailed {
                user,
                session_id: "cs_test_levqor_1".into(),
                email: Some("example@example.com".into()),
            }
        );
        assert!(action.once_keys().is_empty());
    }

    #[test]
    fn user_identity_must_be_clear() {
        let user = UserId::new();
        let only_meta = decide_json(&event(COMPLETED, |s| {
            with_user(&user)(s);
            s["client_reference_id"] = Value::Null;
        }));
        assert!(matches!(only_meta, WebhookAction::Grant { user: u, .. } if u == user));
        let disagree = decide_json(&event(COMPLETED, |s| {
            with_user(&user)(s);
            s["client_reference_id"] = json!(UserId::new().to_string());
        }));
        assert!(is_ignore(&disagree, "disagree"));
        let nobody = decide_json(&event(COMPLETED, |s| {
            s["metadata"] = json!({"pack_id": "pack_100"});
        }));
        assert!(is_ignore(&nobody, "names no user"));
        let garbage = decide_json(&event(COMPLETED, |s| {
            s["client_reference_id"] = json!("bob");
            s["metadata"] = json!({"pack_id": "pack_100"});
        }));
        assert!(is_ignore(&garbage, "not a user id"));
    }

    #[test]
    fn other_events_are_ignored() {
        let fixture: Value = serde_json::from_slice(include_bytes!("../tests/fixtures/event.json")).unwrap();
        assert!(is_ignore(&decide_json(&fixture), "plan.created"));
        let expired = decide_json(&event("checkout.session.expired", |_| {}));
        assert!(is_ignore(&expired, "unhandled"));
    }

    #[test]
    fn verify_and_decide_end_to_end() {
        let secret = WebhookSecret::new("whsec_e2e");
        let user = UserId::new();
        let body = event(COMPLETED, with_user(&user)).to_string();
        let header = signature_header(&secret, T, body.as_bytes());
        let packs = Packs::default();

        let (event, action) = verify_and_decide(Some(&secret), Some(&header), body.as_bytes(), now(), &packs).unwrap();
        assert_eq!(event.id, "evt_levqor_1");
        assert!(matches!(action, WebhookAction::Grant { .. }));

        assert_eq!(
            verify_and_decide(None, Some(&header), body.as_bytes(), now(), &packs).unwrap_err(),
            BillingError::Unconfigured("STRIPE_WEBHOOK_SECRET")
        );
        assert_eq!(
            verify_and_decide(Some(&secret), None, body.as_bytes(), now(), &packs).unwrap_err(),
            BillingError::Webhook(WebhookError::MissingHeader)
        );
        let later = now() + chrono::TimeDelta::seconds(301);
        assert_eq!(
            verify_and_decide(Some(&secret), Some(&header), body.as_bytes(), later, &packs).unwrap_err(),
            BillingError::Webhook(WebhookError::Stale)
        );
        let junk = b"{not json";
        let junk_header = signature_header(&secret, T, junk);
        assert!(matches!(
            verify_and_decide(Some(&secret), Some(&junk_header), junk, now(), &packs),
            Err(BillingError::Webhook(WebhookError::BadPayload(_)))
        ));
    }
}
