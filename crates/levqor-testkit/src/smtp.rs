//! A fake SMTP server on loopback, so that the real mail client (lettre's SMTP
//! transport: EHLO, AUTH, MAIL/RCPT/DATA, dot-stuffing) runs in tests and no mail
//! leaves the machine.
//!
//! [`FakeSmtp`] speaks plain SMTP (no STARTTLS) on `127.0.0.1:0`: `EHLO`/`HELO`,
//! `AUTH PLAIN` and `AUTH LOGIN` (any credentials are accepted and recorded),
//! `MAIL FROM`, `RCPT TO`, `DATA`, `RSET`, `NOOP` and `QUIT`. Each accepted message
//! is recorded ([`ReceivedMail`]) *before* the final `250`, so once the client has
//! its answer, [`FakeSmtp::mails`] includes the mail. [`FakeSmtp::set_down`] makes
//! it answer every new connection with `421` (a temporary failure, as a relay
//! under maintenance would) until it is set up again.
//!
//! ```no_run
//! use levqor_testkit::smtp::FakeSmtp;
//!
//! # async fn example() {
//! let smtp = FakeSmtp::start().await;
//! // … point the mailer at `smtp.url()` (`smtp://127.0.0.1:<port>`) and send, then:
//! let mail = smtp.only();
//! assert_eq!(mail.to, ["ada@example.com"]);
//! assert!(mail.data.contains("Subject: Welcome"));
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as the fake server accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without the angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), in order.
    pub to: Vec<String>,
    /// The message as sent after `DATA`: headers and body, CRLF line ends, with
    /// the dot-stuffing undone and without the final `.` line.
    pub data: String,
    /// The `(user, password)` the client authenticated with, if it did.
    pub auth: Option<(String, String)>,
}

impl ReceivedMail {
    /// The value of the first header named `name` (any case), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = found.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((key, value)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                found = Some(value.trim().to_owned());
            }
        }
        found
    }
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Vec<ReceivedMail>>,
    down: AtomicBool,
}

/// A fake SMTP relay on loopback; it serves until the test's runtime ends.
pub struct FakeSmtp {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeSmtp {
    pub async fn start() -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("cannot bind a loopback port: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("cannot read the fake server's address: {e}"),
        };
        let shared = Arc::new(Shared::default());
        let seen = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, seen).await;
                });
            }
        });
        Self { addr, shared }
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP on loopback).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// While down, every new connection is greeted with `421` and closed.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Every accepted mail so far, in order.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        lock(&self.shared.mails).clone()
    }

    /// The only mail, asserting there was exactly one.
    pub fn only(&self) -> ReceivedMail {
        let mut all = self.mails();
        assert_eq!(all.len(), 1, "expected one mail, got {all:#?}");
        all.remove(0)
    }
}

fn lock(mails: &Mutex<Vec<ReceivedMail>>) -> MutexGuard<'_, Vec<ReceivedMail>> {
    mails.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The text inside `<…>` of `MAIL FROM:<a@b> SIZE=…`.
fn path_of(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].trim().to_owned()
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.trim().bytes().filter(|b| *b != b'=') {
        let value = ALPHABET.iter().position(|a| *a == byte)?;
        bits = (bits << 6) | u32::try_from(value).ok()?;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// `\0user\0password` of `AUTH PLAIN`.
fn plain_credentials(encoded: &str) -> Option<(String, String)> {
    let raw = String::from_utf8(decode_b64(encoded)?).ok()?;
    let mut parts = raw.split('\0');
    let _authzid = parts.next()?;
    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if shared.down.load(Ordering::SeqCst) {
        write.write_all(b"421 levqor-fake-smtp service not available, try again later\r\n").await?;
        return write.shutdown().await;
    }
    write.write_all(b"220 levqor-fake-smtp ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut auth = None;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']).to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-levqor-fake-smtp\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") {
            b"250 levqor-fake-smtp\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            let inline = command.get(10..).map(str::trim).unwrap_or_default().to_owned();
            let encoded = if inline.is_empty() {
                write.write_all(b"334 \r\n").await?;
                line.clear();
                lines.read_line(&mut line).await?;
                line.trim().to_owned()
            } else {
                inline
            };
            auth = plain_credentials(&encoded);
            if auth.is_some() { b"235 2.7.0 accepted\r\n" } else { b"501 5.5.2 malformed credentials\r\n" }
        } else if upper.starts_with("AUTH LOGIN") {
            write.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
            line.clear();
            lines.read_line(&mut line).await?;
            let user = decode_b64(line.trim()).and_then(|u| String::from_utf8(u).ok());
            write.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
            line.clear();
            lines.read_line(&mut line).await?;
            let password = decode_b64(line.trim()).and_then(|p| String::from_utf8(p).ok());
            auth = user.zip(password);
            if auth.is_some() { b"235 2.7.0 accepted\r\n" } else { b"501 5.5.2 malformed credentials\r\n" }
        } else if upper.starts_with("MAIL FROM:") {
            from = path_of(&command[10..]);
            to.clear();
            b"250 2.1.0 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(path_of(&command[8..]));
            b"250 2.1.5 ok\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let text = line.trim_end_matches(['\r', '\n']);
                if text == "." {
                    break;
                }
                data.push_str(text.strip_prefix('.').unwrap_or(text));
                data.push_str("\r\n");
            }
            let mail = ReceivedMail { from: from.clone(), to: to.clone(), data, auth: auth.clone() };
            lock(&shared.mails).push(mail);
            b"250 2.0.0 queued\r\n"
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            b"250 2.0.0 ok\r\n"
        } else if upper == "NOOP" {
            b"250 2.0.0 ok\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return write.shutdown().await;
        } else {
            b"502 5.5.2 command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base64_and_credentials() {
        assert_eq!(decode_b64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(plain_credentials("AHJlc2VuZAByZV9rZXk=").unwrap(), ("resend".into(), "re_key".into()));
        assert!(decode_b64("!!").is_none());
    }

    #[test]
    fn headers_are_unfolded_and_found_in_any_case() {
        let mail = ReceivedMail {
            from: String::new(),
            to: Vec::new(),
            data: "Subject: a\r\n long one\r\nTo: x@example.com\r\n\r\nSubject: not a header\r\n".into(),
            auth: None,
        };
        assert_eq!(mail.header("subject").as_deref(), Some("a long one"));
        assert_eq!(mail.header("TO").as_deref(), Some("x@example.com"));
        assert_eq!(mail.header("From"), None);
        assert_eq!(path_of("<a@b.example> SIZE=10"), "a@b.example");
    }
}
