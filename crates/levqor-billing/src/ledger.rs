//! The ledger's data and rules. Credits only ever change by appending an entry;
//! a user's balance is the sum of their entries, which is also the `balance_after`
//! of their newest entry.
//!
//! The `plan_*` functions are the rules. Storage calls them inside its write
//! transaction with the balance it just read (under a lock), then writes exactly
//! what they return, so every backend enforces the same arithmetic and the balance
//! can never go below zero.

use chrono::TimeDelta;
use levqor_core::{Credits, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::error::BillingError;
use crate::ids::{EntryId, ReservationId};

/// Longest reason kept; longer ones are refused rather than cut, so nothing is lost
/// silently.
pub const MAX_REASON_LEN: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The free-tier credits every new user gets once.
    FreeGrant,
    /// Credits bought through Stripe Checkout.
    Purchase,
    /// Credits held when a run starts (negative).
    RunReserve,
    /// What a run did not use, returned when it settles (zero or positive).
    RunSettle,
    /// Credits given back after a platform failure.
    Refund,
    /// The referrer's reward for a referred sign-up.
    ReferralReward,
    /// An operator's correction, either sign.
    AdminAdjustment,
    /// A whole reservation returned, because it was released or it expired.
    ReservationRelease,
}

impl EntryKind {
    /// The kinds that make up what runs cost: reservations, less what came back
    /// (settlement remainders, releases, refunds).
    pub const RUN_SPENDING: [EntryKind; 4] =
        [EntryKind::RunReserve, EntryKind::RunSettle, EntryKind::ReservationRelease, EntryKind::Refund];

    pub const ALL: [EntryKind; 8] = [
        EntryKind::FreeGrant,
        EntryKind::Purchase,
        EntryKind::RunReserve,
        EntryKind::RunSettle,
        EntryKind::Refund,
        EntryKind::ReferralReward,
        EntryKind::AdminAdjustment,
        EntryKind::ReservationRelease,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::FreeGrant => "free_grant",
            EntryKind::Purchase => "purchase",
            EntryKind::RunReserve => "run_reserve",
            EntryKind::RunSettle => "run_settle",
            EntryKind::Refund => "refund",
            EntryKind::ReferralReward => "referral_reward",
            EntryKind::AdminAdjustment => "admin_adjustment",
            EntryKind::ReservationRelease => "reservation_release",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds that [`crate::Ledger::grant_once`] may write. Reservations have their
    /// own calls, and admin corrections go through `adjust` so a negative one is
    /// checked against the balance.
    pub fn is_grant(self) -> bool {
        matches!(
            self,
            EntryKind::FreeGrant
                | EntryKind::Purchase
                | EntryKind::Refund
                | EntryKind::ReferralReward
                | EntryKind::AdminAdjustment
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: EntryId,
    pub user_id: UserId,
    pub kind: EntryKind,
    /// Signed: negative for a reservation or a negative adjustment.
    pub amount: Credits,
    pub balance_after: Credits,
    pub reason: String,
    /// What caused it: a Stripe event id, a reservation id, a job id…
    pub reference: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    Held,
    Settled,
    Released,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationState::Held => "held",
            ReservationState::Settled => "settled",
            ReservationState::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "held" => Some(ReservationState::Held),
            "settled" => Some(ReservationState::Settled),
            "released" => Some(ReservationState::Released),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub user_id: UserId,
    /// What was held (positive).
    pub amount: Credits,
    pub reason: String,
    pub created_at: Timestamp,
    /// After this the sweeper releases it if it is still held.
    pub expires_at: Timestamp,
    pub state: ReservationState,
    /// What the run finally cost, once settled.
    pub charged: Option<Credits>,
}

/// One entry to append, before storage gives it an id and a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub kind: EntryKind,
    pub amount: Credits,
    pub balance_after: Credits,
    pub reason: String,
    pub reference: Option<String>,
}

impl Posting {
    pub fn into_entry(self, user_id: &UserId, now: Timestamp) -> LedgerEntry {
        LedgerEntry {
            id: EntryId::new(),
            user_id: user_id.clone(),
            kind: self.kind,
            amount: self.amount,
            balance_after: self.balance_after,
            reason: self.reason,
            reference: self.reference,
            created_at: now,
        }
    }
}

/// A new reservation and the entry that holds its credits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservePlan {
    pub reservation: Reservation,
    pub posting: Posting,
}

/// A reservation in its final state and the entry that returns what was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosePlan {
    pub reservation: Reservation,
    pub posting: Posting,
}

/// Checks a human reason and returns it trimmed.
pub fn check_reason(reason: &str) -> Result<String, BillingError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(BillingError::invalid("reason", "must not be empty"));
    }
    if reason.chars().count() > MAX_REASON_LEN {
        return Err(BillingError::invalid("reason", format!("must be at most {MAX_REASON_LEN} characters")));
    }
    Ok(reason.to_owned())
}

fn add(balance: Credits, amount: Credits) -> Result<Credits, BillingError> {
    balance.checked_add(amount).ok_or_else(|| BillingError::invalid("amount", "would overflow the balance"))
}

/// A positive grant of `kind` (see [`EntryKind::is_grant`]).
pub fn plan_grant(
    balance: Credits,
    kind: EntryKind,
    amount: Credits,
    reason: &str,
    reference: Option<&str>,
) -> Result<Posting, BillingError> {
    if !kind.is_grant() {
        return Err(BillingError::invalid("kind", format!("{} entries cannot be granted", kind.as_str())));
    }
    if amount.get() <= 0 {
        return Err(BillingError::invalid("amount", "must be positive"));
    }
    Ok(Posting {
        kind,
        amount,
        balance_after: add(balance, amount)?,
        reason: check_reason(reason)?,
        reference: reference.map(str::to_owned),
    })
}

/// An operator's correction; refused if it would take the balance below zero.
pub fn plan_adjust(balance: Credits, delta: Credits, reason: &str) -> Result<Posting, BillingError> {
    if delta == Credits::ZERO {
        return Err(BillingError::invalid("credits", "must not be zero"));
    }
    let after = add(balance, delta)?;
    if after.is_negative() {
        return Err(BillingError::InsufficientCredits { balance, needed: Credits::new(delta.get().saturating_neg()) });
    }
    Ok(Posting {
        kind: EntryKind::AdminAdjustment,
        amount: delta,
        balance_after: after,
        reason: check_reason(reason)?,
        reference: None,
    })
}

/// Holds `amount` for a run, if the balance covers it.
pub fn plan_reserve(
    balance: Credits,
    user: &UserId,
    amount: Credits,
    reason: &str,
    ttl: TimeDelta,
    now: Timestamp,
) -> Result<ReservePlan, BillingError> {
    if amount.get() <= 0 {
        return Err(BillingError::invalid("amount", "must be positive"));
    }
    if ttl <= TimeDelta::zero() {
        return Err(BillingError::invalid("ttl", "must be positive"));
    }
    let reason = check_reason(reason)?;
    if balance < amount {
        return Err(BillingError::InsufficientCredits { balance, needed: amount });
    }
    let expires_at = now.checked_add_signed(ttl).ok_or_else(|| BillingError::invalid("ttl", "is too long"))?;
    let reservation = Reservation {
        id: ReservationId::new(),
        user_id: user.clone(),
        amount,
        reason: reason.clone(),
        created_at: now,
        expires_at,
        state: ReservationState::Held,
        charged: None,
    };
    let posting = Posting {
        kind: EntryKind::RunReserve,
        amount: Credits::new(amount.get().saturating_neg()),
        balance_after: add(balance, Credits::new(amount.get().saturating_neg()))?,
        reason,
        reference: Some(reservation.id.to_string()),
    };
    Ok(ReservePlan { reservation, posting })
}

fn held(reservation: &Reservation) -> Result<(), BillingError> {
    match reservation.state {
        ReservationState::Held => Ok(()),
        other => Err(BillingError::ReservationNotHeld(other)),
    }
}

/// Charges `actual` (at most what was reserved) and returns the rest. The entry is
/// written even when nothing comes back, so the ledger shows every settlement.
pub fn plan_settle(balance: Credits, reservation: &Reservation, actual: Credits) -> Result<ClosePlan, BillingError> {
    held(reservation)?;
    if actual.is_negative() || actual > reservation.amount {
        return Err(BillingError::invalid(
            "actual",
            format!("must be between 0 and the reserved {}", reservation.amount),
        ));
    }
    let back = reservation.amount.checked_sub(actual).ok_or_else(|| BillingError::invalid("actual", "out of range"))?;
    Ok(ClosePlan {
        reservation: Reservation { state: ReservationState::Settled, charged: Some(actual), ..reservation.clone() },
        posting: Posting {
            kind: EntryKind::RunSettle,
            amount: back,
            balance_after: add(balance, back)?,
            reason: format!("settled: charged {actual} of {}", reservation.amount),
            reference: Some(reservation.id.to_string()),
        },
    })
}

/// Returns the whole reservation: the run did not happen, or it never settled and
/// the sweeper gave up on it (`expired`).
pub fn plan_release(balance: Credits, reservation: &Reservation, expired: bool) -> Result<ClosePlan, BillingError> {
    held(reservation)?;
    let reason = if expired { "reservation expired unsettled" } else { "reservation released" };
    Ok(ClosePlan {
        reservation: Reservation { state: ReservationState::Released, charged: None, ..reservation.clone() },
        posting: Posting {
            kind: EntryKind::ReservationRelease,
            amount: reservation.amount,
            balance_after: add(balance, reservation.amount)?,
            reason: reason.into(),
            reference: Some(reservation.id.to_string()),
        },
    })
}

/// A ceiling on what one user's runs may spend from `since` on (`DAILY_CREDIT_CAP`
/// from midnight UTC): held reservations count as spent, credits that came back
/// do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendingCap {
    pub limit: Credits,
    pub since: Timestamp,
}

impl SpendingCap {
    /// The cap for the UTC day of `now`.
    pub fn daily(limit: Credits, now: Timestamp) -> Self {
        let midnight = now.date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now);
        Self { limit, since: midnight }
    }

    /// `SpendingCapReached` unless `spent` (already including `needed`) fits.
    pub fn check(&self, spent: Credits, needed: Credits) -> Result<(), BillingError> {
        if spent > self.limit {
            let before = Credits::new(spent.get().saturating_sub(needed.get()).max(0));
            return Err(BillingError::SpendingCapReached { spent: before, needed, cap: self.limit });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_daily_cap_starts_at_midnight_utc_and_counts_the_new_run() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 17, 5, 9).unwrap();
        let cap = SpendingCap::daily(Credits::new(5), now);
        assert_eq!(cap.since, Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap());
        assert_eq!(cap.check(Credits::new(5), Credits::new(2)), Ok(()));
        assert_eq!(
            cap.check(Credits::new(6), Credits::new(2)),
            Err(BillingError::SpendingCapReached {
                spent: Credits::new(4),
                needed: Credits::new(2),
                cap: Credits::new(5)
            })
        );
    }

    fn c(n: i64) -> Credits {
        Credits::new(n)
    }

    fn reserve(balance: i64, amount: i64) -> Result<ReservePlan, BillingError> {
        plan_reserve(c(balance), &UserId::new(), c(amount), "run", TimeDelta::minutes(5), Utc::now())
    }

    #[test]
    fn kinds_round_trip() {
        for kind in EntryKind::ALL {
            assert_eq!(EntryKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(EntryKind::parse("gift"), None);
        for s in [ReservationState::Held, ReservationState::Settled, ReservationState::Released] {
            assert_eq!(ReservationState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn reserve_needs_cover() {
        let plan = reserve(10, 10).unwrap();
        assert_eq!(plan.posting.amount, c(-10));
        assert_eq!(plan.posting.balance_after, c(0));
        assert_eq!(plan.reservation.state, ReservationState::Held);
        assert_eq!(reserve(9, 10), Err(BillingError::InsufficientCredits { balance: c(9), needed: c(10) }));
        assert!(matches!(reserve(10, 0), Err(BillingError::Invalid(_))));
        assert!(matches!(reserve(10, -1), Err(BillingError::Invalid(_))));
    }

    #[test]
    fn settle_returns_the_difference_once() {
        let plan = reserve(10, 4).unwrap();
        let settled = plan_settle(c(6), &plan.reservation, c(1)).unwrap();
        assert_eq!(settled.posting.amount, c(3));
        assert_eq!(settled.posting.balance_after, c(9));
        assert_eq!(settled.reservation.charged, Some(c(1)));
        assert_eq!(
            plan_settle(c(9), &settled.reservation, c(1)),
            Err(BillingError::ReservationNotHeld(ReservationState::Settled))
        );
        assert!(matches!(plan_settle(c(6), &plan.reservation, c(5)), Err(BillingError::Invalid(_))));
        assert!(matches!(plan_settle(c(6), &plan.reservation, c(-1)), Err(BillingError::Invalid(_))));
        let full = plan_settle(c(6), &plan.reservation, c(4)).unwrap();
        assert_eq!(full.posting.amount, c(0));
    }

    #[test]
    fn release_returns_everything_once() {
        let plan = reserve(10, 4).unwrap();
        let released = plan_release(c(6), &plan.reservation, true).unwrap();
        assert_eq!(released.posting.balance_after, c(10));
        assert_eq!(released.posting.kind, EntryKind::ReservationRelease);
        assert_eq!(
            plan_release(c(10), &released.reservation, false),
            Err(BillingError::ReservationNotHeld(ReservationState::Released))
        );
    }

    #[test]
    fn adjust_never_goes_negative() {
        assert_eq!(
            plan_adjust(c(3), c(-4), "oops"),
            Err(BillingError::InsufficientCredits { balance: c(3), needed: c(4) })
        );
        assert_eq!(plan_adjust(c(3), c(-3), "fix").unwrap().balance_after, c(0));
        assert!(matches!(plan_adjust(c(3), c(0), "x"), Err(BillingError::Invalid(_))));
        assert!(matches!(plan_adjust(c(3), c(1), "  "), Err(BillingError::Invalid(_))));
    }

    #[test]
    fn grants_are_positive_and_of_grant_kinds() {
        let p = plan_grant(c(1), EntryKind::Purchase, c(100), "pack", Some("evt_1")).unwrap();
        assert_eq!(p.balance_after, c(101));
        assert_eq!(p.reference.as_deref(), Some("evt_1"));
        assert!(plan_grant(c(1), EntryKind::RunSettle, c(1), "x", None).is_err());
        assert!(plan_grant(c(1), EntryKind::Purchase, c(0), "x", None).is_err());
        assert!(plan_grant(c(i64::MAX), EntryKind::Purchase, c(1), "x", None).is_err());
    }
}
