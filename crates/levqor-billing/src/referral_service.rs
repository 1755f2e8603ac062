//! `POST /api/v1/referrals` and sign-up with a code: find the referrer by code,
//! apply the rule, attribute the sign-up if nobody has yet, and grant the reward
//! through the ledger's once-key, which is what makes "once per referred user"
//! hold even for two simultaneous requests.
//!
//! Who may ask is the caller's business: the referred user for their own
//! account, an admin, or the sign-up itself — never a third party naming an
//! email (that let anyone collect rewards for sign-ups they never referred).

use levqor_core::{Credits, Timestamp, UserId};

use crate::error::BillingError;
use crate::ledger::EntryKind;
use crate::ports::{Grant, GrantOutcome, Ledger, referral_key};
use crate::referral_code::ReferralCode;
use crate::referral_repo::ReferralRepo;
use crate::referrals::{NotRewarded, ReferredUser, Reward, decide_referral};

/// A sign-up the request names: the user found by email (`None`: nobody).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignUp {
    pub id: UserId,
    pub created_at: Timestamp,
}

/// The answer: rewarded, or why not. `Err` only for storage trouble.
pub fn reward_referral(
    ledger: &dyn Ledger,
    referrals: &dyn ReferralRepo,
    code: &str,
    sign_up: Option<&SignUp>,
    now: Timestamp,
    credits: Credits,
) -> Result<Result<Reward, NotRewarded>, BillingError> {
    let referrer = match ReferralCode::parse(code) {
        Ok(code) => referrals.find_code(&code)?,
        Err(_) => None,
    };
    let referred = match sign_up {
        Some(s) => Some(ReferredUser {
            id: s.id.clone(),
            created_at: s.created_at,
            referred_by: referrals.referrer_of(&s.id)?,
        }),
        None => None,
    };
    // `already_rewarded` is left to the ledger: its once-key answers it atomically.
    let reward = match decide_referral(referrer.as_ref(), referred.as_ref(), now, false, credits) {
        Ok(reward) => reward,
        Err(why) => return Ok(Err(why)),
    };
    let unattributed = referred.as_ref().is_some_and(|r| r.referred_by.is_none());
    if unattributed && !referrals.attribute(&reward.referred, &reward.referrer, now)? {
        // Another attribution won in between: only its referrer may be paid.
        if referrals.referrer_of(&reward.referred)?.as_ref() != Some(&reward.referrer) {
            return Ok(Err(NotRewarded::OtherReferrer));
        }
    }
    let grant = Grant {
        user: reward.referrer.clone(),
        kind: EntryKind::ReferralReward,
        amount: reward.credits,
        reason: "referral reward".into(),
        reference: Some(reward.referred.to_string()),
        now,
    };
    match ledger.grant(&grant, Some(&referral_key(&reward.referred)))? {
        GrantOutcome::Granted(_) => Ok(Ok(reward)),
        GrantOutcome::AlreadyGranted => Ok(Err(NotRewarded::AlreadyRewarded)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryLedger;
    use crate::referral_repo::MemoryReferrals;
    use chrono::{TimeDelta, Utc};

    struct World {
        ledger: MemoryLedger,
        referrals: MemoryReferrals,
        referrer: UserId,
        code: String,
    }

    fn world() -> World {
        let referrals = MemoryReferrals::new();
        let referrer = UserId::new();
        let code = referrals.code_for(&referrer, Utc::now()).unwrap().to_string();
        World { ledger: MemoryLedger::new(), referrals, referrer, code }
    }

    fn fresh() -> SignUp {
        SignUp { id: UserId::new(), created_at: Utc::now() - TimeDelta::hours(1) }
    }

    impl World {
        fn reward(&self, code: &str, sign_up: Option<&SignUp>) -> Result<Reward, NotRewarded> {
            reward_referral(&self.ledger, &self.referrals, code, sign_up, Utc::now(), Credits::new(20)).unwrap()
        }
        fn balance(&self) -> i64 {
            self.ledger.balance(&self.referrer).unwrap().get()
        }
    }

    #[test]
    fn rewarded_once_per_referred_user() {
        let w = world();
        let new_user = fresh();
        w.referrals.attribute(&new_user.id, &w.referrer, Utc::now()).unwrap();
        let reward = w.reward(&w.code, Some(&new_user)).unwrap();
        assert_eq!(reward.referrer, w.referrer);
        assert_eq!(w.balance(), 20);
        assert_eq!(w.reward(&w.code.to_lowercase(), Some(&new_user)), Err(NotRewarded::AlreadyRewarded));
        assert_eq!(w.balance(), 20);
        w.reward(&w.code, Some(&fresh())).unwrap();
        assert_eq!(w.balance(), 40, "another referred user is another reward");
    }

    #[test]
    fn refusals_grant_nothing() {
        let w = world();
        assert_eq!(w.reward("NOTACODE", Some(&fresh())), Err(NotRewarded::UnknownCode));
        assert_eq!(w.reward("garbage!", Some(&fresh())), Err(NotRewarded::UnknownCode));
        assert_eq!(w.reward(&w.code, None), Err(NotRewarded::UnknownUser));
        let me = SignUp { id: w.referrer.clone(), created_at: Utc::now() };
        assert_eq!(w.reward(&w.code, Some(&me)), Err(NotRewarded::SelfReferral));
        let old = SignUp { created_at: Utc::now() - TimeDelta::hours(25), ..fresh() };
        assert_eq!(w.reward(&w.code, Some(&old)), Err(NotRewarded::TooOld));
        let stolen = fresh();
        w.referrals.attribute(&stolen.id, &UserId::new(), Utc::now()).unwrap();
        assert_eq!(w.reward(&w.code, Some(&stolen)), Err(NotRewarded::OtherReferrer));
        assert_eq!(w.balance(), 0);
    }

    #[test]
    fn a_reward_attributes_an_unattributed_sign_up() {
        let w = world();
        let new_user = fresh();
        w.reward(&w.code, Some(&new_user)).unwrap();
        assert_eq!(w.referrals.referrer_of(&new_user.id).unwrap(), Some(w.referrer.clone()));
        // A second referrer's code now meets the first attribution.
        let other = UserId::new();
        let other_code = w.referrals.code_for(&other, Utc::now()).unwrap().to_string();
        assert_eq!(w.reward(&other_code, Some(&new_user)), Err(NotRewarded::OtherReferrer));
    }
}
