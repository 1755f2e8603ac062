//! Notion API: `search`, `databases/{id}/query` and `pages` (a page in a
//! database with a title and paragraphs). Every request carries the pinned
//! `Notion-Version`, since Notion changes shapes between versions.

use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{endpoint, fail, parse, unsupported};
use crate::client::{HttpClient, Response};
use crate::config::ConnectorConfig;
use crate::connector::{ActionSpec, Connector, TaskCall, TaskFuture, prepare};
use crate::error::ConnectorError;

/// The API version these request and answer shapes follow.
pub const NOTION_VERSION: &str = "2022-06-28";
/// Notion's limit for one rich-text object's content.
const MAX_TEXT: usize = 2000;
/// Notion's limit for children in one create request.
const MAX_CHILDREN: usize = 100;

#[derive(Debug, Clone)]
pub struct Notion {
    client: HttpClient,
    base: String,
}

impl Notion {
    pub fn new(config: &ConnectorConfig) -> Result<Self, ConnectorError> {
        Ok(Self { client: HttpClient::new(config.http)?, base: config.notion_base.clone() })
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
    database_id: String,
    filter: Option<Value>,
    sorts: Option<Value>,
    page_size: Option<u32>,
    start_cursor: Option<String>,
}

#[derive(Deserialize)]
struct CreatePage {
    database_id: String,
    title: String,
    content: Option<String>,
    properties: Option<Map<String, Value>>,
    title_property: Option<String>,
}

fn database_id_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 100, "description": "the database's id (a UUID, dashes optional)"})
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
            .credentials(token),
            ActionSpec::new(
                "query_database",
                "Query a database's pages (POST /databases/{id}/query).",
                json!({
                    "type": "object",
                    "required": ["database_id"],
                    "additionalProperties": false,
                    "properties": {
                        "database_id": database_id_schema(),
                        "filter": {"type": "object"},
                        "sorts": {"type": "array", "items": {"type": "object"}},
                        "page_size": page_size,
                        "start_cursor": cursor
                    }
                }),
            )
            .credentials(token)
            .aliases(&[("databaseId", "database_id")]),
            ActionSpec::new(
                "create_page",
                "Create a page in a database with a title and optional text (POST /pages).",
                json!({
                    "type": "object",
                    "required": ["database_id", "title"],
                    "additionalProperties": false,
                    "properties": {
                        "database_id": database_id_schema(),
                        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
                        "content": {"type": "string", "maxLength": MAX_TEXT * MAX_CHILDREN, "description": "paragraphs separated by blank lines"},
                        "properties": {"type": "object", "description": "further page properties in Notion's format"},
                        "title_property": {"type": "string", "minLength": 1, "maxLength": 100, "default": "title", "description": "name of the database's title property; `title` (its id) works for every database"}
                    }
                }),
            )
            .credentials(token)
            .aliases(&[("databaseId", "database_id")]),
        ]
    }

    fn run_task(&self, mut call: TaskCall) -> TaskFuture {
        if let Err(e) = prepare(&self.actions(), &mut call) {
            return fail(e);
        }
        let this = self.clone();
        async move {
            let token = call.credentials.require("token")?;
            match call.action.as_str() {
                "search" => {
                    let p: Search = parse(&call.params)?;
                    let body = object(&[
                        ("query", p.query.map(Value::String)),
                        ("filter", p.filter),
                        ("sort", p.sort),
                        ("page_size", p.page_size.map(Value::from)),
                        ("start_cursor", p.start_cursor.map(Value::String)),
                    ]);
                    this.post(token, "search", &body, "list").await
                }
                "query_database" => {
                    let p: QueryDatabase = parse(&call.params)?;
                    let id = database_id(&p.database_id)?;
                    let body = object(&[
                        ("filter", p.filter),
                        ("sorts", p.sorts),
                        ("page_size", p.page_size.map(Value::from)),
                        ("start_cursor", p.start_cursor.map(Value::String)),
                    ]);
                    this.post(token, &format!("databases/{id}/query"), &body, "list").await
                }
                "create_page" => {
                    let p: CreatePage = parse(&call.params)?;
                    let body = page_body(p)?;
                    this.post(token, "pages", &body, "page").await
                }
                other => Err(unsupported(other)),
            }
        }
        .boxed()
    }
}

impl Notion {
    /// POSTs `body` and checks that the answer is a Notion object of `kind`.
    async fn post(&self, token: &str, path: &str, body: &Value, kind: &str) -> Result<Value, ConnectorError> {
        let url = endpoint(&self.base, path);
        let response = self
            .client
            .send(|c| c.post(&url).bearer_auth(token).header("Notion-Version", NOTION_VERSION).json(body))
            .await?;
        if !response.is_success() {
            return Err(notion_error(&response));
        }
        let answer = response.json()?;
        if answer.get("object").and_then(Value::as_str) != Some(kind) {
            return Err(ConnectorError::unexpected(format!("Notion answered without a `{kind}` object")));
        }
        Ok(answer)
    }
}

fn object(fields: &[(&str, Option<Value>)]) -> Value {
    Value::Object(fields.iter().filter_map(|(k, v)| v.clone().map(|v| ((*k).to_owned(), v))).collect())
}

/// The id goes into the URL path, so only characters that cannot change the
/// path (letters, digits, `-`, `_`) are let through. Notion itself judges whether
/// it is a real id: its ids are UUIDs, but proxies and fakes use short ones.
fn database_id(raw: &str) -> Result<&str, ConnectorError> {
    let id = raw.trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ConnectorError::invalid_params("database_id", "must be a Notion id (letters, digits and dashes)"));
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

fn page_body(p: CreatePage) -> Result<Value, ConnectorError> {
    let database_id = database_id(&p.database_id)?.to_owned();
    let title_property = p.title_property.unwrap_or_else(|| "title".to_owned());
    let mut properties = p.properties.unwrap_or_default();
    if properties.contains_key(&title_property) {
        return Err(ConnectorError::invalid_params(format!("properties.{title_property}"), "is set by `title`"));
    }
    properties.insert(title_property, json!({"title": rich_text(&p.title)}));
    let mut body = json!({
        "parent": {"database_id": database_id},
        "properties": properties,
    });
    if let Some(content) = p.content.filter(|c| !c.trim().is_empty()) {
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
        assert!(database_id("59833787-2cf9-4fdf-8782-e53db20768a5").is_ok());
        assert!(database_id("598337872cf94fdf8782e53db20768a5").is_ok());
        assert!(database_id("db1").is_ok());
        for bad in ["../../users/me", "a/b", "a?b", "a%2Fb", "a b", " "] {
            assert!(database_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_text_is_split_for_notion() {
        let text = "é".repeat(MAX_TEXT + 1);
        let parts = rich_text(&text);
        assert_eq!(parts.as_array().unwrap().len(), 2);
        assert_eq!(parts[1]["text"]["content"].as_str().unwrap().chars().count(), 1);
    }
}
