use std::process::ExitCode;

use clap::Parser;
use levqor::cli::{Cli, Command};
use levqor::{commands, startup, telemetry};

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("levqor: cannot read .env: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(settings) => serve(settings),
        Command::Worker(settings) => worker(settings),
        Command::Migrate(store) => commands::migrate(&store),
        Command::Keys(command) => commands::keys(command),
        Command::Plan { text, settings } => commands::plan(&text, &settings),
        Command::Openapi { markdown } => commands::openapi(markdown),
        Command::Backup { keep, store } => commands::backup(&store, keep),
        Command::Restore { file, store } => commands::restore(&store, &file),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("levqor: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: levqor::config::ServeSettings) -> Result<(), String> {
    let (log, _guard) = telemetry::json_logger(&settings.log_level);
    let addr = settings.addr;
    let backend = if settings.store.database_url.starts_with("postgres") { "postgres" } else { "sqlite" };
    let runtime = actix_web::rt::System::new();
    runtime.block_on(async move {
        let app = startup::Application::build(settings, log.clone()).map_err(|e| e.to_string())?;
        slog::info!(log, "levqor listening"; "addr" => %addr, "port" => app.port(), "database" => backend, "version" => levqor::state::VERSION);
        app.run_until_stopped().await.map_err(|e| e.to_string())?;
        slog::info!(log, "levqor stopped");
        Ok(())
    })
}

fn worker(settings: levqor::config::ServeSettings) -> Result<(), String> {
    if settings.workers == 0 {
        return Err("LEVQOR_WORKERS must be at least 1 for `levqor worker`".into());
    }
    let (log, _guard) = telemetry::json_logger(&settings.log_level);
    let runtime = actix_web::rt::System::new();
    runtime.block_on(async move {
        let store = levqor::wiring::open_store(&settings.store).map_err(|e| e.to_string())?;
        let secret = levqor::secret::load_or_create(settings.secret.as_deref(), &settings.store.data_dir)?;
        let accounts = levqor::wiring::accounts(&store, levqor_accounts::AdminKeys::new(settings.admin_keys()));
        let billing = std::sync::Arc::new(levqor::wiring::billing(&store, accounts, &settings)?);
        let mut jobs = levqor::jobs_runtime::JobsRuntime::start(&store, &settings, &secret, billing, log.clone())?;
        // Worker-only processes fire `schedule` pipelines too (claims keep each tick once).
        let pipelines = std::sync::Arc::new(levqor::wiring::pipelines(&store, &jobs.connectors, &settings)?);
        jobs.start_scheduler(pipelines, log.clone());
        slog::info!(log, "levqor worker running"; "workers" => settings.workers, "database" => store.backend().name());
        wait_for_stop_signal().await;
        slog::info!(log, "levqor worker stopping: finishing or releasing running jobs");
        jobs.stop().await;
        slog::info!(log, "levqor worker stopped");
        Ok(())
    })
}

async fn wait_for_stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
