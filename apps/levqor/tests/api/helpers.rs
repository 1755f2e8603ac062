use std::sync::{Arc, Mutex};

use actix_web::{HttpResponse, web};
use levqor::config::{ServeSettings, StoreSettings};
use levqor::startup::Application;
use levqor_store::testing::TestDb;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const ADMIN_KEY: &str = "lq_test_admin_key_0123456789abcdef";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres(&'static str),
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// Everything the server logged, as JSON lines.
    pub logs: LogBuffer,
    /// Moved to [`RUNNING`] on drop, so it outlives the server using it.
    db: Option<TestDb>,
    data: Option<tempfile::TempDir>,
    /// This server's entry in [`RUNNING`].
    index: usize,
}

/// A server started on this test's thread, stopped by [`stop_servers`] when the
/// test is over, before its database and data directory go: nothing keeps
/// running into the next test or the process's exit.
struct Running {
    handle: actix_web::dev::ServerHandle,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    db: Option<TestDb>,
    data: Option<tempfile::TempDir>,
}

thread_local! {
    static RUNNING: std::cell::RefCell<Vec<Running>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let (db, data) = (self.db.take(), self.data.take());
        RUNNING.with(|running| {
            if let Some(entry) = running.borrow_mut().get_mut(self.index) {
                entry.db = db;
                entry.data = data;
            }
        });
    }
}

/// Stops every server this test started (jobs finished or released), then drops
/// their databases. The `on_both_backends!` tests call it after each case.
pub async fn stop_servers() {
    let running = RUNNING.with(|running| std::mem::take(&mut *running.borrow_mut()));
    for entry in running {
        entry.handle.stop(false).await;
        let _ = entry.served.await;
        drop((entry.db, entry.data));
    }
}

/// A shared buffer the server's JSON logger writes into.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// A synchronous JSON logger at every level, writing here.
    fn logger(&self) -> slog::Logger {
        use slog::Drain;
        let json = slog_json::Json::new(self.clone()).add_default_keys().build();
        slog::Logger::root(Mutex::new(json).fuse(), slog::o!("service" => "levqor-test"))
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `field` of the first validation problem.
    pub fn problem_field(&self) -> &str {
        self.body["details"][0]["field"].as_str().unwrap_or_default()
    }

    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(self.body["error"], code, "{:?}", self.body);
        assert!(self.body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(self.body["request_id"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(self.header("x-request-id"), self.body["request_id"].as_str());
    }
}

/// Extra routes that misbehave on purpose.
fn test_routes(cfg: &mut web::ServiceConfig) {
    async fn panics() -> HttpResponse {
        panic!("deliberate test panic")
    }
    cfg.service(web::resource("/test/panic").route(web::get().to(panics)));
}

impl TestApp {
    /// A server with the admin key configured and generous rate limits, adjusted by
    /// `tweak`; `None` when the backend is PostgreSQL and no test server is set.
    pub async fn spawn(backend: Backend, tweak: impl FnOnce(&mut ServeSettings)) -> Option<TestApp> {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres(name) => TestDb::postgres(name)?,
        };
        let data = tempfile::tempdir().unwrap();
        let mut settings = ServeSettings::new(StoreSettings::new(db.url(), data.path()));
        settings.api_keys = vec![ADMIN_KEY.to_owned()];
        settings.rate_burst = 10_000;
        settings.rate_global = 100_000;
        settings.rate_read = 100_000;
        tweak(&mut settings);
        let logs = LogBuffer::default();
        let app = Application::build_with_routes(settings, logs.logger(), test_routes).expect("server starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let served = actix_web::rt::spawn(app.run_until_stopped());
        let index = RUNNING.with(|running| {
            let mut running = running.borrow_mut();
            running.push(Running { handle, served, db: None, data: None });
            running.len() - 1
        });
        Some(TestApp { base, client: reqwest::Client::new(), logs, db: Some(db), data: Some(data), index })
    }

    /// Polls the job's status until it is terminal (or 20 s pass); the last answer.
    pub async fn wait_done(&self, key: &str, job: &str) -> Reply {
        let mut last = self.get(&format!("/api/v1/status/{job}"), Some(key)).await;
        for _ in 0..400 {
            if ["succeeded", "dead", "cancelled"].contains(&last.body["status"].as_str().unwrap_or_default()) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            last = self.get(&format!("/api/v1/status/{job}"), Some(key)).await;
        }
        last
    }

    /// The server's data folder (inboxes, outbox).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.as_ref().expect("the data folder lives as long as the app").path()
    }

    /// The test database behind the server.
    pub fn db(&self) -> &TestDb {
        self.db.as_ref().expect("the database lives as long as the app")
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply { status, headers, body }
    }

    /// The database this server uses (for tests that set up state directly).
    pub fn db_url(&self) -> String {
        self.db().url().to_owned()
    }

    /// A POST of raw bytes with the given headers.
    pub async fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut req = self.client.post(self.url(path)).body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        let mut req = self.client.get(self.url(path));
        if let Some(k) = key {
            req = req.header("X-Api-Key", k);
        }
        self.send(req).await
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Reply {
        self.with_body(reqwest::Method::POST, path, key, body).await
    }

    pub async fn with_body(&self, method: reqwest::Method, path: &str, key: Option<&str>, body: &Value) -> Reply {
        let mut req = self.client.request(method, self.url(path)).json(body);
        if let Some(k) = key {
            req = req.header("X-Api-Key", k);
        }
        self.send(req).await
    }

    /// A JSON POST with an `Idempotency-Key`.
    pub async fn client_post(&self, path: &str, key: &str, body: &Value, idempotency_key: &str) -> Reply {
        let req = self
            .client
            .post(self.url(path))
            .header("X-Api-Key", key)
            .header("Idempotency-Key", idempotency_key)
            .json(body);
        self.send(req).await
    }

    /// Upsert a user and give it a key: (user id, key).
    pub async fn new_user(&self, email: &str) -> (String, String) {
        let r = self.post("/api/v1/users/upsert", Some(ADMIN_KEY), &json!({ "email": email })).await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        let id = r.body["user"]["id"].as_str().unwrap().to_owned();
        let k = self.post(&format!("/api/v1/users/{id}/keys"), Some(ADMIN_KEY), &json!({})).await;
        assert_eq!(k.status, 201, "{:?}", k.body);
        (id, k.body["key"].as_str().unwrap().to_owned())
    }
}

/// Runs each listed `async fn case(Backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[actix_web::test] async fn $case() {
                super::$case($crate::helpers::Backend::Sqlite).await;
                $crate::helpers::stop_servers().await;
            } )*
        }
        mod postgres {
            $( #[actix_web::test] async fn $case() {
                super::$case($crate::helpers::Backend::Postgres(concat!(module_path!(), "::", stringify!($case)))).await;
                $crate::helpers::stop_servers().await;
            } )*
        }
    };
}
