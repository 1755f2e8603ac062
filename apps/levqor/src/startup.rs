//! An [`Application`] that can start anywhere: `levqor serve`, or a test on port 0.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use utoipa::OpenApi;

use crate::config::ServeSettings;
use crate::http::json::BodyLimit;
use crate::http::openapi::{ApiDoc, OpenApiJson};
use crate::http::rate_limit::{Applies, Keying, Limiter, RateLimits};
use crate::http::routes_table::RouteTable;
use crate::http::{self, middleware, rate_limit};
use crate::jobs_runtime::JobsRuntime;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Setup(String),
    #[error("invalid rate limit configuration")]
    RateLimit,
}

pub struct Application {
    port: u16,
    server: Server,
    jobs: JobsRuntime,
}

impl Application {
    pub fn build(settings: ServeSettings, log: slog::Logger) -> Result<Self, StartError> {
        Self::build_with_routes(settings, log, |_| {})
    }

    /// Like [`Application::build`], with extra routes mounted (tests use it to add
    /// handlers that misbehave on purpose).
    pub fn build_with_routes(
        settings: ServeSettings,
        log: slog::Logger,
        extra: fn(&mut web::ServiceConfig),
    ) -> Result<Self, StartError> {
        let addr = settings.addr;
        let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
        let bound = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
        let (state, jobs) = crate::wiring::app_state(settings, log).map_err(StartError::Setup)?;
        let server = serve(listener, bound, web::Data::new(state), extra)?;
        let port = bound.port();
        Ok(Self { port, server, jobs })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere; [`Application::run_until_stopped`] then
    /// stops the jobs runtime and returns.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests (up to 10 s)
    /// and lets running jobs finish or releases them to the queue.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.jobs.stop().await;
        served
    }
}

fn serve(
    listener: TcpListener,
    addr: std::net::SocketAddr,
    state: web::Data<AppState>,
    extra: fn(&mut web::ServiceConfig),
) -> Result<Server, StartError> {
    let s = &state.settings;
    let trusted = s.trusted_proxies.clone();
    // Checked in this order; created once here so that every worker shares them.
    let limits = [
        Limiter::new("per-ip", s.rate_burst, Keying::ClientIp(trusted.clone()), Applies::Writes),
        Limiter::new("global", s.rate_global, Keying::Global, Applies::Writes),
        Limiter::new("read-per-ip", s.rate_read, Keying::ClientIp(trusted.clone()), Applies::Reads),
        Limiter::new(
            "errors-per-ip",
            s.notify.errors_rate,
            Keying::ClientIp(trusted.clone()),
            Applies::Route(http::inbox::ERRORS_REPORT),
        ),
        Limiter::new(
            "support-per-ip",
            s.notify.support_rate,
            Keying::ClientIp(trusted),
            Applies::Route(http::inbox::SUPPORT_MESSAGE),
        ),
    ];
    let limits =
        web::Data::new(RateLimits::new(limits.into_iter().collect::<Option<Vec<_>>>().ok_or(StartError::RateLimit)?));
    let doc = ApiDoc::openapi();
    let routes = web::Data::new(RouteTable::from_openapi(&doc));
    let openapi = web::Data::new(OpenApiJson::render(&doc));
    let body_limit = web::Data::new(BodyLimit(s.max_content_length));
    let origins = s.cors_origins.clone();

    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(routes.clone())
            .app_data(openapi.clone())
            .app_data(body_limit.clone())
            .app_data(limits.clone())
            .app_data(web::PathConfig::default().error_handler(|e, _| http::error::path_error(e).into()))
            .app_data(web::QueryConfig::default().error_handler(|e, _| http::error::query_error(e).into()))
            .configure(http::routes)
            .configure(extra)
            .default_service(web::to(http::not_found))
            .wrap(from_fn(rate_limit::enforce))
            .wrap(from_fn(crate::ops::metrics::track))
            .wrap(cors(&origins))
            .wrap(from_fn(middleware::request_context))
    })
    .listen(listener)
    .map_err(|source| StartError::Bind { addr, source })?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}

/// CORS for the configured site origins only; with none, browsers on other origins
/// get no CORS grant.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::HeaderName::from_static("ratelimit-policy"),
            header::HeaderName::from_static("ratelimit"),
            header::HeaderName::from_static("x-ratelimit-limit"),
            header::HeaderName::from_static("x-ratelimit-remaining"),
            header::HeaderName::from_static("x-ratelimit-reset"),
        ])
        .max_age(3600);
    for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        cors = cors.allowed_origin(origin);
    }
    cors
}
