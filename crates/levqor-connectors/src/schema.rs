//! A small JSON Schema checker for the subset the connectors' parameter schemas
//! use: `type` (one or a list), `properties`, `required`, `additionalProperties:
//! false`, `minLength`/`maxLength` (in characters), `minimum`/`maximum`, `enum`,
//! `items`, `minItems`/`maxItems`. `description`, `default`, `format` and
//! `examples` are documentation only. A full validator crate would add a minute
//! to every clean build for features nothing here needs.
//!
//! The first problem found is reported with its field path (`labels[1]`,
//! `mapping.name`), relative to the params object.

use serde_json::Value;

use crate::error::ConnectorError;

/// Keywords this checker understands; anything else in a schema is a bug (a test
/// walks every connector's schemas against this list).
pub const KNOWN_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "description",
    "default",
    "format",
    "examples",
];

/// Checks `value` against `schema`.
pub fn validate(schema: &Value, value: &Value) -> Result<(), ConnectorError> {
    check(schema, value, "")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn problem(path: &str, what: impl Into<String>) -> ConnectorError {
    let field = if path.is_empty() { "params" } else { path };
    ConnectorError::invalid_params(field, what)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, wanted: &str) -> bool {
    let actual = type_name(value);
    // Every integer is a number; a float with no fraction counts as an integer.
    actual == wanted
        || (wanted == "number" && actual == "integer")
        || (wanted == "integer" && value.as_f64().is_some_and(|f| f.fract() == 0.0))
}

fn check(schema: &Value, value: &Value, path: &str) -> Result<(), ConnectorError> {
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(wanted) = schema.get("type") {
        let types: Vec<&str> = match wanted {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
            let what = if value.is_null() {
                "is required".to_owned()
            } else {
                format!("must be {}, not {}", types.join(" or "), type_name(value))
            };
            return Err(problem(path, what));
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Err(problem(path, format!("must be one of {}", names.join(", "))));
    }
    match value {
        Value::String(s) => check_length(schema, s.chars().count(), path, "characters"),
        Value::Number(n) => check_range(schema, n.as_f64().unwrap_or(f64::NAN), path),
        Value::Array(items) => check_array(schema, items, path),
        Value::Object(map) => check_object(schema, map, path),
        _ => Ok(()),
    }
}

fn limit(schema: &serde_json::Map<String, Value>, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

fn check_length(
    schema: &serde_json::Map<String, Value>,
    len: usize,
    path: &str,
    unit: &str,
) -> Result<(), ConnectorError> {
    let len = len as u64;
    let (min_key, max_key) = if unit == "items" { ("minItems", "maxItems") } else { ("minLength", "maxLength") };
    if let Some(min) = limit(schema, min_key)
        && len < min
    {
        let what = if min == 1 && unit == "characters" {
            "must not be empty".to_owned()
        } else {
            format!("must have at least {min} {unit}")
        };
        return Err(problem(path, what));
    }
    if let Some(max) = limit(schema, max_key)
        && len > max
    {
        return Err(problem(path, format!("must have at most {max} {unit}")));
    }
    Ok(())
}

fn check_range(schema: &serde_json::Map<String, Value>, n: f64, path: &str) -> Result<(), ConnectorError> {
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && n < min
    {
        return Err(problem(path, format!("must be at least {min}")));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && n > max
    {
        return Err(problem(path, format!("must be at most {max}")));
    }
    Ok(())
}

fn check_array(schema: &serde_json::Map<String, Value>, items: &[Value], path: &str) -> Result<(), ConnectorError> {
    check_length(schema, items.len(), path, "items")?;
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{}[{i}]", problem_path(path)))?;
        }
    }
    Ok(())
}

fn problem_path(path: &str) -> &str {
    if path.is_empty() { "params" } else { path }
}

fn check_object(
    schema: &serde_json::Map<String, Value>,
    map: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<(), ConnectorError> {
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = schema.get("required") {
        for key in required.iter().filter_map(Value::as_str) {
            if map.get(key).is_none_or(Value::is_null) {
                return Err(problem(&join(path, key), "is required"));
            }
        }
    }
    for (key, value) in map {
        match properties.and_then(|p| p.get(key)) {
            // An explicit null for an optional field means "not given".
            Some(_) if value.is_null() => {}
            Some(sub) => check(sub, value, &join(path, key))?,
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    return Err(problem(&join(path, key), "is not a known field"));
                }
                Some(sub @ Value::Object(_)) => check(sub, value, &join(path, key))?,
                _ => {}
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(schema: &Value, value: Value) -> (String, String) {
        match validate(schema, &value) {
            Err(ConnectorError::InvalidParams { field, problem }) => (field, problem),
            other => panic!("expected InvalidParams, got {other:?}"),
        }
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["text", "labels"],
            "additionalProperties": false,
            "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": 5},
                "labels": {"type": "array", "minItems": 2, "items": {"type": "string"}},
                "n": {"type": "integer", "minimum": 1, "maximum": 500},
                "id": {"type": ["integer", "string"]},
                "mode": {"enum": ["a", "b"]},
                "mapping": {"type": "object", "additionalProperties": {"type": "string"}},
                "any": {}
            }
        })
    }

    #[test]
    fn accepts_valid_params() {
        let ok = json!({"text": "héllo", "labels": ["a", "b"], "n": 500, "id": "@chan",
                        "mode": "a", "mapping": {"x": "y"}, "any": [1, {"z": null}], "n2": null});
        // `n2` is unknown but null... still unknown: refuse.
        assert!(validate(&schema(), &ok).is_err());
        let ok = json!({"text": "héllo", "labels": ["a", "b"], "n": 2.0, "id": 5, "mode": null});
        validate(&schema(), &ok).unwrap();
    }

    #[test]
    fn reports_the_field_path() {
        let s = schema();
        assert_eq!(field_of(&s, json!({"labels": ["a", "b"]})).0, "text");
        assert_eq!(
            field_of(&s, json!({"text": "", "labels": ["a", "b"]})),
            ("text".into(), "must not be empty".into())
        );
        assert_eq!(field_of(&s, json!({"text": "toolong", "labels": ["a", "b"]})).0, "text");
        assert_eq!(field_of(&s, json!({"text": "x", "labels": ["a", 2]})).0, "labels[1]");
        assert_eq!(field_of(&s, json!({"text": "x", "labels": ["a"]})).0, "labels");
        assert_eq!(field_of(&s, json!({"text": "x", "labels": ["a", "b"], "n": 501})).0, "n");
        assert_eq!(field_of(&s, json!({"text": "x", "labels": ["a", "b"], "n": 1.5})).0, "n");
        assert_eq!(
            field_of(&s, json!({"text": "x", "labels": ["a", "b"], "id": true})).1,
            "must be integer or string, not boolean"
        );
        assert_eq!(field_of(&s, json!({"text": "x", "labels": ["a", "b"], "mode": "c"})).0, "mode");
        assert_eq!(field_of(&s, json!({"text": "x", "labels": ["a", "b"], "mapping": {"k": 1}})).0, "mapping.k");
        assert_eq!(
            field_of(&s, json!({"text": "x", "labels": ["a", "b"], "extra": 1})),
            ("extra".into(), "is not a known field".into())
        );
        assert_eq!(field_of(&s, json!([1])).0, "params");
    }
}
