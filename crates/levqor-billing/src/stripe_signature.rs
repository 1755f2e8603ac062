//! Verifying Stripe's `Stripe-Signature` header: `t=<unix ts>,v1=<hex>[,v1=…][,v0=…]`,
//! where each `v1` is HMAC-SHA256 of `"<t>.<raw body>"` keyed with the endpoint's
//! webhook secret. Several `v1`s appear while a secret is being rolled; any may
//! match. `v0` (test-mode legacy) and unknown schemes are ignored.

use hmac::{Hmac, Mac};
use levqor_core::Timestamp;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header Stripe signs webhook deliveries with.
pub const STRIPE_SIGNATURE_HEADER: &str = "Stripe-Signature";

/// How far the signed time may be from ours, either way (Stripe's own default).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a delivery was refused. All are a 400, and nothing is granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the Stripe-Signature header is missing")]
    MissingHeader,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1,
    #[error("no signature matches the payload")]
    BadSignature,
    /// Outside the tolerance: possibly a replay.
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
    /// Signed correctly but not an event we can read.
    #[error("the event payload is malformed: {0}")]
    BadPayload(String),
}

type HmacSha256 = Hmac<Sha256>;

/// A webhook endpoint secret (`whsec_…`). Kept out of `Debug` output.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The header's parts that matter.
struct Parsed {
    timestamp: i64,
    v1: Vec<Vec<u8>>,
}

fn parse_header(header: &str) -> Result<Parsed, WebhookError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(WebhookError::Malformed)?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(WebhookError::Malformed);
                }
                timestamp = Some(value.parse::<i64>().map_err(|_| WebhookError::Malformed)?);
            }
            // A v1 that is not hex cannot match; skip it like Stripe's libraries do
            // rather than refusing a header that may carry a valid one too.
            "v1" => {
                if let Ok(bytes) = hex::decode(value) {
                    v1.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::Malformed)?;
    Ok(Parsed { timestamp, v1 })
}

/// The `v1` signature of `payload` signed at `timestamp`, as hex; for tests and
/// for a fake Stripe.
pub fn sign(secret: &WebhookSecret, timestamp: i64, payload: &[u8]) -> String {
    // An empty string matches nothing, which is the safe answer to the failure
    // HMAC-SHA256 never has (it accepts keys of any length).
    mac(secret, timestamp, payload).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default()
}

/// A complete header value for `payload`, as Stripe would send it.
pub fn signature_header(secret: &WebhookSecret, timestamp: i64, payload: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, payload))
}

fn mac(secret: &WebhookSecret, timestamp: i64, payload: &[u8]) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(secret.0.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Some(mac)
}

/// Checks `header` (the `Stripe-Signature` value, `None` if absent) against the raw
/// `payload` bytes. The signature is checked before the time, so an attacker learns
/// nothing about the tolerance without a valid signature.
pub fn verify(
    secret: &WebhookSecret,
    header: Option<&str>,
    payload: &[u8],
    now: Timestamp,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::MissingHeader)?;
    let parsed = parse_header(header)?;
    if parsed.v1.is_empty() {
        return Err(WebhookError::NoV1);
    }
    let expected = mac(secret, parsed.timestamp, payload).ok_or(WebhookError::BadSignature)?.finalize().into_bytes();
    // Compare against every candidate without stopping early.
    let matched = parsed
        .v1
        .iter()
        .fold(subtle::Choice::from(0), |acc, candidate| acc | expected.as_slice().ct_eq(candidate.as_slice()));
    if !bool::from(matched) {
        return Err(WebhookError::BadSignature);
    }
    let age = now.timestamp().saturating_sub(parsed.timestamp);
    if age.saturating_abs() > tolerance_secs {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
    const T: i64 = 1_900_000_000;

    fn secret() -> WebhookSecret {
        WebhookSecret::new("whsec_test_secret")
    }

    fn now(offset: i64) -> Timestamp {
        Utc.timestamp_opt(T + offset, 0).single().unwrap()
    }

    fn check(header: Option<&str>, offset: i64) -> Result<(), WebhookError> {
        verify(&secret(), header, BODY, now(offset), DEFAULT_TOLERANCE_SECS)
    }

    #[test]
    fn a_valid_signature_passes() {
        let header = signature_header(&secret(), T, BODY);
        assert_eq!(check(Some(&header), 0), Ok(()));
        assert_eq!(check(Some(&header), 300), Ok(()));
        assert_eq!(check(Some(&header), -300), Ok(()));
    }

    #[test]
    fn known_vector() {
        // Computed independently with Python's hmac module.
        let sig = sign(&secret(), T, BODY);
        assert_eq!(sig, "9ae1e7cf7dc6d4c85d10baec51a5f451d8f5629aa483eeb43d2b4a8b14ff36b3");
        assert_ne!(sig, sign(&WebhookSecret::new("other"), T, BODY));
    }

    #[test]
    fn any_v1_may_match_and_v0_is_ignored() {
        let good = sign(&secret(), T, BODY);
        let other = sign(&WebhookSecret::new("whsec_old"), T, BODY);
        let header = format!("t={T},v1={other},v1={good},v0=deadbeef");
        assert_eq!(check(Some(&header), 0), Ok(()));
        let header = format!("t={T}, v1=zz-not-hex, v1={good}");
        assert_eq!(check(Some(&header), 0), Ok(()));
    }

    #[test]
    fn refusals() {
        let good = sign(&secret(), T, BODY);
        assert_eq!(check(None, 0), Err(WebhookError::MissingHeader));
        assert_eq!(check(Some(""), 0), Err(WebhookError::Malformed));
        assert_eq!(check(Some("garbage"), 0), Err(WebhookError::Malformed));
        assert_eq!(check(Some(&format!("v1={good}")), 0), Err(WebhookError::Malformed));
        assert_eq!(check(Some(&format!("t=soon,v1={good}")), 0), Err(WebhookError::Malformed));
        assert_eq!(check(Some(&format!("t={T},t={T},v1={good}")), 0), Err(WebhookError::Malformed));
        assert_eq!(check(Some(&format!("t={T},v0={good}")), 0), Err(WebhookError::NoV1));
        let wrong = sign(&WebhookSecret::new("whsec_other"), T, BODY);
        assert_eq!(check(Some(&format!("t={T},v1={wrong}")), 0), Err(WebhookError::BadSignature));
        // A valid signature over another timestamp does not carry over.
        assert_eq!(check(Some(&format!("t={},v1={good}", T + 1)), 0), Err(WebhookError::BadSignature));
        let header = signature_header(&secret(), T, BODY);
        assert_eq!(check(Some(&header), 301), Err(WebhookError::Stale));
        assert_eq!(check(Some(&header), -301), Err(WebhookError::Stale));
        // A tampered body fails.
        assert_eq!(
            verify(&secret(), Some(&header), b"{}", now(0), DEFAULT_TOLERANCE_SECS),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn secrets_stay_out_of_logs() {
        assert!(!format!("{:?}", secret()).contains("whsec"));
    }
}
