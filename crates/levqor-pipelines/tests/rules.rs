//! The rule-based planner: a table of phrasings with the expected trigger,
//! schedule, actions and extracted params.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use levqor_pipelines::{Limits, PlanError, Planner, PlannerKind, RulePlanner, Trigger};
use serde_json::{Value, json};

struct Case {
    text: &'static str,
    trigger: Trigger,
    cron: Option<&'static str>,
    actions: &'static [&'static str],
    /// (step index, param, expected value)
    params: Vec<(usize, &'static str, Value)>,
}

fn case(
    text: &'static str,
    trigger: Trigger,
    cron: Option<&'static str>,
    actions: &'static [&'static str],
    params: Vec<(usize, &'static str, Value)>,
) -> Case {
    Case { text, trigger, cron, actions, params }
}

fn planner() -> RulePlanner {
    RulePlanner::new(support::catalogue(), Limits::default())
}

#[test]
fn plans_the_table() {
    use Trigger::*;
    let cases = vec![
        case(
            "When someone fills out the contact form on my website, create a task in Notion and notify me on Slack",
            Webhook,
            None,
            &["notion.create_page", "slack.post_message"],
            vec![
                (0, "title", json!("New contact form submission")),
                (0, "database_id", json!("{{input.database_id}}")),
                (1, "channel", json!("#general")),
                (1, "text", json!("New Notion page: {{steps.s1.output.url}}")),
            ],
        ),
        case(
            "Post to #general on Slack when a webhook is called",
            Webhook,
            None,
            &["slack.post_message"],
            vec![(0, "channel", json!("#general"))],
        ),
        case(
            "Every Friday at 5pm post a reminder to #team on Slack",
            Schedule,
            Some("0 17 * * 5"),
            &["slack.post_message"],
            vec![(0, "channel", json!("#team"))],
        ),
        case(
            "every day at 9am send a message to #standup saying \"Standup time!\"",
            Schedule,
            Some("0 9 * * *"),
            &["slack.post_message"],
            vec![(0, "channel", json!("#standup")), (0, "text", json!("Standup time!"))],
        ),
        case(
            "Every hour log \"tick\"",
            Schedule,
            Some("0 * * * *"),
            &["builtin.log"],
            vec![(0, "message", json!("tick"))],
        ),
        case(
            "Every Monday, create a page in Notion database 0123456789abcdef0123456789abcdef called \"Weekly plan\"",
            Schedule,
            Some("0 9 * * 1"),
            &["notion.create_page"],
            vec![(0, "database_id", json!("0123456789abcdef0123456789abcdef")), (0, "title", json!("Weekly plan"))],
        ),
        case(
            "When I receive an email, summarize it and post the summary to #inbox on Slack",
            EmailReceived,
            None,
            &["ai.summarize", "slack.post_message"],
            vec![
                (0, "text", json!("Content: {{input}}")),
                (1, "channel", json!("#inbox")),
                (1, "text", json!("{{steps.s1.output.summary}}")),
            ],
        ),
        case(
            "When I get an email from boss@acme.com, forward it to me@home.org",
            EmailReceived,
            None,
            &["builtin.filter", "gmail.send_email"],
            vec![
                (0, "field", json!("from")),
                (0, "op", json!("contains")),
                (0, "value", json!("boss@acme.com")),
                (1, "to", json!("me@home.org")),
            ],
        ),
        case(
            "Send a Telegram message to chat -1001234567890 when someone submits the signup form",
            Webhook,
            None,
            &["telegram.send_message"],
            vec![(0, "chat_id", json!(-1001234567890_i64))],
        ),
        case(
            "Notify @ops_alerts on Telegram every morning",
            Schedule,
            Some("0 9 * * *"),
            &["telegram.send_message"],
            vec![(0, "chat_id", json!("@ops_alerts"))],
        ),
        case(
            "Email ada@example.com with subject \"Daily report\" every weekday at 8:30am",
            Schedule,
            Some("30 8 * * 1-5"),
            &["gmail.send_email"],
            vec![(0, "to", json!("ada@example.com")), (0, "subject", json!("Daily report"))],
        ),
        case(
            "When a new order comes in, post it to #orders only if the total is over 100",
            Webhook,
            None,
            &["builtin.filter", "slack.post_message"],
            vec![
                (0, "field", json!("total")),
                (0, "op", json!("gt")),
                (0, "value", json!(100)),
                (1, "channel", json!("#orders")),
            ],
        ),
        case("Every 15 minutes log the input", Schedule, Some("*/15 * * * *"), &["builtin.log"], vec![]),
        case(
            "Every 2 hours notify #monitoring on Slack",
            Schedule,
            Some("0 */2 * * *"),
            &["slack.post_message"],
            vec![(0, "channel", json!("#monitoring"))],
        ),
        case(
            "Hourly, post \"still alive\" to #health",
            Schedule,
            Some("0 * * * *"),
            &["slack.post_message"],
            vec![(0, "channel", json!("#health")), (0, "text", json!("still alive"))],
        ),
        case(
            "Daily at noon summarize the input in 50 words and email it to team@corp.io",
            Schedule,
            Some("0 12 * * *"),
            &["ai.summarize", "gmail.send_email"],
            vec![
                (0, "max_words", json!(50)),
                (1, "to", json!("team@corp.io")),
                (1, "body", json!("{{steps.s1.output.summary}}")),
            ],
        ),
        case(
            "Every Sunday at 8pm send me a summary on Slack",
            Schedule,
            Some("0 20 * * 0"),
            &["ai.summarize", "slack.post_message"],
            vec![(1, "text", json!("{{steps.s1.output.summary}}"))],
        ),
        case(
            "Weekly, query the Notion database 12345678-90ab-cdef-1234-567890abcdef then summarize the results and post to #digest",
            Schedule,
            Some("0 9 * * 1"),
            &["notion.query_database", "ai.summarize", "slack.post_message"],
            vec![
                (0, "database_id", json!("12345678-90ab-cdef-1234-567890abcdef")),
                (1, "text", json!("Summarize: {{steps.s1.output.results}}")),
                (2, "channel", json!("#digest")),
            ],
        ),
        case(
            "Monthly, email billing@corp.io with subject \"Invoices due\"",
            Schedule,
            Some("0 9 1 * *"),
            &["gmail.send_email"],
            vec![(0, "to", json!("billing@corp.io")), (0, "subject", json!("Invoices due"))],
        ),
        case(
            "When someone signs up, add a row to my Notion leads database and send them a welcome email",
            Webhook,
            None,
            &["notion.create_page", "gmail.send_email"],
            vec![(1, "to", json!("{{input.email}}"))],
        ),
        case(
            "On webhook, log the payload then notify the sales channel",
            Webhook,
            None,
            &["builtin.log", "slack.post_message"],
            vec![(0, "message", json!("New submission: {{input}}")), (1, "channel", json!("#sales"))],
        ),
        case(
            "When a new lead is created, send it to Slack channel C0123ABCD9",
            Webhook,
            None,
            &["slack.post_message"],
            vec![(0, "channel", json!("C0123ABCD9"))],
        ),
        case(
            "Post \"Deploy finished\" to #eng",
            Manual,
            None,
            &["slack.post_message"],
            vec![(0, "channel", json!("#eng")), (0, "text", json!("Deploy finished"))],
        ),
        case(
            "Create a Notion page titled Meeting notes in database abcdefabcdefabcdefabcdefabcdefab",
            Manual,
            None,
            &["notion.create_page"],
            vec![
                (0, "title", json!("Meeting notes in database abcdefabcdefabcdefabcdefabcdefab")),
                (0, "database_id", json!("abcdefabcdefabcdefabcdefabcdefab")),
            ],
        ),
        case("Search Notion for \"roadmap\"", Manual, None, &["notion.search"], vec![(0, "query", json!("roadmap"))]),
        case(
            "Check my Gmail for messages \"from:ada is:unread\"",
            Manual,
            None,
            &["gmail.list_messages"],
            vec![(0, "query", json!("from:ada is:unread"))],
        ),
        case(
            "Summarize the text and send it to Telegram chat 123456789",
            Manual,
            None,
            &["ai.summarize", "telegram.send_message"],
            vec![(1, "chat_id", json!(123456789)), (1, "text", json!("{{steps.s1.output.summary}}"))],
        ),
        case(
            "When an email arrives, log it",
            EmailReceived,
            None,
            &["builtin.log"],
            vec![(0, "message", json!("New email: {{input}}"))],
        ),
        case(
            "For every incoming email, create a task in Notion",
            EmailReceived,
            None,
            &["notion.create_page"],
            vec![(0, "title", json!("New email"))],
        ),
        case(
            "When someone fills out the form, notify me on Slack only if the budget is greater than 5000",
            Webhook,
            None,
            &["builtin.filter", "slack.post_message"],
            vec![(0, "field", json!("budget")), (0, "op", json!("gt")), (0, "value", json!(5000))],
        ),
        case(
            "When someone submits the survey, only if the rating is less than 3 email support@shop.com",
            Webhook,
            None,
            &["builtin.filter", "gmail.send_email"],
            vec![(0, "op", json!("lt")), (1, "to", json!("support@shop.com"))],
        ),
        case(
            "Every weekday at 9:15 ping #standup",
            Schedule,
            Some("15 9 * * 1-5"),
            &["slack.post_message"],
            vec![(0, "channel", json!("#standup"))],
        ),
        case(
            "Every evening post the day's summary to #daily and email it to boss@acme.com",
            Schedule,
            Some("0 18 * * *"),
            &["ai.summarize", "slack.post_message", "gmail.send_email"],
            vec![(2, "to", json!("boss@acme.com")), (2, "body", json!("{{steps.s1.output.summary}}"))],
        ),
        case(
            "Message the team on Telegram and Slack when a webhook fires",
            Webhook,
            None,
            &["telegram.send_message", "slack.post_message"],
            vec![(0, "chat_id", json!("{{input.chat_id}}"))],
        ),
        case(
            "At 7am every day send \"Good morning\" to #random",
            Schedule,
            Some("0 7 * * *"),
            &["slack.post_message"],
            vec![(0, "text", json!("Good morning"))],
        ),
        case(
            "When someone fills out the contact form, log it, create a page in Notion, then email me at me@x.io",
            Webhook,
            None,
            &["builtin.log", "notion.create_page", "gmail.send_email"],
            vec![(2, "to", json!("me@x.io"))],
        ),
    ];
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let planner = planner();
    let mut failures = Vec::new();
    for c in &cases {
        let plan = match planner.plan_text(c.text) {
            Ok(plan) => plan,
            Err(e) => {
                failures.push(format!("{:?}: {e:?}", c.text));
                continue;
            }
        };
        assert_eq!(plan.planner, PlannerKind::Rules);
        let p = &plan.pipeline;
        let actions: Vec<String> = p.steps.iter().map(|s| s.qualified_action()).collect();
        let mut wrong = Vec::new();
        if p.trigger != c.trigger {
            wrong.push(format!("trigger {:?}", p.trigger));
        }
        if p.schedule.as_deref() != c.cron {
            wrong.push(format!("schedule {:?}", p.schedule));
        }
        if actions != c.actions {
            wrong.push(format!("actions {actions:?}"));
        } else {
            for (i, key, want) in &c.params {
                let got = p.steps[*i].params.get(*key).cloned().unwrap_or(Value::Null);
                if got != *want {
                    wrong.push(format!("s{}.{key} = {got}, want {want}", i + 1));
                }
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{:?}: {} (steps {})",
                c.text,
                wrong.join("; "),
                serde_json::to_string(&p.steps).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn warns_about_guessed_values() {
    let plan = planner()
        .plan_text("When someone fills out the contact form, create a task in Notion and notify me on Slack")
        .unwrap();
    let warnings = plan.warnings.join(" | ");
    assert!(warnings.contains("database id") && warnings.contains("#general"), "{warnings}");
    let plan = planner().plan_text("Post \"hi\" to #eng on Slack").unwrap();
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[tokio::test]
async fn refuses_what_it_cannot_plan() {
    let p = planner();
    assert!(matches!(p.plan("   ").await, Err(PlanError::InvalidDescription(_))));
    assert!(matches!(p.plan(&"x".repeat(2001)).await, Err(PlanError::InvalidDescription(_))));
    assert!(matches!(p.plan("the weather is nice today").await, Err(PlanError::NotUnderstood { .. })));
}

#[test]
fn keeps_at_most_the_step_limit() {
    let planner = RulePlanner::new(support::catalogue(), Limits { max_steps: 2 });
    let plan = planner.plan_text("log \"a\", log \"b\", log \"c\"").unwrap();
    assert_eq!(plan.pipeline.steps.len(), 2);
    assert!(plan.warnings.iter().any(|w| w.contains("first 2")), "{:?}", plan.warnings);
}
