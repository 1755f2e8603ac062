//! An RFC 5322 plain-text message for the Gmail API's `raw` field.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use levqor_core::Email;
use serde_json::Value;

use crate::error::ConnectorError;

/// At most this many recipients across To and Cc.
pub const MAX_RECIPIENTS: usize = 100;

/// Addresses from a string (comma-separated) or an array of strings, each
/// validated. The caller's spelling is kept; only whitespace is trimmed.
pub fn addresses(value: Option<&Value>, field: &str) -> Result<Vec<String>, ConnectorError> {
    let raw: Vec<&str> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(_) => {
            return Err(ConnectorError::invalid_params(field, "must be an address or a list of addresses"));
        }
    };
    let mut out = Vec::new();
    for (i, address) in raw.iter().map(|a| a.trim()).enumerate() {
        if address.is_empty() {
            continue;
        }
        // Email::parse rejects anything with spaces, CR or LF, so nothing can
        // break out of the header line.
        Email::parse(address).map_err(|e| ConnectorError::invalid_params(format!("{field}[{i}]"), e.to_string()))?;
        out.push(address.to_owned());
    }
    Ok(out)
}

/// The header value for `subject`: as is when printable ASCII, otherwise RFC 2047
/// encoded words (UTF-8, base64), each under 76 characters, folded.
pub fn encode_subject(subject: &str) -> Result<String, ConnectorError> {
    if subject.chars().any(char::is_control) {
        return Err(ConnectorError::invalid_params("subject", "must not contain line breaks or control characters"));
    }
    if subject.is_ascii() {
        return Ok(subject.to_owned());
    }
    // 45 bytes of UTF-8 become 60 base64 characters; with `=?UTF-8?B?` and `?=`
    // the word stays within RFC 2047's 75. Chunks end on character boundaries.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in subject.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
    }
    Ok(words.join("\r\n "))
}

/// The whole message, CRLF line endings, body in base64 (any UTF-8 text and
/// any line length survive transport). `from` is left out when `None`: Gmail
/// then sends as the authenticated user ("me").
pub fn build_message(
    from: Option<&str>,
    to: &[String],
    cc: &[String],
    subject: &str,
    body: &str,
    date: chrono::DateTime<chrono::Utc>,
) -> Result<String, ConnectorError> {
    if to.is_empty() {
        return Err(ConnectorError::invalid_params("to", "needs at least one address"));
    }
    if to.len() + cc.len() > MAX_RECIPIENTS {
        return Err(ConnectorError::invalid_params("to", format!("at most {MAX_RECIPIENTS} recipients in all")));
    }
    let mut headers = Vec::new();
    if let Some(from) = from {
        headers.push(format!("From: {from}"));
    }
    headers.push(format!("To: {}", to.join(", ")));
    if !cc.is_empty() {
        headers.push(format!("Cc: {}", cc.join(", ")));
    }
    headers.push(format!("Subject: {}", encode_subject(subject)?));
    headers.push(format!("Date: {}", date.to_rfc2822()));
    headers.push("MIME-Version: 1.0".to_owned());
    headers.push("Content-Type: text/plain; charset=utf-8".to_owned());
    headers.push("Content-Transfer-Encoding: base64".to_owned());

    let encoded = STANDARD.encode(body.as_bytes());
    let lines: Vec<&str> = encoded.as_bytes().chunks(76).filter_map(|line| std::str::from_utf8(line).ok()).collect();
    Ok(format!("{}\r\n\r\n{}\r\n", headers.join("\r\n"), lines.join("\r\n")))
}

/// The message as the Gmail API's `raw`: base64url.
pub fn raw(message: &str) -> String {
    URL_SAFE.encode(message.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn date() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn a_plain_message() {
        let to = vec!["ada@example.com".to_owned()];
        let msg = build_message(None, &to, &[], "Hello", "Hi there", date()).unwrap();
        assert!(msg.starts_with("To: ada@example.com\r\nSubject: Hello\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"), "{msg}");
        let (_, body) = msg.split_once("\r\n\r\n").unwrap();
        assert_eq!(STANDARD.decode(body.trim_end()).unwrap(), b"Hi there");
    }

    #[test]
    fn non_ascii_subjects_are_encoded_words() {
        let subject = "Grüße aus Köln — ".repeat(5);
        let encoded = encode_subject(&subject).unwrap();
        let mut decoded = Vec::new();
        for word in encoded.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
            let inner = word.strip_prefix("=?UTF-8?B?").and_then(|w| w.strip_suffix("?=")).unwrap();
            decoded.extend(STANDARD.decode(inner).unwrap());
        }
        assert_eq!(String::from_utf8(decoded).unwrap(), subject);
    }

    #[test]
    fn header_injection_is_refused() {
        assert!(encode_subject("hi\r\nBcc: evil@example.com").is_err());
        assert!(addresses(Some(&json!("a@example.com\r\nBcc: x@y.z")), "to").is_err());
    }

    #[test]
    fn address_lists() {
        assert_eq!(
            addresses(Some(&json!("a@example.com, B@Example.com")), "to").unwrap(),
            ["a@example.com", "B@Example.com"]
        );
        assert_eq!(addresses(Some(&json!(["a@example.com"])), "cc").unwrap(), ["a@example.com"]);
        match addresses(Some(&json!(["a@example.com", "nope"])), "to") {
            Err(ConnectorError::InvalidParams { field, .. }) => assert_eq!(field, "to[1]"),
            other => panic!("{other:?}"),
        }
    }
}
