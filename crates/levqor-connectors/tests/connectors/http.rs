use levqor_connectors::ConnectorError;
use serde_json::json;

use crate::support::{FakeServer, Reply, config, run, run_with};

#[tokio::test]
async fn one_request_with_headers_and_json_body() {
    let server = FakeServer::always(Reply::json(201, json!({"created": true})).header("X-Trace", "t1")).await;
    let result = run(
        &server,
        "http",
        "request",
        json!({"method": "post", "url": format!("{}/hook?x=1", server.base()),
               "headers": {"X-Test": "yes"}, "body": {"a": 1}}),
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(result["status"], 201);
    assert_eq!(result["body"], json!({"created": true}));
    assert_eq!(result["headers"]["x-trace"], "t1");
    let r = server.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook?x=1"));
    assert_eq!(r.header("x-test"), Some("yes"));
    assert_eq!(r.json(), json!({"a": 1}));
}

#[tokio::test]
async fn text_answers_come_back_as_text() {
    let server = FakeServer::always(Reply::text(200, "plain words")).await;
    let result =
        run(&server, "http", "request", json!({"method": "GET", "url": server.base(), "body": "raw"}), json!({}))
            .await
            .unwrap();
    assert_eq!(result["body"], "plain words");
    assert_eq!(server.only().body, b"raw");
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let server = FakeServer::always(Reply::text(200, "secret")).await;
    let mut guarded = config(&server);
    guarded.allow_private_targets = false;
    for url in [
        server.base(),
        format!("http://localhost:{}/", server.addr.port()),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let err =
            run_with(&guarded, "http", "request", json!({"method": "GET", "url": url}), json!({})).await.unwrap_err();
        assert!(matches!(&err, ConnectorError::InvalidParams { field, .. } if field == "url"), "{url}: {err:?}");
        assert!(!err.retryable());
    }
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn failed_statuses_are_errors_and_only_safe_methods_are_retried() {
    let server = FakeServer::always(Reply::text(503, "down")).await;
    let before = server.count();
    let err =
        run(&server, "http", "request", json!({"method": "GET", "url": server.base()}), json!({})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UpstreamRefused { status: 503, .. }), "{err:?}");
    assert_eq!(server.count() - before, 3, "GET is retried");
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let before = server.count();
        let err = run(&server, "http", "request", json!({"method": method, "url": server.base()}), json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectorError::OutcomeUnknown(ref m) if m.contains("503")), "{method}: {err:?}");
        assert!(err.retryable());
        assert_eq!(server.count() - before, 1, "{method} is sent once");
    }
    let server = FakeServer::always(Reply::text(404, "missing")).await;
    let err =
        run(&server, "http", "request", json!({"method": "GET", "url": server.base()}), json!({})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UpstreamRefused { status: 404, .. }), "{err:?}");
}

#[tokio::test]
async fn size_and_time_limits_apply() {
    let server = FakeServer::always(Reply::text(200, vec![b'x'; 70 * 1024]).without_length()).await;
    let err =
        run(&server, "http", "request", json!({"method": "GET", "url": server.base()}), json!({})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::ResponseTooLarge { .. }), "{err:?}");

    let server = FakeServer::always(Reply::Hang).await;
    let err =
        run(&server, "http", "request", json!({"method": "GET", "url": server.base(), "timeout_s": 1}), json!({}))
            .await
            .unwrap_err();
    assert_eq!(err, ConnectorError::Timeout);
}

#[tokio::test]
async fn host_and_hop_by_hop_headers_cannot_be_set() {
    let server = FakeServer::always(Reply::text(200, "ok")).await;
    for name in ["Host", "host", "Transfer-Encoding", "Connection", "Proxy-Authorization"] {
        let err = run(
            &server,
            "http",
            "request",
            json!({"method": "GET", "url": server.base(), "headers": {name: "169.254.169.254"}}),
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ConnectorError::InvalidParams { field, .. } if *field == format!("headers.{name}")),
            "{name}: {err:?}"
        );
    }
    assert_eq!(server.count(), 0, "nothing was sent");
}
