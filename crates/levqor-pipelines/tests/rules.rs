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

/// One sentence per phrase family, none of them from the dev set: (text,
/// trigger, cron, actions in order).
#[test]
fn reads_phrase_families() {
    use Trigger::*;
    let cases: &[(&str, Trigger, Option<&str>, &[&str])] = &[
        // URLs and verbs → http
        ("PATCH https://api.acme.test/flags with {\"beta\": true}", Manual, None, &["http.request"]),
        ("Poll https://status.acme.test/health every 3 minutes", Schedule, Some("*/3 * * * *"), &["http.request"]),
        (
            "Download https://data.acme.test/rates.json hourly and log it",
            Schedule,
            Some("0 * * * *"),
            &["http.request", "builtin.log"],
        ),
        ("Forward each submission to https://hooks.acme.test/in", Webhook, None, &["http.request"]),
        // webhook families
        ("When our shop calls this endpoint, tell #shop on Slack", Webhook, None, &["slack.post_message"]),
        ("Whenever someone completes the onboarding survey, add a Notion page", Webhook, None, &["notion.create_page"]),
        ("Each time a refund request comes in, message Telegram chat 5151", Webhook, None, &["telegram.send_message"]),
        // email families
        (
            "When mail from boss@acme.test lands in my inbox, text Telegram chat 777",
            EmailReceived,
            None,
            &["builtin.filter", "telegram.send_message"],
        ),
        (
            "For every email we get about invoices, create a Notion page",
            EmailReceived,
            None,
            &["builtin.filter", "notion.create_page"],
        ),
        ("If a customer sends us an email, post it to #support", EmailReceived, None, &["slack.post_message"]),
        // schedule families
        (
            "Every other day at 6:30 email ops@acme.test the status",
            Schedule,
            Some("30 6 */2 * *"),
            &["gmail.send_email"],
        ),
        (
            "On the 1st of each month at 8am post 'Invoices are due' to #finance",
            Schedule,
            Some("0 8 1 * *"),
            &["slack.post_message"],
        ),
        (
            "Every last Friday of the month at 5pm remind #all on Slack",
            Schedule,
            Some("0 17 * * 5L"),
            &["slack.post_message"],
        ),
        ("Four times an hour check https://acme.test/queue", Schedule, Some("*/15 * * * *"), &["http.request"]),
        (
            "Every Tuesday and Thursday at 9:45 tell Telegram chat 2468 'standup'",
            Schedule,
            Some("45 9 * * 2,4"),
            &["telegram.send_message"],
        ),
        // conditions → filter before the step they guard
        (
            "When an order webhook arrives, post to #sales only if the total is above 250",
            Webhook,
            None,
            &["builtin.filter", "slack.post_message"],
        ),
        (
            "Every 10 minutes get https://acme.test/errors and alert #oncall if the count is over 5",
            Schedule,
            Some("*/10 * * * *"),
            &["http.request", "builtin.filter", "slack.post_message"],
        ),
        // ai steps feed the next step
        (
            "Every Friday evening summarize my Gmail messages and post the summary to #weekly",
            Schedule,
            Some("0 18 * * 5"),
            &["gmail.list_messages", "ai.summarize", "slack.post_message"],
        ),
        (
            "Triage every incoming bug report as bug, question or idea and post it to #triage",
            Webhook,
            None,
            &["ai.classify", "slack.post_message"],
        ),
        // several actions in order
        (
            "Search Notion for 'roadmap', then summarize it and email the summary to cto@acme.test",
            Manual,
            None,
            &["notion.search", "ai.summarize", "gmail.send_email"],
        ),
        (
            "Text Telegram chat 99 and post to #ops that the backup finished",
            Manual,
            None,
            &["telegram.send_message", "slack.post_message"],
        ),
        // nothing added that was not asked for
        ("When a signup arrives, log it", Webhook, None, &["builtin.log"]),
    ];
    let planner = planner();
    let mut failures = Vec::new();
    for (text, trigger, cron, actions) in cases {
        match planner.plan_text(text) {
            Ok(plan) => {
                let p = &plan.pipeline;
                let got: Vec<String> = p.steps.iter().map(|s| s.qualified_action()).collect();
                if p.trigger != *trigger || p.schedule.as_deref() != *cron || got != *actions {
                    failures.push(format!(
                        "{text:?}: {} {:?} {got:?} {}",
                        p.trigger,
                        p.schedule,
                        serde_json::to_string(&p.steps).unwrap()
                    ));
                }
            }
            Err(e) => failures.push(format!("{text:?}: {e:?}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn takes_recipients_and_bodies_from_the_text() {
    let plan = planner()
        .plan_text("POST {\"ping\": 1} to https://hb.acme.test/beat, then tell Telegram chat -1009876543 and #ops")
        .unwrap();
    let s = &plan.pipeline.steps;
    assert_eq!(s[0].params["method"], json!("POST"));
    assert_eq!(s[0].params["url"], json!("https://hb.acme.test/beat"));
    assert_eq!(s[0].params["body"], json!({"ping": 1}));
    assert_eq!(s[1].params["chat_id"], json!(-1009876543_i64));
    assert_eq!(s[2].params["channel"], json!("#ops"));
    let plan = planner().plan_text("When an email from ana@acme.test arrives, forward it to me@home.test").unwrap();
    let s = &plan.pipeline.steps;
    assert_eq!((s[0].params["field"].clone(), s[0].params["value"].clone()), (json!("from"), json!("ana@acme.test")));
    assert_eq!(s[1].params["to"], json!("me@home.test"));
    let plan = planner().plan_text("Add a page to the Notion 'Ideas' database called 'Launch'").unwrap();
    let s = &plan.pipeline.steps;
    assert_eq!(s[0].params["title"], json!("Launch"));
    assert!(plan.warnings.iter().any(|w| w.contains("\"Ideas\"")), "{:?}", plan.warnings);
}

#[test]
fn says_what_it_understood_when_it_cannot_plan() {
    let Err(PlanError::NotUnderstood { hint }) = planner().plan_text("every Monday at 9am, something nice") else {
        panic!("planned the unplannable")
    };
    assert!(hint.contains("schedule") && hint.contains("0 9 * * 1") && hint.contains("e.g."), "{hint}");
}
