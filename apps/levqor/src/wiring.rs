//! Builds the store and the domain services from configuration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use levqor_accounts::{AccountService, AdminKeys};
use levqor_core::{Clock, Credits, SystemClock};
use levqor_notifications::{Brand, Inbox, InboxConfig, Notifier, SentryForwarder};
use levqor_store::{Store, StoreError, StoreOptions};

use crate::config::{ServeSettings, StoreSettings};
use crate::connectors::Connectors;
use crate::jobs_runtime::JobsRuntime;
use crate::services::billing::{BillingService, Ports};
use crate::services::jobs::{JobsPorts, JobsService};
use crate::services::pipelines::PipelineService;
use crate::state::AppState;
use levqor_pipelines::{Catalogue, CostRules, Limits, OpenAiConfig, OpenAiPlanner, Planner, RulePlanner};

/// Open the database and apply pending migrations.
pub fn open_store(settings: &StoreSettings) -> Result<Store, StoreError> {
    let options = StoreOptions {
        max_connections: settings.db_pool,
        connect_timeout: Duration::from_secs(5),
        ..StoreOptions::default()
    };
    let store = Store::open(&settings.database_url, &options)?;
    store.migrate()?;
    Ok(store)
}

pub fn accounts(store: &Store, admin_keys: AdminKeys) -> AccountService {
    let repo = Arc::new(store.clone());
    AccountService::new(repo.clone(), repo, Arc::new(SystemClock), admin_keys)
}

/// The credits and billing use cases over the store.
pub fn billing(store: &Store, accounts: AccountService, settings: &ServeSettings) -> Result<BillingService, String> {
    let ports = Ports {
        ledger: Arc::new(store.clone()),
        referrals: Arc::new(store.clone()),
        users: Arc::new(store.clone()),
        mail: notifier(store, settings),
    };
    BillingService::new(ports, accounts, Arc::new(SystemClock), settings)
}

/// Renders mail and queues it as `email.send` jobs on the store's queue.
pub fn notifier(store: &Store, settings: &ServeSettings) -> Notifier {
    let site = settings.billing.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.addr));
    Notifier::new(Arc::new(store.clone()), Arc::new(SystemClock), Brand::new(&site))
        .with_max_attempts(settings.notify.email_max_attempts)
}

/// The error and support inboxes under the data folder, forwarding to Sentry
/// (`SENTRY_DSN`) and to `RECEIVING_EMAIL`.
pub fn inbox(store: &Store, settings: &ServeSettings) -> Result<Inbox, String> {
    let notify = &settings.notify;
    let sentry = notify
        .sentry_dsn
        .as_deref()
        .map(|dsn| SentryForwarder::new(dsn, &format!("levqor@{}", crate::state::VERSION)))
        .transpose()
        .map_err(|e| e.to_string())?
        .map(Arc::new);
    let config = InboxConfig {
        dir: settings.store.data_dir.clone(),
        max_bytes: notify.inbox_max_bytes,
        keep: notify.inbox_keep,
        receiving: notify.receiving_email.clone(),
    };
    Inbox::open(&config, notifier(store, settings), sentry, Arc::new(SystemClock))
        .map_err(|e| format!("cannot open the error and support inboxes in {}: {e}", config.dir.display()))
}

/// The state handlers see, and the background jobs runtime it feeds.
pub fn app_state(settings: ServeSettings, log: slog::Logger) -> Result<(AppState, JobsRuntime), String> {
    let store = open_store(&settings.store).map_err(|e| e.to_string())?;
    let accounts =
        accounts(&store, AdminKeys::new(settings.admin_keys())).with_max_active_keys(settings.max_keys_per_user);
    let secret = crate::secret::load_or_create(settings.secret.as_deref(), &settings.store.data_dir)?;
    let billing = Arc::new(billing(&store, accounts.clone(), &settings)?);
    let mut jobs = JobsRuntime::start(&store, &settings, &secret, billing.clone(), log.clone())?;
    let pipelines = Arc::new(pipelines(&store, &jobs.connectors, &settings)?);
    jobs.start_scheduler(pipelines.clone(), log.clone());
    let (analytics, mut ops) = operations(&store, &settings, &secret, &mut jobs, &log)?;
    let ended_pipelines = pipelines.clone();
    let jobs_service = Arc::new(JobsService::new(
        JobsPorts {
            workflows: jobs.registry.clone(),
            connectors: jobs.connectors.registry.clone(),
            pipelines: Arc::new(store.clone()),
            queue: Arc::new(store.clone()),
            waker: jobs.waker.clone(),
            ended: Arc::new(move |job| ended_pipelines.job_ended(job).map(|_| ()).map_err(|e| e.to_string())),
        },
        settings.max_queued_per_user,
        Arc::new(SystemClock),
        log.clone(),
    ));
    let inbox = Arc::new(inbox(&store, &settings)?);
    // /status and the dashboard read the mail transport and the inboxes.
    ops.email = jobs.mail.clone();
    ops.inboxes = inbox.clone();
    let state = AppState {
        inbox,
        mail: jobs.mail.clone(),
        jobs: jobs_service,
        idempotency: Arc::new(store.clone()),
        audit: Arc::new(store.clone()),
        pipelines,
        analytics,
        ops,
        billing,
        registry: jobs.registry.clone(),
        connectors: jobs.connectors.clone(),
        intake: jobs.intake.clone(),
        waker: jobs.waker.clone(),
        settings,
        log,
        store,
        accounts,
        started_at: SystemClock.now(),
        started: Instant::now(),
    };
    Ok((state, jobs))
}

/// What runs cost: `RUN_COST` per run plus `AI_STEP_COST` per `ai` step.
pub fn cost_rules(settings: &ServeSettings) -> CostRules {
    CostRules { run_cost: settings.billing.run_cost, ai_step_cost: settings.billing.ai_step_cost }
}

/// The pipelines use cases; the planner is OpenAI when `OPENAI_API_KEY` is set
/// (falling back to the rules on any failure), the rules otherwise.
pub fn pipelines(store: &Store, connectors: &Connectors, settings: &ServeSettings) -> Result<PipelineService, String> {
    let catalogue = Catalogue::from_registry(&connectors.registry);
    let planner = planner(&catalogue, settings)?;
    Ok(PipelineService::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        planner,
        catalogue,
        cost_rules(settings),
        Arc::new(SystemClock),
    )
    .with_max_run_cost(Credits::new(settings.billing.max_run_cost))
    .with_plan_rate(settings.plan_rate)
    .with_daily_cap(Credits::new(settings.billing.daily_credit_cap)))
}

/// The configured planner: OpenAI when `OPENAI_API_KEY` is set, the rules
/// otherwise (also what `levqor plan` uses).
pub fn planner(catalogue: &Catalogue, settings: &ServeSettings) -> Result<Arc<dyn Planner>, String> {
    let limits = Limits::default();
    Ok(match settings.openai_api_key.as_deref().filter(|k| !k.trim().is_empty()) {
        Some(key) => {
            let mut config = OpenAiConfig::new(key.trim());
            config.base_url = settings.openai_base_url.trim_end_matches('/').to_owned();
            config.model = settings.openai_model.clone();
            Arc::new(
                OpenAiPlanner::new(config, catalogue.clone(), limits)
                    .map_err(|e| format!("cannot build the OpenAI planner: {e}"))?,
            )
        }
        None => Arc::new(RulePlanner::new(catalogue.clone(), limits)),
    })
}

/// Analytics, and the operations side of `levqor serve`: addresses stored in plain
/// text by older releases hashed, the metrics recorder, and the operations
/// scheduler (daily backup, activity purge, heartbeat).
fn operations(
    store: &Store,
    settings: &ServeSettings,
    secret: &[u8],
    jobs: &mut JobsRuntime,
    log: &slog::Logger,
) -> Result<(Arc<levqor_analytics::AnalyticsService>, crate::ops::OpsState), String> {
    let hasher = levqor_core::EmailHasher::new(secret);
    let hashed = store.hash_plain_emails(&hasher).map_err(|e| format!("cannot hash stored addresses: {e}"))?;
    if hashed > 0 {
        slog::info!(log, "replaced plain stored addresses by their keyed digests"; "rows" => hashed);
    }
    let analytics = levqor_analytics::AnalyticsService::new(Arc::new(store.clone()), hasher, Arc::new(SystemClock))
        .with_conversions(&settings.ops.analytics_conversions)
        .map_err(|_| "ANALYTICS_CONVERSIONS must list event types (letters, digits, `_-.:`)".to_owned())?;
    crate::ops::metrics::handle();
    let ops = crate::ops::OpsState::new(secret);
    let plan = crate::ops::runtime::BackupPlan {
        database_url: settings.store.database_url.clone(),
        data_dir: settings.store.data_dir.clone(),
        keep: settings.ops.backup_keep,
        at: settings.ops.backup_at,
    };
    let (s, beat, l) = (store.clone(), ops.scheduler.clone(), log.clone());
    jobs.add_background(move |shutdown| crate::ops::runtime::start(s, plan, beat, l, shutdown));
    Ok((Arc::new(analytics), ops))
}
