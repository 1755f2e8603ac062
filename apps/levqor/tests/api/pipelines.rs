//! Pipelines over HTTP: planning offline (rules), CRUD with versions and owner
//! isolation, runs end to end against fake Slack and Notion with stored
//! connections (templated params, billed once), 402 before anything is queued,
//! dry runs, webhook triggers and resuming a failed run at the failed step.

use std::time::Duration;

use levqor_testkit::{FakeServer, Recorded, Reply as FakeReply};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

const CONTACT: &str = "when someone fills out the contact form, create a task in Notion and notify me on Slack";

/// Slack's `chat.postMessage`; the first `fail_first` calls answer `ok: false`.
async fn fake_slack(fail_first: usize) -> FakeServer {
    FakeServer::start(move |req: &Recorded, n| {
        if n < fail_first {
            return FakeReply::json(200, json!({"ok": false, "error": "channel_not_found"}));
        }
        FakeReply::json(
            200,
            json!({"ok": true, "channel": "C123", "ts": "1700000000.000100",
                   "message": {"text": req.json()["text"], "type": "message"}}),
        )
    })
    .await
}

/// Notion on 2025-09-03 (https://developers.notion.com/reference/database-retrieve,
/// https://developers.notion.com/reference/post-page): a database lists its data
/// sources, and pages are created in a data source.
async fn fake_notion() -> FakeServer {
    FakeServer::start(|req: &Recorded, _| match (req.method.as_str(), req.path_only()) {
        ("GET", "/databases/db1") => FakeReply::json(
            200,
            json!({"object": "database", "id": "db1", "data_sources": [{"id": "ds1", "name": "Tasks"}]}),
        ),
        ("POST", "/pages") if req.json()["parent"]["data_source_id"] == "ds1" => FakeReply::json(
            200,
            json!({"object": "page", "id": "page-1", "url": "https://notion.so/page-1",
                   "parent": {"type": "data_source_id", "data_source_id": "ds1", "database_id": "db1"}}),
        ),
        _ => FakeReply::json(
            404,
            json!({"object": "error", "status": 404, "code": "object_not_found", "message": "Could not find object."}),
        ),
    })
    .await
}

/// The pages created at the fake Notion.
fn pages(notion: &FakeServer) -> Vec<Recorded> {
    notion.requests().into_iter().filter(|r| r.method == "POST" && r.path_only() == "/pages").collect()
}

async fn spawn(b: Backend, slack: &FakeServer, notion: &FakeServer, run_cost: i64) -> Option<TestApp> {
    let (slack, notion) = (format!("{}/api", slack.base()), notion.base());
    TestApp::spawn(b, move |s| {
        s.slack_api_base = slack;
        s.notion_api_base = notion;
        s.allow_private_targets = true;
        s.openai_api_key = None;
        s.billing.run_cost = run_cost;
        s.secret = Some("pipelines-test-secret-0123456789abcdef0123".into());
    })
    .await
}

fn document() -> Value {
    json!({"description": "notify", "trigger": "manual", "actions": [
        {"type": "createPage", "connector": "notion", "params": {"databaseId": "db1", "title": "{{input.name}}", "content": "x"}},
        {"type": "sendSlack", "connector": "slack", "params": {"channel": "#general", "message": "New: {{input.name}}"}}]})
}

async fn connect(app: &TestApp, key: &str) {
    for (name, token) in [("slack", "xoxb-test-token"), ("notion", "secret_notion_test")] {
        let r = app
            .post(
                "/api/v1/connections",
                Some(key),
                &json!({"connector": name, "name": name, "credentials": {"token": token}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

async fn balance(app: &TestApp, key: &str) -> i64 {
    let r = app.get("/api/v1/credits", Some(key)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["balance"].as_i64().unwrap()
}

fn connectors_of(pipeline: &Value) -> Vec<String> {
    pipeline["steps"].as_array().unwrap().iter().map(|s| s["connector"].as_str().unwrap().to_owned()).collect()
}

async fn plan_offline_stores_a_readable_pipeline(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 1).await else { return };
    let (_, key) = app.new_user("planner@example.com").await;
    let r = app.post("/api/v1/plan", Some(&key), &json!({"description": CONTACT})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["planner"], "rules");
    assert!(r.body["estimated_cost"].as_i64().unwrap() >= 1);
    assert!(r.body["warnings"].is_array());
    let p = &r.body["pipeline"];
    let connectors = connectors_of(p);
    assert!(connectors.contains(&"notion".to_owned()) && connectors.contains(&"slack".to_owned()), "{p:?}");
    assert_eq!(p["version"], 1);
    let id = p["id"].as_str().unwrap();
    let g = app.get(&format!("/api/v1/pipelines/{id}"), Some(&key)).await;
    assert_eq!(g.status, 200, "{:?}", g.body);
    assert_eq!(g.body["steps"], p["steps"]);

    let r = app.post("/api/v1/plan", Some(&key), &json!({"description": "   "})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "description");
    assert_eq!(app.post("/api/v1/plan", None, &json!({"description": CONTACT})).await.status, 401);

    let s = app.get("/api/v1/pipelines/schema", None).await;
    assert_eq!(s.status, 200);
    assert!(s.body.is_object() && s.body.get("properties").is_some(), "{:?}", s.body);
}

/// A fake OpenAI chat-completions endpoint: answers `status` (200: `content`).
async fn fake_openai(status: u16, content: Value) -> FakeServer {
    FakeServer::start(move |_, _| {
        if status != 200 {
            return FakeReply::json(status, json!({"error": {"message": "boom", "type": "server_error"}}));
        }
        FakeReply::json(
            200,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-mini",
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content.to_string()}}],
                   "usage": {"prompt_tokens": 900, "completion_tokens": 120, "total_tokens": 1020}}),
        )
    })
    .await
}

async fn plan_with_openai_and_its_fallback(b: Backend) {
    for (status, expected, warned) in [(200, "openai", false), (500, "rules", true)] {
        let openai = fake_openai(status, document()).await;
        let base = format!("{}/v1", openai.base());
        let Some(app) = TestApp::spawn(b, move |s| {
            s.openai_api_key = Some("sk-test-key".into());
            s.openai_base_url = base;
        })
        .await
        else {
            return;
        };
        let (_, key) = app.new_user("ai-planner@example.com").await;
        let r = app.post("/api/v1/plan", Some(&key), &json!({"description": CONTACT})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["planner"], expected, "{:?}", r.body);
        assert_eq!(!r.body["warnings"].as_array().unwrap().is_empty(), warned, "{:?}", r.body);
        let connectors = connectors_of(&r.body["pipeline"]);
        assert!(connectors.contains(&"notion".to_owned()) && connectors.contains(&"slack".to_owned()));
        let sent = openai.requests();
        assert!(!sent.is_empty());
        assert_eq!(sent[0].path_only(), "/v1/chat/completions");
        assert_eq!(sent[0].header("authorization"), Some("Bearer sk-test-key"));
        assert_eq!(sent[0].json()["messages"][1]["content"], CONTACT);
        let id = r.body["pipeline"]["id"].as_str().unwrap();
        assert_eq!(app.get(&format!("/api/v1/pipelines/{id}"), Some(&key)).await.status, 200);
    }
}

async fn crud_versions_and_owner_isolation(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 1).await else { return };
    let (_, key) = app.new_user("owner@example.com").await;
    let (_, other) = app.new_user("other@example.com").await;

    let r = app.post("/api/v1/pipelines", Some(&key), &document()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["pipeline"]["version"], 1);
    assert!(r.body.get("webhook_url").is_none());
    let steps = &r.body["pipeline"]["steps"];
    assert_eq!(steps[0]["connector"], "notion");
    assert_eq!(steps[1]["connector"], "slack");

    // Validation: every problem with its field path.
    let mut bad = document();
    bad["actions"][1]["connector"] = json!("smtp");
    let r = app.post("/api/v1/pipelines", Some(&key), &bad).await;
    r.assert_error(400, "invalid_request");
    let fields: Vec<&str> =
        r.body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert!(fields.iter().any(|f| f.starts_with("actions[1]")), "{fields:?}");

    let list = app.get("/api/v1/pipelines", Some(&key)).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["pipelines"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/pipelines", Some(&other)).await.body["pipelines"], json!([]));

    let mut v2 = document();
    v2["actions"][1]["params"]["message"] = json!("Hello {{input.name}}");
    let path = format!("/api/v1/pipelines/{id}");
    let r = app.with_body(reqwest::Method::PUT, &path, Some(&key), &v2).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["version"], 2);
    let g = app.get(&path, Some(&key)).await;
    assert_eq!(g.body["version"], 2);
    assert_eq!(g.body["steps"][1]["params"]["text"], "Hello {{input.name}}", "{:?}", g.body);

    // Another owner sees nothing and changes nothing.
    app.get(&path, Some(&other)).await.assert_error(404, "not_found");
    app.with_body(reqwest::Method::PUT, &path, Some(&other), &v2).await.assert_error(404, "not_found");
    app.with_body(reqwest::Method::DELETE, &path, Some(&other), &json!({})).await.assert_error(404, "not_found");
    let r = app.post("/api/v1/run", Some(&other), &json!({"pipeline_id": id})).await;
    r.assert_error(404, "not_found");

    let r = app.with_body(reqwest::Method::DELETE, &path, Some(&key), &json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    app.get(&path, Some(&key)).await.assert_error(404, "not_found");
    assert_eq!(app.get("/api/v1/pipelines", Some(&key)).await.body["pipelines"], json!([]));
}

async fn run_end_to_end_bills_once(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 2).await else { return };
    let (_, key) = app.new_user("runner@example.com").await;
    connect(&app, &key).await;
    let r = app.post("/api/v1/pipelines", Some(&key), &document()).await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let before = balance(&app, &key).await;

    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["cost"], 2);
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    let done = app.wait_done(&key, &job).await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    assert_eq!(done.body["workflow"], format!("pipeline:{id}"));

    let [page]: [Recorded; 1] = pages(&notion).try_into().unwrap();
    assert_eq!(page.header("authorization"), Some("Bearer secret_notion_test"));
    assert!(page.json().to_string().contains("Ada"), "{:?}", page.json());
    let post = slack.requests()[0].clone();
    assert_eq!(post.header("authorization"), Some("Bearer xoxb-test-token"));
    assert_eq!(post.json()["text"], "New: Ada");
    assert_eq!(post.json()["channel"], "#general");

    let after = balance(&app, &key).await;
    assert_eq!(before - after, 2, "charged the run price once");
    // The same Idempotency-Key replays the answer and starts nothing.
    let run_body = json!({"pipeline_id": id, "input": {"name": "Ada"}});
    let first = app.client_post("/api/v1/run", &key, &run_body, "run-once-1").await;
    assert_eq!(first.status, 202, "{:?}", first.body);
    let again = app.client_post("/api/v1/run", &key, &run_body, "run-once-1").await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["job_id"], first.body["job_id"]);
    let second = first.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_done(&key, &second).await.body["status"], "succeeded");
    let after = balance(&app, &key).await;
    assert_eq!(before - after, 4, "two runs, each charged once");
    assert_eq!(slack.count(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(balance(&app, &key).await, after, "balance stable after the run");

    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    assert_eq!(run.body["status"], "succeeded");
    assert_eq!(run.body["version"], 1);
    let steps = run.body["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert!(steps.iter().all(|s| s["status"] == "succeeded" && s["attempts"] == 1), "{steps:?}");
    assert_eq!(steps[1]["params"]["text"], "New: Ada");
    assert_eq!(steps[0]["output"]["id"], "page-1");
    assert!(steps[0]["duration_ms"].is_u64());
    let (_, other) = app.new_user("nosy@example.com").await;
    app.get(&format!("/api/v1/runs/{job}"), Some(&other)).await.assert_error(404, "not_found");
    let listed = app.get(&format!("/api/v1/runs?pipeline_id={id}"), Some(&key)).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["runs"].as_array().unwrap().len(), 2, "the replayed key started one run");
    assert_eq!(listed.body["runs"][1]["job_id"], job.as_str(), "newest first");
    assert_eq!(app.get("/api/v1/runs", Some(&other)).await.body["runs"], json!([]));
}

async fn insufficient_credits_enqueue_nothing(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 60).await else { return };
    let (_, key) = app.new_user("poor@example.com").await;
    connect(&app, &key).await;
    let id = app.post("/api/v1/pipelines", Some(&key), &document()).await.body["id"].as_str().unwrap().to_owned();
    let before = balance(&app, &key).await;
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
    r.assert_error(402, "insufficient_credits");
    let big = "x".repeat(300 * 1024);
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": big}})).await;
    assert!(r.status == 400 || r.status == 413, "{:?}", r.status);
    if r.status == 400 {
        assert_eq!(r.problem_field(), "input");
    }
    assert_eq!(app.get("/api/v1/jobs", Some(&key)).await.body["jobs"], json!([]));
    assert_eq!(balance(&app, &key).await, before);
    assert_eq!(slack.count() + notion.count(), 0);
}

async fn runs_above_the_cost_cap_are_refused(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let Some(app) = TestApp::spawn(b, |s| {
        s.billing.run_cost = 5;
        s.billing.max_run_cost = 4;
    })
    .await
    else {
        return;
    };
    let (_, key) = app.new_user("capped@example.com").await;
    let id = app.post("/api/v1/pipelines", Some(&key), &document()).await.body["id"].as_str().unwrap().to_owned();
    let before = balance(&app, &key).await;
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "pipeline_id");
    assert_eq!(app.get("/api/v1/jobs", Some(&key)).await.body["jobs"], json!([]));
    assert_eq!(balance(&app, &key).await, before);
    assert_eq!(slack.count() + notion.count(), 0);
}

async fn dry_run_calls_nothing(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 1).await else { return };
    let (_, key) = app.new_user("dry@example.com").await;
    connect(&app, &key).await;
    let id = app.post("/api/v1/pipelines", Some(&key), &document()).await.body["id"].as_str().unwrap().to_owned();
    let before = balance(&app, &key).await;
    let r = app
        .post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}, "dry_run": true}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["estimated_cost"], 1);
    assert_eq!(r.body["steps"][1]["params"]["text"], "New: Ada");
    assert_eq!(slack.count() + notion.count(), 0);
    assert_eq!(balance(&app, &key).await, before);
    assert_eq!(app.get("/api/v1/jobs", Some(&key)).await.body["jobs"], json!([]));
}

async fn webhook_trigger_enqueues_a_run(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 1).await else { return };
    let (_, key) = app.new_user("hook@example.com").await;
    connect(&app, &key).await;
    let mut doc = document();
    doc["trigger"] = json!("webhook");
    let r = app.post("/api/v1/pipelines", Some(&key), &doc).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let url = r.body["webhook_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("/hooks/{id}/")), "{url}");
    assert!(app.get(&format!("/api/v1/pipelines/{id}"), Some(&key)).await.body.get("webhook_url").is_none());

    app.post(&format!("/hooks/{id}/wrong-token"), None, &json!({"name": "Eve"})).await.assert_error(404, "not_found");
    let r = app.post(&url, None, &json!({"name": "Grace"})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    let done = app.wait_done(&key, &job).await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    assert_eq!(slack.only().json()["text"], "New: Grace");
}

async fn retry_resumes_at_the_failed_step(b: Backend) {
    let (slack, notion) = (fake_slack(1).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 1).await else { return };
    let (_, key) = app.new_user("retry@example.com").await;
    connect(&app, &key).await;
    let id = app.post("/api/v1/pipelines", Some(&key), &document()).await.body["id"].as_str().unwrap().to_owned();
    let before = balance(&app, &key).await;
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    let done = app.wait_done(&key, &job).await;
    assert_eq!(done.body["status"], "dead", "{:?}", done.body);
    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.body["status"], "failed");
    assert_eq!(run.body["steps"][0]["status"], "succeeded");
    assert_eq!(run.body["steps"][1]["status"], "failed");
    assert!(run.body["steps"][1]["error"].as_str().unwrap().contains("channel_not_found"), "{:?}", run.body);
    // The dead run's reservation is released: nothing is held any more.
    let mut held_back = balance(&app, &key).await;
    for _ in 0..100 {
        if held_back == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        held_back = balance(&app, &key).await;
    }
    assert_eq!(held_back, before, "the dead run's credits came back");

    let r = app.post(&format!("/api/v1/jobs/{job}/retry"), Some(&key), &json!({})).await;
    assert!(r.status == 200 || r.status == 202, "{:?}", r.body);
    let done = app.wait_done(&key, &job).await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    assert_eq!(pages(&notion).len(), 1, "step 1 ran once");
    assert_eq!(slack.count(), 2);
    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.body["steps"][0]["attempts"], 1);
    assert_eq!(run.body["steps"][1]["attempts"], 2);
    assert_eq!(before - balance(&app, &key).await, 1, "billed once");
}

/// Slack answers the first message 429 with a `Retry-After` longer than the
/// connectors wait out (their cap is 0 here): the step fails retryably, the job
/// backs off at least that long and its next attempt resumes at that step by
/// itself (no manual retry), billed once.
async fn retryable_step_failure_is_retried_automatically(b: Backend) {
    // https://api.slack.com/apis/rate-limits: HTTP 429 with Retry-After in seconds.
    let slack = FakeServer::start(|req: &Recorded, n| {
        if n == 0 {
            return FakeReply::json(429, json!({"ok": false, "error": "ratelimited"})).header("retry-after", "1");
        }
        FakeReply::json(
            200,
            json!({"ok": true, "channel": "C123", "ts": "1.2", "message": {"text": req.json()["text"]}}),
        )
    })
    .await;
    let notion = fake_notion().await;
    let (sb, nb) = (format!("{}/api", slack.base()), notion.base());
    let Some(app) = TestApp::spawn(b, move |s| {
        s.slack_api_base = sb;
        s.notion_api_base = nb;
        s.allow_private_targets = true;
        s.openai_api_key = None;
        s.billing.run_cost = 1;
        s.connector_wait_cap_ms = 0;
    })
    .await
    else {
        return;
    };
    let (_, key) = app.new_user("auto-retry@example.com").await;
    connect(&app, &key).await;
    let id = app.post("/api/v1/pipelines", Some(&key), &document()).await.body["id"].as_str().unwrap().to_owned();
    let before = balance(&app, &key).await;
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job = r.body["job_id"].as_str().unwrap().to_owned();

    let done = app.wait_done(&key, &job).await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    assert_eq!(done.body["attempts"], 2, "{:?}", done.body);
    assert_eq!((pages(&notion).len(), slack.count()), (1, 2), "step 1 ran once, step 2 twice");
    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.body["status"], "succeeded", "{:?}", run.body);
    assert_eq!(run.body["steps"][0]["attempts"], 1);
    assert_eq!(run.body["steps"][1]["attempts"], 2);
    assert_eq!(before - balance(&app, &key).await, 1, "billed once");
}

/// Slack's `chat.postMessage` that answers 503 while `down` is set. A 5xx can
/// come after Slack acted (https://api.slack.com/methods/chat.postMessage#errors:
/// `internal_error`, "some aspect of the operation succeeded"), so the
/// message must not be sent again by itself.
async fn slack_503_while(down: std::sync::Arc<std::sync::atomic::AtomicBool>) -> FakeServer {
    FakeServer::start(move |req: &Recorded, _| {
        if down.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return FakeReply::text(503, "Service Unavailable");
        }
        FakeReply::json(
            200,
            json!({"ok": true, "channel": "C123ABC456", "ts": "1503435956.000247",
                   "message": {"text": req.json()["text"], "type": "message"}}),
        )
    })
    .await
}

fn slack_then_log(retry_unknown: bool) -> Value {
    json!({"description": "notify", "trigger": "manual", "actions": [
        {"type": "sendSlack", "params": {"channel": "#general", "message": "New: {{input.name}}"}, "retry_unknown": retry_unknown},
        {"type": "log", "params": {"message": "after slack"}}]})
}

/// A Slack post that got a 503 stops the run at that step as `unknown`, sent
/// once; resuming it with `send_again` sends it once more, with `skip` goes on
/// without sending it.
async fn an_unknown_outcome_waits_for_the_user(b: Backend) {
    let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (slack, notion) = (slack_503_while(down.clone()).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 1).await else { return };
    let (_, key) = app.new_user("unknown@example.com").await;
    connect(&app, &key).await;
    let id =
        app.post("/api/v1/pipelines", Some(&key), &slack_then_log(false)).await.body["id"].as_str().unwrap().to_owned();

    let run_body = json!({"pipeline_id": id, "input": {"name": "Ada"}});
    let job = app.post("/api/v1/run", Some(&key), &run_body).await.body["job_id"].as_str().unwrap().to_owned();
    let done = app.wait_done(&key, &job).await;
    assert_eq!(done.body["status"], "dead", "not retried by the job: {:?}", done.body);
    assert_eq!(slack.count(), 1, "exactly one request reached Slack");
    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.body["status"], "unknown", "{:?}", run.body);
    assert_eq!(run.body["steps"][0]["status"], "unknown");
    assert!(run.body["steps"][0]["error"].as_str().unwrap().contains("outcome unknown"), "{:?}", run.body);
    assert_eq!(run.body["steps"][1]["status"], "pending");

    // Only the owner resumes, and only an unknown step.
    let (_, other) = app.new_user("not-the-owner@example.com").await;
    let resume = format!("/api/v1/runs/{job}/resume");
    app.post(&resume, Some(&other), &json!({"resolution": "skip"})).await.assert_error(404, "not_found");
    app.post(&resume, Some(&key), &json!({"step": "s2", "resolution": "skip"}))
        .await
        .assert_error(400, "invalid_request");
    app.post(&resume, Some(&key), &json!({"resolution": "later"})).await.assert_error(400, "invalid_request");
    // A plain job retry does not send it again either.
    let r = app.post(&format!("/api/v1/jobs/{job}/retry"), Some(&key), &json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(app.wait_done(&key, &job).await.body["status"], "dead");
    assert_eq!(slack.count(), 1);

    // "send again": one more request, and the run goes on.
    let r = app.post(&resume, Some(&key), &json!({"step": "s1", "resolution": "send_again"})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["steps"][0]["status"], "pending");
    assert_eq!(app.wait_done(&key, &job).await.body["status"], "succeeded");
    assert_eq!(slack.count(), 2);
    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.body["status"], "succeeded", "{:?}", run.body);
    assert_eq!(run.body["steps"][0]["attempts"], 2);
    assert_eq!(run.body["steps"][1]["status"], "succeeded");

    // "skip": no request, the run goes on after the step.
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    let job = app.post("/api/v1/run", Some(&key), &run_body).await.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_done(&key, &job).await.body["status"], "dead");
    assert_eq!(slack.count(), 3);
    let r = app.post(&format!("/api/v1/runs/{job}/resume"), Some(&key), &json!({"resolution": "skip"})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(app.wait_done(&key, &job).await.body["status"], "succeeded");
    assert_eq!(slack.count(), 3, "a skipped step is not sent");
    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.body["status"], "succeeded", "{:?}", run.body);
    assert_eq!(run.body["steps"][0]["status"], "skipped");
    assert_eq!(run.body["steps"][0]["attempts"], 1);
    assert_eq!(run.body["steps"][1]["status"], "succeeded");
}

/// With `"retry_unknown": true` the same 503 is retried by the job's back-off.
async fn retry_unknown_is_retried_by_the_jobs_back_off(b: Backend) {
    let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (slack, notion) = (slack_503_while(down).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 1).await else { return };
    let (_, key) = app.new_user("retry-unknown@example.com").await;
    connect(&app, &key).await;
    let r = app.post("/api/v1/pipelines", Some(&key), &slack_then_log(true)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    let done = app.wait_done(&key, &job).await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    assert_eq!(done.body["attempts"], 2, "{:?}", done.body);
    assert_eq!(slack.count(), 2, "sent once per job attempt");
    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.body["steps"][0]["attempts"], 2);
}

async fn cancelled_run_returns_credits(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let (sb, nb) = (format!("{}/api", slack.base()), notion.base());
    let Some(app) = TestApp::spawn(b, move |s| {
        s.slack_api_base = sb;
        s.notion_api_base = nb;
        s.workers = 0;
        s.billing.run_cost = 3;
    })
    .await
    else {
        return;
    };
    let (_, key) = app.new_user("cancel@example.com").await;
    let id = app.post("/api/v1/pipelines", Some(&key), &document()).await.body["id"].as_str().unwrap().to_owned();
    let before = balance(&app, &key).await;
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&app, &key).await, before - 3, "the estimate is held while queued");
    let c = app.post(&format!("/api/v1/jobs/{job}/cancel"), Some(&key), &json!({})).await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    assert_eq!(c.body["status"], "cancelled");
    assert_eq!(balance(&app, &key).await, before, "cancelling returns the held credits");
    assert_eq!(slack.count() + notion.count(), 0);
}

async fn daily_credit_cap_stops_runs(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let (sb, nb) = (format!("{}/api", slack.base()), notion.base());
    let Some(app) = TestApp::spawn(b, move |s| {
        s.slack_api_base = sb;
        s.notion_api_base = nb;
        s.allow_private_targets = true;
        s.billing.run_cost = 2;
        s.billing.daily_credit_cap = 5;
    })
    .await
    else {
        return;
    };
    let (_, key) = app.new_user("capped-daily@example.com").await;
    connect(&app, &key).await;
    let id = app.post("/api/v1/pipelines", Some(&key), &document()).await.body["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        let done = app.wait_done(&key, r.body["job_id"].as_str().unwrap()).await;
        assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    }
    let before = balance(&app, &key).await;
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
    r.assert_error(402, "daily_credit_cap");
    assert_eq!(balance(&app, &key).await, before);
    assert_eq!(app.get("/api/v1/jobs", Some(&key)).await.body["jobs"].as_array().unwrap().len(), 2);
}

async fn planning_is_rate_limited_per_user(b: Backend) {
    let Some(app) = TestApp::spawn(b, |s| s.plan_rate = 2).await else { return };
    let (_, key) = app.new_user("eager@example.com").await;
    let (_, other) = app.new_user("patient@example.com").await;
    for _ in 0..2 {
        assert_eq!(app.post("/api/v1/plan", Some(&key), &json!({"description": CONTACT})).await.status, 201);
    }
    let r = app.post("/api/v1/plan", Some(&key), &json!({"description": CONTACT})).await;
    r.assert_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Only the planning limit speaks: the HTTP limiters' fields would show requests left.
    assert_eq!(r.header("x-ratelimit-remaining"), None);
    assert_eq!(r.header("ratelimit"), None);
    assert_eq!(app.post("/api/v1/plan", Some(&other), &json!({"description": CONTACT})).await.status, 201);
}

/// Three documents shaped as the original Flask planner wrote them: one with a
/// placeholder (accepted with a warning; a run stops at that step, naming the
/// field), one whose `summarize` has no `text` (it works on the run's input),
/// one `schedule` without a cron (inferred from "Every morning at 9am").
async fn the_originals_documents_load(b: Backend) {
    let (slack, notion) = (fake_slack(0).await, fake_notion().await);
    let Some(app) = spawn(b, &slack, &notion, 1).await else { return };
    let (_, key) = app.new_user("original@example.com").await;
    connect(&app, &key).await;

    let placeholder = json!({"id": "workflow_1", "description": "Add every new sign-up to my Notion database",
        "trigger": "manual", "schedule": null, "actions": [
            {"type": "createPage", "connector": "notion",
             "params": {"databaseId": "your_database_id", "title": "New sign-up: {{input.name}}"}}]});
    let r = app.post("/api/v1/pipelines", Some(&key), &placeholder).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let warnings = r.body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.contains("s1") && warning.contains("database_id") && warning.contains("your_database_id"),
        "{warning}"
    );
    let id = r.body["id"].as_str().unwrap().to_owned();
    let before = balance(&app, &key).await;
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    let done = app.wait_done(&key, &job).await;
    assert_eq!(done.body["status"], "dead", "not worth retrying: {:?}", done.body);
    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.body["steps"][0]["status"], "failed", "{:?}", run.body);
    let error = run.body["steps"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("step s1") && error.contains("`database_id`") && error.contains("your_database_id"),
        "{error}"
    );
    assert_eq!(notion.count(), 0, "the placeholder was never sent");
    // Filled in by a new version: no warning, and the run goes through.
    let mut filled = placeholder.clone();
    filled["actions"][0]["params"]["databaseId"] = json!("db1");
    let r = app.with_body(reqwest::Method::PUT, &format!("/api/v1/pipelines/{id}"), Some(&key), &filled).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["warnings"], json!([]));
    assert_eq!(r.body["version"], 2);
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"name": "Ada"}})).await;
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_done(&key, &job).await.body["status"], "succeeded");
    assert_eq!(pages(&notion).len(), 1, "one page created (after the database's data source was looked up)");
    // The refused run's reservation is given back when its job ends.
    let mut spent = before - balance(&app, &key).await;
    for _ in 0..100 {
        if spent == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        spent = before - balance(&app, &key).await;
    }
    assert_eq!(spent, 1, "only the run that went through is charged");

    let summarize = json!({"id": "workflow_2", "description": "Summarize incoming text and post it to Slack",
        "trigger": "manual", "actions": [
            {"type": "summarize", "connector": "openai", "params": {}},
            {"type": "sendSlack", "connector": "slack",
             "params": {"channel": "#general", "message": "Summary: {{steps.s1.output.summary}}"}}]});
    let r = app.post("/api/v1/pipelines", Some(&key), &summarize).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(r.body["warnings"][0].as_str().unwrap().contains("run's input"), "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let text = "Levqor stores every pipeline as versions. Each run is pinned to the version it started with. \
                Credits are reserved before a run starts and settled when it ends.";
    let r = app.post("/api/v1/run", Some(&key), &json!({"pipeline_id": id, "input": {"text": text}})).await;
    let job = r.body["job_id"].as_str().unwrap().to_owned();
    let done = app.wait_done(&key, &job).await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    let run = app.get(&format!("/api/v1/runs/{job}"), Some(&key)).await;
    assert_eq!(run.body["steps"][0]["params"]["text"], text, "the run's input was summarised");
    let summary = run.body["steps"][0]["output"]["summary"].as_str().unwrap();
    assert!(!summary.is_empty() && text.contains(summary.split_whitespace().next().unwrap()), "{summary}");
    assert_eq!(slack.only().json()["text"], format!("Summary: {summary}"));

    let scheduled = json!({"id": "workflow_3", "description": "Every morning at 9am, post a motivational quote to Slack",
        "trigger": "schedule", "actions": [
            {"type": "sendSlack", "connector": "slack", "params": {"channel": "#general", "message": "Good morning!"}}]});
    let r = app.post("/api/v1/pipelines", Some(&key), &scheduled).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["pipeline"]["schedule"], "0 9 * * *");
    let warnings = r.body["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("`0 9 * * *`") && w.as_str().unwrap().contains("inferred")),
        "{warnings:?}"
    );
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/pipelines/{id}"), Some(&key)).await.body["schedule"], "0 9 * * *");
    // Nothing to infer from: still refused, on the field.
    let mut timeless = scheduled.clone();
    timeless["description"] = json!("Post a motivational quote to Slack");
    let r = app.post("/api/v1/pipelines", Some(&key), &timeless).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.problem_field(), "schedule", "{:?}", r.body);
}

crate::on_both_backends!(
    plan_offline_stores_a_readable_pipeline,
    plan_with_openai_and_its_fallback,
    planning_is_rate_limited_per_user,
    daily_credit_cap_stops_runs,
    crud_versions_and_owner_isolation,
    run_end_to_end_bills_once,
    insufficient_credits_enqueue_nothing,
    runs_above_the_cost_cap_are_refused,
    dry_run_calls_nothing,
    webhook_trigger_enqueues_a_run,
    retry_resumes_at_the_failed_step,
    retryable_step_failure_is_retried_automatically,
    an_unknown_outcome_waits_for_the_user,
    retry_unknown_is_retried_by_the_jobs_back_off,
    cancelled_run_returns_credits,
    the_originals_documents_load,
);
