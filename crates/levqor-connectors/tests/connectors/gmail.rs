use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use levqor_connectors::ConnectorError;
use serde_json::{Value, json};

use crate::support::{FakeServer, Recorded, Reply, run};

const FUTURE: &str = "2999-01-01T00:00:00Z";
const PAST: &str = "2001-01-01T00:00:00Z";

fn refreshable(access: &str, expires_at: &str) -> Value {
    json!({"access_token": access, "refresh_token": "1//refresh", "client_id": "cid.apps.googleusercontent.com",
           "client_secret": "csecret", "expires_at": expires_at})
}

fn unauthenticated() -> Reply {
    Reply::json(
        401,
        json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
        "message": "Request had invalid authentication credentials."}}),
    )
}

fn labels() -> Reply {
    Reply::json(200, json!({"labels": [{"id": "INBOX", "name": "INBOX", "type": "system"}]}))
}

/// A Gmail fake that accepts only `ya29.new`, and a token endpoint that hands it out.
fn google(r: &Recorded, _: usize) -> Reply {
    if r.path == "/token" {
        let form = r.form();
        let good = form.get("grant_type").map(String::as_str) == Some("refresh_token")
            && form.get("refresh_token").map(String::as_str) == Some("1//refresh")
            && form.get("client_id").map(String::as_str) == Some("cid.apps.googleusercontent.com")
            && form.get("client_secret").map(String::as_str) == Some("csecret");
        return if good {
            Reply::json(
                200,
                json!({"access_token": "ya29.new", "expires_in": 3599,
                                    "scope": "https://www.googleapis.com/auth/gmail.modify", "token_type": "Bearer"}),
            )
        } else {
            Reply::json(
                400,
                json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
            )
        };
    }
    if r.header("authorization") != Some("Bearer ya29.new") {
        return unauthenticated();
    }
    labels()
}

#[tokio::test]
async fn list_labels_sends_the_bearer_token() {
    let server = FakeServer::always(labels()).await;
    let result = run(&server, "gmail", "list_labels", json!({}), json!({"access_token": "ya29.ok"})).await.unwrap();
    assert_eq!(result["labels"][0]["id"], "INBOX");
    assert!(result.get("refreshed_credentials").is_none());
    let r = server.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/gmail/v1/users/me/labels"));
    assert_eq!(r.header("authorization"), Some("Bearer ya29.ok"));
}

#[tokio::test]
async fn list_messages_passes_query_and_max_results() {
    let server = FakeServer::always(Reply::json(200, json!({"resultSizeEstimate": 0}))).await;
    let result = run(
        &server,
        "gmail",
        "list_messages",
        json!({"query": "from:ada is:unread", "max_results": 25, "label_ids": ["INBOX"]}),
        json!({"access_token": "ya29.ok", "expires_at": FUTURE}),
    )
    .await
    .unwrap();
    assert_eq!(result["messages"], json!([]), "Gmail leaves it out when empty");
    let r = server.only();
    assert_eq!((r.method.as_str(), r.path_only()), ("GET", "/gmail/v1/users/me/messages"));
    let q = r.query();
    assert_eq!(q["q"], "from:ada is:unread");
    assert_eq!(q["maxResults"], "25");
    assert_eq!(q["labelIds"], "INBOX");
}

#[tokio::test]
async fn send_email_posts_an_rfc5322_message_base64url() {
    let server =
        FakeServer::always(Reply::json(200, json!({"id": "18c1f", "threadId": "18c1f", "labelIds": ["SENT"]}))).await;
    let result = run(
        &server,
        "gmail",
        "send_email",
        json!({"to": "ada@example.com, bob@example.org", "cc": ["carol@example.net"],
               "subject": "Grüße from Levqor", "body": "Line one\nLine two ✓"}),
        json!({"access_token": "ya29.ok"}),
    )
    .await
    .unwrap();
    assert_eq!(result["id"], "18c1f");

    let r = server.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/gmail/v1/users/me/messages/send"));
    assert_eq!(r.header("authorization"), Some("Bearer ya29.ok"));
    let raw = r.json()["raw"].as_str().unwrap().to_owned();
    let message = String::from_utf8(URL_SAFE.decode(raw).unwrap()).unwrap();
    let (head, body) = message.split_once("\r\n\r\n").unwrap();
    let headers: Vec<&str> = head.split("\r\n").collect();
    assert!(headers.contains(&"To: ada@example.com, bob@example.org"), "{head}");
    assert!(headers.contains(&"Cc: carol@example.net"), "{head}");
    assert!(headers.contains(&"MIME-Version: 1.0"), "{head}");
    assert!(headers.contains(&"Content-Type: text/plain; charset=utf-8"), "{head}");
    assert!(headers.iter().any(|h| h.starts_with("Date: ")), "{head}");
    let subject = headers.iter().find(|h| h.starts_with("Subject: ")).unwrap();
    assert!(subject.starts_with("Subject: =?UTF-8?B?"), "{subject}");
    let encoded = subject.trim_start_matches("Subject: =?UTF-8?B?").trim_end_matches("?=");
    assert_eq!(STANDARD.decode(encoded).unwrap(), "Grüße from Levqor".as_bytes());
    let text = STANDARD.decode(body.replace("\r\n", "")).unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), "Line one\nLine two ✓");
}

#[tokio::test]
async fn send_email_refuses_bad_input_before_sending() {
    let server = FakeServer::always(Reply::json(200, json!({"id": "x"}))).await;
    for (params, field) in [
        (json!({"to": "not an address", "subject": "s", "body": "b"}), "to[0]"),
        (json!({"to": "a@example.com", "cc": "bad@", "subject": "s", "body": "b"}), "cc[0]"),
        (json!({"to": "a@example.com", "subject": "hi\r\nBcc: x@evil.example", "body": "b"}), "subject"),
        (json!({"to": " , ", "subject": "s", "body": "b"}), "to"),
    ] {
        let err = run(&server, "gmail", "send_email", params.clone(), json!({"access_token": "t"})).await.unwrap_err();
        assert!(matches!(&err, ConnectorError::InvalidParams { field: f, .. } if f == field), "{params}: {err:?}");
    }
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_first() {
    let server = FakeServer::start(google).await;
    let result = run(&server, "gmail", "list_labels", json!({}), refreshable("ya29.old", PAST)).await.unwrap();
    assert_eq!(result["labels"][0]["id"], "INBOX");
    let refreshed = &result["refreshed_credentials"];
    assert_eq!(refreshed["access_token"], "ya29.new");
    assert!(refreshed["expires_at"].as_str().unwrap().ends_with('Z'));

    let [token, call] = server.requests().try_into().unwrap();
    assert_eq!((token.method.as_str(), token.path.as_str()), ("POST", "/token"));
    assert_eq!(token.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(token.header("authorization"), None);
    assert_eq!(call.header("authorization"), Some("Bearer ya29.new"));
}

#[tokio::test]
async fn a_401_triggers_one_refresh_and_one_retry() {
    let server = FakeServer::start(google).await;
    let result = run(&server, "gmail", "list_labels", json!({}), refreshable("ya29.stale", FUTURE)).await.unwrap();
    assert_eq!(result["refreshed_credentials"]["access_token"], "ya29.new");
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/gmail/v1/users/me/labels", "/token", "/gmail/v1/users/me/labels"]);
}

#[tokio::test]
async fn a_401_without_refresh_credentials_is_invalid_credentials() {
    let server = FakeServer::start(google).await;
    let err = run(&server, "gmail", "list_labels", json!({}), json!({"access_token": "ya29.stale"})).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::InvalidCredentials { message } if message.contains("UNAUTHENTICATED")),
        "{err:?}"
    );
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_revoked_refresh_token_is_invalid_credentials() {
    let server = FakeServer::start(google).await;
    let mut creds = refreshable("ya29.old", PAST);
    creds["refresh_token"] = json!("1//revoked");
    let err = run(&server, "gmail", "list_labels", json!({}), creds).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::InvalidCredentials { message } if message.contains("invalid_grant")),
        "{err:?}"
    );
    assert_eq!(server.count(), 1, "no API call with a token known to be expired");
}

#[tokio::test]
async fn a_still_failing_token_after_refresh_is_not_refreshed_again() {
    let server = FakeServer::start(|r, _| {
        if r.path == "/token" {
            Reply::json(200, json!({"access_token": "ya29.also-bad", "expires_in": 3599}))
        } else {
            unauthenticated()
        }
    })
    .await;
    let err = run(&server, "gmail", "list_labels", json!({}), refreshable("ya29.stale", FUTURE)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidCredentials { .. }), "{err:?}");
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn a_malformed_expiry_is_refused() {
    let server = FakeServer::always(labels()).await;
    let err = run(&server, "gmail", "list_labels", json!({}), json!({"access_token": "t", "expires_at": "soon"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidCredentials { .. }), "{err:?}");
}

/// https://developers.google.com/gmail/api/guides/handle-errors: usage limits
/// are a 403 whose `errors[].reason` names them; no wait is given, so the
/// client backs off exponentially.
#[tokio::test]
async fn usage_limits_are_rate_limits_not_refusals() {
    for reason in ["rateLimitExceeded", "userRateLimitExceeded"] {
        let body = crate::support::fixture(&format!("gmail/{reason}.json"));
        let server =
            FakeServer::start(move |_, n| if n == 0 { Reply::json(403, body.clone()) } else { labels() }).await;
        let result = run(&server, "gmail", "list_labels", json!({}), json!({"access_token": "ya29.ok"})).await.unwrap();
        assert_eq!(result["labels"][0]["id"], "INBOX", "{reason}");
        assert_eq!(server.count(), 2, "{reason}: retried after a back-off");

        let server =
            FakeServer::always(Reply::json(403, crate::support::fixture(&format!("gmail/{reason}.json")))).await;
        let err = run(
            &server,
            "gmail",
            "send_email",
            json!({"to": "a@example.com", "subject": "s", "body": "b"}),
            json!({"access_token": "ya29.ok"}),
        )
        .await
        .unwrap_err();
        assert_eq!(err, ConnectorError::RateLimited { retry_after: None }, "{reason}");
        assert!(err.retryable());
        assert_eq!(server.count(), 3, "{reason}: a refused send did nothing, so it is retried up to the attempts");
    }
}

#[tokio::test]
async fn the_daily_limit_is_a_rate_limit_left_to_the_job() {
    let server = FakeServer::always(Reply::json(403, crate::support::fixture("gmail/dailyLimitExceeded.json"))).await;
    let err = run(&server, "gmail", "list_labels", json!({}), json!({"access_token": "ya29.ok"})).await.unwrap_err();
    assert_eq!(err, ConnectorError::RateLimited { retry_after: None });
    assert_eq!(server.count(), 1, "it will not lift within seconds");
}

#[tokio::test]
async fn other_403s_stay_refusals() {
    let body = json!({"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
        "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}],
        "status": "PERMISSION_DENIED"}});
    let server = FakeServer::always(Reply::json(403, body)).await;
    let err = run(&server, "gmail", "list_labels", json!({}), json!({"access_token": "ya29.ok"})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UpstreamRefused { status: 403, .. }), "{err:?}");
    assert!(!err.retryable());
    assert_eq!(server.count(), 1);
}
