//! Which methods each route pattern accepts, read from the OpenAPI document so the
//! `Allow` header of a 405 and the published contract cannot disagree. Every GET
//! route answers HEAD too (see `http::routes`), so `Allow` lists HEAD after GET.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct RouteTable(HashMap<String, String>);

impl RouteTable {
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let mut table = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let mut methods = Vec::new();
            let ops = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ];
            for (name, op) in ops {
                if op.is_some() {
                    methods.push(name);
                    if name == "GET" {
                        methods.push("HEAD");
                    }
                }
            }
            table.insert(path.clone(), methods.join(", "));
        }
        Self(table)
    }

    /// The documented pattern (`/api/v1/jobs/{job_id}/cancel`) that `path` matches.
    pub fn pattern_for(&self, path: &str) -> Option<String> {
        let matches = |pattern: &str| actix_web::dev::ResourceDef::new(pattern).is_match(path);
        // An exact route wins over a pattern (`/users/upsert` over `/users/{id}`).
        if self.0.contains_key(path) {
            return Some(path.to_owned());
        }
        self.0.keys().filter(|p| matches(p)).min_by_key(|p| p.matches('{').count()).cloned()
    }

    /// The `Allow` value for a matched actix pattern such as `/api/v1/users/{id}`.
    pub fn allow(&self, pattern: &str) -> Option<String> {
        self.0.get(pattern).cloned()
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::*;
    use crate::http::openapi::ApiDoc;

    #[test]
    fn head_follows_get() {
        let table = RouteTable::from_openapi(&ApiDoc::openapi());
        assert_eq!(table.allow("/health").as_deref(), Some("GET, HEAD"));
        assert_eq!(table.allow("/api/v1/users/{id}").as_deref(), Some("GET, HEAD, PATCH"));
        assert_eq!(table.allow("/api/v1/users/upsert").as_deref(), Some("POST"));
    }

    #[test]
    fn paths_map_to_their_pattern_without_their_values() {
        let table = RouteTable::from_openapi(&ApiDoc::openapi());
        assert_eq!(table.pattern_for("/api/v1/users/upsert").as_deref(), Some("/api/v1/users/upsert"));
        assert_eq!(table.pattern_for("/hooks/p1/secret-token").as_deref(), Some("/hooks/{pipeline_id}/{token}"));
        assert_eq!(table.pattern_for("/nowhere"), None);
    }
}
