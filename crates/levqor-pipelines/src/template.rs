//! `{{input.a.b}}` and `{{steps.<id>.output.a}}` placeholders in step params.
//!
//! A string that is exactly one placeholder takes the referenced JSON value
//! with its type (`"{{input.count}}"` → `3`); placeholders inside a longer
//! string are replaced by text (strings as they are, `null` as nothing, other
//! values as compact JSON). A reference to a value that is not there is a
//! [`TemplateError`] naming both the param and the missing path.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

#[allow(clippy::expect_used)] // a constant pattern, covered by every test
static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\s*([^{}]*?)\s*\}\}").expect("placeholder pattern"));

/// What a placeholder refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `input` or `input.a.b`: the path below the run input.
    Input(Vec<String>),
    /// `steps.<id>.output[.a.b]`.
    StepOutput { step: String, path: Vec<String> },
}

impl Reference {
    /// Parses the inside of `{{ … }}`; `None` for anything else.
    pub fn parse(expr: &str) -> Option<Self> {
        let mut parts = expr.trim().split('.');
        match parts.next()? {
            "input" => collect(parts).map(Reference::Input),
            "steps" => {
                let step = parts.next().filter(|s| !s.is_empty())?.to_owned();
                if parts.next()? != "output" {
                    return None;
                }
                collect(parts).map(|path| Reference::StepOutput { step, path })
            }
            _ => None,
        }
    }
}

fn collect<'a>(parts: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
    let path: Vec<String> = parts.map(str::to_owned).collect();
    if path.iter().any(|p| p.is_empty()) { None } else { Some(path) }
}

/// Every placeholder expression (the text between the braces, trimmed) in `s`.
pub fn placeholders(s: &str) -> Vec<&str> {
    PLACEHOLDER.captures_iter(s).filter_map(|c| c.get(1)).map(|m| m.as_str()).collect()
}

/// The expression when `s` is exactly one placeholder (`"{{ input.x }}"`).
pub fn whole_placeholder(s: &str) -> Option<&str> {
    let caps = PLACEHOLDER.captures(s.trim())?;
    let whole = caps.get(0)?;
    if whole.start() == 0 && whole.end() == s.trim().len() { caps.get(1).map(|m| m.as_str()) } else { None }
}

pub fn has_placeholder(s: &str) -> bool {
    PLACEHOLDER.is_match(s)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{field}: `{{{{{path}}}}}` has no value")]
    Missing { field: String, path: String },
    #[error("{field}: `{{{{{expr}}}}}` is not a reference to the input or an earlier step")]
    BadReference { field: String, expr: String },
}

impl TemplateError {
    /// The param (`channel`, `properties.x`) the error concerns.
    pub fn field(&self) -> &str {
        match self {
            TemplateError::Missing { field, .. } | TemplateError::BadReference { field, .. } => field,
        }
    }
}

/// What placeholders may refer to.
#[derive(Debug, Clone, Copy)]
pub struct TemplateContext<'a> {
    pub input: &'a Value,
    /// Outputs of the steps that have run, by step id.
    pub outputs: &'a BTreeMap<String, Value>,
    /// Leave `{{steps.…}}` placeholders whose step has not run as they are
    /// (a dry run) instead of failing.
    pub keep_pending_steps: bool,
}

impl<'a> TemplateContext<'a> {
    pub fn new(input: &'a Value, outputs: &'a BTreeMap<String, Value>) -> Self {
        Self { input, outputs, keep_pending_steps: false }
    }

    fn resolve(&self, reference: &Reference) -> Resolved<'a> {
        let (root, path) = match reference {
            Reference::Input(path) => (Some(self.input), path),
            Reference::StepOutput { step, path } => match self.outputs.get(step) {
                Some(out) => (Some(out), path),
                None if self.keep_pending_steps => return Resolved::Pending,
                None => (None, path),
            },
        };
        match root.and_then(|r| lookup(r, path)) {
            Some(v) => Resolved::Value(v),
            None => Resolved::Missing,
        }
    }
}

enum Resolved<'a> {
    Value(&'a Value),
    Missing,
    Pending,
}

/// Walks `path` (object keys, or array indexes for numeric segments).
pub fn lookup<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |current, segment| match current {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Renders every placeholder in `params`. Placeholders that are not
/// `input…`/`steps…` references are errors, except in the `template` of a
/// `builtin.transform` step, which has placeholders of its own (pass
/// `own_placeholders_in` = `Some("template")` for that step).
pub fn render(
    params: &Map<String, Value>,
    ctx: &TemplateContext<'_>,
    own_placeholders_in: Option<&str>,
) -> Result<Map<String, Value>, TemplateError> {
    let mut out = Map::new();
    for (key, value) in params {
        if own_placeholders_in == Some(key.as_str()) {
            out.insert(key.clone(), value.clone());
            continue;
        }
        out.insert(key.clone(), render_value(value, ctx, key)?);
    }
    Ok(out)
}

fn render_value(value: &Value, ctx: &TemplateContext<'_>, field: &str) -> Result<Value, TemplateError> {
    match value {
        Value::String(s) => render_string(s, ctx, field),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| render_value(v, ctx, &format!("{field}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), render_value(v, ctx, &format!("{field}.{k}"))?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn reference(expr: &str, field: &str) -> Result<Reference, TemplateError> {
    Reference::parse(expr).ok_or_else(|| TemplateError::BadReference { field: field.to_owned(), expr: expr.to_owned() })
}

fn render_string(s: &str, ctx: &TemplateContext<'_>, field: &str) -> Result<Value, TemplateError> {
    if !has_placeholder(s) {
        return Ok(Value::String(s.to_owned()));
    }
    let missing = |expr: &str| TemplateError::Missing { field: field.to_owned(), path: expr.trim().to_owned() };
    if let Some(expr) = whole_placeholder(s) {
        return match ctx.resolve(&reference(expr, field)?) {
            Resolved::Value(v) => Ok(v.clone()),
            Resolved::Pending => Ok(Value::String(s.to_owned())),
            Resolved::Missing => Err(missing(expr)),
        };
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in PLACEHOLDER.captures_iter(s) {
        let (Some(whole), Some(expr)) = (caps.get(0), caps.get(1)) else { continue };
        out.push_str(&s[last..whole.start()]);
        match ctx.resolve(&reference(expr.as_str(), field)?) {
            Resolved::Value(v) => out.push_str(&as_text(v)),
            Resolved::Pending => out.push_str(whole.as_str()),
            Resolved::Missing => return Err(missing(expr.as_str())),
        }
        last = whole.end();
    }
    out.push_str(&s[last..]);
    Ok(Value::String(out))
}

/// How a value reads inside a longer string.
pub fn as_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn parses_references() {
        assert_eq!(Reference::parse("input"), Some(Reference::Input(vec![])));
        assert_eq!(Reference::parse(" input.a.b "), Some(Reference::Input(vec!["a".into(), "b".into()])));
        assert_eq!(
            Reference::parse("steps.s2.output.x"),
            Some(Reference::StepOutput { step: "s2".into(), path: vec!["x".into()] })
        );
        for bad in ["steps.s2", "steps.s2.result", "trigger.x", "input..a", "steps..output", ""] {
            assert_eq!(Reference::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn renders_text_and_keeps_types_for_whole_placeholders() {
        let input = json!({"name": "Ada", "n": 3, "tags": ["a"], "user": {"email": "ada@x.io"}, "none": null});
        let mut outputs = BTreeMap::new();
        outputs.insert("s1".to_owned(), json!({"summary": "short", "items": [{"id": 7}]}));
        let ctx = TemplateContext::new(&input, &outputs);
        let out = render(
            &params(json!({
                "text": "New: {{input.name}} ({{ input.user.email }}) {{input.none}}!",
                "n": "{{input.n}}",
                "tags": "{{ input.tags }}",
                "nested": {"list": ["{{steps.s1.output.summary}}", "id {{steps.s1.output.items.0.id}}"]},
                "plain": 5,
                "whole": "Got {{input}}"
            })),
            &ctx,
            None,
        )
        .unwrap();
        assert_eq!(out["text"], "New: Ada (ada@x.io) !");
        assert_eq!(out["n"], 3);
        assert_eq!(out["tags"], json!(["a"]));
        assert_eq!(out["nested"]["list"], json!(["short", "id 7"]));
        assert_eq!(out["plain"], 5);
        assert!(out["whole"].as_str().unwrap().starts_with("Got {\""));
    }

    #[test]
    fn missing_values_name_the_field_and_path() {
        let input = json!({"name": "Ada"});
        let outputs = BTreeMap::new();
        let ctx = TemplateContext::new(&input, &outputs);
        let err = render(&params(json!({"text": "Hi {{input.user.email}}"})), &ctx, None).unwrap_err();
        assert_eq!(err, TemplateError::Missing { field: "text".into(), path: "input.user.email".into() });
        assert_eq!(err.to_string(), "text: `{{input.user.email}}` has no value");
        let err = render(&params(json!({"a": {"b": ["{{steps.s1.output.x}}"]}})), &ctx, None).unwrap_err();
        assert_eq!(err.field(), "a.b[0]");
        let err = render(&params(json!({"t": "{{trigger.x}}"})), &ctx, None).unwrap_err();
        assert!(matches!(err, TemplateError::BadReference { .. }));
    }

    #[test]
    fn dry_run_keeps_pending_steps_and_transform_templates() {
        let input = json!({"name": "Ada"});
        let outputs = BTreeMap::new();
        let ctx = TemplateContext { keep_pending_steps: true, ..TemplateContext::new(&input, &outputs) };
        let out = render(
            &params(json!({"text": "{{input.name}}: {{steps.s1.output.summary}}", "template": "{{name}}"})),
            &ctx,
            Some("template"),
        )
        .unwrap();
        assert_eq!(out["text"], "Ada: {{steps.s1.output.summary}}");
        assert_eq!(out["template"], "{{name}}");
    }
}
