//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    analytics, audit, billing, connections, connectors, error, inbox, jobs, keys, metrics, pipelines, referrals,
    service, users,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Levqor API", description = "Describe a workflow in plain words; Levqor runs it durably against real services and bills it in credits."),
    paths(
        service::health, service::ready, service::status, service::uptime, service::api_root,
        users::upsert, users::lookup, users::get, users::patch, users::me,
        keys::create, keys::list, keys::revoke, keys::revoke_by_body,
        jobs::intake, jobs::status, jobs::list, jobs::cancel, jobs::retry, jobs::queue_health,
        connectors::catalogue, connectors::connect,
        connections::create, connections::list, connections::get, connections::delete,
        billing::statement, billing::packs, billing::purchase, billing::add_credits,
        billing::create_checkout_session, billing::webhook, billing::health,
        referrals::reward, referrals::track, referrals::code,
        pipelines::plan, pipelines::schema, pipelines::create, pipelines::list, pipelines::get, pipelines::update,
        pipelines::delete, pipelines::run, pipelines::list_runs, pipelines::get_run, pipelines::resume_run,
        pipelines::hook, audit::list, audit::mine,
        inbox::report_error, inbox::errors_health, inbox::support_message, inbox::support_health,
        analytics::record, analytics::track, analytics::summary, analytics::admin_analytics, metrics::metrics,
    ),
    components(schemas(error::ErrorBody, error::FieldProblemDto)),
    modifiers(&Security, &Conventions),
    tags(
        (name = "service", description = "health, readiness and version"),
        (name = "users", description = "users, looked up and upserted by email"),
        (name = "keys", description = "API keys: shown once, stored as hashes"),
        (name = "jobs", description = "durable jobs: intake, status, cancel, retry"),
        (name = "connectors", description = "the connector catalogue, one-off actions, and stored connections (credentials encrypted at rest, never returned)"),
        (name = "credits", description = "the credit ledger: balance, packs, purchases"),
        (name = "billing", description = "Stripe Checkout, the Stripe webhook and payments health"),
        (name = "referrals", description = "referral codes, rewards and attribution"),
        (name = "analytics", description = "site analytics: events (emails kept only as keyed digests), UTC hour/day summaries"),
        (name = "pipelines", description = "the AI workflow builder: plan from plain words, versioned pipelines, billed and resumable runs, webhook triggers"),
        (name = "audit", description = "the append-only audit trail of key, user, credit, connection and pipeline changes"),
        (name = "support", description = "error reports from the site and the support inbox: stored first (JSON Lines, fsynced), then forwarded to Sentry and by email"),
    )
)]
pub struct ApiDoc;

/// What holds for every path, beyond the contract's conventions: written into the
/// document's description and into `docs/API.md`.
pub const CONVENTIONS: &str = "\
Rate limits: writes (POST, PUT, PATCH, DELETE) are limited per client IP (policy `per-ip`, \
`RATE_BURST` a minute) and from all clients together (`global`, `RATE_GLOBAL`), reads (GET, HEAD) \
per client IP (`read-per-ip`, `RATE_READ`); each quota can be spent in one burst and comes back \
evenly over the minute. A request over a limit gets 429 `rate_limited` with `Retry-After`, \
`RateLimit-Policy: \"<policy>\";q=<limit>;w=60`, `RateLimit: \"<policy>\";r=0;t=<seconds>`, \
`X-RateLimit-Limit`, `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` (Unix seconds), `t` and \
the reset saying when the next request is allowed. Every other answer to a limited method, \
whatever its status, carries the same fields without `Retry-After` for the limiter with the \
fewest requests remaining (`r` is that number; `t` and the reset say when its quota is whole \
again), except a 429 of another limit (planning, an upstream service), which carries only its own \
`Retry-After`. Every GET path answers HEAD too, with the GET's status and headers and no body.";

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let info = &mut openapi.info;
        let tagline = info.description.take().unwrap_or_default();
        info.description = Some(format!("{tagline}\n\n{CONVENTIONS}"));
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))));
        components.add_security_scheme(
            "stripe_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Stripe-Signature",
                "Stripe's v1 HMAC-SHA256 signature of the raw body, keyed with STRIPE_WEBHOOK_SECRET",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as served, rendered once at start-up.
pub struct OpenApiJson(pub String);

impl OpenApiJson {
    pub fn render(doc: &utoipa::openapi::OpenApi) -> Self {
        Self(doc.to_json().unwrap_or_else(|_| "{}".to_owned()))
    }
}

pub async fn serve(doc: actix_web::web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(doc.0.clone())
}
