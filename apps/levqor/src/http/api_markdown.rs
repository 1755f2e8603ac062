//! `docs/API.md`, rendered from the OpenAPI document so it cannot drift from the
//! code (a test compares the two).

use std::fmt::Write;

use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr};

fn ops(item: &utoipa::openapi::PathItem) -> Vec<(&'static str, &Operation)> {
    [("GET", &item.get), ("POST", &item.post), ("PUT", &item.put), ("PATCH", &item.patch), ("DELETE", &item.delete)]
        .into_iter()
        .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
        .collect()
}

fn schema_name(content: Option<&RefOr<utoipa::openapi::Content>>) -> String {
    let content = match content {
        Some(RefOr::T(c)) => c,
        _ => return String::new(),
    };
    match content.schema.as_ref() {
        Some(RefOr::Ref(r)) => r.ref_location.rsplit('/').next().unwrap_or_default().to_owned(),
        Some(RefOr::T(_)) => "inline".to_owned(),
        None => String::new(),
    }
}

pub fn render(doc: &OpenApi) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Levqor HTTP API\n");
    let _ = writeln!(out, "Generated from the OpenAPI document (`levqor openapi --markdown`); the");
    let _ = writeln!(out, "machine-readable form is served at `/openapi.json`. Do not edit by hand.\n");
    let _ = writeln!(out, "Authentication: `X-Api-Key: <key>` or `Authorization: Bearer <key>`. Every error");
    let _ = writeln!(out, "is `{{\"error\", \"message\", \"details\"?, \"request_id\"}}` (schema `ErrorBody`).\n");
    let _ = writeln!(out, "{}\n", super::openapi::CONVENTIONS);
    let mut paths: Vec<_> = doc.paths.paths.iter().collect();
    paths.sort_by(|a, b| a.0.cmp(b.0));
    let _ = writeln!(out, "| method | path | auth | what | request | responses |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (path, item) in paths {
        for (method, op) in ops(item) {
            let schemes =
                op.security.as_ref().map(|s| serde_json::to_string(s).unwrap_or_default()).unwrap_or_default();
            let auth = match op.security.as_ref() {
                Some(s) if !s.is_empty() && schemes.contains("stripe_signature") => "Stripe signature",
                Some(s) if !s.is_empty() => "key",
                _ => "none",
            };
            let what = op.summary.clone().or_else(|| op.description.clone()).unwrap_or_default().replace('\n', " ");
            let request = op
                .request_body
                .as_ref()
                .and_then(|b| match b {
                    RefOr::T(b) => Some(schema_name(b.content.get("application/json"))),
                    RefOr::Ref(_) => None,
                })
                .filter(|s| !s.is_empty())
                .map(|s| format!("`{s}`"))
                .unwrap_or_default();
            let responses: Vec<String> = op
                .responses
                .responses
                .iter()
                .map(|(status, resp)| match resp {
                    RefOr::T(r) => {
                        let body = schema_name(r.content.get("application/json"));
                        if body.is_empty() { status.clone() } else { format!("{status} `{body}`") }
                    }
                    RefOr::Ref(_) => status.clone(),
                })
                .collect();
            let _ = writeln!(out, "| {method} | `{path}` | {auth} | {what} | {request} | {} |", responses.join(", "));
        }
    }
    out
}
