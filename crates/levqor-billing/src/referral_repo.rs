//! What referrals need from storage: one code per user, who referred whom, and
//! marketing attribution. `levqor-store` implements it; [`MemoryReferrals`]
//! implements it in memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use levqor_core::{EmailDigest, StorageError, Timestamp, UserId};

use crate::error::BillingError;
use crate::referral_code::ReferralCode;

/// `POST /api/v1/referrals/track`: where a visitor came from. The address is kept
/// only as its keyed digest, never in plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedVisit {
    pub email_hash: EmailDigest,
    pub source: String,
    pub campaign: Option<String>,
    pub medium: Option<String>,
    pub at: Timestamp,
}

pub trait ReferralRepo: Send + Sync {
    /// The user's code, created (with [`ReferralCode::generate`], retrying on the
    /// rare collision) on first use. Atomic: concurrent first calls get one code.
    fn code_for(&self, user: &UserId, now: Timestamp) -> Result<ReferralCode, BillingError>;

    /// Whose code this is.
    fn find_code(&self, code: &ReferralCode) -> Result<Option<UserId>, BillingError>;

    /// Records that `referred` signed up through `referrer`. The first attribution
    /// wins: `false` if `referred` was already attributed (to anyone).
    fn attribute(&self, referred: &UserId, referrer: &UserId, now: Timestamp) -> Result<bool, BillingError>;

    fn referrer_of(&self, referred: &UserId) -> Result<Option<UserId>, BillingError>;

    fn track(&self, visit: &TrackedVisit) -> Result<(), BillingError>;
}

#[derive(Default)]
struct State {
    codes: HashMap<UserId, ReferralCode>,
    owners: HashMap<ReferralCode, UserId>,
    referred_by: HashMap<UserId, UserId>,
    visits: Vec<TrackedVisit>,
}

/// In-memory [`ReferralRepo`], for tests and database-less runs.
#[derive(Default)]
pub struct MemoryReferrals {
    state: Mutex<State>,
}

impl MemoryReferrals {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StorageError> {
        self.state.lock().map_err(|_| StorageError::Failure("in-memory referrals poisoned".into()))
    }

    /// Every tracked visit, oldest first.
    pub fn visits(&self) -> Result<Vec<TrackedVisit>, BillingError> {
        Ok(self.state()?.visits.clone())
    }
}

impl ReferralRepo for MemoryReferrals {
    fn code_for(&self, user: &UserId, _now: Timestamp) -> Result<ReferralCode, BillingError> {
        let mut state = self.state()?;
        if let Some(code) = state.codes.get(user) {
            return Ok(code.clone());
        }
        let code = loop {
            let candidate = ReferralCode::generate();
            if !state.owners.contains_key(&candidate) {
                break candidate;
            }
        };
        state.codes.insert(user.clone(), code.clone());
        state.owners.insert(code.clone(), user.clone());
        Ok(code)
    }

    fn find_code(&self, code: &ReferralCode) -> Result<Option<UserId>, BillingError> {
        Ok(self.state()?.owners.get(code).cloned())
    }

    fn attribute(&self, referred: &UserId, referrer: &UserId, _now: Timestamp) -> Result<bool, BillingError> {
        let mut state = self.state()?;
        if state.referred_by.contains_key(referred) {
            return Ok(false);
        }
        state.referred_by.insert(referred.clone(), referrer.clone());
        Ok(true)
    }

    fn referrer_of(&self, referred: &UserId) -> Result<Option<UserId>, BillingError> {
        Ok(self.state()?.referred_by.get(referred).cloned())
    }

    fn track(&self, visit: &TrackedVisit) -> Result<(), BillingError> {
        self.state()?.visits.push(visit.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn one_code_per_user_and_first_attribution_wins() {
        let repo = MemoryReferrals::new();
        let (a, b, c) = (UserId::new(), UserId::new(), UserId::new());
        let code = repo.code_for(&a, Utc::now()).unwrap();
        assert_eq!(repo.code_for(&a, Utc::now()).unwrap(), code);
        assert_ne!(repo.code_for(&b, Utc::now()).unwrap(), code);
        assert_eq!(repo.find_code(&code).unwrap(), Some(a.clone()));
        assert_eq!(repo.find_code(&ReferralCode::generate()).unwrap(), None);

        assert!(repo.attribute(&c, &a, Utc::now()).unwrap());
        assert!(!repo.attribute(&c, &b, Utc::now()).unwrap());
        assert_eq!(repo.referrer_of(&c).unwrap(), Some(a));
        assert_eq!(repo.referrer_of(&b).unwrap(), None);

        let hasher = levqor_core::EmailHasher::new(b"test-key-0123456789abcdef0123456789");
        let visit = TrackedVisit {
            email_hash: hasher.digest(&levqor_core::Email::parse("x@example.com").unwrap()),
            source: "newsletter".into(),
            campaign: None,
            medium: Some("email".into()),
            at: Utc::now(),
        };
        repo.track(&visit).unwrap();
        assert_eq!(repo.visits().unwrap(), vec![visit]);
    }
}
