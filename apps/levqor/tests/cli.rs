//! The `levqor` binary as an operator uses it: keys, migrations, help, docs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

mod process;

fn levqor(args: &[&str], db: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_levqor"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db)
        .output()
        .expect("levqor runs")
}

/// A `levqor worker` process on `db` (its log discarded).
fn spawn_worker(db: &str, data: &std::path::Path, workers: u32) -> std::process::Child {
    process::levqor("worker", db, data)
        .env("LEVQOR_WORKERS", workers.to_string())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("levqor worker starts")
}

/// SIGTERM, then the process must exit successfully.
fn stop_with_sigterm(mut child: std::process::Child) {
    process::signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn keys_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/levqor.db", dir.path().display());
    let out = levqor(&["keys", "create", "--admin", "--label", "ops"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_owned();
    assert!(key.starts_with("lq_") && key.len() >= 40, "{key}");

    let out = levqor(&["keys", "create", "--user", "nobody@example.com"], &db);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no user with email nobody@example.com"));

    let out = levqor(&["keys", "list"], &db);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    assert!(listing.contains("admin") && listing.contains("ops"));
    assert!(!listing.contains(&key), "the secret was listed");
    let id = listing.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_owned();

    let out = levqor(&["keys", "revoke", &id], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = levqor(&["keys", "revoke", "not-a-key-id"], &db);
    assert!(!out.status.success());
}

#[test]
fn plan_prints_the_pipeline_warnings_and_cost() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/levqor.db", dir.path().display());
    let out = levqor(
        &["plan", "Every Monday at 8am fetch https://api.example.com/queue, summarize it and post to #ops"],
        &db,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["planner"], "rules");
    assert_eq!(plan["pipeline"]["trigger"], "schedule");
    assert_eq!(plan["pipeline"]["schedule"], "0 8 * * 1");
    let actions: Vec<String> = plan["pipeline"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}.{}", s["connector"].as_str().unwrap(), s["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, ["http.request", "ai.summarize", "slack.post_message"]);
    // RUN_COST 1 + one AI step at AI_STEP_COST 1.
    assert_eq!(plan["estimated_cost"], 2);
    assert!(plan["warnings"].is_array());
    let out = levqor(&["plan", "the weather is nice"], &db);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("e.g."), "{}", text(&out.stderr));
}

#[test]
fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/nested/levqor.db", dir.path().display());
    let first = levqor(&["migrate"], &db);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stderr).contains("applied"));
    let second = levqor(&["migrate"], &db);
    assert!(text(&second.stderr).contains("up to date"));
}

#[test]
fn bad_configuration_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/levqor.db", dir.path().display());
    let out = Command::new(env!("CARGO_BIN_EXE_levqor"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &db)
        .env("RATE_BURST", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("RATE_BURST"), "{}", text(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_levqor"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &db)
        .env("API_KEYS", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("API_KEYS"), "{}", text(&out.stderr));
    for (var, value) in [
        ("FREE_CREDITS", "fifty"),
        ("REFERRAL_CREDITS", "-1"),
        ("PACKS", "pack_100:100:9.00:usd"),
        ("STRIPE_API_BASE", "ftp://stripe"),
        ("LEVQOR_PUBLIC_URL", "levqor.example"),
        ("STRIPE_SECRET_KEY", " "),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_levqor"))
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", &db)
            .env(var, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} was accepted");
        assert!(text(&out.stderr).contains(var), "{var}: {}", text(&out.stderr));
    }
    let out = levqor(&["migrate"], "mysql://nope");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("DATABASE_URL"), "{}", text(&out.stderr));
}

#[test]
fn help_lists_the_variables() {
    let out = Command::new(env!("CARGO_BIN_EXE_levqor")).args(["serve", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    for var in [
        "LEVQOR_ADDR",
        "DATABASE_URL",
        "LEVQOR_DATA_DIR",
        "API_KEYS",
        "API_KEYS_NEXT",
        "RATE_BURST",
        "RATE_GLOBAL",
        "MAX_CONTENT_LENGTH",
        "LEVQOR_TRUSTED_PROXIES",
        "FREE_CREDITS",
        "RUN_COST",
        "AI_STEP_COST",
        "MAX_RUN_COST",
        "PLAN_RATE",
        "DAILY_CREDIT_CAP",
        "REFERRAL_CREDITS",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_API_BASE",
        "PACKS",
        "LEVQOR_PUBLIC_URL",
        "ADMIN_TOKEN",
        "METRICS_TOKEN",
        "BACKUP_AT",
        "BACKUP_KEEP",
    ] {
        assert!(help.contains(var), "serve --help lacks {var}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_levqor"))
        .args(["serve", "--help"])
        .env("STRIPE_SECRET_KEY", "sk_live_do_not_show_me")
        .env("STRIPE_WEBHOOK_SECRET", "whsec_do_not_show_me")
        .output()
        .unwrap();
    let help = text(&out.stdout);
    assert!(!help.contains("do_not_show_me"), "--help shows a Stripe secret");
    let out = Command::new(env!("CARGO_BIN_EXE_levqor")).arg("--help").output().unwrap();
    assert!(text(&out.stdout).contains("serve"));
}

#[test]
fn docs_api_md_is_generated_from_the_code() {
    let out = Command::new(env!("CARGO_BIN_EXE_levqor")).args(["openapi", "--markdown"]).output().unwrap();
    let generated = text(&out.stdout);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md")).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/API.md is stale: run `cargo run -p levqor -- openapi --markdown > docs/API.md`"
    );
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_levqor"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", format!("sqlite://{}/levqor.db", dir.path().display()))
        .env("LEVQOR_DATA_DIR", dir.path())
        .env("LEVQOR_ADDR", "127.0.0.1:0")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines.by_ref().map_while(Result::ok).find(|l| l.contains("levqor listening"));
    assert!(listening.is_some(), "server never said it was listening");
    let port = serde_json::from_str::<serde_json::Value>(&listening.unwrap()).unwrap()["port"].as_u64().unwrap();
    // A full request, so the server (and its signal handling) is surely running.
    use std::io::{Read, Write};
    let mut conn =
        std::net::TcpStream::connect(("127.0.0.1", port as u16)).expect("nothing listens on the logged port");
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}; log: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("levqor stopped")), "{rest:?}");
}

#[test]
fn worker_command_runs_queued_jobs_and_stops_on_sigterm() {
    use levqor_jobs::{IntakeRequest, JobQueue, JobState, NewJob};
    let db = levqor_store::testing::TestDb::sqlite();
    let owner = levqor_core::UserId::new();
    let jobs: Vec<NewJob> = (0..20)
        .map(|n| {
            let request: IntakeRequest =
                serde_json::from_value(serde_json::json!({"workflow": "echo", "payload": {"n": n}})).unwrap();
            NewJob::from_intake(owner.clone(), request, chrono::Utc::now(), &|_| true).unwrap()
        })
        .collect();
    db.store.enqueue_batch(&jobs).unwrap();
    let data = tempfile::tempdir().unwrap();
    let child = spawn_worker(db.url(), data.path(), 4);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !jobs.iter().all(|j| db.store.get(&j.id).unwrap().unwrap().state == JobState::Succeeded) {
        assert!(std::time::Instant::now() < deadline, "levqor worker did not run the jobs");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    stop_with_sigterm(child);
    let out = Command::new(env!("CARGO_BIN_EXE_levqor"))
        .arg("worker")
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("LEVQOR_WORKERS", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("LEVQOR_WORKERS"));
}

/// A `levqor worker` process fires `schedule` pipelines on its own: an
/// every-minute pipeline gets a run, which executes and is billed.
#[test]
fn worker_command_fires_scheduled_pipelines() {
    use levqor_accounts::{ProfileChanges, UserRepo};
    use levqor_billing::Ledger;
    use levqor_core::{Credits, Email};
    use levqor_pipelines::{Catalogue, Limits, PipelineRepo, RunRepo, RunStatus, validate_document};

    let db = levqor_store::testing::TestDb::sqlite();
    let email = Email::parse("scheduler@example.com").unwrap();
    let now = chrono::Utc::now();
    let (user, _) = db
        .store
        .upsert_by_email(&email, &|_| Ok(ProfileChanges::default().create(email.clone(), now).unwrap()), None)
        .unwrap();
    db.store.adjust(&user.id, Credits::new(10), "test", now, None).unwrap();
    let registry = levqor_connectors::ConnectorRegistry::with_defaults(&Default::default()).unwrap();
    let doc = serde_json::json!({"description": "heartbeat", "trigger": "schedule", "schedule": "* * * * *",
        "actions": [{"type": "log", "connector": "builtin", "params": {"message": "tick {{input.scheduled_at}}"}}]});
    let pipeline = validate_document(&doc, &Catalogue::from_registry(&registry), &Limits::default()).unwrap();
    let stored = db.store.create(&user.id, &pipeline, None, now).unwrap();

    let data = tempfile::tempdir().unwrap();
    let child = spawn_worker(db.url(), data.path(), 2);
    // The scheduler looks every 20 s at the last minute's ticks: an every-minute
    // cron always has one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let run = loop {
        let runs = db.store.list_runs(&user.id, Some(&stored.id), None, 10).unwrap().items;
        if let Some(run) = runs.into_iter().find(|r| r.state.status() == RunStatus::Succeeded) {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "no scheduled run succeeded");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(run.input["trigger"], "schedule");
    assert!(db.store.balance(&user.id).unwrap() < Credits::new(10), "the run was billed");
    stop_with_sigterm(child);
}

/// `levqor backup` and `levqor restore` with the data directory set.
fn levqor_ops(args: &[&str], db: &str, data: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_levqor"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db)
        .env("LEVQOR_DATA_DIR", data)
        .output()
        .expect("levqor runs")
}

#[test]
fn backup_verify_restore_round_trip_refused_while_served() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = format!("sqlite://{}/levqor.db", data.display());
    assert!(levqor_ops(&["keys", "create", "--admin", "--label", "before"], &db, &data).status.success());

    // Online: a running worker holds the database while the backup is taken.
    // Killed if an assertion fails before the orderly stop below.
    struct KillOnDrop(Option<std::process::Child>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(mut child) = self.0.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let mut worker = KillOnDrop(Some(spawn_worker(&db, &data, 1)));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = levqor_ops(&["backup", "--keep", "3"], &db, &data);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("backup verified"), "{}", text(&out.stderr));
    let file = std::path::PathBuf::from(text(&out.stdout).trim());
    assert!(file.starts_with(data.join("backups")), "{}", file.display());
    assert!(file.file_name().unwrap().to_str().unwrap().starts_with("levqor-"));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&data.join("backups")), 0o700);

    let out = levqor_ops(&["restore", file.to_str().unwrap()], &db, &data);
    assert!(!out.status.success(), "restored under a running worker");
    assert!(text(&out.stderr).contains("has the database open"), "{}", text(&out.stderr));
    stop_with_sigterm(worker.0.take().unwrap());

    assert!(levqor_ops(&["keys", "create", "--admin", "--label", "after"], &db, &data).status.success());
    let out = levqor_ops(&["restore", file.to_str().unwrap()], &db, &data);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("restored"), "{}", text(&out.stderr));
    let listing = text(&levqor_ops(&["keys", "list"], &db, &data).stdout);
    assert!(listing.contains("before"), "{listing}");
    assert!(!listing.contains("after"), "the key made after the backup is gone: {listing}");

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"not a database").unwrap();
    let out = levqor_ops(&["restore", garbage.to_str().unwrap()], &db, &data);
    assert!(!out.status.success());
    assert!(text(&levqor_ops(&["keys", "list"], &db, &data).stdout).contains("before"), "untouched by a bad restore");
}
