use levqor_connectors::ConnectorError;
use serde_json::{Value, json};

use crate::support::{FakeServer, Recorded, Reply, fixture, run};

/// The database of the fixtures and its one data source.
const DB: &str = "248104cd-477e-80fd-b757-e945d38000bd";
const DS: &str = "248104cd-477e-80af-bc30-000bd28de8f9";
/// A database with two data sources.
const MULTI: &str = "11111111-2222-3333-4444-555555555555";

fn creds() -> Value {
    json!({"token": "secret_notion_test"})
}

fn assert_notion_headers(r: &Recorded) {
    assert_eq!(r.header("authorization"), Some("Bearer secret_notion_test"));
    assert_eq!(r.header("notion-version"), Some("2025-09-03"));
    if r.method == "POST" {
        assert!(r.header("content-type").unwrap().starts_with("application/json"));
    }
}

fn not_found(id: &str) -> Reply {
    // https://developers.notion.com/reference/status-codes: 404 object_not_found.
    Reply::json(
        404,
        json!({"object": "error", "status": 404, "code": "object_not_found",
               "message": format!("Could not find database with ID: {id}. Make sure the relevant pages and databases are shared with your integration.")}),
    )
}

/// Notion on 2025-09-03 (https://developers.notion.com/docs/upgrade-guide-2025-09-03):
/// databases list their data sources; queries and new pages go to a data source.
fn notion(r: &Recorded, _: usize) -> Reply {
    // https://developers.notion.com/reference/versioning: the version header is required.
    if r.header("notion-version") != Some("2025-09-03") {
        return Reply::json(
            400,
            json!({"object": "error", "status": 400, "code": "missing_version",
                   "message": "Notion-Version header failed validation"}),
        );
    }
    let path = r.path_only().to_owned();
    match (r.method.as_str(), path.as_str()) {
        ("GET", p) if p == format!("/v1/databases/{DB}") => Reply::json(200, fixture("notion/database.json")),
        ("GET", p) if p == format!("/v1/databases/{MULTI}") => {
            let mut db = fixture("notion/database.json");
            db["id"] = json!(MULTI);
            db["data_sources"] = json!([{"id": DS, "name": "Tasks"}, {"id": "ds-archive", "name": "Archive"}]);
            Reply::json(200, db)
        }
        ("GET", p) if p == format!("/v1/data_sources/{DS}") => Reply::json(200, fixture("notion/data_source.json")),
        ("GET", p) => not_found(p.rsplit('/').next().unwrap_or_default()),
        ("POST", p) if p == format!("/v1/data_sources/{DS}/query") => Reply::json(200, fixture("notion/query.json")),
        ("POST", "/v1/pages") if r.json()["parent"]["data_source_id"] == DS => {
            Reply::json(200, fixture("notion/page.json"))
        }
        ("POST", "/v1/search") => list(),
        _ => Reply::json(
            400,
            json!({"object": "error", "status": 400, "code": "validation_error", "message": "body failed validation"}),
        ),
    }
}

fn list() -> Reply {
    Reply::json(
        200,
        json!({"object": "list", "results": [{"object": "page", "id": "p1"}],
               "next_cursor": null, "has_more": false, "type": "page_or_data_source", "page_or_data_source": {}}),
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

    // Since 2025-09-03 search finds data sources, not databases.
    run(&server, "notion", "search", json!({"filter": {"property": "object", "value": "database"}}), creds())
        .await
        .unwrap();
    assert_eq!(server.requests()[1].json()["filter"]["value"], "data_source");
}

#[tokio::test]
async fn query_database_looks_up_the_data_source_once() {
    let server = FakeServer::start(notion).await;
    let filter = json!({"property": "Status", "status": {"equals": "Done"}});
    let sorts = json!([{"property": "Created", "direction": "descending"}]);
    let params = json!({"database_id": DB, "filter": filter, "sorts": sorts});
    let result = run(&server, "notion", "query_database", params.clone(), creds()).await.unwrap();
    assert_eq!(result["results"][0]["parent"]["data_source_id"], DS);
    let [lookup, query] = server.requests().try_into().unwrap();
    assert_eq!((lookup.method.as_str(), lookup.path.clone()), ("GET", format!("/v1/databases/{DB}")));
    assert_notion_headers(&lookup);
    assert_eq!((query.method.as_str(), query.path.clone()), ("POST", format!("/v1/data_sources/{DS}/query")));
    assert_notion_headers(&query);
    assert_eq!(query.json(), json!({"filter": filter, "sorts": sorts}));
}

#[tokio::test]
async fn the_data_source_of_a_database_is_cached() {
    let server = FakeServer::start(notion).await;
    let registry = levqor_connectors::ConnectorRegistry::with_defaults(&crate::support::config(&server)).unwrap();
    for _ in 0..3 {
        let call = levqor_connectors::TaskCall::new(
            "query_database",
            json!({"database_id": DB}),
            levqor_connectors::Credentials::new().with("token", "secret_notion_test"),
        );
        registry.run("notion", call).await.unwrap();
    }
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.iter().filter(|p| p.starts_with("/v1/databases/")).count(), 1, "{paths:?}");
    assert_eq!(paths.iter().filter(|p| p.ends_with("/query")).count(), 3, "{paths:?}");
}

#[tokio::test]
async fn a_data_source_id_is_used_as_given() {
    let server = FakeServer::start(notion).await;
    run(&server, "notion", "query_database", json!({"data_source_id": DS, "page_size": 5}), creds()).await.unwrap();
    let r = server.only();
    assert_eq!(r.path, format!("/v1/data_sources/{DS}/query"));
    assert_eq!(r.json(), json!({"page_size": 5}));
}

#[tokio::test]
async fn a_data_source_id_given_as_database_id_is_accepted() {
    let server = FakeServer::start(notion).await;
    run(&server, "notion", "query_database", json!({"database_id": DS}), creds()).await.unwrap();
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [format!("/v1/databases/{DS}"), format!("/v1/data_sources/{DS}"), format!("/v1/data_sources/{DS}/query")]
    );
}

#[tokio::test]
async fn several_data_sources_need_a_choice() {
    let server = FakeServer::start(notion).await;
    let err =
        run(&server, "notion", "create_page", json!({"database_id": MULTI, "title": "x"}), creds()).await.unwrap_err();
    match &err {
        ConnectorError::InvalidParams { field, problem } => {
            assert_eq!(field, "data_source_id");
            assert!(problem.contains("2 data sources") && problem.contains(&format!("Tasks ({DS})")), "{problem}");
            assert!(problem.contains("Archive (ds-archive)"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.retryable());
    assert_eq!(server.count(), 1, "only the lookup: no page was created");

    run(&server, "notion", "create_page", json!({"database_id": MULTI, "data_source_id": DS, "title": "x"}), creds())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unknown_id_is_a_clear_not_found() {
    let server = FakeServer::start(notion).await;
    let err = run(&server, "notion", "query_database", json!({"database_id": "nope"}), creds()).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::UpstreamRefused { status: 404, message } if message.contains("nope")),
        "{err:?}"
    );
    let err = run(&server, "notion", "query_database", json!({}), creds()).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::InvalidParams { field, .. } if field == "database_id"), "{err:?}");
}

#[tokio::test]
async fn create_page_builds_parent_title_and_paragraphs() {
    let server = FakeServer::start(notion).await;
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
    let [lookup, r] = server.requests().try_into().unwrap();
    assert_eq!(lookup.path, format!("/v1/databases/{DB}"));
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/pages"));
    assert_notion_headers(&r);
    let body = r.json();
    assert_eq!(body["parent"], json!({"type": "data_source_id", "data_source_id": DS}));
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
        assert!(!matches!(err, ConnectorError::OutcomeUnknown(_)), "search is a read");
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
        run(&server, "notion", "create_page", json!({"data_source_id": DS, "title": "x"}), creds()).await.unwrap_err();
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
    let err = run(&server, "notion", "create_page", json!({"data_source_id": "a/../b", "title": "x"}), creds())
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::InvalidParams { ref field, .. } if field == "data_source_id"));
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn the_original_pipeline_params_are_accepted() {
    let server = FakeServer::start(notion).await;
    run(&server, "notion", "create_page", json!({"databaseId": DB, "title": "Ada", "content": "x"}), creds())
        .await
        .unwrap();
    let r = server.requests().pop().unwrap();
    assert_eq!(r.json()["parent"]["data_source_id"], DS);
    assert_eq!(r.json()["children"][0]["paragraph"]["rich_text"][0]["text"]["content"], "x");
}

#[tokio::test]
async fn a_server_error_on_create_is_an_unknown_outcome() {
    // https://developers.notion.com/reference/status-codes: 500 internal_server_error.
    let server = FakeServer::always(Reply::json(500, fixture("notion/internal_server_error.json"))).await;
    let err =
        run(&server, "notion", "create_page", json!({"data_source_id": DS, "title": "x"}), creds()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::OutcomeUnknown(ref m) if m.contains("internal_server_error")), "{err:?}");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_page_in_a_database_the_lookups_cannot_see_is_created_with_a_database_parent() {
    const HIDDEN: &str = "99999999-8888-7777-6666-555555555555";
    // The integration may create pages in a database whose schema it cannot read:
    // both lookups answer 404, the page is created with a database parent, which
    // Notion accepts for a single-source database (upgrade guide 2025-09-03).
    let server = FakeServer::start(|r: &Recorded, _| {
        if r.method == "POST" && r.path == "/v1/pages" && r.json()["parent"]["database_id"] == HIDDEN {
            return Reply::json(200, fixture("notion/page.json"));
        }
        not_found(HIDDEN)
    })
    .await;
    let result =
        run(&server, "notion", "create_page", json!({"database_id": HIDDEN, "title": "Hi"}), creds()).await.unwrap();
    assert_eq!(result["object"], "page");
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, [format!("/v1/databases/{HIDDEN}"), format!("/v1/data_sources/{HIDDEN}"), "/v1/pages".into()]);
    // A query has no such fallback: the data source endpoint is the only one.
    let err = run(&server, "notion", "query_database", json!({"database_id": HIDDEN}), creds()).await.unwrap_err();
    assert!(matches!(&err, ConnectorError::UpstreamRefused { status: 404, .. }), "{err:?}");
}
