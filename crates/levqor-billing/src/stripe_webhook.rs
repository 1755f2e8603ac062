//! Stripe webhooks. async-stripe verifies a delivery and reads its event
//! ([`stripe_webhook::Webhook::construct_event_with_timestamp`]: HMAC-SHA256 of
//! `"<t>.<raw body>"` with the endpoint secret, any `v1` may match, at most 300 s
//! either way from our clock); deciding what a verified event means for Levqor
//! is ours and pure. The app then does what the [`WebhookAction`] says (a grant
//! through [`crate::Ledger::grant_once`] with [`WebhookAction::once_keys`], in the
//! same transaction) and answers Stripe quickly, without calling Stripe back.

use levqor_core::{Credits, Timestamp, UserId};
use serde::Deserialize;
use stripe_checkout::{CheckoutSession, CheckoutSessionPaymentStatus};
use stripe_webhook::{Event, EventObject, Webhook};

use crate::error::BillingError;
use crate::packs::Packs;

/// The header Stripe signs webhook deliveries with.
pub const STRIPE_SIGNATURE_HEADER: &str = "Stripe-Signature";

/// How far the signed time may be from ours, either way. async-stripe's fixed
/// tolerance (and Stripe's own default); stated here so tests and docs can say it.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a delivery was refused. All are a 400, and nothing is granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the Stripe-Signature header is missing")]
    MissingHeader,
    /// The signed time is not a number.
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    /// No `v1` matches, or the header has no `t` or no `v1` at all (async-stripe
    /// does not tell these apart).
    #[error("no signature matches the payload")]
    BadSignature,
    /// Outside the tolerance: possibly a replay.
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
    /// Signed correctly but not an event we can read.
    #[error("the event payload is malformed: {0}")]
    BadPayload(String),
}

/// A webhook endpoint secret (`whsec_…`). Kept out of `Debug` output.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// A complete `Stripe-Signature` value for `payload` signed at `timestamp`, as
/// Stripe would send it; for tests and fake Stripes. (async-stripe signs text, so
/// a body that is not UTF-8 is signed as its lossy reading.)
pub fn signature_header(secret: &WebhookSecret, timestamp: i64, payload: &[u8]) -> String {
    Webhook::generate_test_header(&String::from_utf8_lossy(payload), &secret.0, Some(timestamp))
}

/// The event types [`decide`] acts on.
const HANDLED: [&str; 3] =
    ["checkout.session.completed", "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed"];

/// Which event a verified delivery carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `evt_…`; the key that makes redeliveries harmless.
    pub id: String,
    /// e.g. `checkout.session.completed`.
    pub event_type: String,
}

/// A signed delivery: the typed event, or only its envelope when async-stripe
/// could not read the object inside (a type or a field it does not know).
enum Verified {
    Typed(Box<Event>),
    Unreadable(WebhookEvent),
}

/// What every Stripe event has; read only when async-stripe's typed reading
/// failed, to tell an event whose object it cannot read (see
/// [`verify_and_decide`]) from a body that is no event at all (refused).
/// `created` and `data.object` are required, not read.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created: i64,
    data: EnvelopeData,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct EnvelopeData {
    object: serde_json::Map<String, serde_json::Value>,
}

/// Checks `header` (the `Stripe-Signature` value, `None` if absent) against the raw
/// `payload` at `now` (the app's clock: the system's in production, a fixed one in
/// tests), then reads the event. async-stripe checks the signature before the time,
/// so an attacker learns nothing about the tolerance without a valid signature.
fn verify(
    secret: &WebhookSecret,
    header: Option<&str>,
    payload: &[u8],
    now: Timestamp,
) -> Result<Verified, WebhookError> {
    use stripe_webhook::WebhookError as E;
    let header = header.ok_or(WebhookError::MissingHeader)?;
    // JSON is UTF-8: anything else cannot be a Stripe event, signed or not.
    let text = std::str::from_utf8(payload).map_err(|_| WebhookError::BadPayload("the body is not UTF-8".into()))?;
    match Webhook::construct_event_with_timestamp(text, header, &secret.0, now.timestamp()) {
        Ok(event) => Ok(Verified::Typed(Box::new(event))),
        Err(E::BadHeader(_)) => Err(WebhookError::Malformed),
        // `BadKey` cannot happen (HMAC takes keys of any length); refusing is the safe answer.
        Err(E::BadSignature | E::BadKey) => Err(WebhookError::BadSignature),
        Err(E::BadTimestamp(_)) => Err(WebhookError::Stale),
        // Only reached once the signature and the time were good.
        Err(E::BadParse(detail)) => match serde_json::from_str::<Envelope>(text) {
            Ok(envelope) => Ok(Verified::Unreadable(WebhookEvent { id: envelope.id, event_type: envelope.event_type })),
            Err(e) => Err(WebhookError::BadPayload(format!("{detail}: {e}"))),
        },
    }
}

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
fn session_user(session: &CheckoutSession) -> Result<UserId, String> {
    let id = session.id.as_str();
    let reference = session.client_reference_id.as_deref();
    let meta = metadata(session, "user_id");
    let raw = match (reference, meta) {
        (Some(r), Some(m)) if r != m => {
            return Err(format!("session {id}: client_reference_id and metadata.user_id disagree"));
        }
        (Some(r), _) => r,
        (None, Some(m)) => m,
        (None, None) => return Err(format!("session {id} names no user")),
    };
    raw.parse().map_err(|_| format!("session {id}: `{raw}` is not a user id"))
}

fn metadata<'a>(session: &'a CheckoutSession, key: &str) -> Option<&'a str> {
    session.metadata.as_ref()?.get(key).map(String::as_str)
}

/// The buyer's email as Stripe collected it, if any.
fn session_email(session: &CheckoutSession) -> Option<String> {
    session.customer_email.clone().or_else(|| session.customer_details.as_ref()?.email.clone())
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

fn grant(event_id: &str, session: &CheckoutSession, packs: &Packs) -> Result<WebhookAction, NoGrant> {
    let id = session.id.as_str();
    if session.payment_status != CheckoutSessionPaymentStatus::Paid {
        return Err(format!("session {id} is {}: waiting for the payment", session.payment_status.as_str()).into());
    }
    let user = session_user(session)?;
    let pack_id = metadata(session, "pack_id").ok_or_else(|| format!("session {id} has no metadata.pack_id"))?;
    // The credits come from our own pack table, never from the event: metadata is
    // ours, but a pack's size is configuration, not something to echo back.
    let pack = packs.get(pack_id).ok_or_else(|| format!("session {id}: unknown pack `{pack_id}`"))?;
    // What was paid must be the pack's price: a signed event proves Stripe sent
    // it, not that the buyer paid the price (a checkout created elsewhere with the
    // same metadata, or a price changed in Stripe).
    let currency = session.currency.as_ref().map(ToString::to_string);
    match (currency.as_deref(), session.amount_total) {
        (Some(currency), Some(amount))
            if currency.eq_ignore_ascii_case(&pack.currency) && amount == pack.price_minor => {}
        (currency, amount) => {
            return Err(NoGrant::Mismatch(format!(
                "session {id} paid {} {}, pack `{pack_id}` costs {} {}",
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
        event_id: event_id.to_owned(),
        session_id: id.to_owned(),
    })
}

/// Decides what a verified event means.
pub fn decide(event: &Event, packs: &Packs) -> WebhookAction {
    let event_id = event.id.as_str();
    match &event.data.object {
        EventObject::CheckoutSessionCompleted(session) | EventObject::CheckoutSessionAsyncPaymentSucceeded(session) => {
            grant(event_id, session, packs).unwrap_or_else(WebhookAction::from)
        }
        EventObject::CheckoutSessionAsyncPaymentFailed(session) => match session_user(session) {
            Ok(user) => WebhookAction::PaymentFailed {
                user,
                email: session_email(session),
                session_id: session.id.as_str().to_owned(),
            },
            Err(reason) => ignore(reason),
        },
        _ => ignore(format!("unhandled event type {}", event.type_.as_str())),
    }
}

/// The webhook endpoint's whole decision: refuse when no secret is configured
/// (`Unconfigured`, a 503), verify the signature over the raw body (`Webhook`, a
/// 400), read the event (`Webhook(BadPayload)`, a 400, when it is not an event at
/// all or is a Checkout event whose session cannot be read), decide.
pub fn verify_and_decide(
    secret: Option<&WebhookSecret>,
    signature_header: Option<&str>,
    payload: &[u8],
    now: Timestamp,
    packs: &Packs,
) -> Result<(WebhookEvent, WebhookAction), BillingError> {
    let secret = secret.ok_or(BillingError::Unconfigured("STRIPE_WEBHOOK_SECRET"))?;
    Ok(match verify(secret, signature_header, payload, now)? {
        Verified::Typed(event) => {
            let action = decide(&event, packs);
            (WebhookEvent { id: event.id.as_str().to_owned(), event_type: event.type_.as_str().to_owned() }, action)
        }
        // A Checkout event we cannot read may be a paid purchase (typically an
        // endpoint set to another API version than async-stripe's): refused, so
        // Stripe redelivers it and nothing is lost. Any other type is no concern
        // of ours, readable or not: acknowledged, or Stripe would retry it for days.
        Verified::Unreadable(event) if HANDLED.contains(&event.event_type.as_str()) => {
            return Err(WebhookError::BadPayload(format!(
                "event {} ({}): its checkout.session could not be read",
                event.id, event.event_type
            ))
            .into());
        }
        Verified::Unreadable(event) => {
            let reason = format!("unhandled event type {} (event {}, its object not read)", event.event_type, event.id);
            (event, ignore(reason))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::{Value, json};

    const T: i64 = 1_900_000_000;
    const COMPLETED: &str = HANDLED[0];
    const ASYNC_SUCCEEDED: &str = HANDLED[1];
    const ASYNC_FAILED: &str = HANDLED[2];

    fn now() -> Timestamp {
        at(0)
    }

    fn at(offset: i64) -> Timestamp {
        Utc.timestamp_opt(T + offset, 0).single().unwrap()
    }

    fn secret() -> WebhookSecret {
        WebhookSecret::new("whsec_unit")
    }

    /// Stripe's own fixture event (a `plan.created`), signed-able as it is.
    fn fixture_event() -> Value {
        serde_json::from_slice(include_bytes!("../tests/fixtures/event.json")).unwrap()
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

    /// Signs `value`, verifies and reads it as the endpoint does, and decides.
    fn decide_json(value: &Value) -> WebhookAction {
        let body = value.to_string();
        let header = signature_header(&secret(), T, body.as_bytes());
        verify_and_decide(Some(&secret()), Some(&header), body.as_bytes(), now(), &Packs::default()).unwrap().1
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
        assert!(is_ignore(&decide_json(&fixture_event()), "unhandled event type plan.created"));
        let expired = decide_json(&event("checkout.session.expired", |_| {}));
        assert!(is_ignore(&expired, "unhandled"));
    }

    #[test]
    fn a_checkout_event_that_cannot_be_read_is_refused_others_are_acknowledged() {
        // Signed, with every envelope field, but the session lacks what the typed
        // `checkout.session` requires: refused, so that Stripe redelivers it.
        let user = UserId::new();
        for kind in HANDLED {
            let mut broken = event(kind, with_user(&user));
            broken["data"]["object"].as_object_mut().unwrap().remove("payment_status");
            let body = broken.to_string();
            let header = signature_header(&secret(), T, body.as_bytes());
            let err = verify_and_decide(Some(&secret()), Some(&header), body.as_bytes(), now(), &Packs::default())
                .unwrap_err();
            let expected = format!("event evt_levqor_1 ({kind}): its checkout.session could not be read");
            assert_eq!(err, BillingError::Webhook(WebhookError::BadPayload(expected)));
        }
        // A type async-stripe reads but Levqor does not act on, with an object it
        // cannot read, and a type async-stripe does not know.
        let mut charge = fixture_event();
        charge["type"] = json!("charge.succeeded");
        let action = decide_json(&charge);
        assert!(is_ignore(&action, "unhandled event type charge.succeeded (event evt_"), "{action:?}");
        let mut odd = fixture_event();
        odd["type"] = json!("levqor.not_a_stripe_type");
        assert!(is_ignore(&decide_json(&odd), "unhandled event type levqor.not_a_stripe_type"));
    }

    #[test]
    fn verify_and_decide_end_to_end() {
        let secret = WebhookSecret::new("whsec_e2e");
        let user = UserId::new();
        let body = event(COMPLETED, with_user(&user)).to_string();
        let header = signature_header(&secret, T, body.as_bytes());
        let packs = Packs::default();

        let (event, action) = verify_and_decide(Some(&secret), Some(&header), body.as_bytes(), now(), &packs).unwrap();
        assert_eq!(event, WebhookEvent { id: "evt_levqor_1".into(), event_type: COMPLETED.into() });
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
        for junk in [&b"{not json"[..], br#"{"a": 1}"#, br#"{"id": "evt_1", "type": "x", "created": 1}"#] {
            let junk_header = signature_header(&secret, T, junk);
            assert!(
                matches!(
                    verify_and_decide(Some(&secret), Some(&junk_header), junk, now(), &packs),
                    Err(BillingError::Webhook(WebhookError::BadPayload(_)))
                ),
                "{}",
                String::from_utf8_lossy(junk)
            );
        }
        let not_utf8 = b"{\"id\": \"\xff\"}";
        assert_eq!(
            verify_and_decide(Some(&secret), Some(&header), not_utf8, now(), &packs).unwrap_err(),
            BillingError::Webhook(WebhookError::BadPayload("the body is not UTF-8".into()))
        );
    }

    fn check(header: Option<&str>, offset: i64) -> Result<(), WebhookError> {
        let body = fixture_event().to_string();
        verify(&secret(), header, body.as_bytes(), at(offset)).map(|_| ())
    }

    fn fixture_header(secret: &WebhookSecret, t: i64) -> String {
        signature_header(secret, t, fixture_event().to_string().as_bytes())
    }

    /// The `v1=…` part of a header.
    fn v1(header: &str) -> &str {
        header.split_once(',').unwrap().1
    }

    #[test]
    fn the_tolerance_is_300_seconds_either_way() {
        let header = fixture_header(&secret(), T);
        for offset in [0, TOLERANCE_SECS, -TOLERANCE_SECS] {
            assert_eq!(check(Some(&header), offset), Ok(()), "{offset}");
        }
        assert_eq!(check(Some(&header), TOLERANCE_SECS + 1), Err(WebhookError::Stale));
        assert_eq!(check(Some(&header), -TOLERANCE_SECS - 1), Err(WebhookError::Stale));
    }

    #[test]
    fn known_vector() {
        // Computed independently with Python's hmac module.
        let body = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
        let header = signature_header(&WebhookSecret::new("whsec_test_secret"), T, body);
        assert_eq!(header, format!("t={T},v1=9ae1e7cf7dc6d4c85d10baec51a5f451d8f5629aa483eeb43d2b4a8b14ff36b3"));
    }

    #[test]
    fn any_v1_may_match_and_v0_is_ignored() {
        let good = fixture_header(&secret(), T);
        let other = fixture_header(&WebhookSecret::new("whsec_old"), T);
        assert_eq!(check(Some(&format!("t={T},{},{},v0=deadbeef", v1(&other), v1(&good))), 0), Ok(()));
        assert_eq!(check(Some(&format!("t={T},v1=zz-not-hex,{}", v1(&good))), 0), Ok(()));
    }

    #[test]
    fn refusals() {
        let good = fixture_header(&secret(), T);
        assert_eq!(check(None, 0), Err(WebhookError::MissingHeader));
        assert_eq!(check(Some(""), 0), Err(WebhookError::BadSignature));
        assert_eq!(check(Some("garbage"), 0), Err(WebhookError::BadSignature));
        assert_eq!(check(Some(v1(&good)), 0), Err(WebhookError::BadSignature), "no t");
        assert_eq!(check(Some(&format!("t=soon,{}", v1(&good))), 0), Err(WebhookError::Malformed));
        assert_eq!(check(Some(&format!("t={T},v0={}", &v1(&good)[3..])), 0), Err(WebhookError::BadSignature));
        let wrong = fixture_header(&WebhookSecret::new("whsec_other"), T);
        assert_eq!(check(Some(&wrong), 0), Err(WebhookError::BadSignature));
        // A valid signature over another timestamp does not carry over.
        assert_eq!(check(Some(&format!("t={},{}", T + 1, v1(&good))), 0), Err(WebhookError::BadSignature));
        // A stale delivery with a wrong signature is a bad signature: the time is
        // only looked at once the signature holds.
        assert_eq!(check(Some(&wrong), 1000), Err(WebhookError::BadSignature));
        // A tampered body fails.
        let tampered = fixture_event().to_string().replace("plan.created", "plan.deleted");
        assert_eq!(
            verify(&secret(), Some(&good), tampered.as_bytes(), now()).map(|_| ()),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn secrets_stay_out_of_logs() {
        assert!(!format!("{:?}", secret()).contains("whsec"));
    }
}
