use levqor_connectors::ConnectorError;
use serde_json::{Value, json};

use crate::support::{FakeServer, Recorded, Reply, run};

const DB: &str = "59833787-2cf9-4fdf-8782-e53db20768a5";

fn creds() -> Value {
    json!({"token": "secret_notion_test"})
}

fn assert_notion_headers(r: &Recorded) {
    assert_eq!(r.header("authorization"), Some("Bearer secret_notion_test"));
    assert_eq!(r.header("notion-version"), Some("2022-06-28"));
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
}

fn list() -> Reply {
    Reply::json(
        200,
        json!({"object": "list", "results": [{"object": "page", "id": "p1"}],
               "next_cursor": null, "has_more": false, "type": "page_or_database"}),
    )
}

#[tokio::test]
async fn search_posts_the_query() {
    let server = FakeServer::always(list()).await;
    let result = run(
        &server,
        "notion",
        "search",
        json!({"query": "roadmap", "filter": {"property": "object", "value": "page"}, "page_size": 10}),
        creds(),
    )
    .await
    .unwrap();
    assert_eq!(result["results"][0]["id"], "p1");
    let r = server.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/search"));
    assert_notion_headers(&r);
    assert_eq!(
        r.json(),
        json!({"query": "roadmap", "filter": {"property": "object", "value": "page"}, "page_size": 10})
    );
}

#[tokio::test]
async fn query_database_posts_filter_and_sorts() {
    let server = FakeServer::always(list()).await;
    let filter = json!({"property": "Status", "status": {"equals": "Done"}});
    let sorts = json!([{"property": "Created", "direction": "descending"}]);
    run(&server, "notion", "query_database", json!({"database_id": DB, "filter": filter, "sorts": sorts}), creds())
        .await
        .unwrap();
    let r = server.only();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/v1/databases/{DB}/query"));
    assert_notion_headers(&r);
    assert_eq!(r.json(), json!({"filter": filter, "sorts": sorts}));
}

#[tokio::test]
async fn create_page_builds_parent_title_and_paragraphs() {
    let server = FakeServer::always(Reply::json(
        200,
        json!({"object": "page", "id": "59833787-2cf9-4fdf-8782-e53db20768a5",
               "created_time": "2026-11-26T00:00:00.000Z", "url": "https://www.notion.so/x",
               "properties": {}}),
    ))
    .await;
    let result = run(
        &server,
        "notion",
        "create_page",
        // The original service's spelling, as its pipelines send it.
        json!({"databaseId": DB, "title": "New contact", "content": "From the form\n\nSecond paragraph",
               "properties": {"Status": {"select": {"name": "New"}}}}),
        creds(),
    )
    .await
    .unwrap();
    assert_eq!(result["object"], "page");
    let r = server.only();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/pages"));
    assert_notion_headers(&r);
    let body = r.json();
    assert_eq!(body["parent"], json!({"database_id": DB}));
    assert_eq!(body["properties"]["title"], json!({"title": [{"type": "text", "text": {"content": "New contact"}}]}));
    assert_eq!(body["properties"]["Status"], json!({"select": {"name": "New"}}));
    let children = body["children"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    assert_eq!(children[0]["type"], "paragraph");
    assert_eq!(children[1]["paragraph"]["rich_text"][0]["text"]["content"], "Second paragraph");
}

#[tokio::test]
async fn notion_errors_keep_their_class() {
    for (status, code, check) in [
        (401, "unauthorized", "InvalidCredentials"),
        (404, "object_not_found", "UpstreamRefused"),
        (400, "validation_error", "UpstreamRefused"),
        (429, "rate_limited", "RateLimited"),
    ] {
        let reply = Reply::json(status, json!({"object": "error", "status": status, "code": code, "message": "nope"}))
            .header("Retry-After", "0");
        let server = FakeServer::always(reply).await;
        let err = run(&server, "notion", "search", json!({}), creds()).await.unwrap_err();
        let ok = match (&err, check) {
            (ConnectorError::InvalidCredentials { message }, "InvalidCredentials") => message.contains(code),
            (ConnectorError::UpstreamRefused { status: s, message }, "UpstreamRefused") => {
                *s == status && message.contains(code)
            }
            (ConnectorError::RateLimited { .. }, "RateLimited") => true,
            _ => false,
        };
        assert!(ok, "{status}: {err:?}");
    }
}

#[tokio::test]
async fn a_success_that_is_not_the_expected_object_is_an_error() {
    let server = FakeServer::always(Reply::json(200, json!({"object": "list", "results": []}))).await;
    let err =
        run(&server, "notion", "create_page", json!({"database_id": DB, "title": "x"}), creds()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::UnexpectedResponse(_)), "{err:?}");
}

#[tokio::test]
async fn database_ids_cannot_change_the_path() {
    let server = FakeServer::always(list()).await;
    let err = run(
        &server,
        "notion",
        "query_database",
        json!({"database_id": "../../users/aaaaaaaaaaaaaaaaaaaaaaaaa"}),
        creds(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidParams { ref field, .. } if field == "database_id"));
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn the_original_pipeline_params_are_accepted() {
    let server = FakeServer::always(Reply::json(200, json!({"object": "page", "id": "p1", "properties": {}}))).await;
    run(&server, "notion", "create_page", json!({"databaseId": "db1", "title": "Ada", "content": "x"}), creds())
        .await
        .unwrap();
    let r = server.only();
    assert_eq!(r.json()["parent"]["database_id"], "db1");
    assert_eq!(r.json()["children"][0]["paragraph"]["rich_text"][0]["text"]["content"], "x");
}
