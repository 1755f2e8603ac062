//! Fakes of the external HTTP services Levqor talks to (Stripe, Slack, Notion,
//! Gmail, Telegram, OpenAI, webhook receivers, …), served on loopback so that the
//! real client code — reqwest or async-stripe, retries, timeouts, size caps — runs
//! in tests and nothing reaches the internet.
//!
//! A test-only crate: every Levqor crate that needs it takes it as a
//! dev-dependency, so it depends on external crates only (never on another Levqor
//! crate, which would make a cycle).
//!
//! [`FakeServer`] is a minimal HTTP/1.1 server on `127.0.0.1:0`: one request per
//! connection (`connection: close`), no TLS, no chunked request bodies. Every
//! request is recorded ([`Recorded`]: method, path with query, lower-cased headers,
//! body) *before* it is answered, so once the client under test has its answer,
//! [`FakeServer::requests`] includes the request. The answer ([`Reply`]) comes from
//! a handler, a fixed reply or a script.
//!
//! [`smtp::FakeSmtp`] is the mail counterpart: a plain SMTP relay on loopback that
//! records every accepted message and can be taken down and up again.
//!
//! ```no_run
//! use levqor_testkit::{FakeServer, Reply};
//! use serde_json::json;
//!
//! # async fn example() {
//! // Slack's `chat.postMessage`, refusing requests without a bot token.
//! let slack = FakeServer::start(|req, _index| {
//!     if !req.header("authorization").is_some_and(|a| a.starts_with("Bearer xoxb-")) {
//!         return Reply::json(200, json!({"ok": false, "error": "not_authed"}));
//!     }
//!     Reply::json(200, json!({"ok": true, "ts": "1700000000.000100"}))
//! })
//! .await;
//! // … point the client under test at `slack.base()` and run it, then:
//! assert_eq!(slack.only().path_only(), "/api/chat.postMessage");
//! # }
//! ```

pub mod smtp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a [`Reply::Hang`] keeps the connection open without answering:
/// longer than any client timeout under test.
const HANG: Duration = Duration::from_secs(30);

/// One request as the fake server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Lower-cased names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The path without the query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// The decoded query parameters.
    pub fn query(&self) -> HashMap<String, String> {
        let query = self.path.split_once('?').map(|(_, q)| q).unwrap_or("");
        url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    /// The body decoded as `application/x-www-form-urlencoded`.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// What the fake server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        /// Leave out Content-Length and end the body by closing.
        no_length: bool,
    },
    /// Read the request, then never answer.
    Hang,
}

impl Reply {
    /// `status` with a body of the given content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::Respond {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            no_length: false,
        }
    }

    /// `status` with a JSON body.
    pub fn json(status: u16, body: Value) -> Self {
        Self::new(status, "application/json", body.to_string())
    }

    /// `status` with a `text/plain` body.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "text/plain", body)
    }

    /// One more response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Self::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// No Content-Length: the body ends when the connection closes.
    pub fn without_length(mut self) -> Self {
        if let Self::Respond { no_length, .. } = &mut self {
            *no_length = true;
        }
        self
    }
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

/// A fake HTTP service on loopback; it serves until the test's runtime ends.
pub struct FakeServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    /// `handler` gets each request and its index (0 for the first) and says how
    /// to answer it.
    pub async fn start(handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("cannot bind a loopback port: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("cannot read the fake server's address: {e}"),
        };
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = requests.clone();
        let counter = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, seen, counter) = (handler.clone(), seen.clone(), counter.clone());
                tokio::spawn(async move {
                    serve_one(stream, handler, seen, counter).await;
                });
            }
        });
        Self { addr, requests }
    }

    /// Always the same answer.
    pub async fn always(reply: Reply) -> Self {
        Self::start(move |_, _| reply.clone()).await
    }

    /// `replies` in order, one per request; the last one repeats.
    pub async fn sequence(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty(), "a sequence needs at least one reply");
        let last = replies.len() - 1;
        Self::start(move |_, index| replies[index.min(last)].clone()).await
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.requests).clone()
    }

    /// How many requests arrived so far.
    pub fn count(&self) -> usize {
        lock(&self.requests).len()
    }

    /// The only request, asserting there was exactly one.
    pub fn only(&self) -> Recorded {
        let mut all = self.requests();
        assert_eq!(all.len(), 1, "expected one request, got {all:#?}");
        all.remove(0)
    }
}

/// A panicking test must not hide the requests from the others.
fn lock(requests: &Mutex<Vec<Recorded>>) -> MutexGuard<'_, Vec<Recorded>> {
    requests.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve_one(
    mut stream: TcpStream,
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<Recorded>>>,
    counter: Arc<AtomicUsize>,
) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let index = counter.fetch_add(1, Ordering::SeqCst);
    lock(&seen).push(request.clone());
    match handler(&request, index) {
        Reply::Hang => {
            tokio::time::sleep(HANG).await;
        }
        Reply::Respond { status, headers, body, no_length } => {
            let mut head = format!("HTTP/1.1 {status} Fake\r\nconnection: close\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            if !no_length {
                head.push_str(&format!("content-length: {}\r\n", body.len()));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded { method, path, headers, body })
}
