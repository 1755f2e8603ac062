//! The HTTP shell: routes, extractors, middleware and the error mapping.

pub mod admin;
pub mod analytics;
pub mod api_markdown;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod client_ip;
pub mod connections;
pub mod connectors;
pub mod error;
pub mod idempotency;
pub mod inbox;
pub mod jobs;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod pipelines;
pub mod rate_limit;
pub mod referrals;
pub mod request_id;
pub mod routes_table;
pub mod service;
pub mod users;

use actix_web::{HttpRequest, guard, web};

use error::ApiError;

/// A GET route that answers HEAD too: same handler, status and headers, and
/// actix-http leaves the body out of a HEAD answer.
fn get() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Every route. Order matters where paths overlap: `/users/upsert` before `/users/{id}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(get().to(service::health)))
        .service(web::resource("/ready").route(get().to(service::ready)))
        .service(web::resource("/status").route(get().to(service::status)))
        .service(web::resource("/ops/uptime").route(get().to(service::uptime)))
        .service(web::resource("/openapi.json").route(get().to(openapi::serve)))
        .service(web::resource("/public/openapi.json").route(get().to(openapi::serve)))
        .service(web::resource("/api/v1").route(get().to(service::api_root)))
        .service(web::resource("/api/v1/me").route(get().to(users::me)))
        .service(web::resource("/api/v1/me/audit").route(get().to(audit::mine)))
        .service(web::resource("/api/v1/audit").route(get().to(audit::list)))
        .service(web::resource("/api/v1/users/upsert").route(web::post().to(users::upsert)))
        .service(web::resource("/api/v1/users").route(get().to(users::lookup)))
        .service(web::resource("/api/v1/users/{id}").route(get().to(users::get)).route(web::patch().to(users::patch)))
        .service(
            web::resource("/api/v1/users/{id}/keys")
                .route(web::post().to(keys::create))
                .route(get().to(keys::list))
                .route(web::delete().to(keys::revoke_by_body)),
        )
        .service(web::resource("/api/v1/users/{id}/keys/{key_id}").route(web::delete().to(keys::revoke)))
        .service(web::resource("/ops/queue_health").route(get().to(jobs::queue_health)))
        .service(web::resource("/api/v1/intake").route(web::post().to(jobs::intake)))
        .service(web::resource("/api/v1/status/{job_id}").route(get().to(jobs::status)))
        .service(web::resource("/api/v1/jobs").route(get().to(jobs::list)))
        .service(web::resource("/api/v1/jobs/{job_id}/cancel").route(web::post().to(jobs::cancel)))
        .service(web::resource("/api/v1/jobs/{job_id}/retry").route(web::post().to(jobs::retry)))
        .service(web::resource("/api/v1/connectors").route(get().to(connectors::catalogue)))
        .service(web::resource("/api/v1/connect/{name}").route(web::post().to(connectors::connect)))
        .service(
            web::resource("/api/v1/connections")
                .route(web::post().to(connections::create))
                .route(get().to(connections::list)),
        )
        .service(
            web::resource("/api/v1/connections/{id}")
                .route(get().to(connections::get))
                .route(web::delete().to(connections::delete)),
        )
        .service(web::resource("/api/v1/credits").route(get().to(billing::statement)))
        .service(web::resource("/api/v1/credits/packs").route(get().to(billing::packs)))
        .service(web::resource("/api/v1/credits/purchase").route(web::post().to(billing::purchase)))
        .service(web::resource("/api/v1/credits/add").route(web::post().to(billing::add_credits)))
        .service(
            web::resource("/billing/create-checkout-session").route(web::post().to(billing::create_checkout_session)),
        )
        .service(web::resource("/billing/webhook").route(web::post().to(billing::webhook)))
        .service(web::resource("/billing/health").route(get().to(billing::health)))
        .service(web::resource("/api/v1/referrals").route(web::post().to(referrals::reward)))
        .service(web::resource("/api/v1/referrals/track").route(web::post().to(referrals::track)))
        .service(web::resource("/api/v1/referrals/code").route(get().to(referrals::code)))
        .service(web::resource("/api/v1/plan").route(web::post().to(pipelines::plan)))
        .service(web::resource("/api/v1/pipelines/schema").route(get().to(pipelines::schema)))
        .service(
            web::resource("/api/v1/pipelines")
                .route(web::post().to(pipelines::create))
                .route(get().to(pipelines::list)),
        )
        .service(
            web::resource("/api/v1/pipelines/{id}")
                .route(get().to(pipelines::get))
                .route(web::put().to(pipelines::update))
                .route(web::delete().to(pipelines::delete)),
        )
        .service(web::resource("/api/v1/run").route(web::post().to(pipelines::run)))
        .service(web::resource("/api/v1/runs").route(get().to(pipelines::list_runs)))
        .service(web::resource("/api/v1/runs/{job_id}").route(get().to(pipelines::get_run)))
        .service(web::resource("/api/v1/runs/{job_id}/resume").route(web::post().to(pipelines::resume_run)))
        .service(web::resource("/hooks/{pipeline_id}/{token}").route(web::post().to(pipelines::hook)))
        .service(web::resource(inbox::ERRORS_REPORT).route(web::post().to(inbox::report_error)))
        .service(web::resource("/api/v1/errors/health").route(get().to(inbox::errors_health)))
        .service(web::resource(inbox::SUPPORT_MESSAGE).route(web::post().to(inbox::support_message)))
        .service(web::resource("/api/v1/support/health").route(get().to(inbox::support_health)));
    admin::routes(cfg);
}

pub async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!("no route for {} {}", req.method(), req.path())))
}
