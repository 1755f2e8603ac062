#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use levqor_pipelines::{Limits, Trigger, pipeline_schema, validate_document};
use serde_json::{Value, json};
use support::catalogue;

fn problems(doc: Value) -> Vec<(String, String)> {
    validate_document(&doc, &catalogue(), &Limits::default())
        .expect_err("should be invalid")
        .into_iter()
        .map(|p| (p.field, p.problem))
        .collect()
}

fn fields(doc: Value) -> Vec<String> {
    problems(doc).into_iter().map(|(f, _)| f).collect()
}

#[test]
fn accepts_the_original_document_and_normalises_it() {
    let doc = json!({"id": "p1", "description": "notify", "trigger": "manual", "actions": [
        {"type": "createPage", "connector": "notion", "params": {"databaseId": "db1", "title": "{{input.name}}", "content": "x"}},
        {"type": "sendSlack", "connector": "slack", "params": {"channel": "#general", "message": "New: {{input.name}}"}}]});
    let p = validate_document(&doc, &catalogue(), &Limits::default()).unwrap();
    assert_eq!(p.trigger, Trigger::Manual);
    assert_eq!(p.description, "notify");
    let steps: Vec<(&str, &str, &str)> =
        p.steps.iter().map(|s| (s.id.as_str(), s.connector.as_str(), s.action.as_str())).collect();
    assert_eq!(steps, [("s1", "notion", "create_page"), ("s2", "slack", "post_message")]);
    assert_eq!(
        Value::Object(p.steps[0].params.clone()),
        json!({"database_id": "db1", "title": "{{input.name}}", "content": "x"})
    );
    assert_eq!(Value::Object(p.steps[1].params.clone()), json!({"channel": "#general", "text": "New: {{input.name}}"}));
    // The normalised form validates back to itself.
    let again = validate_document(&p.to_value(), &catalogue(), &Limits::default()).unwrap();
    assert_eq!(again, p);
}

#[test]
fn accepts_every_original_type_and_the_explicit_form() {
    let doc = json!({"trigger": "email.received", "actions": [
        {"type": "summarize", "params": {"text": "{{input.body}}"}},
        {"type": "filter", "params": {"input": "{{steps.s1.output}}", "field": "summary", "op": "exists"}},
        {"type": "transform", "params": {"input": "{{input}}", "template": "Hi {{name}}"}},
        {"type": "log", "params": {"message": "got {{steps.s3.output.text}}"}},
        {"type": "sendEmail", "connector": "email", "params": {"to": "{{input.from}}", "subject": "Re", "body": "{{steps.s1.output.summary}}"}},
        {"connector": "telegram", "action": "send_message", "params": {"chatId": "{{input.chat}}", "text": "x"}},
        {"type": "telegram.get_me"}
    ]});
    let p = validate_document(&doc, &catalogue(), &Limits::default()).unwrap();
    let actions: Vec<String> = p.steps.iter().map(|s| s.qualified_action()).collect();
    assert_eq!(
        actions,
        [
            "ai.summarize",
            "builtin.filter",
            "builtin.transform",
            "builtin.log",
            "gmail.send_email",
            "telegram.send_message",
            "telegram.get_me"
        ]
    );
    assert_eq!(p.steps[5].params["chat_id"], "{{input.chat}}");
}

#[test]
fn reports_unknown_connectors_actions_and_types_with_paths() {
    let got = problems(json!({"trigger": "manual", "actions": [
        {"type": "sendSlack", "connector": "discord", "params": {"channel": "#x", "text": "y"}},
        {"connector": "slack", "action": "send_dm", "params": {}},
        {"type": "sendFax", "params": {}},
        {"connector": "smtp", "action": "send"},
        {"type": "sendSlack", "connector": "notion", "params": {"channel": "#x", "text": "y"}}
    ]}));
    let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "actions[0].connector",
            "actions[1].action",
            "actions[2].type",
            "actions[3].connector",
            "actions[4].connector"
        ]
    );
    assert!(got[0].1.contains("unknown connector `discord`") && got[0].1.contains("slack"), "{}", got[0].1);
    assert!(got[1].1.contains("post_message"), "{}", got[1].1);
    assert!(got[4].1.contains("does not match"), "{}", got[4].1);
}

#[test]
fn checks_params_present_and_typed() {
    let got = problems(json!({"actions": [
        {"type": "sendSlack", "params": {"channel": "#general"}},
        {"type": "createPage", "params": {"database_id": 5, "title": "", "colour": "red"}},
        {"type": "summarize", "params": {"text": "{{input.x}}", "max_words": "{{input.n}}"}},
        {"type": "summarize", "params": {"text": "x", "max_words": "about {{input.n}}"}},
        {"type": "sendSlack", "params": "hello"}
    ]}));
    let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "actions[0].params.text",
            "actions[1].params.colour",
            "actions[1].params.database_id",
            "actions[1].params.title",
            "actions[3].params.max_words",
            "actions[4].params"
        ]
    );
    assert_eq!(got[0].1, "is required");
    assert!(got[1].1.starts_with("is not a known param"), "{}", got[1].1);
    assert_eq!(got[2].1, "must be string, not integer");
    assert_eq!(got[3].1, "must not be empty");
}

#[test]
fn references_only_earlier_steps() {
    let got = problems(json!({"actions": [
        {"type": "sendSlack", "params": {"channel": "#a", "text": "{{steps.s2.output.x}}"}},
        {"type": "log", "params": {"message": "{{ steps.s2.output }} {{steps.s9.output.y}}"}},
        {"type": "log", "params": {"message": "{{steps.s1.output.ts}} {{trigger.body}} {{input}}"}}
    ]}));
    assert_eq!(
        got.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        [
            "actions[0].params.text",
            "actions[1].params.message",
            "actions[1].params.message",
            "actions[2].params.message"
        ]
    );
    assert!(got[0].1.contains("does not run before"), "{}", got[0].1);
    assert!(got[2].1.contains("unknown step `s9`"), "{}", got[2].1);
    assert!(got[3].1.contains("not a reference"), "{}", got[3].1);
}

#[test]
fn limits_the_number_of_steps() {
    let step = json!({"type": "log", "params": {"message": "x"}});
    let doc = json!({"actions": vec![step.clone(); 21]});
    assert_eq!(fields(doc.clone()), ["actions"]);
    let small = Limits { max_steps: 3 };
    let err = validate_document(&json!({"actions": vec![step.clone(); 4]}), &catalogue(), &small).unwrap_err();
    assert!(err[0].problem.contains("at most 3"), "{:?}", err);
    assert!(validate_document(&json!({"actions": vec![step; 20]}), &catalogue(), &Limits::default()).is_ok());
    assert_eq!(fields(json!({"actions": []})), ["actions"]);
    assert_eq!(fields(json!({"trigger": "manual"})), ["actions"]);
}

#[test]
fn triggers_and_schedules() {
    let actions = json!([{"type": "log", "params": {"message": "x"}}]);
    let ok = validate_document(
        &json!({"trigger": "schedule", "schedule": "0 17 * * 5", "actions": actions}),
        &catalogue(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!((ok.trigger, ok.schedule.as_deref()), (Trigger::Schedule, Some("0 17 * * 5")));
    assert_eq!(fields(json!({"trigger": "schedule", "actions": actions})), ["schedule"]);
    assert_eq!(fields(json!({"trigger": "schedule", "schedule": "every friday", "actions": actions})), ["schedule"]);
    assert_eq!(fields(json!({"trigger": "schedule", "schedule": "0 0 17 * * 5", "actions": actions})), ["schedule"]);
    assert_eq!(fields(json!({"trigger": "schedule", "schedule": "0 25 * * *", "actions": actions})), ["schedule"]);
    assert_eq!(fields(json!({"trigger": "manual", "schedule": "0 9 * * *", "actions": actions})), ["schedule"]);
    let got = problems(json!({"trigger": "on_click", "actions": actions}));
    assert_eq!(got[0].0, "trigger");
    assert!(got[0].1.contains("email.received"), "{}", got[0].1);
    // A blank schedule is absent; no trigger means manual.
    let p = validate_document(&json!({"schedule": "", "actions": actions}), &catalogue(), &Limits::default()).unwrap();
    assert_eq!((p.trigger, p.schedule), (Trigger::Manual, None));
}

#[test]
fn structural_problems() {
    assert_eq!(fields(json!([1])), ["pipeline"]);
    assert_eq!(fields(json!({"actions": [{"type": "log", "params": {"message": "x"}}], "colour": 1})), ["colour"]);
    assert_eq!(fields(json!({"actions": "log"})), ["actions"]);
    assert_eq!(fields(json!({"actions": [7]})), ["actions[0]"]);
    assert_eq!(
        fields(json!({"actions": [{"type": "log", "params": {"message": "x"}, "extra": true}]})),
        ["actions[0].extra"]
    );
    assert_eq!(fields(json!({"steps": [{"id": "s2", "type": "log", "params": {"message": "x"}}]})), ["steps[0].id"]);
    assert_eq!(
        fields(json!({"description": 5, "actions": [{"type": "log", "params": {"message": "x"}}]})),
        ["description"]
    );
}

#[test]
fn publishes_the_schema() {
    let schema = pipeline_schema();
    assert_eq!(schema["type"], "object");
    let types = schema["properties"]["actions"]["items"]["properties"]["type"]["examples"].as_array().unwrap();
    for t in ["sendSlack", "createPage", "sendEmail", "summarize", "filter", "transform", "log"] {
        assert!(types.contains(&json!(t)), "{t}");
    }
    assert_eq!(schema["properties"]["trigger"]["enum"], json!(["manual", "schedule", "webhook", "email.received"]));
}

/// The original's documents as it wrote them (see `levqor_pipelines::original`).
mod original_shapes {
    use levqor_pipelines::{Limits, check_document};
    use serde_json::json;

    use super::{catalogue, fields};

    #[test]
    fn placeholders_are_accepted_with_a_warning_per_value() {
        let doc = json!({"id": "workflow_1", "description": "New lead", "trigger": "manual", "actions": [
            {"type": "createPage", "connector": "notion", "params": {"databaseId": "your_database_id", "title": "[Post 1]"}},
            {"type": "sendSlack", "connector": "slack", "params": {"channel": "#your_channel_name", "message": "New lead"}}]});
        let checked = check_document(&doc, &catalogue(), &Limits::default()).unwrap();
        assert_eq!(checked.pipeline.steps[0].params["database_id"], "your_database_id", "kept as written");
        assert_eq!(checked.warnings.len(), 3, "{:?}", checked.warnings);
        assert!(checked.warnings.iter().any(|w| w.contains("step s1") && w.contains("`database_id`")));
        assert!(checked.warnings.iter().any(|w| w.contains("step s1") && w.contains("`title`")));
        assert!(checked.warnings.iter().any(|w| w.contains("step s2") && w.contains("#your_channel_name")));
    }

    #[test]
    fn a_filled_in_document_has_no_warnings() {
        let doc = json!({"trigger": "manual", "actions": [
            {"type": "sendSlack", "params": {"channel": "#general", "message": "your report is ready"}}]});
        assert!(check_document(&doc, &catalogue(), &Limits::default()).unwrap().warnings.is_empty());
    }

    #[test]
    fn summarize_without_text_works_on_the_input() {
        let doc = json!({"description": "Summarize incoming text", "trigger": "webhook", "actions": [
            {"type": "summarize", "connector": "openai", "params": {}},
            {"type": "classify", "params": {"labels": ["a", "b"]}}]});
        let checked = check_document(&doc, &catalogue(), &Limits::default()).unwrap();
        assert!(checked.pipeline.steps[0].params.get("text").is_none(), "stored as written");
        assert_eq!(checked.warnings.len(), 2, "{:?}", checked.warnings);
        assert!(
            checked.warnings[0].starts_with("actions[0].params.text") && checked.warnings[0].contains("run's input")
        );
        // The stored form validates back to itself.
        let again = check_document(&checked.pipeline.to_value(), &catalogue(), &Limits::default()).unwrap();
        assert_eq!(again.pipeline, checked.pipeline);
        // The other params are still checked.
        let bad = json!({"trigger": "manual", "actions": [{"type": "summarize", "params": {"max_words": 1}}]});
        assert_eq!(fields(bad), ["actions[0].params.max_words"]);
        // Only AI steps read the input by themselves.
        let slack = json!({"trigger": "manual", "actions": [{"type": "sendSlack", "params": {"channel": "#a"}}]});
        assert_eq!(fields(slack), ["actions[0].params.text"]);
    }

    #[test]
    fn a_missing_schedule_is_inferred_from_the_description() {
        let doc = json!({"id": "workflow_3", "description": "Every morning at 9am, send me a summary on Slack",
            "trigger": "schedule", "actions": [{"type": "sendSlack", "params": {"channel": "#a", "message": "hi"}}]});
        let checked = check_document(&doc, &catalogue(), &Limits::default()).unwrap();
        assert_eq!(checked.pipeline.schedule.as_deref(), Some("0 9 * * *"));
        assert_eq!(checked.warnings.len(), 1);
        assert!(checked.warnings[0].contains("`0 9 * * *`") && checked.warnings[0].contains("inferred"));
        let weekly = json!({"description": "Each Monday at 08:30 post the plan", "trigger": "schedule",
            "actions": [{"type": "sendSlack", "params": {"channel": "#a", "message": "hi"}}]});
        let checked = check_document(&weekly, &catalogue(), &Limits::default()).unwrap();
        assert_eq!(checked.pipeline.schedule.as_deref(), Some("30 8 * * 1"));
        // A cron that is given wins and is not reported.
        let given = json!({"description": "Every morning at 9am", "trigger": "schedule", "schedule": "0 7 * * *",
            "actions": [{"type": "sendSlack", "params": {"channel": "#a", "message": "hi"}}]});
        let checked = check_document(&given, &catalogue(), &Limits::default()).unwrap();
        assert_eq!(checked.pipeline.schedule.as_deref(), Some("0 7 * * *"));
        assert!(checked.warnings.is_empty());
    }

    #[test]
    fn a_schedule_that_cannot_be_inferred_is_refused() {
        let doc = json!({"description": "Post a quote to Slack", "trigger": "schedule",
            "actions": [{"type": "sendSlack", "params": {"channel": "#a", "message": "hi"}}]});
        assert_eq!(fields(doc), ["schedule"]);
    }
}
