//! Checkout against a fake Stripe on loopback (the testkit's server answering with
//! Stripe's own `checkout.session` fixture): the request async-stripe sends for
//! Levqor and how Stripe's answers are read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use levqor_billing::checkout::stripe_idempotency_key;
use levqor_billing::{BillingError, CheckoutRequest, CreditPack, Packs, StripeCheckout, StripeConfig};
use levqor_core::{Email, UserId};
use levqor_testkit::{FakeServer, Reply};
use serde_json::{Value, json};

/// The fixture `checkout.session` with `id` and `url` set as Stripe would.
fn session_json(id: &str) -> Value {
    let mut session: Value = serde_json::from_slice(include_bytes!("fixtures/checkout_session.json")).unwrap();
    session["id"] = json!(id);
    session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
    session
}

async fn fake_stripe(status: u16, body: Value) -> FakeServer {
    FakeServer::always(Reply::json(status, body)).await
}

fn client(base: &str) -> StripeCheckout {
    let config = StripeConfig::new(
        "sk_test_levqor",
        "https://levqor.test/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "https://levqor.test/billing/cancel",
    )
    .with_api_base(Some(base));
    StripeCheckout::new(config).unwrap()
}

fn fields(list: &[(&str, &str)]) -> HashMap<String, String> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn request(pack: CreditPack) -> CheckoutRequest {
    CheckoutRequest { user: UserId::new(), pack, customer_email: None, idempotency_key: None }
}

#[tokio::test]
async fn creates_a_payment_session_with_inline_price() {
    let stripe = fake_stripe(200, session_json("cs_test_abc")).await;
    let user = UserId::new();
    let request = CheckoutRequest {
        user: user.clone(),
        pack: CreditPack::default_pack(),
        customer_email: Some(Email::parse("buyer@example.com").unwrap()),
        idempotency_key: Some("idem-1".into()),
    };
    let session = client(&stripe.base()).create_session(&request).await.unwrap();
    assert_eq!(session.session_id, "cs_test_abc");
    assert_eq!(session.url, "https://checkout.stripe.com/c/pay/cs_test_abc");
    assert_eq!(
        serde_json::to_value(&session).unwrap(),
        json!({"sessionId": "cs_test_abc", "url": "https://checkout.stripe.com/c/pay/cs_test_abc"})
    );

    let sent = stripe.only();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/checkout/sessions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk_test_levqor"));
    // async-stripe pins the API version its types were generated from.
    assert_eq!(sent.header("stripe-version"), Some(levqor_billing::checkout::STRIPE_VERSION));
    assert_eq!(sent.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(sent.header("idempotency-key"), Some(stripe_idempotency_key(&user, "idem-1").as_str()));
    let user_id = user.to_string();
    assert_eq!(
        sent.form(),
        fields(&[
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
}

#[tokio::test]
async fn a_configured_price_id_is_sold_by_reference() {
    let stripe = fake_stripe(200, session_json("cs_test_price")).await;
    let packs = Packs::parse("pack_500:500:3900:usd:price_500abc").unwrap();
    let request = request(packs.get("pack_500").unwrap().clone());
    client(&format!("{}/", stripe.base())).create_session(&request).await.unwrap();
    let sent = stripe.only();
    assert_eq!(sent.path, "/v1/checkout/sessions", "no double slash");
    assert_eq!(sent.header("idempotency-key"), None);
    let user_id = request.user.to_string();
    assert_eq!(
        sent.form(),
        fields(&[
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
    let body = json!({"error": {
        "code": "resource_missing",
        "message": "No such price: 'price_500abc'",
        "param": "line_items[0][price]",
        "type": "invalid_request_error"
    }});
    let stripe = fake_stripe(400, body).await;
    let err = client(&stripe.base()).create_session(&request(CreditPack::default_pack())).await.unwrap_err();
    assert_eq!(err, BillingError::Stripe { status: 400, message: "No such price: 'price_500abc'".into() });
    assert_eq!(stripe.count(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn answers_that_are_not_stripes_are_unreadable() {
    let proxy = FakeServer::always(Reply::new(502, "text/html", "<html>Bad gateway</html>")).await;
    let err = client(&proxy.base()).create_session(&request(CreditPack::default_pack())).await.unwrap_err();
    assert!(matches!(err, BillingError::StripeUnreadable(_)), "{err:?}");
    assert_eq!(proxy.count(), 1, "sent once, never retried here");

    let not_a_session = fake_stripe(200, json!({"id": "cs_x", "object": "checkout.session"})).await;
    let err = client(&not_a_session.base()).create_session(&request(CreditPack::default_pack())).await.unwrap_err();
    assert!(matches!(err, BillingError::StripeUnreadable(_)), "{err:?}");

    let mut no_url = session_json("cs_test_nourl");
    no_url["url"] = Value::Null;
    let stripe = fake_stripe(200, no_url).await;
    let err = client(&stripe.base()).create_session(&request(CreditPack::default_pack())).await.unwrap_err();
    assert_eq!(err, BillingError::StripeUnreadable("session cs_test_nourl has no URL".into()));
}

#[tokio::test]
async fn an_unreachable_stripe_is_unreachable() {
    // Bind then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = client(&format!("http://127.0.0.1:{port}"))
        .create_session(&request(CreditPack::default_pack()))
        .await
        .unwrap_err();
    assert!(matches!(err, BillingError::StripeUnreachable(_)), "{err:?}");
}
