//! Email addresses, parsed once: trimmed, lowercased and validated.

use std::fmt;

use serde::{Deserialize, Serialize};
use validator::ValidateEmail;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email is empty")]
    Empty,
    #[error("email is longer than 254 characters")]
    TooLong,
    #[error("`{0}` is not a valid email address")]
    Invalid(String),
    /// A domain label mixes scripts (a Cyrillic `а` among Latin letters, say): a
    /// look-alike of another address.
    #[error("the domain `{0}` mixes writing systems in one label; look-alike domains are refused")]
    MixedScript(String),
}

/// A normalised email address (RFC 5321 size limits, lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let invalid = || EmailError::Invalid(trimmed.chars().take(80).collect());
        let lowered = trimmed.to_lowercase();
        let (local, domain) = lowered.rsplit_once('@').ok_or_else(invalid)?;
        // The domain is kept in its ASCII (IDNA) form, so that `exаmple.com` with a
        // Cyrillic `а` is stored as `xn--exmple-4nf.com`, visibly not `example.com`.
        let ascii = idna::domain_to_ascii(domain).map_err(|_| invalid())?;
        // Checked on the Unicode form, so a look-alike given as `xn--…` is caught too.
        if ascii.split('.').any(|label| label.starts_with("xn--")) {
            let (unicode, _) = idna::domain_to_unicode(&ascii);
            if let Some(label) = unicode.split('.').find(|label| mixes_scripts(label)) {
                return Err(EmailError::MixedScript(label.chars().take(63).collect()));
            }
        }
        let normalised = format!("{local}@{ascii}");
        if normalised.len() > 254 {
            return Err(EmailError::TooLong);
        }
        if !normalised.validate_email() {
            return Err(invalid());
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether one domain label uses more than one script, ignoring the characters
/// every script shares (digits, `-`). The mixes UTS #39 allows in a "highly
/// restrictive" identifier (Japanese, Chinese and Korean writing mixed with Han
/// and Latin) are not refused.
fn mixes_scripts(label: &str) -> bool {
    use unicode_script::{Script, UnicodeScript};
    let mut scripts: Vec<Script> = label
        .chars()
        .map(|c| c.script())
        .filter(|s| !matches!(s, Script::Common | Script::Inherited | Script::Unknown))
        .collect();
    scripts.sort_by_key(|s| s.short_name());
    scripts.dedup();
    let allowed_sets: [&[Script]; 3] = [
        &[Script::Latin, Script::Han, Script::Hiragana, Script::Katakana],
        &[Script::Latin, Script::Han, Script::Bopomofo],
        &[Script::Latin, Script::Han, Script::Hangul],
    ];
    scripts.len() > 1 && !allowed_sets.iter().any(|set| scripts.iter().all(|s| set.contains(s)))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        let e = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in ["", "   ", "plainaddress", "@example.com", "a@", "a b@example.com", "a@@b.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn rejects_overlong_addresses() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn international_domains_are_kept_in_ascii() {
        assert_eq!(Email::parse("anna@Bücher.example").unwrap().as_str(), "anna@xn--bcher-kva.example");
        assert_eq!(Email::parse("ivan@пример.рф").unwrap().as_str(), "ivan@xn--e1afmkfd.xn--p1ai");
        // The ASCII form parses to itself.
        assert_eq!(Email::parse("anna@xn--bcher-kva.example").unwrap().as_str(), "anna@xn--bcher-kva.example");
        assert!(Email::parse("yuki@例え.テスト").is_ok(), "Han with Katakana is one writing system");
    }

    #[test]
    fn look_alike_domains_are_refused() {
        // A Cyrillic `а` (U+0430) in a Latin label.
        let err = Email::parse("alice@ex\u{0430}mple.com").unwrap_err();
        assert!(matches!(err, EmailError::MixedScript(ref label) if label == "ex\u{0430}mple"), "{err:?}");
        // A Greek omicron among Latin letters.
        assert!(matches!(Email::parse("bob@g\u{03bf}ogle.com"), Err(EmailError::MixedScript(_))));
        // The same in its ASCII form is caught too.
        let ascii = idna::domain_to_ascii("ex\u{0430}mple.com").unwrap();
        assert!(matches!(Email::parse(&format!("alice@{ascii}")), Err(EmailError::MixedScript(_))));
        assert_ne!(Email::parse("alice@example.com").unwrap().as_str(), format!("alice@{ascii}"));
    }

    #[test]
    fn accepts_plus_and_subdomains() {
        assert!(Email::parse("a+tag@mail.example.co.uk").is_ok());
    }
}
