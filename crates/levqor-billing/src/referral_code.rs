//! Referral codes: short, random, easy to read aloud and type, and unrelated to
//! the user id (so sharing a code reveals nothing and cannot be guessed from an id).

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// No 0/O, 1/I/L: characters people confuse. 31 symbols.
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 31^8 ≈ 8.5·10^11 codes: guessing a live one is hopeless at any rate limit, and
/// collisions on creation are rare enough to just retry.
pub const CODE_LEN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReferralCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a referral code")]
pub struct InvalidCode;

impl ReferralCode {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let code = (0..CODE_LEN).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
        Self(code)
    }

    /// Accepts what a person typed: any case, surrounding spaces, a dash in the
    /// middle.
    pub fn parse(raw: &str) -> Result<Self, InvalidCode> {
        let code: String = raw.trim().chars().filter(|c| *c != '-').map(|c| c.to_ascii_uppercase()).collect();
        let valid = code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b));
        if valid { Ok(Self(code)) } else { Err(InvalidCode) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReferralCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ReferralCode {
    type Error = InvalidCode;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ReferralCode> for String {
    fn from(code: ReferralCode) -> String {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_codes_are_short_unambiguous_and_random() {
        let codes: HashSet<ReferralCode> = (0..1000).map(|_| ReferralCode::generate()).collect();
        assert_eq!(codes.len(), 1000);
        for code in &codes {
            assert_eq!(code.as_str().len(), CODE_LEN);
            assert!(!code.as_str().contains(['0', 'O', '1', 'I', 'L']));
            assert_eq!(ReferralCode::parse(code.as_str()).as_ref(), Ok(code));
        }
    }

    #[test]
    fn parse_is_forgiving_about_case_and_dashes_only() {
        assert_eq!(ReferralCode::parse(" abcd-efgh ").unwrap().as_str(), "ABCDEFGH");
        assert_eq!(ReferralCode::parse("ABCDEFG"), Err(InvalidCode));
        assert_eq!(ReferralCode::parse("ABCDEFGO"), Err(InvalidCode));
        assert_eq!(ReferralCode::parse(""), Err(InvalidCode));
        let id = levqor_core::UserId::new().to_string();
        assert_eq!(ReferralCode::parse(&id), Err(InvalidCode));
    }
}
