//! The JSON body extractor: 415 for another content type, 413 over the limit, 400
//! with the field path for malformed JSON, wrong types, missing and unknown fields.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use levqor_core::FieldProblem;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The configured body limit, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body, required.
#[derive(Debug)]
pub struct Json<T>(pub T);

/// A required JSON body together with its raw bytes (for request fingerprints).
#[derive(Debug)]
pub struct JsonBody<T> {
    pub value: T,
    pub bytes: actix_web::web::Bytes,
}

/// A JSON body's raw bytes, unparsed (for signature checks over the exact bytes):
/// 415 for another content type, 413 over the limit, 400 when empty.
#[derive(Debug)]
pub struct RawJson(pub actix_web::web::Bytes);

/// A JSON body that may be absent (no body at all reads as `T::default()`).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    })
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

async fn read_body(req: &HttpRequest, payload: &mut Payload) -> Result<BytesMut, ApiError> {
    let limit = req.app_data::<web::Data<BodyLimit>>().map_or(512 * 1024, |l| l.0);
    if declared_length(req).is_some_and(|n| n > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("the request body could not be read").with_cause(e))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parse `bytes` as `T` (always a JSON object here), reporting the path of the
/// offending field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{') {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        // One JSON value and nothing after it but whitespace.
        Ok(value) => match de.end() {
            Ok(()) => Ok(value),
            Err(e) => Err(ApiError::invalid(vec![FieldProblem::new(
                "body",
                format!("unexpected characters after the JSON value at line {} column {}", e.line(), e.column()),
            )])),
        },
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::invalid(vec![FieldProblem::new(
                    "body",
                    format!("malformed JSON at line {} column {}", inner.line(), inner.column()),
                )]));
            }
            let message = strip_position(&inner.to_string());
            // serde reports a missing field at its parent's path; point at the field.
            let field = match quoted_field(&message) {
                Some(name) if message.starts_with("missing field") => join(&path, name),
                _ if path == "." => "body".to_owned(),
                _ => path,
            };
            Err(ApiError::invalid(vec![FieldProblem::new(field, message)]))
        }
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn quoted_field(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

fn join(parent: &str, field: &str) -> String {
    if parent == "." || parent.is_empty() { field.to_owned() } else { format!("{parent}.{field}") }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move { required(&req, &mut payload).await.map(|(value, _)| Json(value)) })
    }
}

async fn required<T: DeserializeOwned>(req: &HttpRequest, payload: &mut Payload) -> Result<(T, BytesMut), ApiError> {
    if !is_json(req) {
        return Err(ApiError::unsupported_media_type());
    }
    let body = read_body(req, payload).await?;
    if body.is_empty() {
        return Err(ApiError::invalid_field("body", "a JSON body is required"));
    }
    let value = parse(&body)?;
    Ok((value, body))
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let (value, bytes) = required(&req, &mut payload).await?;
            Ok(JsonBody { value, bytes: bytes.freeze() })
        })
    }
}

impl FromRequest for RawJson {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json(&req) {
                return Err(ApiError::unsupported_media_type());
            }
            let body = read_body(&req, &mut payload).await?;
            if body.is_empty() {
                return Err(ApiError::invalid_field("body", "a JSON body is required"));
            }
            Ok(RawJson(body.freeze()))
        })
    }
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let body = read_body(&req, &mut payload).await?;
            if body.is_empty() {
                return Ok(OptionalJson(T::default()));
            }
            if !is_json(&req) {
                return Err(ApiError::unsupported_media_type());
            }
            parse(&body).map(OptionalJson)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        email: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn problem(body: &str) -> (String, String) {
        let err = parse::<Outer>(body.as_bytes()).unwrap_err();
        let text = format!("{err:?}");
        let field = text.split("field: \"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        (field, text)
    }

    #[test]
    fn field_paths() {
        assert_eq!(problem(r#"{"email": 1}"#).0, "email");
        assert_eq!(problem(r#"{"email": "a", "inner": {"count": "x"}}"#).0, "inner.count");
        assert_eq!(problem(r#"{"email": "a", "bogus": 1}"#).0, "bogus");
        assert_eq!(problem(r#"{"email": "a", "inner": {"nope": 1, "count": 1}}"#).0, "inner.nope");
        assert_eq!(problem(r#"{}"#).0, "email");
        assert_eq!(problem(r#"{"email": "#).0, "body");
        assert_eq!(problem(r#"[1]"#).0, "body");
    }
}
