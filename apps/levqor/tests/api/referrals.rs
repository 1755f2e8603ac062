//! Referrals over HTTP: codes, attribution at sign-up, rewards once with reasons
//! for every refusal, and marketing attribution.

use chrono::{TimeDelta, Utc};
use levqor_accounts::{AccountsError, ProfileChanges, UserRepo};
use levqor_core::Email;
use levqor_store::{Store, StoreOptions};
use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

async fn balance(app: &TestApp, key: &str) -> i64 {
    app.get("/api/v1/credits", Some(key)).await.body["balance"].as_i64().unwrap()
}

async fn code_of(app: &TestApp, key: &str) -> String {
    let r = app.get("/api/v1/referrals/code", Some(key)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["code"].as_str().unwrap().to_owned()
}

async fn each_user_has_a_short_code(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (id, key) = app.new_user("coder@example.com").await;
    let code = code_of(&app, &key).await;
    assert_eq!(code.len(), 8, "{code}");
    assert!(!code.contains(&id) && !id.contains(&code));
    assert_eq!(code_of(&app, &key).await, code, "the code is stable");
    let (_, other) = app.new_user("coder2@example.com").await;
    assert_ne!(code_of(&app, &other).await, code);
    app.get("/api/v1/referrals/code", Some(ADMIN_KEY)).await.assert_error(403, "forbidden");
    app.get("/api/v1/referrals/code", None).await.assert_error(401, "unauthorized");
}

async fn a_referred_sign_up_is_rewarded_once(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (_, referrer) = app.new_user("referrer@example.com").await;
    let code = code_of(&app, &referrer).await;
    let r = app
        .post(
            "/api/v1/users/upsert",
            Some(ADMIN_KEY),
            &json!({"email": "friend@example.com", "referral_code": code.to_lowercase()}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let friend_id = r.body["user"]["id"].as_str().unwrap().to_owned();
    let friend = app.post(&format!("/api/v1/users/{friend_id}/keys"), Some(ADMIN_KEY), &json!({})).await.body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(balance(&app, &friend).await, 50, "the referred user gets the free credits as usual");
    assert_eq!(balance(&app, &referrer).await, 70, "the sign-up with a code rewards its referrer at once");
    let entries = app.get("/api/v1/credits", Some(&referrer)).await.body["entries"].clone();
    assert_eq!(entries[0]["kind"], "referral_reward");
    assert_eq!(entries[0]["reference"], friend_id.as_str());

    // The referred user's own claim, and a retried upsert, pay nothing more.
    let r = app.post("/api/v1/referrals", Some(&friend), &json!({"ref": code, "email": "friend@example.com"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["rewarded"], false, "{:?}", r.body);
    assert_eq!(r.body["reason"], "already_rewarded");
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let r = app
        .post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({"email": "friend@example.com", "referral_code": code}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(balance(&app, &referrer).await, 70);
}

async fn the_referred_user_claims_for_their_own_account(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (_, referrer) = app.new_user("referrer@example.com").await;
    let code = code_of(&app, &referrer).await;
    let (friend_id, friend) = app.new_user("friend@example.com").await;
    // Without an email the caller's own account is meant.
    let r = app.post("/api/v1/referrals", Some(&friend), &json!({"ref": code})).await;
    assert_eq!((r.status, r.body["rewarded"].as_bool()), (200, Some(true)), "{:?}", r.body);
    assert_eq!(r.body["credits"], 20);
    assert_eq!(balance(&app, &referrer).await, 70);
    let r = app.post("/api/v1/referrals", Some(&friend), &json!({"ref": code, "email": "Friend@Example.com"})).await;
    assert_eq!(r.body["reason"], "already_rewarded", "{:?}", r.body);
    assert_eq!(balance(&app, &referrer).await, 70);
    let entries = app.get("/api/v1/credits", Some(&referrer)).await.body["entries"].clone();
    assert_eq!(entries[0]["reference"], friend_id.as_str());
}

async fn a_third_party_cannot_collect_for_someone_elses_sign_up(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (_, mallory) = app.new_user("mallory@example.com").await;
    let code = code_of(&app, &mallory).await;
    let (_, victim_key) = app.new_user("victim1@example.com").await;
    for victim in ["victim2@example.com", "victim3@example.com"] {
        app.new_user(victim).await;
    }
    let mut answers = Vec::new();
    for email in ["victim1@example.com", "victim2@example.com", "victim3@example.com", "nobody@example.com"] {
        let r = app.post("/api/v1/referrals", Some(&mallory), &json!({"ref": code, "email": email})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["rewarded"], false, "{:?}", r.body);
        answers.push(r.body.clone());
    }
    assert_eq!(balance(&app, &mallory).await, 50, "no reward for sign-ups mallory never referred");
    // A registered and an unregistered address get the same answer.
    assert_eq!(answers[0], answers[3]);
    assert_eq!(answers[0]["reason"], "not_your_account");
    // The victims can still be referred by whoever really referred them.
    let (_, real) = app.new_user("real@example.com").await;
    let real_code = code_of(&app, &real).await;
    let r = app.post("/api/v1/referrals", Some(&victim_key), &json!({"ref": real_code})).await;
    assert_eq!(r.body["rewarded"], true, "{:?}", r.body);
}

async fn refusals_say_why(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let (_, alice) = app.new_user("alice@example.com").await;
    let alice_code = code_of(&app, &alice).await;
    let (_, bob) = app.new_user("bob@example.com").await;
    let bob_code = code_of(&app, &bob).await;
    let refused = |code: String, email: &'static str, why: &'static str| {
        let app = &app;
        let bob = bob.clone();
        async move {
            let r = app.post("/api/v1/referrals", Some(&bob), &json!({"ref": code, "email": email})).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(
                (r.body["rewarded"].as_bool(), r.body["reason"].as_str()),
                (Some(false), Some(why)),
                "{:?}",
                r.body
            );
        }
    };
    let admin_refused = |code: String, email: &'static str, why: &'static str| {
        let app = &app;
        async move {
            let r = app.post("/api/v1/referrals", Some(ADMIN_KEY), &json!({"ref": code, "email": email})).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(r.body["reason"].as_str(), Some(why), "{:?}", r.body);
        }
    };
    refused(bob_code.clone(), "bob@example.com", "self_referral").await;
    refused("ZZZZZZZZ".into(), "bob@example.com", "unknown_code").await;
    refused("bob".into(), "bob@example.com", "unknown_code").await;
    refused(alice_code.clone(), "alice@example.com", "not_your_account").await;
    refused(alice_code.clone(), "nobody@example.com", "not_your_account").await;
    admin_refused(alice_code.clone(), "alice@example.com", "self_referral").await;
    admin_refused(alice_code.clone(), "nobody@example.com", "unknown_user").await;
    let r = app.post("/api/v1/referrals", Some(ADMIN_KEY), &json!({"ref": alice_code})).await;
    assert_eq!(r.problem_field(), "email", "{:?}", r.body);

    // Carol signed up through Bob: Alice cannot collect for her.
    let r = app
        .post(
            "/api/v1/users/upsert",
            Some(ADMIN_KEY),
            &json!({"email": "carol@example.com", "referral_code": bob_code}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    admin_refused(alice_code.clone(), "carol@example.com", "other_referrer").await;
    assert_eq!(balance(&app, &bob).await, 70, "Bob was rewarded for Carol at her sign-up");

    // Dave signed up two days ago.
    let store = Store::open(&app.db_url(), &StoreOptions::default()).unwrap();
    let email = Email::parse("dave@example.com").unwrap();
    let old = Utc::now() - TimeDelta::hours(48);
    store
        .upsert_by_email(
            &email,
            &|_| ProfileChanges::default().create(email.clone(), old).map_err(AccountsError::Invalid),
            None,
        )
        .unwrap();
    admin_refused(alice_code.clone(), "dave@example.com", "too_old").await;

    assert_eq!(balance(&app, &alice).await, 50);
    let r = app.post("/api/v1/referrals", Some(&bob), &json!({"ref": alice_code, "email": "not-an-email"})).await;
    assert_eq!(r.problem_field(), "email", "{:?}", r.body);
    app.post("/api/v1/referrals", None, &json!({"ref": alice_code, "email": "bob@example.com"}))
        .await
        .assert_error(401, "unauthorized");
}

async fn unknown_codes_refuse_the_sign_up(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    for code in ["ZZZZZZZZ", "not a code"] {
        let r = app
            .post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({"email": "eve@example.com", "referral_code": code}))
            .await;
        r.assert_error(400, "invalid_request");
        assert_eq!(r.problem_field(), "referral_code");
    }
    app.get("/api/v1/users?email=eve@example.com", Some(ADMIN_KEY)).await.assert_error(404, "not_found");
    // An existing user cannot be attributed to itself.
    let (_, key) = app.new_user("frank@example.com").await;
    let code = code_of(&app, &key).await;
    let r = app
        .post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({"email": "frank@example.com", "referral_code": code}))
        .await;
    assert_eq!(r.problem_field(), "referral_code", "{:?}", r.body);
}

async fn tracking_is_public(b: Backend) {
    let Some(app) = TestApp::spawn(b, |_| {}).await else {
        return;
    };
    let r = app
        .post(
            "/api/v1/referrals/track",
            None,
            &json!({"email": "Visitor@Example.com", "source": "newsletter", "campaign": "spring", "medium": "email"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["tracked"], true);
    let r = app.post("/api/v1/referrals/track", None, &json!({"email": "v@example.com", "source": "ad"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let bad = [
        (json!({"email": "nope", "source": "ad"}), "email"),
        (json!({"email": "v@example.com"}), "source"),
        (json!({"email": "v@example.com", "source": "  "}), "source"),
        (json!({"email": "v@example.com", "source": "ad", "campaign": "x".repeat(201)}), "campaign"),
        (json!({"email": "v@example.com", "source": "ad", "extra": 1}), "extra"),
    ];
    for (body, field) in bad {
        let r = app.post("/api/v1/referrals/track", None, &body).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(r.problem_field(), field, "{:?}", r.body);
    }
}

crate::on_both_backends!(
    each_user_has_a_short_code,
    a_referred_sign_up_is_rewarded_once,
    the_referred_user_claims_for_their_own_account,
    a_third_party_cannot_collect_for_someone_elses_sign_up,
    refusals_say_why,
    unknown_codes_refuse_the_sign_up,
    tracking_is_public,
);
