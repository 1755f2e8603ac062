//! The ceiling for the intake benchmark: a bare actix-web server that answers a JSON
//! POST with a JSON body, with no middleware, no auth and no storage.
//!
//! `cargo run --release -p levqor --example bare_echo -- 127.0.0.1:18090`

use actix_web::{App, HttpResponse, HttpServer, web};

async fn echo(body: web::Json<serde_json::Value>) -> HttpResponse {
    HttpResponse::Accepted().json(serde_json::json!({"job_id": "00000000-0000-0000-0000-000000000000", "status": "queued", "echo": body.into_inner()}))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18090".to_owned());
    HttpServer::new(|| App::new().route("/api/v1/intake", web::post().to(echo))).bind(addr)?.run().await
}
