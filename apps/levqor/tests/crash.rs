//! Crash safety: a real `levqor serve` takes concurrent intake traffic and is killed
//! with SIGKILL mid-way; restarted on the same database, every job that got a 202
//! exists and ends succeeded (exactly one terminal state, never lost).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use levqor_store::testing::TestDb;
use serde_json::{Value, json};

mod process;

const ADMIN: &str = "lq_crash_admin_key_0123456789abcdef";

struct Server {
    child: Child,
    base: String,
}

fn start(db_url: &str, data: &std::path::Path, lease_s: u64) -> Server {
    let mut child = process::levqor("serve", db_url, data)
        .env("LEVQOR_ADDR", "127.0.0.1:0")
        .env("API_KEYS", ADMIN)
        .env("RATE_BURST", "1000000")
        .env("RATE_GLOBAL", "1000000")
        .env("RATE_READ", "1000000")
        .env("LEVQOR_WORKERS", "4")
        .env("LEVQOR_LEASE_S", lease_s.to_string())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let line = lines.by_ref().map_while(Result::ok).find(|l| l.contains("levqor listening")).expect("server started");
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    let port = serde_json::from_str::<Value>(&line).unwrap()["port"].as_u64().unwrap();
    Server { child, base: format!("http://127.0.0.1:{port}") }
}

/// A failed assertion must not leave a server behind.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kill9(server: &mut Server) {
    process::signal(&server.child, "KILL");
    let _ = server.child.wait();
}

async fn user_key(client: &reqwest::Client, base: &str) -> String {
    let r: Value = client
        .post(format!("{base}/api/v1/users/upsert"))
        .header("X-Api-Key", ADMIN)
        .json(&json!({"email": "crash@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["user"]["id"].as_str().unwrap().to_owned();
    let k: Value = client
        .post(format!("{base}/api/v1/users/{id}/keys"))
        .header("X-Api-Key", ADMIN)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    k["key"].as_str().unwrap().to_owned()
}

/// `lease_s`: how long a job's lease lasts; `finish_within`: how long the jobs get
/// to finish after the restart.
async fn crash_mid_intake(db_url: &str, lease_s: u64, finish_within: Duration) {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut server = start(db_url, data.path(), lease_s);
    let key = user_key(&client, &server.base).await;

    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::new();
    for sender in 0..8 {
        let (client, base, key, accepted) = (client.clone(), server.base.clone(), key.clone(), accepted.clone());
        senders.push(tokio::spawn(async move {
            for n in 0.. {
                let sent = client
                    .post(format!("{base}/api/v1/intake"))
                    .header("X-Api-Key", &key)
                    .json(&json!({"workflow": "echo", "payload": {"sender": sender, "n": n}}))
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                if response.status() != 202 {
                    continue;
                }
                // Only a complete 202 answer counts as acknowledged.
                let Ok(body) = response.json::<Value>().await else { return };
                accepted.lock().unwrap().push(body["job_id"].as_str().unwrap().to_owned());
            }
        }));
    }
    let started = Instant::now();
    while accepted.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill9(&mut server);
    for s in senders {
        let _ = s.await;
    }
    let acknowledged: Vec<String> = accepted.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300, "only {} intakes before the kill", acknowledged.len());
    assert_eq!(acknowledged.iter().collect::<HashSet<_>>().len(), acknowledged.len(), "duplicate job ids");

    let server = start(db_url, data.path(), lease_s);
    let deadline = Instant::now() + finish_within;
    let mut pending: Vec<String> = acknowledged.clone();
    while !pending.is_empty() {
        if Instant::now() >= deadline {
            let sample = client
                .get(format!("{}/api/v1/status/{}", server.base, pending[0]))
                .header("X-Api-Key", &key)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let health =
                client.get(format!("{}/ops/queue_health", server.base)).send().await.unwrap().text().await.unwrap();
            panic!("{} jobs did not finish after the restart; e.g. {sample}; queue {health}", pending.len());
        }
        let mut still = Vec::new();
        for id in pending {
            let r = client
                .get(format!("{}/api/v1/status/{id}", server.base))
                .header("X-Api-Key", &key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "acknowledged job {id} is missing after the crash");
            let doc: Value = r.json().await.unwrap();
            match doc["status"].as_str().unwrap() {
                "succeeded" => assert!(doc["attempts"].as_u64().unwrap() >= 1),
                "queued" | "running" | "failed" => still.push(id),
                other => panic!("job {id} ended {other}: {doc}"),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_sigkill_loses_no_acknowledged_job() {
    let db = TestDb::sqlite();
    crash_mid_intake(db.url(), 2, Duration::from_secs(90)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_sigkill_loses_no_acknowledged_job() {
    if let Some(db) = TestDb::postgres("crash::postgres_sigkill_loses_no_acknowledged_job") {
        crash_mid_intake(db.url(), 2, Duration::from_secs(90)).await;
    }
}

/// With leases far longer than the wait, only the worker heartbeat can free the
/// killed process's running jobs (and its owner's concurrency slot) in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_killed_process_jobs_run_again_long_before_their_lease_ends() {
    if let Some(db) = TestDb::postgres("crash::postgres_a_killed_process_jobs_run_again_long_before_their_lease_ends") {
        crash_mid_intake(db.url(), 600, Duration::from_secs(60)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_killed_process_jobs_run_again_long_before_their_lease_ends() {
    let db = TestDb::sqlite();
    crash_mid_intake(db.url(), 600, Duration::from_secs(60)).await;
}
