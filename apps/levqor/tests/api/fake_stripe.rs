//! A fake Stripe on loopback: a minimal HTTP/1.1 server that records every request
//! and answers `POST /v1/checkout/sessions` with a real-shaped `checkout.session`
//! (Stripe's own fixture, `tests/fixtures/stripe_checkout_session.json`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub const SESSION_FIXTURE: &str = include_str!("../fixtures/stripe_checkout_session.json");
pub const EVENT_FIXTURE: &str = include_str!("../fixtures/stripe_event.json");

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lowercased names.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Recorded {
    /// The form-encoded body as pairs, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes()).into_owned().collect()
    }

    pub fn field(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

#[derive(Clone, Default)]
pub struct FakeStripe {
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// When set, every answer is this status and Stripe error body.
    failing: Arc<Mutex<Option<(u16, Value)>>>,
}

impl FakeStripe {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeStripe { base, ..FakeStripe::default() };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = server.serve(socket).await;
                });
            }
        });
        fake
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn fail_with(&self, status: u16, body: Value) {
        *self.failing.lock().unwrap() = Some((status, body));
    }

    async fn serve(&self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(socket);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_owned();
            let path = parts.next().unwrap_or_default().to_owned();
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).await?;
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                }
            }
            let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).await?;
            let recorded = Recorded { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() };
            let (status, answer) = self.answer(&recorded);
            self.requests.lock().unwrap().push(recorded);
            let text = answer.to_string();
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRequest-Id: req_fake\r\n\r\n{text}",
                text.len()
            );
            reader.get_mut().write_all(response.as_bytes()).await?;
            reader.get_mut().flush().await?;
        }
    }

    fn answer(&self, req: &Recorded) -> (u16, Value) {
        if let Some((status, body)) = self.failing.lock().unwrap().clone() {
            return (status, body);
        }
        if req.method != "POST" || req.path.split('?').next() != Some("/v1/checkout/sessions") {
            return (
                404,
                json!({"error": {"type": "invalid_request_error", "message": format!("Unrecognized request URL ({})", req.path)}}),
            );
        }
        let mut session: Value = serde_json::from_str(SESSION_FIXTURE).unwrap();
        let id = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
        let metadata: serde_json::Map<String, Value> = req
            .form()
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("metadata[")?.strip_suffix(']')?.to_owned(), Value::String(v))))
            .collect();
        session["id"] = json!(id);
        session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
        session["mode"] = json!(req.field("mode"));
        session["client_reference_id"] = json!(req.field("client_reference_id"));
        session["customer_email"] = json!(req.field("customer_email"));
        session["success_url"] = json!(req.field("success_url"));
        session["cancel_url"] = json!(req.field("cancel_url"));
        session["metadata"] = Value::Object(metadata);
        session["payment_status"] = json!("unpaid");
        session["status"] = json!("open");
        (200, session)
    }
}
