//! Validation of a pipeline document before anything is stored.
//!
//! Every problem found is reported (not just the first), each with the path of
//! the field it concerns, in the spelling of the document that was sent
//! (`actions[1].params.channel`, `schedule`).

use std::collections::HashMap;

use levqor_connectors::ActionSpec;
use levqor_core::FieldProblem;
use serde_json::{Map, Value};

use crate::catalogue::Catalogue;
use crate::document::{CONNECTOR_SYNONYMS, MAX_DESCRIPTION_CHARS, Pipeline, Step, Trigger, action_for_type, step_id};
use crate::schedule;
use crate::template::{Reference, has_placeholder, placeholders, whole_placeholder};

/// Limits a deployment configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_steps: usize,
}

impl Limits {
    pub const DEFAULT_MAX_STEPS: usize = 20;
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_steps: Self::DEFAULT_MAX_STEPS }
    }
}

const TOP_LEVEL: &[&str] = &["id", "name", "description", "trigger", "schedule", "actions", "steps"];
const STEP_FIELDS: &[&str] = &["id", "type", "connector", "action", "params", "retry_unknown"];

/// A valid document, normalised, and what was noticed on the way: values
/// inferred for it and placeholders left to fill in (see [`crate::original`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub pipeline: Pipeline,
    pub warnings: Vec<String>,
}

/// Checks a document (the original shape or the normalised one) against the
/// catalogue and the limits, and returns the normalised pipeline, or every
/// problem found. The document's `id` and `name` are ignored.
pub fn validate_document(doc: &Value, catalogue: &Catalogue, limits: &Limits) -> Result<Pipeline, Vec<FieldProblem>> {
    check_document(doc, catalogue, limits).map(|v| v.pipeline)
}

/// [`validate_document`], with the warnings: a `schedule` inferred from the
/// description, AI steps that work on the run's input, placeholder values.
pub fn check_document(doc: &Value, catalogue: &Catalogue, limits: &Limits) -> Result<Validated, Vec<FieldProblem>> {
    let mut warnings = Vec::new();
    let pipeline = check_structure_and_semantics(doc, catalogue, limits, &mut warnings)?;
    warnings.extend(crate::original::placeholder_warnings(&pipeline));
    Ok(Validated { pipeline, warnings })
}

fn check_structure_and_semantics(
    doc: &Value,
    catalogue: &Catalogue,
    limits: &Limits,
    warnings: &mut Vec<String>,
) -> Result<Pipeline, Vec<FieldProblem>> {
    // Structure first, by the published JSON Schema; then the checks a schema cannot
    // make (live catalogue, param types with templates, references, cron). Where both
    // report a field, the more specific semantic message is kept.
    let structural = schema_problems(doc);
    match validate_semantics(doc, catalogue, limits, warnings) {
        Ok(pipeline) if structural.is_empty() => Ok(pipeline),
        Ok(_) => Err(structural),
        Err(mut problems) => {
            // Schema errors often sit on a parent of the field the semantic check
            // names (`additionalProperties` on the object): keep only new places.
            let covered = |path: &str| {
                path == "pipeline"
                    || problems.iter().any(|p| {
                        p.field == path
                            || p.field.starts_with(&format!("{path}."))
                            || p.field.starts_with(&format!("{path}["))
                    })
            };
            let extras: Vec<FieldProblem> = structural.into_iter().filter(|e| !covered(&e.field)).collect();
            problems.extend(extras);
            Err(problems)
        }
    }
}

/// The document checked against [`pipeline_schema`] with the jsonschema crate.
fn schema_problems(doc: &Value) -> Vec<FieldProblem> {
    static VALIDATOR: std::sync::OnceLock<Option<jsonschema::Validator>> = std::sync::OnceLock::new();
    let Some(validator) = VALIDATOR.get_or_init(|| jsonschema::validator_for(&crate::document::pipeline_schema()).ok())
    else {
        return vec![FieldProblem::new("pipeline", "the pipeline schema could not be compiled")];
    };
    validator
        .iter_errors(doc)
        .map(|e| FieldProblem::new(pointer_to_path(&e.instance_path().to_string()), e.to_string()))
        .collect()
}

/// `/actions/1/params/channel` → `actions[1].params.channel`; the root → `pipeline`.
fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if token.chars().all(|c| c.is_ascii_digit()) && !token.is_empty() {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    if out.is_empty() { "pipeline".to_owned() } else { out }
}

fn validate_semantics(
    doc: &Value,
    catalogue: &Catalogue,
    limits: &Limits,
    warnings: &mut Vec<String>,
) -> Result<Pipeline, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let Some(doc) = doc.as_object() else {
        return Err(vec![FieldProblem::new("pipeline", "must be a JSON object")]);
    };
    for key in doc.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            problems.push(FieldProblem::new(key.clone(), "is not a known field"));
        }
    }

    let description = match doc.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.chars().count() > MAX_DESCRIPTION_CHARS => {
            problems.push(FieldProblem::new(
                "description",
                format!("must have at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
            String::new()
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(other) => {
            problems.push(FieldProblem::new("description", format!("must be a string, not {}", type_name(other))));
            String::new()
        }
    };

    let trigger = match doc.get("trigger") {
        None | Some(Value::Null) => Some(Trigger::Manual),
        Some(Value::String(s)) => {
            let t = Trigger::parse(s.trim());
            if t.is_none() {
                problems.push(FieldProblem::new(
                    "trigger",
                    format!("unknown trigger `{}`; valid: {}", clip(s), trigger_names()),
                ));
            }
            t
        }
        Some(other) => {
            problems.push(FieldProblem::new("trigger", format!("must be a string, not {}", type_name(other))));
            None
        }
    };

    let mut schedule = match doc.get("schedule") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(other) => {
            problems.push(FieldProblem::new("schedule", format!("must be a string, not {}", type_name(other))));
            None
        }
    };
    match (trigger, &schedule) {
        (Some(Trigger::Schedule), None) if !problems.iter().any(|p| p.field == "schedule") => {
            // The original never wrote a cron: the time was only in its description.
            match crate::original::infer_schedule(&description) {
                Some(cron) => {
                    warnings.push(format!(
                        "schedule: none given; `{cron}` (UTC) was inferred from the description; set `schedule` to change it"
                    ));
                    schedule = Some(cron);
                }
                None => problems.push(FieldProblem::new(
                    "schedule",
                    "is required when trigger is `schedule` (a 5-field cron expression); none could be inferred from the description",
                )),
            }
        }
        (Some(Trigger::Schedule), Some(cron)) => {
            if let Err(why) = schedule::parse(cron) {
                problems.push(FieldProblem::new("schedule", why));
            }
        }
        (Some(_), Some(_)) => {
            problems.push(FieldProblem::new("schedule", "is only allowed when trigger is `schedule`"));
        }
        _ => {}
    }

    let (container, items) = match (doc.get("actions"), doc.get("steps")) {
        (Some(_), Some(_)) => {
            problems.push(FieldProblem::new("steps", "give `actions` or `steps`, not both"));
            ("actions", None)
        }
        (Some(v), None) => ("actions", Some(v)),
        (None, Some(v)) => ("steps", Some(v)),
        (None, None) => {
            problems.push(FieldProblem::new("actions", "is required (a list of steps)"));
            ("actions", None)
        }
    };
    let mut steps = Vec::new();
    match items {
        None => {}
        Some(Value::Array(items)) if items.is_empty() => {
            problems.push(FieldProblem::new(container, "must have at least one step"));
        }
        Some(Value::Array(items)) => {
            if items.len() > limits.max_steps {
                problems.push(FieldProblem::new(
                    container,
                    format!("has {} steps; at most {} are allowed", items.len(), limits.max_steps),
                ));
            }
            let ids: HashMap<String, usize> = (0..items.len()).map(|i| (step_id(i), i)).collect();
            for (i, item) in items.iter().enumerate() {
                let at = format!("{container}[{i}]");
                if let Some(step) = check_step(item, i, &at, catalogue, &ids, &mut problems, warnings) {
                    steps.push(step);
                }
            }
        }
        Some(other) => {
            problems.push(FieldProblem::new(container, format!("must be an array, not {}", type_name(other))))
        }
    }

    match trigger {
        Some(trigger) if problems.is_empty() => Ok(Pipeline {
            description,
            trigger,
            schedule: if trigger == Trigger::Schedule { schedule } else { None },
            steps,
        }),
        _ => Err(problems),
    }
}

/// Re-checks a normalised pipeline (for example one read back from storage
/// after the catalogue or the limits changed).
pub fn validate_pipeline(pipeline: &Pipeline, catalogue: &Catalogue, limits: &Limits) -> Result<(), Vec<FieldProblem>> {
    validate_document(&pipeline.to_value(), catalogue, limits).map(|_| ())
}

fn trigger_names() -> String {
    Trigger::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
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

fn opt_str<'v>(item: &'v Map<String, Value>, key: &str, at: &str, problems: &mut Vec<FieldProblem>) -> Option<&'v str> {
    match item.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim()),
        Some(Value::String(_)) => {
            problems.push(FieldProblem::new(format!("{at}.{key}"), "must not be empty"));
            None
        }
        Some(other) => {
            problems
                .push(FieldProblem::new(format!("{at}.{key}"), format!("must be a string, not {}", type_name(other))));
            None
        }
    }
}

/// Resolves `type` / `connector` / `action` into a catalogue action.
fn resolve_action<'c>(
    item: &Map<String, Value>,
    at: &str,
    catalogue: &'c Catalogue,
    problems: &mut Vec<FieldProblem>,
) -> Option<(&'static str, &'c ActionSpec)> {
    let before = problems.len();
    let kind = opt_str(item, "type", at, problems);
    let connector = opt_str(item, "connector", at, problems);
    let action = opt_str(item, "action", at, problems);
    if problems.len() > before {
        return None;
    }
    let unknown_connector = |name: &str| {
        FieldProblem::new(
            format!("{at}.connector"),
            format!("unknown connector `{}`; valid: {}", clip(name), catalogue.names().join(", ")),
        )
    };
    let (want_connector, want_action): (String, String) = match (kind, connector, action) {
        (Some(kind), _, _) => {
            let mapped = action_for_type(kind)
                .map(|(c, a)| (c.to_owned(), a.to_owned()))
                .or_else(|| kind.split_once('.').map(|(c, a)| (c.to_owned(), a.to_owned())));
            let Some((c, a)) = mapped else {
                let types: Vec<&str> = crate::document::ACTION_TYPES.iter().map(|(t, _, _)| *t).collect();
                problems.push(FieldProblem::new(
                    format!("{at}.type"),
                    format!(
                        "unknown action type `{}`; valid: {} (or `connector.action`)",
                        clip(kind),
                        types.join(", ")
                    ),
                ));
                return None;
            };
            if let Some(given) = connector {
                let given = CONNECTOR_SYNONYMS.iter().find(|(s, _)| *s == given).map_or(given, |(_, c)| *c);
                if given != c {
                    if catalogue.connector(given).is_none() {
                        problems.push(unknown_connector(given));
                    } else {
                        problems.push(FieldProblem::new(
                            format!("{at}.connector"),
                            format!("`{given}` does not match type `{kind}` (connector `{c}`)"),
                        ));
                    }
                    return None;
                }
            }
            if let Some(given) = action
                && given != a
            {
                problems.push(FieldProblem::new(
                    format!("{at}.action"),
                    format!("`{}` does not match type `{kind}` (action `{a}`)", clip(given)),
                ));
                return None;
            }
            (c, a)
        }
        (None, Some(c), Some(a)) => (c.to_owned(), a.to_owned()),
        (None, None, _) => {
            problems.push(FieldProblem::new(format!("{at}.type"), "is required (or give `connector` and `action`)"));
            return None;
        }
        (None, Some(_), None) => {
            problems.push(FieldProblem::new(format!("{at}.action"), "is required (or give an action `type`)"));
            return None;
        }
    };
    let Some(info) = catalogue.connector(&want_connector) else {
        problems.push(unknown_connector(&want_connector));
        return None;
    };
    let Some(spec) = info.actions.iter().find(|a| a.name == want_action) else {
        let valid: Vec<&str> = info.actions.iter().map(|a| a.name).collect();
        let field = if kind.is_some() { "type" } else { "action" };
        problems.push(FieldProblem::new(
            format!("{at}.{field}"),
            format!("`{}` has no action `{}`; valid: {}", info.name, clip(&want_action), valid.join(", ")),
        ));
        return None;
    };
    Some((info.name, spec))
}

fn check_step(
    item: &Value,
    index: usize,
    at: &str,
    catalogue: &Catalogue,
    ids: &HashMap<String, usize>,
    problems: &mut Vec<FieldProblem>,
    warnings: &mut Vec<String>,
) -> Option<Step> {
    let Some(item) = item.as_object() else {
        problems.push(FieldProblem::new(at, format!("must be an object, not {}", type_name(item))));
        return None;
    };
    let before = problems.len();
    for key in item.keys() {
        if !STEP_FIELDS.contains(&key.as_str()) {
            problems.push(FieldProblem::new(format!("{at}.{key}"), "is not a known field"));
        }
    }
    let id = step_id(index);
    match item.get("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if *s == id => {}
        Some(_) => problems
            .push(FieldProblem::new(format!("{at}.id"), format!("must be `{id}` (steps are numbered by position)"))),
    }
    let retry_unknown = match item.get("retry_unknown") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(FieldProblem::new(
                format!("{at}.retry_unknown"),
                format!("must be a boolean, not {}", type_name(other)),
            ));
            false
        }
    };
    let resolved = resolve_action(item, at, catalogue, problems);
    let mut params = match item.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            problems.push(FieldProblem::new(
                format!("{at}.params"),
                format!("must be an object, not {}", type_name(other)),
            ));
            return None;
        }
    };
    let (connector, spec) = resolved?;
    for (old, canonical) in &spec.aliases {
        if !params.contains_key(*canonical)
            && let Some(value) = params.remove(*old)
        {
            params.insert((*canonical).to_owned(), value);
        }
    }
    let params_at = format!("{at}.params");
    let as_value = Value::Object(params);
    if crate::original::text_defaults_to_input(connector, spec.name) && as_value.get("text").is_none_or(Value::is_null)
    {
        // Filled from the run's input when the step runs (see `crate::original`).
        let mut with_text = as_value.clone();
        with_text["text"] = Value::String("{{input}}".to_owned());
        check_schema(&spec.params, &with_text, &params_at, problems);
        warnings.push(format!("{params_at}.text: not given; step {id} works on the text of the run's input"));
    } else {
        check_schema(&spec.params, &as_value, &params_at, problems);
    }
    let own = own_placeholder_field(connector, spec.name);
    let Value::Object(params) = as_value else { return None };
    for (key, value) in &params {
        if own == Some(key.as_str()) {
            continue;
        }
        check_references(value, &format!("{params_at}.{key}"), index, ids, problems);
    }
    (problems.len() == before).then(|| Step {
        id,
        connector: connector.to_owned(),
        action: spec.name.to_owned(),
        params,
        retry_unknown,
    })
}

/// The param of an action that has `{{…}}` placeholders of its own, left alone
/// by validation and rendering: `builtin.transform`'s `template`.
pub fn own_placeholder_field(connector: &str, action: &str) -> Option<&'static str> {
    (connector == "builtin" && action == "transform").then_some("template")
}

fn check_references(
    value: &Value,
    at: &str,
    index: usize,
    ids: &HashMap<String, usize>,
    problems: &mut Vec<FieldProblem>,
) {
    match value {
        Value::String(s) => {
            for expr in placeholders(s) {
                match Reference::parse(expr) {
                    None => problems.push(FieldProblem::new(
                        at,
                        format!(
                            "`{{{{{}}}}}` is not a reference: use {{{{input.…}}}} or {{{{steps.<id>.output.…}}}}",
                            clip(expr)
                        ),
                    )),
                    Some(Reference::Input(_)) => {}
                    Some(Reference::StepOutput { step, .. }) => match ids.get(&step) {
                        None => {
                            problems.push(FieldProblem::new(at, format!("refers to an unknown step `{}`", clip(&step))))
                        }
                        Some(&j) if j >= index => problems.push(FieldProblem::new(
                            at,
                            format!("refers to step `{step}`, which does not run before this one (only earlier steps)"),
                        )),
                        Some(_) => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_references(v, &format!("{at}[{i}]"), index, ids, problems);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                check_references(v, &format!("{at}.{k}"), index, ids, problems);
            }
        }
        _ => {}
    }
}

fn has_type(value: &Value, wanted: &str) -> bool {
    let actual = type_name(value);
    actual == wanted
        || (wanted == "number" && actual == "integer")
        || (wanted == "integer" && value.as_f64().is_some_and(|f| f.fract() == 0.0))
}

/// The connectors' schema subset, collecting every problem, with placeholders
/// in mind: a string that is one placeholder may become any type, one that
/// contains placeholders is a string of unknown length.
fn check_schema(schema: &Value, value: &Value, at: &str, problems: &mut Vec<FieldProblem>) {
    let Some(schema) = schema.as_object() else { return };
    if let Value::String(s) = value {
        if whole_placeholder(s).is_some() {
            return;
        }
        if has_placeholder(s) {
            if let Some(wanted) = types_of(schema)
                && !wanted.contains(&"string")
            {
                problems.push(FieldProblem::new(at, format!("must be {}, not string", wanted.join(" or "))));
            }
            return;
        }
    }
    if let Some(wanted) = types_of(schema)
        && !wanted.iter().any(|t| has_type(value, t))
    {
        problems.push(FieldProblem::new(at, format!("must be {}, not {}", wanted.join(" or "), type_name(value))));
        return;
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
        problems.push(FieldProblem::new(at, format!("must be one of {}", names.join(", "))));
        return;
    }
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    match value {
        Value::String(s) => {
            let len = s.chars().count() as f64;
            if let Some(min) = num("minLength")
                && len < min
            {
                let what = if min <= 1.0 {
                    "must not be empty".to_owned()
                } else {
                    format!("must have at least {min} characters")
                };
                problems.push(FieldProblem::new(at, what));
            }
            if let Some(max) = num("maxLength")
                && len > max
            {
                problems.push(FieldProblem::new(at, format!("must have at most {max} characters")));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = num("minimum")
                && n < min
            {
                problems.push(FieldProblem::new(at, format!("must be at least {min}")));
            }
            if let Some(max) = num("maximum")
                && n > max
            {
                problems.push(FieldProblem::new(at, format!("must be at most {max}")));
            }
        }
        Value::Array(items) => {
            let len = items.len() as f64;
            if let Some(min) = num("minItems")
                && len < min
            {
                problems.push(FieldProblem::new(at, format!("must have at least {min} items")));
            }
            if let Some(max) = num("maxItems")
                && len > max
            {
                problems.push(FieldProblem::new(at, format!("must have at most {max} items")));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_schema(item_schema, item, &format!("{at}[{i}]"), problems);
                }
            }
        }
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(Value::Array(required)) = schema.get("required") {
                for key in required.iter().filter_map(Value::as_str) {
                    if map.get(key).is_none_or(Value::is_null) {
                        problems.push(FieldProblem::new(format!("{at}.{key}"), "is required"));
                    }
                }
            }
            for (key, v) in map {
                let here = format!("{at}.{key}");
                match properties.and_then(|p| p.get(key)) {
                    Some(_) if v.is_null() => {}
                    Some(sub) => check_schema(sub, v, &here, problems),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            let known: Vec<&str> =
                                properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                            problems.push(FieldProblem::new(
                                here,
                                format!("is not a known param; known: {}", known.join(", ")),
                            ));
                        }
                        Some(sub @ Value::Object(_)) => check_schema(sub, v, &here, problems),
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
}

fn types_of(schema: &Map<String, Value>) -> Option<Vec<&str>> {
    let types: Vec<&str> = match schema.get("type")? {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    (!types.is_empty()).then_some(types)
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(pointer_to_path(""), "pipeline");
        assert_eq!(pointer_to_path("/actions/1/params/channel"), "actions[1].params.channel");
        assert_eq!(pointer_to_path("/a~1b"), "a/b");
    }

    #[test]
    fn the_published_schema_compiles_and_checks_structure() {
        assert!(jsonschema::validator_for(&crate::document::pipeline_schema()).is_ok());
        let problems = schema_problems(
            &serde_json::json!({"trigger": "manual", "actions": [{"type": "log", "params": {}, "colour": "red"}]}),
        );
        assert!(problems.iter().any(|p| p.field == "actions[0]"), "{problems:?}");
        assert!(
            schema_problems(&serde_json::json!({"actions": [{"type": "log", "params": {"message": "hi"}}]})).is_empty()
        );
    }
}
