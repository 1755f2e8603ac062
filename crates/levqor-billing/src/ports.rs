//! The ledger port: what credits need from storage. `levqor-store` implements it on
//! SQLite and PostgreSQL; [`crate::memory::MemoryLedger`] implements it in memory.
//! [`crate::contract`] holds the cases every implementation must pass.
//!
//! Calls are blocking: async callers run them on a blocking pool. Every call that
//! writes takes `now`, so implementations never read a clock themselves.
//!
//! Every write is one transaction that reads the user's balance under a lock
//! (`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on a per-user balance row on
//! PostgreSQL), asks the matching `plan_*` rule in [`crate::ledger`], and appends
//! what it returns. Concurrent callers therefore queue behind each other and the
//! balance can never go below zero.

use chrono::TimeDelta;
use levqor_core::{AuditContext, Credits, Cursor, Page, Timestamp, UserId};

use crate::error::BillingError;
use crate::ids::ReservationId;
use crate::ledger::{EntryKind, LedgerEntry, Reservation};

/// A positive grant, as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: UserId,
    /// One of [`EntryKind::is_grant`].
    pub kind: EntryKind,
    /// Positive.
    pub amount: Credits,
    pub reason: String,
    pub reference: Option<String>,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    /// The grant was written; the entry carries the new balance.
    Granted(LedgerEntry),
    /// One of its once-keys was already claimed: nothing was written.
    AlreadyGranted,
}

pub trait Ledger: Send + Sync {
    /// The user's balance; zero for a user without entries.
    fn balance(&self, user: &UserId) -> Result<Credits, BillingError>;

    /// The user's entries, newest first (by id, which is time-ordered). `cursor` is
    /// the `next_cursor` of the previous page; `limit` is clamped to
    /// 1..=[`Page::MAX_LIMIT`]. A cursor that is not one is `Invalid`.
    fn entries(&self, user: &UserId, cursor: Option<&Cursor>, limit: u32) -> Result<Page<LedgerEntry>, BillingError>;

    /// Writes `grant` exactly once per key: in one transaction, claims every key in
    /// `keys` and appends the entry. If any key is already claimed nothing is
    /// written (no key is claimed either) and the answer is `AlreadyGranted`.
    /// With no keys the grant is unconditional.
    ///
    /// A Stripe purchase passes both [`stripe_event_key`] and
    /// [`stripe_session_key`], so a redelivered event and a second event for the
    /// same session both grant nothing.
    fn grant_once(&self, grant: &Grant, keys: &[String]) -> Result<GrantOutcome, BillingError>;

    /// [`Ledger::grant_once`] with at most one key.
    fn grant(&self, grant: &Grant, once_key: Option<&str>) -> Result<GrantOutcome, BillingError> {
        let keys: Vec<String> = once_key.map(str::to_owned).into_iter().collect();
        self.grant_once(grant, &keys)
    }

    /// An operator's correction of either sign ([`crate::ledger::plan_adjust`]):
    /// refused with `InsufficientCredits` if it would make the balance negative.
    /// Given an [`AuditContext`], appends a `credits.grant` audit entry for the
    /// ledger entry in the same transaction.
    fn adjust(
        &self,
        user: &UserId,
        delta: Credits,
        reason: &str,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<LedgerEntry, BillingError>;

    /// Holds `amount` until the run settles or `now + ttl`
    /// ([`crate::ledger::plan_reserve`]). `InsufficientCredits` if the balance does
    /// not cover it; nothing is written then.
    fn reserve(
        &self,
        user: &UserId,
        amount: Credits,
        reason: &str,
        ttl: TimeDelta,
        now: Timestamp,
    ) -> Result<Reservation, BillingError>;

    /// Charges `actual` (0..=reserved) and returns the rest
    /// ([`crate::ledger::plan_settle`]). `NotFound` for an unknown id,
    /// `ReservationNotHeld` if it was settled or released already.
    fn settle(&self, id: &ReservationId, actual: Credits, now: Timestamp) -> Result<Reservation, BillingError>;

    /// Returns the whole reservation ([`crate::ledger::plan_release`]).
    fn release(&self, id: &ReservationId, now: Timestamp) -> Result<Reservation, BillingError>;

    fn reservation(&self, id: &ReservationId) -> Result<Option<Reservation>, BillingError>;

    /// The sweeper: releases every reservation still held whose `expires_at` is at
    /// or before `now`; returns how many. Each is released once.
    fn expire_reservations(&self, now: Timestamp) -> Result<u64, BillingError>;
}

/// The once-key of a user's free-tier grant.
pub fn free_grant_key(user: &UserId) -> String {
    format!("free:{user}")
}

/// The once-key of a Stripe event (`evt_…`).
pub fn stripe_event_key(event_id: &str) -> String {
    format!("stripe-event:{event_id}")
}

/// The once-key of a Stripe Checkout session (`cs_…`).
pub fn stripe_session_key(session_id: &str) -> String {
    format!("stripe-session:{session_id}")
}

/// The once-key of a referral reward: one per referred user, whoever referred them.
pub fn referral_key(referred: &UserId) -> String {
    format!("referral:{referred}")
}
