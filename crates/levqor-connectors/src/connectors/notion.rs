//! Notion API: `search`, `data_sources/{id}/query` and `pages` (a page in a
//! database's data source with a title and paragraphs). Every request carries
//! the pinned `Notion-Version`, since Notion changes shapes between versions.
//!
//! Since 2025-09-03 a database is a container of one or more data sources,
//! and queries and new pages address a data source
//! (<https://developers.notion.com/docs/upgrade-guide-2025-09-03>). Users may
//! give a `data_source_id`, or a `database_id` as before: the database's data
//! source is looked up once (`GET /v1/databases/{id}`) and cached. A database
//! with several data sources needs a `data_source_id`; the error lists them.
//! An id given as `database_id` that is in fact a data source's is accepted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{endpoint, fail, parse, unsupported};
use crate::client::{HttpClient, Policy, Repeat, Response};
use crate::config::ConnectorConfig;
use crate::connector::{ActionSpec, Connector, TaskCall, TaskFuture, prepare};
use crate::error::ConnectorError;

/// The API version these request and answer shapes follow.
pub const NOTION_VERSION: &str = "2025-09-03";
/// Database → data source ids remembered at most; the map starts afresh
/// beyond (a lookup is one cheap GET).
const MAX_CACHED: usize = 1024;
/// Notion's limit for one rich-text object's content.
const MAX_TEXT: usize = 2000;
/// Notion's limit for children in one create request.
const MAX_CHILDREN: usize = 100;

#[derive(Debug, Clone)]
pub struct Notion {
    client: HttpClient,
    base: String,
    /// Database id (dashes removed, lower case) → its one data source's id.
    data_sources: Arc<Mutex<HashMap<String, String>>>,
}

impl Notion {
    pub fn new(config: &ConnectorConfig) -> Result<Self, ConnectorError> {
        Ok(Self {
            client: HttpClient::new(config.http)?,
            base: config.notion_base.clone(),
            data_sources: Arc::default(),
        })
    }
}

#[derive(Deserialize)]
struct Search {
    query: Option<String>,
    filter: Option<Value>,
    sort: Option<Value>,
    page_size: Option<u32>,
    start_cursor: Option<String>,
}

#[derive(Deserialize)]
struct QueryDatabase {
    database_id: Option<String>,
    data_source_id: Option<String>,
    filter: Option<Value>,
    sorts: Option<Value>,
    page_size: Option<u32>,
    start_cursor: Option<String>,
}

#[derive(Deserialize)]
struct CreatePage {
    database_id: Option<String>,
    data_source_id: Option<String>,
    title: String,
    content: Option<String>,
    properties: Option<Map<String, Value>>,
    title_property: Option<String>,
}

fn database_id_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 100,
           "description": "the database's id (a UUID, dashes optional); this or data_source_id"})
}

fn data_source_id_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 100,
           "description": "the data source's id; needed when the database has several"})
}

impl Connector for Notion {
    fn name(&self) -> &'static str {
        "notion"
    }

    fn description(&self) -> &'static str {
        "Search a Notion workspace, query databases and create pages (integration token)."
    }

    fn actions(&self) -> Vec<ActionSpec> {
        let token = &["token"];
        let page_size = json!({"type": "integer", "minimum": 1, "maximum": 100});
        let cursor = json!({"type": "string", "maxLength": 200});
        vec![
            ActionSpec::new(
                "search",
                "Search pages and databases shared with the integration (POST /search).",
                json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "query": {"type": "string", "maxLength": 1000},
                        "filter": {"type": "object", "description": "e.g. {\"property\": \"object\", \"value\": \"page\"}"},
                        "sort": {"type": "object"},
                        "page_size": page_size,
                        "start_cursor": cursor
                    }
                }),
            )
            .credentials(token)
            .safe_to_repeat(),
            ActionSpec::new(
                "query_database",
                "Query the pages of a database's data source (POST /data_sources/{id}/query).",
                json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "database_id": database_id_schema(),
                        "data_source_id": data_source_id_schema(),
                        "filter": {"type": "object"},
                        "sorts": {"type": "array", "items": {"type": "object"}},
                        "page_size": page_size,
                        "start_cursor": cursor
                    }
                }),
            )
            .credentials(token)
            .aliases(&[("databaseId", "database_id"), ("dataSourceId", "data_source_id")])
            // A query is a read, though it is a POST.
            .safe_to_repeat(),
            ActionSpec::new(
                "create_page",
                "Create a page in a database's data source with a title and optional text (POST /pages).",
                json!({
                    "type": "object",
                    "required": ["title"],
                    "additionalProperties": false,
                    "properties": {
                        "database_id": database_id_schema(),
                        "data_source_id": data_source_id_schema(),
                        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
                        "content": {"type": "string", "maxLength": MAX_TEXT * MAX_CHILDREN, "description": "paragraphs separated by blank lines"},
                        "properties": {"type": "object", "description": "further page properties in Notion's format"},
                        "title_property": {"type": "string", "minLength": 1, "maxLength": 100, "default": "title", "description": "name of the database's title property; `title` (its id) works for every database"}
                    }
                }),
            )
            .credentials(token)
            .aliases(&[("databaseId", "database_id"), ("dataSourceId", "data_source_id")]),
        ]
    }

    fn run_task(&self, mut call: TaskCall) -> TaskFuture {
        let spec = match prepare(&self.actions(), &mut call) {
            Ok(spec) => spec,
            Err(e) => return fail(e),
        };
        let this = self.clone();
        let policy = Policy::new(spec.repeat);
        async move {
            let token = call.credentials.require("token")?;
            match call.action.as_str() {
                "search" => {
                    let p: Search = parse(&call.params)?;
                    let body = object(&[
                        ("query", p.query.map(Value::String)),
                        ("filter", p.filter.map(search_filter)),
                        ("sort", p.sort),
                        ("page_size", p.page_size.map(Value::from)),
                        ("start_cursor", p.start_cursor.map(Value::String)),
                    ]);
                    this.post(policy, token, "search", &body, "list").await
                }
                "query_database" => {
                    let p: QueryDatabase = parse(&call.params)?;
                    let id = this.data_source(token, p.database_id.as_deref(), p.data_source_id.as_deref()).await?;
                    let body = object(&[
                        ("filter", p.filter),
                        ("sorts", p.sorts),
                        ("page_size", p.page_size.map(Value::from)),
                        ("start_cursor", p.start_cursor.map(Value::String)),
                    ]);
                    this.post(policy, token, &format!("data_sources/{id}/query"), &body, "list").await
                }
                "create_page" => {
                    let p: CreatePage = parse(&call.params)?;
                    // Checked before any lookup, so a bad page costs no request.
                    let mut body = page_body(&p)?;
                    body["parent"] =
                        match this.data_source(token, p.database_id.as_deref(), p.data_source_id.as_deref()).await {
                            Ok(id) => json!({"type": "data_source_id", "data_source_id": id}),
                            // Neither lookup found it (an integration that can create
                            // pages but not read the database's schema, or an older
                            // workspace): a database parent is still accepted for a
                            // single-source database, so let Notion decide.
                            // https://developers.notion.com/docs/upgrade-guide-2025-09-03
                            Err(ConnectorError::UpstreamRefused { status: 404, .. })
                                if p.data_source_id.is_none() && p.database_id.is_some() =>
                            {
                                json!({"type": "database_id", "database_id": p.database_id})
                            }
                            Err(e) => return Err(e),
                        };
                    this.post(policy, token, "pages", &body, "page").await
                }
                other => Err(unsupported(other)),
            }
        }
        .boxed()
    }
}

impl Notion {
    /// POSTs `body` and checks that the answer is a Notion object of `kind`.
    async fn post(
        &self,
        policy: Policy,
        token: &str,
        path: &str,
        body: &Value,
        kind: &str,
    ) -> Result<Value, ConnectorError> {
        let url = endpoint(&self.base, path);
        let response = self
            .client
            .send(policy, |c| c.post(&url).bearer_auth(token).header("Notion-Version", NOTION_VERSION).json(body))
            .await?;
        expect_object(&response, kind)
    }

    /// GETs `path`; `None` for Notion's `object_not_found`.
    async fn get(&self, token: &str, path: &str, kind: &str) -> Result<Option<Value>, ConnectorError> {
        let url = endpoint(&self.base, path);
        let response = self
            .client
            .send(Policy::new(Repeat::Safe), |c| {
                c.get(&url).bearer_auth(token).header("Notion-Version", NOTION_VERSION)
            })
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        expect_object(&response, kind).map(Some)
    }

    /// The data source to address: the one given, or the only data source of
    /// the database given (looked up once, then cached).
    async fn data_source(
        &self,
        token: &str,
        database: Option<&str>,
        data_source: Option<&str>,
    ) -> Result<String, ConnectorError> {
        let database = match (database, data_source) {
            (_, Some(id)) => return Ok(notion_id("data_source_id", id)?.to_owned()),
            (Some(id), None) => notion_id("database_id", id)?,
            (None, None) => {
                return Err(ConnectorError::invalid_params("database_id", "is required (or data_source_id)"));
            }
        };
        let key = database.replace('-', "").to_ascii_lowercase();
        if let Some(known) = self.cached(&key) {
            return Ok(known);
        }
        let found = match self.get(token, &format!("databases/{database}"), "database").await? {
            Some(db) => only_data_source(database, &db)?,
            // Not a database this token can see; it may be a data source's id.
            None => match self.get(token, &format!("data_sources/{database}"), "data_source").await? {
                Some(_) => database.to_owned(),
                None => {
                    return Err(ConnectorError::UpstreamRefused {
                        status: 404,
                        message: format!(
                            "notion: object_not_found: no database or data source {database} is shared with the integration"
                        ),
                    });
                }
            },
        };
        let mut cache = self.data_sources.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, found.clone());
        Ok(found)
    }

    fn cached(&self, key: &str) -> Option<String> {
        self.data_sources.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }
}

/// A successful answer that is a Notion object of `kind`, or the error.
fn expect_object(response: &Response, kind: &str) -> Result<Value, ConnectorError> {
    if !response.is_success() {
        return Err(notion_error(response));
    }
    let answer = response.json()?;
    if answer.get("object").and_then(Value::as_str) != Some(kind) {
        return Err(ConnectorError::unexpected(format!("Notion answered without a `{kind}` object")));
    }
    Ok(answer)
}

/// The id of the one data source of database `db`; several need a choice.
fn only_data_source(id: &str, db: &Value) -> Result<String, ConnectorError> {
    let sources = db.get("data_sources").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let ids: Vec<&str> = sources.iter().filter_map(|s| s.get("id").and_then(Value::as_str)).collect();
    match ids.as_slice() {
        [only] => Ok((*only).to_owned()),
        [] => Err(ConnectorError::unexpected(format!("Notion lists no data source for database {id}"))),
        _ => {
            let listed: Vec<String> = sources
                .iter()
                .map(|s| {
                    let name = s.get("name").and_then(Value::as_str).unwrap_or("unnamed");
                    format!("{name} ({})", s.get("id").and_then(Value::as_str).unwrap_or("?"))
                })
                .collect();
            Err(ConnectorError::invalid_params(
                "data_source_id",
                format!(
                    "is required: database {id} has {} data sources ({}); choose one",
                    ids.len(),
                    listed.join(", ")
                ),
            ))
        }
    }
}

/// Since 2025-09-03 search returns data sources, not databases: the old
/// filter value `database` is sent as `data_source`.
fn search_filter(mut filter: Value) -> Value {
    if filter.get("property").and_then(Value::as_str) == Some("object")
        && filter.get("value").and_then(Value::as_str) == Some("database")
    {
        filter["value"] = json!("data_source");
    }
    filter
}

fn object(fields: &[(&str, Option<Value>)]) -> Value {
    Value::Object(fields.iter().filter_map(|(k, v)| v.clone().map(|v| ((*k).to_owned(), v))).collect())
}

/// The id goes into the URL path, so only characters that cannot change the
/// path (letters, digits, `-`, `_`) are let through. Notion itself judges whether
/// it is a real id: its ids are UUIDs, but proxies and fakes use short ones.
fn notion_id<'a>(field: &str, raw: &'a str) -> Result<&'a str, ConnectorError> {
    let id = raw.trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ConnectorError::invalid_params(field, "must be a Notion id (letters, digits and dashes)"));
    }
    Ok(id)
}

fn rich_text(text: &str) -> Value {
    let chars: Vec<char> = text.chars().collect();
    let parts: Vec<Value> = chars
        .chunks(MAX_TEXT)
        .map(|chunk| json!({"type": "text", "text": {"content": chunk.iter().collect::<String>()}}))
        .collect();
    Value::Array(parts)
}

/// The page without its parent (the data source is resolved after).
fn page_body(p: &CreatePage) -> Result<Value, ConnectorError> {
    for (field, id) in [("database_id", &p.database_id), ("data_source_id", &p.data_source_id)] {
        if let Some(id) = id {
            notion_id(field, id)?;
        }
    }
    if p.database_id.is_none() && p.data_source_id.is_none() {
        return Err(ConnectorError::invalid_params("database_id", "is required (or data_source_id)"));
    }
    let title_property = p.title_property.clone().unwrap_or_else(|| "title".to_owned());
    let mut properties = p.properties.clone().unwrap_or_default();
    if properties.contains_key(&title_property) {
        return Err(ConnectorError::invalid_params(format!("properties.{title_property}"), "is set by `title`"));
    }
    properties.insert(title_property, json!({"title": rich_text(&p.title)}));
    let mut body = json!({"properties": properties});
    if let Some(content) = p.content.as_deref().filter(|c| !c.trim().is_empty()) {
        let children: Vec<Value> = content
            .split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|paragraph| {
                json!({"object": "block", "type": "paragraph",
                       "paragraph": {"rich_text": rich_text(paragraph)}})
            })
            .collect();
        if children.len() > MAX_CHILDREN {
            return Err(ConnectorError::invalid_params("content", format!("has more than {MAX_CHILDREN} paragraphs")));
        }
        body["children"] = Value::Array(children);
    }
    Ok(body)
}

/// Notion's error object: `{"object": "error", "status", "code", "message"}`.
fn notion_error(response: &Response) -> ConnectorError {
    let body = response.json_opt().unwrap_or(Value::Null);
    let message = match (body.get("code").and_then(Value::as_str), body.get("message").and_then(Value::as_str)) {
        (Some(code), Some(message)) => format!("notion: {code}: {message}"),
        (Some(code), None) => format!("notion: {code}"),
        _ => format!("notion: {}", response.snippet()),
    };
    response.error(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_ids_are_checked() {
        let database_id = |id| notion_id("database_id", id);
        assert!(database_id("59833787-2cf9-4fdf-8782-e53db20768a5").is_ok());
        assert!(database_id("598337872cf94fdf8782e53db20768a5").is_ok());
        assert!(database_id("db1").is_ok());
        for bad in ["../../users/me", "a/b", "a?b", "a%2Fb", "a b", " "] {
            assert!(database_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn several_data_sources_need_a_choice() {
        let db = json!({"object": "database", "data_sources": [{"id": "ds1", "name": "Tasks"}, {"id": "ds2", "name": "Archive"}]});
        match only_data_source("db1", &db) {
            Err(ConnectorError::InvalidParams { field, problem }) => {
                assert_eq!(field, "data_source_id");
                assert!(problem.contains("Tasks (ds1)") && problem.contains("Archive (ds2)"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
        let one = json!({"object": "database", "data_sources": [{"id": "ds1", "name": "Tasks"}]});
        assert_eq!(only_data_source("db1", &one).unwrap(), "ds1");
        assert_eq!(search_filter(json!({"property": "object", "value": "database"}))["value"], "data_source");
    }

    #[test]
    fn long_text_is_split_for_notion() {
        let text = "é".repeat(MAX_TEXT + 1);
        let parts = rich_text(&text);
        assert_eq!(parts.as_array().unwrap().len(), 2);
        assert_eq!(parts[1]["text"]["content"].as_str().unwrap().chars().count(), 1);
    }
}
