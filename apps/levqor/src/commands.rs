//! The commands that do not serve HTTP: migrations and key management.

use std::io::Write;

use chrono::Duration;
use levqor_accounts::{AdminKeys, GeneratedKey, NewKeyRequest};
use levqor_core::{Clock, Email, SystemClock};

use crate::cli::{CreateKey, KeysCommand};
use crate::config::StoreSettings;
use crate::wiring;

pub type CommandResult = Result<(), String>;

pub fn migrate(settings: &StoreSettings) -> CommandResult {
    let store = levqor_store::Store::open(&settings.database_url, &Default::default()).map_err(|e| e.to_string())?;
    let applied = store.migrate().map_err(|e| e.to_string())?;
    // Addresses stored in plain text by older releases become keyed digests (the
    // key is LEVQOR_SECRET, which SQL cannot see, hence this step after the schema).
    let configured = std::env::var("LEVQOR_SECRET").ok().filter(|s| !s.is_empty());
    let secret = crate::secret::load_or_create(configured.as_deref(), &settings.data_dir)?;
    let hashed = store.hash_plain_emails(&levqor_core::EmailHasher::new(&secret)).map_err(|e| e.to_string())?;
    if hashed > 0 {
        eprintln!("replaced {hashed} plain stored address(es) by their keyed digests");
    }
    if applied.is_empty() {
        eprintln!("the {} database is up to date", store.backend().name());
    } else {
        eprintln!(
            "applied {} migration(s) to the {} database: {}",
            applied.len(),
            store.backend().name(),
            applied.join(", ")
        );
    }
    Ok(())
}

pub fn keys(command: KeysCommand) -> CommandResult {
    match command {
        KeysCommand::Create(args) => create_key(args),
        KeysCommand::List(store) => list_keys(&store),
        KeysCommand::Revoke { key_id, store } => {
            let accounts = accounts(&store)?;
            let id = key_id.parse().map_err(|_| format!("`{key_id}` is not a key id"))?;
            accounts.revoke_any_key(&id).map_err(|e| format!("cannot revoke {key_id}: {e}"))?;
            eprintln!("revoked {key_id}");
            Ok(())
        }
    }
}

fn accounts(store: &StoreSettings) -> Result<levqor_accounts::AccountService, String> {
    let store = wiring::open_store(store).map_err(|e| e.to_string())?;
    Ok(wiring::accounts(&store, AdminKeys::default()))
}

fn create_key(args: CreateKey) -> CommandResult {
    let accounts = accounts(&args.store)?;
    let request = NewKeyRequest {
        label: args.label,
        expires_at: args.expires_in_days.map(|d| SystemClock.now() + Duration::days(i64::from(d))),
    };
    let key: GeneratedKey = match args.user {
        Some(raw) => {
            let email = Email::parse(&raw).map_err(|e| e.to_string())?;
            accounts.create_key_for_email(&email, &request).map_err(|e| match e {
                levqor_accounts::AccountsError::NotFound => {
                    format!("no user with email {email}; create it first with POST /api/v1/users/upsert")
                }
                other => other.to_string(),
            })?
        }
        None => accounts.create_admin_key(&request).map_err(|e| e.to_string())?,
    };
    eprintln!(
        "created {} key {} ({}); it is shown only this once:",
        key.record.scope.as_str(),
        key.record.id,
        key.record.prefix
    );
    // The key alone on stdout, so `KEY=$(levqor keys create …)` works.
    let mut out = std::io::stdout();
    writeln!(out, "{}", key.secret).map_err(|e| e.to_string())
}

fn list_keys(store: &StoreSettings) -> CommandResult {
    let accounts = accounts(store)?;
    let keys = accounts.list_all_keys().map_err(|e| e.to_string())?;
    let mut out = std::io::stdout();
    let fmt = |t: Option<levqor_core::Timestamp>| {
        t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    };
    writeln!(
        out,
        "{:<36}  {:<12}  {:<5}  {:<36}  {:<20}  {:<20}  {:<20}  LABEL",
        "ID", "PREFIX", "SCOPE", "USER", "CREATED", "LAST USED", "REVOKED"
    )
    .map_err(|e| e.to_string())?;
    for k in keys {
        writeln!(
            out,
            "{:<36}  {:<12}  {:<5}  {:<36}  {:<20}  {:<20}  {:<20}  {}",
            k.id,
            k.prefix,
            k.scope.as_str(),
            k.user_id.map_or_else(|| "-".to_owned(), |u| u.to_string()),
            fmt(Some(k.created_at)),
            fmt(k.last_used_at),
            fmt(k.revoked_at),
            k.label.unwrap_or_default()
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub fn openapi(markdown: bool) -> CommandResult {
    use utoipa::OpenApi;
    let doc = crate::http::openapi::ApiDoc::openapi();
    let text = if markdown {
        crate::http::api_markdown::render(&doc)
    } else {
        doc.to_pretty_json().map_err(|e| e.to_string())?
    };
    let mut out = std::io::stdout();
    write!(out, "{text}").map_err(|e| e.to_string())
}

/// `levqor plan "<text>"`: the pipeline the configured planner makes, its
/// warnings and the estimated cost of a run, as one JSON object on stdout.
pub fn plan(text: &str, settings: &crate::config::ServeSettings) -> CommandResult {
    let registry = levqor_connectors::ConnectorRegistry::with_defaults(&settings.connector_config())
        .map_err(|e| format!("cannot build the connectors: {e}"))?;
    let catalogue = levqor_pipelines::Catalogue::from_registry(&registry);
    let planner = wiring::planner(&catalogue, settings)?;
    let plan = actix_web::rt::System::new().block_on(planner.plan(text)).map_err(|e| match e {
        levqor_pipelines::PlanError::Invalid(problems) => {
            let listed: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect();
            format!("the planned pipeline is invalid: {}", listed.join("; "))
        }
        other => other.to_string(),
    })?;
    let cost = levqor_pipelines::estimate_cost(&plan.pipeline, &wiring::cost_rules(settings));
    let out = serde_json::json!({
        "planner": plan.planner.as_str(),
        "pipeline": plan.pipeline,
        "warnings": plan.warnings,
        "estimated_cost": cost.get(),
    });
    let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
    writeln!(std::io::stdout(), "{text}").map_err(|e| e.to_string())
}

fn bar(steps: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(steps);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `levqor backup`: one verified backup now (SQLite copy or `pg_dump`), then pruning.
pub fn backup(settings: &StoreSettings, keep: u32) -> CommandResult {
    use levqor_store::backup::Step;
    let store = wiring::open_store(settings).map_err(|e| e.to_string())?;
    let progress = bar(4);
    let report = |step: Step| {
        progress.set_message(step.describe());
        progress.inc(1);
    };
    let taken = crate::ops::backup::run(
        &store,
        &settings.database_url,
        &settings.data_dir,
        keep.max(1),
        SystemClock.now(),
        &report,
    );
    progress.finish_and_clear();
    let started = SystemClock.now();
    let (outcome, detail) = match &taken {
        Ok(t) => (levqor_store::Outcome::Ok, format!("manual: {}", t.summary())),
        Err(e) => (levqor_store::Outcome::Failed, format!("manual: {e}")),
    };
    let _ = store.record_activity(&levqor_store::ActivityRecord {
        task: crate::ops::runtime::BACKUP_TASK.into(),
        started_at: started,
        finished_at: SystemClock.now(),
        outcome,
        detail,
    });
    let taken = taken?;
    eprintln!("backup verified: {}", taken.summary());
    // The path alone on stdout, for scripts.
    writeln!(std::io::stdout(), "{}", taken.path.display()).map_err(|e| e.to_string())
}

/// `levqor restore FILE` (SQLite): verify, copy, verify the copy, swap.
pub fn restore(settings: &StoreSettings, file: &std::path::Path) -> CommandResult {
    let url = &settings.database_url;
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or("restore works on SQLite; for PostgreSQL use pg_restore on the dump")?;
    let progress = bar(100);
    let steps = |step: levqor_store::backup::Step| progress.set_message(step.describe());
    let mut bytes = |done: u64, total: u64| {
        progress.set_length(total.max(1));
        progress.set_position(done);
    };
    let restored = levqor_store::backup::restore_sqlite(std::path::Path::new(path), file, &steps, &mut bytes);
    progress.finish_and_clear();
    let restored = restored.map_err(|e| e.to_string())?;
    let rows: i64 = restored.tables.iter().map(|(_, n)| n).sum();
    eprintln!("restored {} ({} tables, {rows} rows)", file.display(), restored.tables.len());
    if let Some(previous) = restored.previous {
        eprintln!("the replaced database is kept as {}", previous.display());
    }
    Ok(())
}
