//! The referral reward rule. A referrer earns `REFERRAL_CREDITS` once per referred
//! user, only for a real, recent sign-up that is not their own. Pure: the caller
//! looks the code and the user up, and the ledger's once-key
//! ([`crate::ports::referral_key`]) makes "once" hold under concurrency.

use chrono::TimeDelta;
use levqor_core::{Credits, Timestamp, UserId};
use serde::Serialize;

/// How recent a sign-up must be to earn its referrer a reward.
pub const REFERRAL_WINDOW: TimeDelta = TimeDelta::hours(24);

/// The referred user, as far as the rule needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferredUser {
    pub id: UserId,
    pub created_at: Timestamp,
    /// Who their sign-up was attributed to, if anyone.
    pub referred_by: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reward {
    pub referrer: UserId,
    pub referred: UserId,
    pub credits: Credits,
}

/// Why no reward was given; the API answers with the snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum NotRewarded {
    #[error("no user has this referral code")]
    UnknownCode,
    #[error("no user has signed up with this email")]
    UnknownUser,
    #[error("users cannot refer themselves")]
    SelfReferral,
    /// Their sign-up was attributed to someone else; one sign-up, one referrer.
    #[error("this user was referred by someone else")]
    OtherReferrer,
    #[error("this referral was already rewarded")]
    AlreadyRewarded,
    /// A user's key claims a referral only for that user's own sign-up; the answer
    /// is the same whether or not the named email belongs to anyone.
    #[error("a referral is claimed by the referred user, for their own account")]
    NotYourAccount,
    #[error("the user signed up more than 24 hours ago")]
    TooOld,
}

impl NotRewarded {
    pub fn code(self) -> &'static str {
        match self {
            NotRewarded::UnknownCode => "unknown_code",
            NotRewarded::UnknownUser => "unknown_user",
            NotRewarded::SelfReferral => "self_referral",
            NotRewarded::OtherReferrer => "other_referrer",
            NotRewarded::AlreadyRewarded => "already_rewarded",
            NotRewarded::NotYourAccount => "not_your_account",
            NotRewarded::TooOld => "too_old",
        }
    }
}

/// `referrer`: the owner of the presented code (`None`: no such code).
/// `referred`: the user the request names (`None`: no such user).
pub fn decide_referral(
    referrer: Option<&UserId>,
    referred: Option<&ReferredUser>,
    now: Timestamp,
    already_rewarded: bool,
    credits: Credits,
) -> Result<Reward, NotRewarded> {
    let referrer = referrer.ok_or(NotRewarded::UnknownCode)?;
    let referred = referred.ok_or(NotRewarded::UnknownUser)?;
    if &referred.id == referrer {
        return Err(NotRewarded::SelfReferral);
    }
    if referred.referred_by.as_ref().is_some_and(|by| by != referrer) {
        return Err(NotRewarded::OtherReferrer);
    }
    // Checked before the age: "already rewarded" is the more useful answer.
    if already_rewarded {
        return Err(NotRewarded::AlreadyRewarded);
    }
    if now.signed_duration_since(referred.created_at) > REFERRAL_WINDOW {
        return Err(NotRewarded::TooOld);
    }
    Ok(Reward { referrer: referrer.clone(), referred: referred.id.clone(), credits })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn referred(hours_ago: i64, by: Option<&UserId>) -> ReferredUser {
        ReferredUser {
            id: UserId::new(),
            created_at: Utc::now() - TimeDelta::hours(hours_ago),
            referred_by: by.cloned(),
        }
    }

    fn decide(referrer: Option<&UserId>, user: Option<&ReferredUser>, already: bool) -> Result<Reward, NotRewarded> {
        decide_referral(referrer, user, Utc::now(), already, Credits::new(20))
    }

    #[test]
    fn a_fresh_sign_up_is_rewarded() {
        let referrer = UserId::new();
        let user = referred(1, Some(&referrer));
        let reward = decide(Some(&referrer), Some(&user), false).unwrap();
        assert_eq!(reward.credits, Credits::new(20));
        assert_eq!(reward.referred, user.id);
        assert_eq!(reward.referrer, referrer);
        // No recorded attribution is fine too.
        assert!(decide(Some(&referrer), Some(&referred(23, None)), false).is_ok());
    }

    #[test]
    fn refusals_with_reasons() {
        let referrer = UserId::new();
        let user = referred(1, None);
        assert_eq!(decide(None, Some(&user), false), Err(NotRewarded::UnknownCode));
        assert_eq!(decide(Some(&referrer), None, false), Err(NotRewarded::UnknownUser));
        let myself = ReferredUser { id: referrer.clone(), ..user.clone() };
        assert_eq!(decide(Some(&referrer), Some(&myself), false), Err(NotRewarded::SelfReferral));
        assert_eq!(decide(Some(&referrer), Some(&user), true), Err(NotRewarded::AlreadyRewarded));
        assert_eq!(decide(Some(&referrer), Some(&referred(25, None)), false), Err(NotRewarded::TooOld));
        let elsewhere = referred(1, Some(&UserId::new()));
        assert_eq!(decide(Some(&referrer), Some(&elsewhere), false), Err(NotRewarded::OtherReferrer));
        assert_eq!(serde_json::to_value(NotRewarded::TooOld).unwrap(), serde_json::json!(NotRewarded::TooOld.code()));
    }
}
