//! Checkout against a fake Stripe on loopback: the exact request Levqor sends and
//! how it reads Stripe's answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use levqor_billing::checkout::stripe_idempotency_key;
use levqor_billing::{BillingError, CheckoutRequest, CreditPack, Packs, StripeCheckout, StripeConfig};
use levqor_core::{Email, UserId};
use support::{FakeStripe, session_json};

fn client(base: &str) -> StripeCheckout {
    let config = StripeConfig::new(
        "sk_test_levqor",
        "https://levqor.test/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "https://levqor.test/billing/cancel",
    )
    .with_api_base(Some(base));
    StripeCheckout::new(config).unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test]
async fn creates_a_payment_session_with_inline_price() {
    let stripe = FakeStripe::start(200, session_json("cs_test_abc")).await;
    let user = UserId::new();
    let request = CheckoutRequest {
        user: user.clone(),
        pack: CreditPack::default_pack(),
        customer_email: Some(Email::parse("buyer@example.com").unwrap()),
        idempotency_key: Some("idem-1".into()),
    };
    let session = client(&stripe.base).create_session(&request).await.unwrap();
    assert_eq!(session.session_id, "cs_test_abc");
    assert_eq!(session.url, "https://checkout.stripe.com/c/pay/cs_test_abc");
    assert_eq!(
        serde_json::to_value(&session).unwrap(),
        serde_json::json!({"sessionId": "cs_test_abc", "url": "https://checkout.stripe.com/c/pay/cs_test_abc"})
    );

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/checkout/sessions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk_test_levqor"));
    assert_eq!(sent.header("stripe-version"), Some(levqor_billing::checkout::STRIPE_VERSION));
    assert_eq!(sent.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(sent.header("idempotency-key"), Some(stripe_idempotency_key(&user, "idem-1").as_str()));
    let user_id = user.to_string();
    assert_eq!(
        sent.form(),
        pairs(&[
            ("mode", "payment"),
            ("client_reference_id", &user_id),
            ("customer_email", "buyer@example.com"),
            ("success_url", "https://levqor.test/billing/success?session_id={CHECKOUT_SESSION_ID}"),
            ("cancel_url", "https://levqor.test/billing/cancel"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "900"),
            ("line_items[0][price_data][product_data][name]", "100 Levqor credits"),
            ("line_items[0][quantity]", "1"),
            ("metadata[user_id]", &user_id),
            ("metadata[pack_id]", "pack_100"),
            ("metadata[credits]", "100"),
        ])
    );
    // Brackets and braces percent-encoded, as Stripe's own libraries send them.
    assert!(sent.body.starts_with("mode=payment&client_reference_id="));
    assert!(sent.body.contains("line_items%5B0%5D%5Bquantity%5D=1"));
    assert!(sent.body.contains("session_id%3D%7BCHECKOUT_SESSION_ID%7D"));
}

#[tokio::test]
async fn a_configured_price_id_is_sold_by_reference() {
    let stripe = FakeStripe::start(200, session_json("cs_test_price")).await;
    let packs = Packs::parse("pack_500:500:3900:usd:price_500abc").unwrap();
    let user = UserId::new();
    let request = CheckoutRequest {
        user: user.clone(),
        pack: packs.get("pack_500").unwrap().clone(),
        customer_email: None,
        idempotency_key: None,
    };
    client(&format!("{}/", stripe.base)).create_session(&request).await.unwrap();
    let sent = &stripe.requests()[0];
    assert_eq!(sent.path, "/v1/checkout/sessions", "no double slash");
    assert_eq!(sent.header("idempotency-key"), None);
    let user_id = user.to_string();
    assert_eq!(
        sent.form(),
        pairs(&[
            ("mode", "payment"),
            ("client_reference_id", &user_id),
            ("success_url", "https://levqor.test/billing/success?session_id={CHECKOUT_SESSION_ID}"),
            ("cancel_url", "https://levqor.test/billing/cancel"),
            ("line_items[0][price]", "price_500abc"),
            ("line_items[0][quantity]", "1"),
            ("metadata[user_id]", &user_id),
            ("metadata[pack_id]", "pack_500"),
            ("metadata[credits]", "500"),
        ])
    );
}

#[tokio::test]
async fn stripe_errors_are_typed_with_stripes_message() {
    let body = serde_json::json!({"error": {
        "code": "resource_missing",
        "message": "No such price: 'price_500abc'",
        "param": "line_items[0][price]",
        "type": "invalid_request_error"
    }})
    .to_string();
    let stripe = FakeStripe::start(400, body).await;
    let request = CheckoutRequest {
        user: UserId::new(),
        pack: CreditPack::default_pack(),
        customer_email: None,
        idempotency_key: None,
    };
    let err = client(&stripe.base).create_session(&request).await.unwrap_err();
    assert_eq!(err, BillingError::Stripe { status: 400, message: "No such price: 'price_500abc'".into() });
}

#[tokio::test]
async fn an_unreachable_stripe_is_status_zero() {
    // Bind then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let request = CheckoutRequest {
        user: UserId::new(),
        pack: CreditPack::default_pack(),
        customer_email: None,
        idempotency_key: None,
    };
    let err = client(&format!("http://127.0.0.1:{port}")).create_session(&request).await.unwrap_err();
    assert!(matches!(err, BillingError::Stripe { status: 0, .. }), "{err:?}");
}
