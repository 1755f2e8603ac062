//! `builtin`: the pipeline steps that need no service and no credentials —
//! `filter`, `transform` and `log` — as three actions of one connector, so the
//! catalogue lists them like any other action (`builtin.filter`, …).
//!
//! Paths into `input` are dotted (`user.emails.0`); a numeric segment indexes
//! an array. An empty path means `input` itself.

use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{fail, parse, unsupported};
use crate::connector::{ActionSpec, Connector, TaskCall, TaskFuture, prepare};
use crate::error::ConnectorError;

#[derive(Debug, Clone, Copy, Default)]
pub struct Builtin;

#[derive(Deserialize)]
struct Filter {
    #[serde(default)]
    input: Value,
    field: String,
    op: String,
    value: Option<Value>,
}

#[derive(Deserialize)]
struct Transform {
    #[serde(default)]
    input: Value,
    template: Option<String>,
    mapping: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Log {
    message: String,
    level: Option<String>,
}

impl Connector for Builtin {
    fn name(&self) -> &'static str {
        "builtin"
    }

    fn description(&self) -> &'static str {
        "Pipeline steps without a service: filter, transform, log."
    }

    fn actions(&self) -> Vec<ActionSpec> {
        let path =
            json!({"type": "string", "maxLength": 500, "description": "dotted path into input; empty = input itself"});
        vec![
            ActionSpec::new(
                "filter",
                "Test one field of the input: {passed: bool, value}.",
                json!({
                    "type": "object",
                    "required": ["field", "op"],
                    "additionalProperties": false,
                    "properties": {
                        "input": {"description": "any JSON (usually the previous step's output)"},
                        "field": path,
                        "op": {"enum": ["eq", "ne", "contains", "exists", "gt", "lt"]},
                        "value": {"description": "what to compare with (not for exists)"}
                    }
                }),
            ),
            ActionSpec::new(
                "transform",
                "Reshape the input: `mapping` {out_key: path} builds an object, `template` fills {{path}} placeholders into {text}.",
                json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "input": {"description": "any JSON"},
                        "mapping": {"type": "object", "additionalProperties": path},
                        "template": {"type": "string", "maxLength": 100_000}
                    }
                }),
            ),
            ActionSpec::new(
                "log",
                "Record a message in the run's output.",
                json!({
                    "type": "object",
                    "required": ["message"],
                    "additionalProperties": false,
                    "properties": {
                        "message": {"type": "string", "maxLength": 10_000},
                        "level": {"enum": ["debug", "info", "warn", "error"], "default": "info"}
                    }
                }),
            ),
        ]
    }

    fn run_task(&self, mut call: TaskCall) -> TaskFuture {
        if let Err(e) = prepare(&self.actions(), &mut call) {
            return fail(e);
        }
        let result = match call.action.as_str() {
            "filter" => parse(&call.params).and_then(filter),
            "transform" => parse(&call.params).and_then(transform),
            "log" => parse::<Log>(&call.params).map(
                |p| json!({"logged": true, "level": p.level.unwrap_or_else(|| "info".into()), "message": p.message}),
            ),
            other => Err(unsupported(other)),
        };
        futures_util::future::ready(result).boxed()
    }
}

/// The value at a dotted `path` in `input`.
pub fn lookup<'a>(input: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    if path.is_empty() {
        return Some(input);
    }
    path.split('.').try_fold(input, |current, segment| match current {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn filter(p: Filter) -> Result<Value, ConnectorError> {
    let found = lookup(&p.input, &p.field).filter(|v| !v.is_null());
    let needs_value = || {
        p.value.as_ref().ok_or_else(|| ConnectorError::invalid_params("value", format!("is required for `{}`", p.op)))
    };
    let passed = match p.op.as_str() {
        "exists" => found.is_some(),
        op @ ("eq" | "ne") => {
            let wanted = needs_value()?;
            found.is_some_and(|f| same(f, Some(wanted))) == (op == "eq")
        }
        "contains" => {
            let wanted = needs_value()?;
            match found {
                Some(Value::String(s)) => wanted.as_str().is_some_and(|w| s.contains(w)),
                Some(Value::Array(items)) => items.iter().any(|i| same(i, Some(wanted))),
                Some(Value::Object(map)) => wanted.as_str().is_some_and(|k| map.contains_key(k)),
                _ => false,
            }
        }
        op @ ("gt" | "lt") => {
            let wanted = needs_value()?;
            let ordering = match (found, wanted) {
                (Some(Value::String(a)), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
                (Some(a), b) => match (number(a), number(b)) {
                    (Some(a), Some(b)) => a.partial_cmp(&b),
                    _ => None,
                },
                (None, _) => None,
            };
            ordering.is_some_and(|o| if op == "gt" { o.is_gt() } else { o.is_lt() })
        }
        other => {
            return Err(ConnectorError::invalid_params("op", format!("`{other}` is not an operator")));
        }
    };
    Ok(json!({"passed": passed, "value": found.cloned().unwrap_or(Value::Null)}))
}

/// JSON equality where `1` equals `1.0`.
fn same(a: &Value, b: Option<&Value>) -> bool {
    match (a, b) {
        (_, None) => false,
        (Value::Number(x), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (x, Some(y)) => x == y,
    }
}

/// Numbers, and strings that spell one ("42" from a form field).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn transform(p: Transform) -> Result<Value, ConnectorError> {
    match (p.mapping, p.template) {
        (Some(mapping), None) => {
            let mut out = Map::new();
            for (key, path) in mapping {
                let path = path.as_str().unwrap_or_default();
                out.insert(key, lookup(&p.input, path).cloned().unwrap_or(Value::Null));
            }
            Ok(Value::Object(out))
        }
        (None, Some(template)) => Ok(json!({"text": render(&template, &p.input)})),
        (Some(_), Some(_)) => Err(ConnectorError::invalid_params("mapping", "give mapping or template, not both")),
        (None, None) => Err(ConnectorError::invalid_params("mapping", "is required (or template)")),
    }
}

/// Replaces `{{path}}` with the value there (strings as is, other JSON as JSON,
/// missing as empty).
fn render(template: &str, input: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match lookup(input, &after[..end]) {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => {}
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::Credentials;

    async fn run(action: &str, params: Value) -> Result<Value, ConnectorError> {
        Builtin.run_task(TaskCall::new(action, params, Credentials::new())).await
    }

    #[tokio::test]
    async fn filter_ops() {
        let input = json!({"user": {"age": 42, "name": "Ada", "tags": ["vip"], "email": null}});
        for (field, op, value, expected) in [
            ("user.age", "eq", json!(42.0), true),
            ("user.age", "ne", json!(42), false),
            ("user.age", "gt", json!(40), true),
            ("user.age", "lt", json!("40"), false),
            ("user.name", "contains", json!("d"), true),
            ("user.tags", "contains", json!("vip"), true),
            ("user", "contains", json!("name"), true),
            ("user.name", "exists", Value::Null, true),
            ("user.email", "exists", Value::Null, false),
            ("user.missing", "ne", json!(1), true),
            ("user.name", "gt", json!("Ab"), true),
        ] {
            let mut params = json!({"input": input, "field": field, "op": op});
            if !value.is_null() {
                params["value"] = value.clone();
            }
            let result = run("filter", params).await.unwrap();
            assert_eq!(result["passed"], expected, "{field} {op} {value}");
        }
        let err = run("filter", json!({"input": 1, "field": "", "op": "gt"})).await.unwrap_err();
        assert!(matches!(err, ConnectorError::InvalidParams { field, .. } if field == "value"));
        let err = run("filter", json!({"field": "x", "op": "like"})).await.unwrap_err();
        assert!(matches!(err, ConnectorError::InvalidParams { field, .. } if field == "op"));
    }

    #[tokio::test]
    async fn transform_and_log() {
        let input = json!({"a": {"b": [10, {"c": "deep"}]}, "name": "Ada"});
        let result =
            run("transform", json!({"input": input, "mapping": {"x": "a.b.1.c", "first": "a.b.0", "none": "zz"}}))
                .await
                .unwrap();
        assert_eq!(result, json!({"x": "deep", "first": 10, "none": null}));
        let result =
            run("transform", json!({"input": input, "template": "Hi {{name}}, {{a.b.0}}{{missing}} {{unclosed"}))
                .await
                .unwrap();
        assert_eq!(result["text"], "Hi Ada, 10 {{unclosed");
        assert!(run("transform", json!({"input": 1})).await.is_err());

        let result = run("log", json!({"message": "hello", "level": "warn"})).await.unwrap();
        assert_eq!(result, json!({"logged": true, "level": "warn", "message": "hello"}));
        let err = run("log", json!({"level": "loud", "message": "x"})).await.unwrap_err();
        assert!(matches!(err, ConnectorError::InvalidParams { field, .. } if field == "level"));
    }
}
