//! The webhook flow end to end against the in-memory ledger: verify, decide, grant
//! with both once-keys. The app does the same with the store's ledger.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use levqor_billing::{
    BillingError, EntryKind, Grant, GrantOutcome, Ledger, MemoryLedger, Packs, WebhookAction, WebhookError,
    WebhookSecret, signature_header, verify_and_decide,
};
use levqor_core::{Credits, Timestamp, UserId};
use serde_json::{Value, json};

const T: i64 = 1_900_000_000;

fn now() -> Timestamp {
    Utc.timestamp_opt(T, 0).single().unwrap()
}

fn secret() -> WebhookSecret {
    WebhookSecret::new("whsec_levqor_test")
}

fn event(id: &str, kind: &str, session: &str, user: &UserId, paid: bool) -> Vec<u8> {
    let mut object: Value = serde_json::from_slice(include_bytes!("fixtures/checkout_session.json")).unwrap();
    object["id"] = json!(session);
    object["client_reference_id"] = json!(user.to_string());
    object["metadata"] = json!({"user_id": user.to_string(), "pack_id": "pack_100", "credits": "100"});
    object["payment_status"] = json!(if paid { "paid" } else { "unpaid" });
    object["status"] = json!("complete");
    object["amount_total"] = json!(900);
    object["currency"] = json!("usd");
    let mut event: Value = serde_json::from_slice(include_bytes!("fixtures/event.json")).unwrap();
    event["id"] = json!(id);
    event["type"] = json!(kind);
    event["created"] = json!(T);
    event["data"]["object"] = object;
    event.to_string().into_bytes()
}

/// What the app's handler does; returns whether credits were granted.
fn deliver(ledger: &dyn Ledger, header: Option<&str>, body: &[u8]) -> Result<bool, BillingError> {
    let (event, action) = verify_and_decide(Some(&secret()), header, body, now(), &Packs::default())?;
    let keys = action.once_keys();
    match action {
        WebhookAction::Grant { user, credits, .. } => {
            let grant = Grant {
                user,
                kind: EntryKind::Purchase,
                amount: credits,
                reason: "credit pack purchase".into(),
                reference: Some(event.id.clone()),
                now: now(),
            };
            Ok(matches!(ledger.grant_once(&grant, &keys)?, GrantOutcome::Granted(_)))
        }
        _ => Ok(false),
    }
}

fn signed(body: &[u8]) -> String {
    signature_header(&secret(), T, body)
}

#[test]
fn the_same_event_ten_times_grants_once() {
    let ledger = MemoryLedger::new();
    let user = UserId::new();
    let body = event("evt_1", "checkout.session.completed", "cs_1", &user, true);
    let granted: usize = (0..10).map(|_| usize::from(deliver(&ledger, Some(&signed(&body)), &body).unwrap())).sum();
    assert_eq!(granted, 1);
    assert_eq!(ledger.balance(&user).unwrap(), Credits::new(100));
}

#[test]
fn a_second_event_for_the_same_session_grants_nothing() {
    let ledger = MemoryLedger::new();
    let user = UserId::new();
    let completed = event("evt_1", "checkout.session.completed", "cs_1", &user, true);
    let succeeded = event("evt_2", "checkout.session.async_payment_succeeded", "cs_1", &user, true);
    assert!(deliver(&ledger, Some(&signed(&completed)), &completed).unwrap());
    assert!(!deliver(&ledger, Some(&signed(&succeeded)), &succeeded).unwrap());
    assert_eq!(ledger.balance(&user).unwrap(), Credits::new(100));
}

#[test]
fn events_out_of_order() {
    let ledger = MemoryLedger::new();
    let user = UserId::new();
    // The delayed payment's success arrives before the unpaid completion.
    let succeeded = event("evt_2", "checkout.session.async_payment_succeeded", "cs_1", &user, true);
    let completed = event("evt_1", "checkout.session.completed", "cs_1", &user, false);
    assert!(deliver(&ledger, Some(&signed(&succeeded)), &succeeded).unwrap());
    assert!(!deliver(&ledger, Some(&signed(&completed)), &completed).unwrap());
    assert_eq!(ledger.balance(&user).unwrap(), Credits::new(100));

    // And the usual order: unpaid completion waits, the success grants.
    let other = UserId::new();
    let completed = event("evt_3", "checkout.session.completed", "cs_2", &other, false);
    let succeeded = event("evt_4", "checkout.session.async_payment_succeeded", "cs_2", &other, true);
    assert!(!deliver(&ledger, Some(&signed(&completed)), &completed).unwrap());
    assert!(deliver(&ledger, Some(&signed(&succeeded)), &succeeded).unwrap());
    assert_eq!(ledger.balance(&other).unwrap(), Credits::new(100));
}

#[test]
fn refused_deliveries_grant_nothing() {
    let ledger = MemoryLedger::new();
    let user = UserId::new();
    let body = event("evt_1", "checkout.session.completed", "cs_1", &user, true);
    let wrong = signature_header(&WebhookSecret::new("whsec_other"), T, &body);
    let stale = signature_header(&secret(), T - 301, &body);
    let cases: Vec<(Option<&str>, &[u8], WebhookError)> = vec![
        (None, &body, WebhookError::MissingHeader),
        (Some("nonsense"), &body, WebhookError::BadSignature),
        (Some("t=soon,v1=00"), &body, WebhookError::Malformed),
        (Some(&wrong), &body, WebhookError::BadSignature),
        (Some(&stale), &body, WebhookError::Stale),
    ];
    for (header, payload, expected) in cases {
        assert_eq!(deliver(&ledger, header, payload).unwrap_err(), BillingError::Webhook(expected));
    }
    let junk = b"{\"id\": 12";
    assert!(matches!(
        deliver(&ledger, Some(&signed(junk)), junk),
        Err(BillingError::Webhook(WebhookError::BadPayload(_)))
    ));
    assert_eq!(ledger.balance(&user).unwrap(), Credits::ZERO);
}

#[test]
fn no_secret_is_unconfigured() {
    let user = UserId::new();
    let body = event("evt_1", "checkout.session.completed", "cs_1", &user, true);
    assert_eq!(
        verify_and_decide(None, Some(&signed(&body)), &body, now(), &Packs::default()).unwrap_err(),
        BillingError::Unconfigured("STRIPE_WEBHOOK_SECRET")
    );
}
