//! The user profile and the rules for changing it.

use std::fmt;

use levqor_core::{Email, FieldProblem, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type Meta = Map<String, Value>;

/// Largest serialised `meta` a user may carry.
pub const MAX_META_BYTES: usize = 16 * 1024;
pub const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "GBP")]
    Gbp,
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "EUR")]
    Eur,
}

impl Currency {
    pub fn code(self) -> &'static str {
        match self {
            Currency::Gbp => "GBP",
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "GBP" => Some(Self::Gbp),
            "USD" => Some(Self::Usd),
            "EUR" => Some(Self::Eur),
            _ => None,
        }
    }
}

/// A BCP 47-shaped language tag such as `en`, `en-GB` or `pt-BR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let tag = raw.trim();
        let mut parts = tag.split(['-', '_']);
        let lang = parts.next().unwrap_or_default();
        let lang_ok = (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_alphabetic());
        let rest_ok = parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if lang_ok && rest_ok && tag.len() <= 35 {
            Ok(Self(tag.replace('_', "-")))
        } else {
            Err(format!("`{}` is not a language tag like `en` or `en-GB`", raw.chars().take(40).collect::<String>()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Locale {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Locale> for String {
    fn from(l: Locale) -> String {
        l.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: Option<String>,
    pub locale: Option<Locale>,
    pub currency: Option<Currency>,
    pub meta: Meta,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The fields a caller may set on upsert or patch; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChanges {
    pub name: Option<String>,
    pub locale: Option<Locale>,
    pub currency: Option<Currency>,
    /// Merged into the existing meta as a JSON merge patch (RFC 7386): objects merge
    /// key by key, `null` removes a key, anything else replaces.
    pub meta: Option<Meta>,
}

impl ProfileChanges {
    /// Check the parts that a type cannot: name length and meta size.
    pub fn validate(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if let Some(name) = &self.name {
            if name.trim().is_empty() {
                problems.push(FieldProblem::new("name", "must not be blank"));
            } else if name.chars().count() > MAX_NAME_CHARS {
                problems.push(FieldProblem::new("name", format!("must be at most {MAX_NAME_CHARS} characters")));
            }
        }
        if let Some(meta) = &self.meta
            && serialized_len(meta) > MAX_META_BYTES
        {
            problems.push(FieldProblem::new("meta", format!("must be at most {MAX_META_BYTES} bytes as JSON")));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// Apply to an existing user (patch or upsert of a known email).
    pub fn apply(&self, mut user: User, now: Timestamp) -> Result<User, Vec<FieldProblem>> {
        self.validate()?;
        if let Some(name) = &self.name {
            user.name = Some(name.trim().to_owned());
        }
        if let Some(locale) = &self.locale {
            user.locale = Some(locale.clone());
        }
        if let Some(currency) = self.currency {
            user.currency = Some(currency);
        }
        if let Some(patch) = &self.meta {
            merge_patch(&mut user.meta, patch);
            if serialized_len(&user.meta) > MAX_META_BYTES {
                return Err(vec![FieldProblem::new(
                    "meta",
                    format!("merged meta would exceed {MAX_META_BYTES} bytes"),
                )]);
            }
        }
        user.updated_at = now;
        Ok(user)
    }

    /// A brand-new user with these fields.
    pub fn create(&self, email: Email, now: Timestamp) -> Result<User, Vec<FieldProblem>> {
        let blank = User {
            id: UserId::new(),
            email,
            name: None,
            locale: None,
            currency: None,
            meta: Meta::new(),
            created_at: now,
            updated_at: now,
        };
        self.apply(blank, now)
    }
}

fn serialized_len(meta: &Meta) -> usize {
    serde_json::to_vec(meta).map(|v| v.len()).unwrap_or(usize::MAX)
}

/// RFC 7386 JSON merge patch of `patch` into `target`.
pub fn merge_patch(target: &mut Meta, patch: &Meta) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner_patch) => match target.get_mut(key) {
                Some(Value::Object(inner_target)) => merge_patch(inner_target, inner_patch),
                _ => {
                    let mut fresh = Meta::new();
                    merge_patch(&mut fresh, inner_patch);
                    target.insert(key.clone(), Value::Object(fresh));
                }
            },
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Meta {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn meta_is_merged_not_replaced() {
        let mut meta = obj(json!({"plan": "free", "prefs": {"theme": "dark", "tz": "UTC"}, "old": 1}));
        merge_patch(&mut meta, &obj(json!({"prefs": {"theme": "light"}, "old": null, "new": true})));
        assert_eq!(Value::Object(meta), json!({"plan": "free", "prefs": {"theme": "light", "tz": "UTC"}, "new": true}));
    }

    #[test]
    fn locales() {
        assert_eq!(Locale::parse("en_GB").unwrap().as_str(), "en-GB");
        assert!(Locale::parse("en").is_ok());
        assert!(Locale::parse("english please").is_err());
        assert!(Locale::parse("").is_err());
        assert!(Locale::parse("e").is_err());
    }

    #[test]
    fn blank_and_long_names_are_refused() {
        let blank = ProfileChanges { name: Some("  ".into()), ..Default::default() };
        assert_eq!(blank.validate().unwrap_err()[0].field, "name");
        let long = ProfileChanges { name: Some("x".repeat(201)), ..Default::default() };
        assert!(long.validate().is_err());
    }

    #[test]
    fn oversized_meta_is_refused() {
        let big = obj(json!({"blob": "x".repeat(MAX_META_BYTES)}));
        let changes = ProfileChanges { meta: Some(big), ..Default::default() };
        assert_eq!(changes.validate().unwrap_err()[0].field, "meta");
    }

    #[test]
    fn currency_codes_round_trip() {
        for c in [Currency::Gbp, Currency::Usd, Currency::Eur] {
            assert_eq!(Currency::parse(c.code()), Some(c));
        }
        assert_eq!(Currency::parse("JPY"), None);
    }
}
