//! Which methods each route pattern accepts, read from the OpenAPI document so the
//! `Allow` header of a 405 and the published contract cannot disagree.

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
                }
            }
            table.insert(path.clone(), methods.join(", "));
        }
        Self(table)
    }

    /// The `Allow` value for a matched actix pattern such as `/api/v1/users/{id}`.
    pub fn allow(&self, pattern: &str) -> Option<String> {
        self.0.get(pattern).cloned()
    }
}
