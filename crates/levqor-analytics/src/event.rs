//! One analytics event, as received and as stored.

use std::net::IpAddr;

use levqor_core::{Email, EmailDigest, EmailHasher, Timestamp};
use serde_json::{Map, Value};

use crate::error::AnalyticsError;

/// The serialized properties of one event, at most.
pub const MAX_PROPS_BYTES: usize = 4096;
const MAX_PROPS_KEYS: usize = 32;
const MAX_PROPS_DEPTH: usize = 4;
const MAX_REF_CHARS: usize = 64;

/// An event type: 1–64 characters of letters, digits, `_`, `-`, `.`, `:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(String);

impl EventType {
    pub fn parse(raw: &str) -> Result<Self, AnalyticsError> {
        let t = raw.trim();
        let ok = !t.is_empty()
            && t.len() <= 64
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if ok {
            Ok(Self(t.to_owned()))
        } else {
            Err(AnalyticsError::invalid("type", "must be 1-64 characters of letters, digits, `_`, `-`, `.` or `:`"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Event properties: a JSON object of at most [`MAX_PROPS_BYTES`] serialized,
/// 32 keys and 4 levels, in which every email address is already replaced by
/// `email:<digest>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Props(Map<String, Value>);

impl Props {
    pub fn empty() -> Self {
        Self(Map::new())
    }

    fn parse(value: Value, hasher: &EmailHasher) -> Result<Self, AnalyticsError> {
        let Value::Object(mut map) = value else {
            return Err(AnalyticsError::invalid("props", "must be a JSON object"));
        };
        if map.len() > MAX_PROPS_KEYS {
            return Err(AnalyticsError::invalid("props", format!("must have at most {MAX_PROPS_KEYS} keys")));
        }
        for v in map.values_mut() {
            if !scrub(v, hasher, 1) {
                return Err(AnalyticsError::invalid("props", format!("must nest at most {MAX_PROPS_DEPTH} levels")));
            }
        }
        let props = Self(map);
        if props.to_json().len() > MAX_PROPS_BYTES {
            return Err(AnalyticsError::invalid("props", format!("must be at most {MAX_PROPS_BYTES} bytes as JSON")));
        }
        Ok(props)
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// Replaces email addresses inside strings by their digest; `false` when the value
/// nests deeper than allowed.
fn scrub(value: &mut Value, hasher: &EmailHasher, depth: usize) -> bool {
    match value {
        Value::String(s) if s.contains('@') => {
            *s = scrub_text(s, hasher);
            true
        }
        Value::Array(items) => depth < MAX_PROPS_DEPTH && items.iter_mut().all(|v| scrub(v, hasher, depth + 1)),
        Value::Object(map) => depth < MAX_PROPS_DEPTH && map.values_mut().all(|v| scrub(v, hasher, depth + 1)),
        _ => true,
    }
}

/// Every word of `text` that is an email address becomes `email:<digest>`.
fn scrub_text(text: &str, hasher: &EmailHasher) -> String {
    let is_separator = |c: char| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"' | '\'' | '(' | ')');
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@')
            && let Ok(email) = Email::parse(word)
        {
            out.push_str("email:");
            out.push_str(hasher.digest(&email).as_str());
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_separator(c) {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// An event as a client sends it: the contract's `{type, props?, email?, ref?}`,
/// or the original's `{type, payload, ref}` (`payload` is taken as `props`, and its
/// `email` key, if any, as the email).
#[derive(Debug, Clone, Default)]
pub struct EventInput {
    pub event_type: String,
    pub props: Option<Value>,
    pub payload: Option<Value>,
    pub email: Option<String>,
    pub ref_code: Option<String>,
}

/// Who sent an event when no email says so: the client address and user agent,
/// only ever stored as a keyed digest that changes every UTC day.
#[derive(Debug, Clone)]
pub struct ClientFingerprint {
    pub ip: Option<IpAddr>,
    pub user_agent: String,
}

/// A validated event, ready to store: nothing in it is a plain email address.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub event_type: EventType,
    /// A keyed digest naming the visitor: the email digest when an email came with
    /// the event, else a per-day digest of the client address and user agent.
    pub visitor: String,
    pub email_hash: Option<EmailDigest>,
    pub ref_code: Option<String>,
    pub props: Props,
    pub at: Timestamp,
}

impl EventInput {
    pub(crate) fn validate(
        self,
        hasher: &EmailHasher,
        client: &ClientFingerprint,
        at: Timestamp,
        id: String,
    ) -> Result<NewEvent, AnalyticsError> {
        let event_type = EventType::parse(&self.event_type)?;
        if self.props.is_some() && self.payload.is_some() {
            return Err(AnalyticsError::invalid("payload", "give `props` or `payload`, not both"));
        }
        let mut raw_props = self.props.or(self.payload).unwrap_or_else(|| Value::Object(Map::new()));
        let mut email = self.email;
        if email.is_none()
            && let Value::Object(map) = &mut raw_props
            && let Some(Value::String(e)) = map.get("email")
        {
            email = Some(e.clone());
            map.remove("email");
        }
        let email_hash = email
            .filter(|e| !e.trim().is_empty())
            .map(|e| Email::parse(&e).map(|e| hasher.digest(&e)))
            .transpose()
            .map_err(|e| AnalyticsError::invalid("email", e.to_string()))?;
        let props = Props::parse(raw_props, hasher)?;
        let ref_code = match self.ref_code.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) {
            Some(r) if r.chars().count() > MAX_REF_CHARS => {
                return Err(AnalyticsError::invalid("ref", format!("must be at most {MAX_REF_CHARS} characters")));
            }
            Some(r) => Some(scrub_text(&r, hasher)),
            None => None,
        };
        let visitor = match &email_hash {
            Some(digest) => digest.as_str().to_owned(),
            None => {
                let day = crate::Bucket::Day.number(at);
                let ip = client.ip.map(|ip| ip.to_string()).unwrap_or_default();
                hasher.keyed(b"levqor.visitor.v1\0", format!("{day}\0{ip}\0{}", client.user_agent).as_bytes())
            }
        };
        Ok(NewEvent { id, event_type, visitor, email_hash, ref_code, props, at })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn hasher() -> EmailHasher {
        EmailHasher::new(b"0123456789abcdef0123456789abcdef")
    }

    fn client() -> ClientFingerprint {
        ClientFingerprint { ip: Some([203, 0, 113, 7].into()), user_agent: "ua".into() }
    }

    fn validate(input: EventInput) -> Result<NewEvent, AnalyticsError> {
        input.validate(&hasher(), &client(), chrono::Utc::now(), "id".into())
    }

    #[test]
    fn addresses_never_survive_validation() {
        let event = validate(EventInput {
            event_type: "signup".into(),
            payload: Some(json!({"email": "Ann@Example.com", "note": "cc bob@example.org, thanks", "n": [1, {"x": "c@example.net"}]})),
            ref_code: Some("dan@example.com".into()),
            ..EventInput::default()
        })
        .unwrap();
        let stored = format!("{} {} {:?}", event.props.to_json(), event.visitor, event.ref_code);
        for raw in ["ann@example.com", "Ann@Example.com", "bob@example.org", "c@example.net", "dan@example.com"] {
            assert!(!stored.contains(raw), "{raw} in {stored}");
        }
        let digest = hasher().digest(&Email::parse("ann@example.com").unwrap());
        assert_eq!(event.email_hash.as_ref(), Some(&digest));
        assert_eq!(event.visitor, digest.as_str());
        assert!(stored.contains("cc email:"), "{stored}");
    }

    #[test]
    fn limits_and_shapes() {
        let ok = |t: &str| validate(EventInput { event_type: t.into(), ..EventInput::default() });
        assert!(ok("page_view").is_ok());
        assert!(ok("").is_err());
        assert!(ok("no spaces").is_err());
        let big = json!({"x": "y".repeat(MAX_PROPS_BYTES)});
        assert!(validate(EventInput { event_type: "a".into(), props: Some(big), ..EventInput::default() }).is_err());
        let deep = json!({"a": {"b": {"c": {"d": {"e": 1}}}}});
        assert!(validate(EventInput { event_type: "a".into(), props: Some(deep), ..EventInput::default() }).is_err());
        let not_object = json!([1]);
        assert!(
            validate(EventInput { event_type: "a".into(), props: Some(not_object), ..EventInput::default() }).is_err()
        );
        let bad_email = EventInput { event_type: "a".into(), email: Some("nope".into()), ..EventInput::default() };
        assert!(validate(bad_email).is_err());
        // The same anonymous client is one visitor within a day.
        let a = ok("a").unwrap();
        let b = ok("b").unwrap();
        assert_eq!(a.visitor, b.visitor);
        assert_eq!(a.visitor.len(), 64);
    }
}
