//! The original service's documents as it really wrote them: values left as
//! placeholders for the user to fill in (`your_database_id`, `<channel>`,
//! `[Post 1]`, `#your_channel_name`), AI steps without `text` (they worked on
//! the trigger's input) and `schedule` triggers without a cron (the time was
//! only in the description). Such documents are accepted; placeholders are
//! reported as warnings and refused when a run reaches the step.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::document::{Pipeline, Step};

#[allow(clippy::expect_used)] // constant patterns, covered by the tests below
static PLACEHOLDER_VALUE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // your_database_id, YOUR_API_KEY, #your_channel_name, @your-bot
        r"(?i)^[#@]?your[_-][a-z0-9_.-]+$",
        // <database id>, <channel>; not Slack's <@U123>, <!here>, <https://…|text>
        r"^<[A-Za-z][A-Za-z0-9 _-]*>$",
        // [Post 1], [Name]
        r"^\[[A-Za-z][A-Za-z0-9 _-]*\]$",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("placeholder value pattern"))
    .collect()
});

/// Whether a param value is a placeholder left for the user to fill in.
/// Only whole values count: a message that merely contains "your" is text.
pub fn is_placeholder(value: &str) -> bool {
    let value = value.trim();
    PLACEHOLDER_VALUE.iter().any(|re| re.is_match(value))
}

/// The placeholder values in `params`, as `(param path, value)`, in order.
pub fn placeholder_params(params: &Map<String, Value>) -> Vec<(String, String)> {
    fn walk(value: &Value, at: String, found: &mut Vec<(String, String)>) {
        match value {
            Value::String(s) if is_placeholder(s) => found.push((at, s.clone())),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, format!("{at}[{i}]"), found);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    walk(v, format!("{at}.{k}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    for (key, value) in params {
        walk(value, key.clone(), &mut found);
    }
    found
}

/// One warning per placeholder value in the pipeline's steps.
pub fn placeholder_warnings(pipeline: &Pipeline) -> Vec<String> {
    pipeline
        .steps
        .iter()
        .flat_map(|step| {
            placeholder_params(&step.params).into_iter().map(move |(field, value)| {
                format!(
                    "step {} param `{field}` is the placeholder `{value}`: fill it in before running the pipeline",
                    step.id
                )
            })
        })
        .collect()
}

/// Why step `step` cannot run yet: the first placeholder it still holds.
pub fn unfilled(step: &Step) -> Option<String> {
    let (field, value) = placeholder_params(&step.params).into_iter().next()?;
    Some(format!(
        "step {} param `{field}` is still the placeholder `{value}`: fill it in (PUT the pipeline with the real value) and run again",
        step.id
    ))
}

/// Whether a step of this action works on the run's input when its `text` is
/// not given (the original's `summarize` had no `text`).
pub fn text_defaults_to_input(connector: &str, action: &str) -> bool {
    connector == "ai" && matches!(action, "summarize" | "classify")
}

/// The run's input as text: a string as it is; otherwise its string values, in
/// order, one a line (so `{"subject", "body"}` reads as prose, not JSON); the
/// compact JSON when it holds no strings at all.
pub fn input_text(input: &Value) -> String {
    fn strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
        match value {
            Value::String(s) if !s.trim().is_empty() => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    strings(input, &mut found);
    match (input, found.is_empty()) {
        (Value::Null, _) => String::new(),
        (_, true) => input.to_string(),
        (_, false) => found.join("\n"),
    }
}

/// Sets `text` from the run's input for a step whose action takes it from
/// there when it is not given.
pub fn fill_input_text(step: &Step, params: &mut Map<String, Value>, input: &Value) {
    if text_defaults_to_input(&step.connector, &step.action) && params.get("text").is_none_or(Value::is_null) {
        params.insert("text".to_owned(), Value::String(input_text(input)));
    }
}

/// The cron a `schedule` pipeline's description implies, read with the
/// planner's own time parser.
pub fn infer_schedule(description: &str) -> Option<String> {
    crate::planner::schedule::find(&description.to_lowercase()).map(|found| found.cron)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholder_shapes_are_recognised_and_text_is_not() {
        for p in ["your_database_id", "YOUR_API_KEY", "#your_channel_name", "<database id>", "[Post 1]", " your_token "]
        {
            assert!(is_placeholder(p), "{p}");
        }
        for t in [
            "db1",
            "#general",
            "your report is ready",
            "Hello <b>Ada</b>",
            "<@U123>",
            "<!here>",
            "<https://levqor.dev|site>",
            "[1, 2]",
            "see [Post 1] above",
            "{{input.name}}",
            "",
        ] {
            assert!(!is_placeholder(t), "{t}");
        }
    }

    #[test]
    fn placeholders_are_found_in_nested_params_with_their_paths() {
        let params = json!({"database_id": "your_database_id", "title": "x",
            "properties": {"Status": "<status>"}, "blocks": ["ok", "[Post 1]"]});
        let found = placeholder_params(params.as_object().unwrap());
        let mut paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["blocks[1]", "database_id", "properties.Status"]);
    }

    #[test]
    fn a_step_with_a_placeholder_is_unfilled_naming_step_and_field() {
        let step = Step {
            id: "s2".into(),
            connector: "slack".into(),
            action: "post_message".into(),
            params: json!({"channel": "#your_channel_name", "message": "hi"}).as_object().unwrap().clone(),
            retry_unknown: false,
        };
        let why = unfilled(&step).unwrap();
        assert!(why.contains("step s2") && why.contains("`channel`") && why.contains("#your_channel_name"), "{why}");
        let filled =
            Step { params: json!({"channel": "#general", "message": "hi"}).as_object().unwrap().clone(), ..step };
        assert_eq!(unfilled(&filled), None);
    }

    #[test]
    fn the_input_as_text() {
        assert_eq!(input_text(&json!("plain words")), "plain words");
        let both = input_text(&json!({"subject": "Hello", "body": "Long text", "n": 3}));
        let mut lines: Vec<&str> = both.lines().collect();
        lines.sort_unstable();
        assert_eq!(lines, ["Hello", "Long text"]);
        assert_eq!(input_text(&json!({"n": 3})), r#"{"n":3}"#);
        assert_eq!(input_text(&Value::Null), "");
    }

    #[test]
    fn ai_text_is_filled_from_the_input_only_when_missing() {
        let step = |params: Value| Step {
            id: "s1".into(),
            connector: "ai".into(),
            action: "summarize".into(),
            params: params.as_object().unwrap().clone(),
            retry_unknown: false,
        };
        let input = json!({"text": "from the input"});
        let s = step(json!({}));
        let mut params = s.params.clone();
        fill_input_text(&s, &mut params, &input);
        assert_eq!(params["text"], "from the input");
        let s = step(json!({"text": "given"}));
        let mut params = s.params.clone();
        fill_input_text(&s, &mut params, &input);
        assert_eq!(params["text"], "given");
        let slack = Step { connector: "slack".into(), action: "post_message".into(), ..step(json!({})) };
        let mut params = Map::new();
        fill_input_text(&slack, &mut params, &input);
        assert!(params.is_empty());
    }

    #[test]
    fn schedules_are_inferred_from_descriptions() {
        assert_eq!(infer_schedule("Every morning at 9am, summarise my inbox").as_deref(), Some("0 9 * * *"));
        assert_eq!(infer_schedule("Post the report every Friday at 5pm").as_deref(), Some("0 17 * * 5"));
        assert_eq!(infer_schedule("Summarise my inbox"), None);
    }
}
