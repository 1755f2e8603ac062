//! Liveness, readiness, status and version.

use std::collections::BTreeMap;
use std::time::Instant;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use levqor_core::{Clock, SystemClock};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::{AppState, BUILD, VERSION};

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub ok: bool,
    pub ts: DateTime<Utc>,
}

/// Liveness: answers without touching the database.
#[utoipa::path(get, path = "/health", tag = "service", responses((status = 200, body = Health)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { ok: true, ts: SystemClock.now() })
}

#[derive(Serialize, ToSchema, Clone)]
pub struct Check {
    /// `pass`, `warn` or `fail`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

impl Check {
    fn pass(detail: impl Into<String>, latency_ms: Option<f64>) -> Self {
        Self { status: "pass", detail: Some(detail.into()), latency_ms }
    }
    fn fail(detail: impl Into<String>) -> Self {
        Self { status: "fail", detail: Some(detail.into()), latency_ms: None }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub checks: BTreeMap<String, Check>,
}

async fn database_checks(state: &web::Data<AppState>) -> BTreeMap<String, Check> {
    let st = state.clone();
    let outcome = web::block(move || {
        let started = Instant::now();
        let ping = st.store.ping().map(|_| started.elapsed().as_secs_f64() * 1000.0);
        let pending = st.store.pending_migrations();
        (ping, pending)
    })
    .await;
    let mut checks = BTreeMap::new();
    let backend = state.store.backend().name();
    match outcome {
        Ok((ping, pending)) => {
            checks.insert(
                "database".to_owned(),
                match ping {
                    Ok(ms) => Check::pass(backend, Some((ms * 100.0).round() / 100.0)),
                    Err(e) => Check::fail(format!("{backend}: {e}")),
                },
            );
            checks.insert(
                "migrations".to_owned(),
                match pending {
                    Ok(0) => Check::pass("all applied", None),
                    Ok(n) => Check::fail(format!("{n} pending")),
                    Err(e) => Check::fail(e.to_string()),
                },
            );
        }
        Err(e) => {
            checks.insert("database".to_owned(), Check::fail(e.to_string()));
        }
    }
    checks
}

/// Readiness: 200 when the database answers and every migration is applied.
#[utoipa::path(get, path = "/ready", tag = "service", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let checks = database_checks(&state).await;
    let ready = checks.values().all(|c| c.status == "pass");
    let body = Readiness { ready, checks };
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `pass` when every check passes, `warn` when one warns, `fail` when one fails.
    pub status: &'static str,
    pub version: &'static str,
    pub checks: BTreeMap<String, Check>,
}

/// Status of each component. Always 200; read `status`.
#[utoipa::path(get, path = "/status", tag = "service", responses((status = 200, body = Status)))]
pub async fn status(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = database_checks(&state).await;
    let admin = if state.accounts.has_configured_admin_keys() {
        Check::pass("admin keys configured", None)
    } else {
        Check {
            status: "warn",
            detail: Some("API_KEYS is not set: only stored admin keys can reach admin endpoints".into()),
            latency_ms: None,
        }
    };
    checks.insert("admin_auth".to_owned(), admin);
    for (name, finding) in operations_checks(&state).await {
        let level = finding.level.as_str();
        checks.insert(name.to_owned(), Check { status: level, detail: Some(finding.detail), latency_ms: None });
    }
    let overall = if checks.values().any(|c| c.status == "fail") {
        "fail"
    } else if checks.values().any(|c| c.status == "warn") {
        "warn"
    } else {
        "pass"
    };
    HttpResponse::Ok().json(Status { status: overall, version: VERSION, checks })
}

#[derive(Serialize, ToSchema)]
pub struct Uptime {
    pub uptime_s: u64,
    pub started_at: DateTime<Utc>,
    pub version: &'static str,
    pub build: &'static str,
}

#[utoipa::path(get, path = "/ops/uptime", tag = "service", responses((status = 200, body = Uptime)))]
pub async fn uptime(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Uptime {
        uptime_s: state.started.elapsed().as_secs(),
        started_at: state.started_at,
        version: VERSION,
        build: BUILD,
    })
}

#[derive(Serialize, ToSchema)]
pub struct ServiceInfo {
    pub ok: bool,
    pub service: &'static str,
    pub version: &'static str,
    pub build: &'static str,
}

/// Service name, version and build.
#[utoipa::path(get, path = "/api/v1", tag = "service", responses((status = 200, body = ServiceInfo)))]
pub async fn api_root() -> HttpResponse {
    HttpResponse::Ok().json(ServiceInfo { ok: true, service: "levqor", version: VERSION, build: BUILD })
}

/// Queue, scheduler, email, payments, planner and backups (`crate::ops::status`).
async fn operations_checks(state: &web::Data<AppState>) -> Vec<(&'static str, crate::ops::status::Finding)> {
    use crate::ops::status::{self as checks, Finding, Level};
    use levqor_jobs::JobQueue;
    let now = SystemClock.now();
    let st = state.clone();
    let read = web::block(move || {
        let counts = st.store.counts(now);
        let last_backup = st.store.recent_activity(Some(crate::ops::runtime::BACKUP_TASK), 1);
        (counts, last_backup)
    })
    .await;
    let unreadable = |e: String| Finding { level: Level::Fail, detail: format!("cannot read: {e}") };
    let (queue, backup) = match read {
        Ok((counts, last)) => (
            counts
                .map(|c| checks::queue(&c, now, state.settings.workers))
                .unwrap_or_else(|e| unreadable(e.to_string())),
            last.map(|l| {
                let sqlite = state.store.backend() == levqor_store::Backend::Sqlite;
                checks::backup(sqlite, crate::ops::backup::pg_dump().is_some(), l.first(), now)
            })
            .unwrap_or_else(|e| unreadable(e.to_string())),
        ),
        Err(e) => (unreadable(e.to_string()), unreadable(e.to_string())),
    };
    let email = &state.ops.email;
    vec![
        ("queue", queue),
        ("scheduler", checks::scheduler(state.ops.scheduler.last(), now)),
        ("email", checks::email(&email.transport(), email.last_failure(), now)),
        ("payments", checks::payments(&state.settings)),
        ("planner", checks::planner(&state.settings)),
        ("backup", backup),
    ]
}
