//! An in-memory [`Ledger`]: for tests, and for running Levqor without a database
//! (credits are then lost on restart, so never in production). One mutex makes
//! every call a transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use chrono::TimeDelta;
use levqor_core::{
    AuditAction, AuditContext, AuditEntry, AuditError, AuditFilter, AuditLog, Credits, Cursor, MemoryAuditLog,
    ObjectRef, ObjectType, Page, StorageError, Timestamp, UserId,
};

use crate::error::BillingError;
use crate::ids::{EntryId, ReservationId};
use crate::ledger::{self, ClosePlan, LedgerEntry, Reservation, ReservationState};
use crate::ports::{Grant, GrantOutcome, Ledger};

#[derive(Default)]
struct State {
    /// Append-only, in commit order (which is also id order).
    entries: Vec<LedgerEntry>,
    balances: HashMap<UserId, Credits>,
    reservations: HashMap<ReservationId, Reservation>,
    /// Once-keys already used (the store's unique index).
    claimed: HashSet<String>,
}

impl State {
    fn balance(&self, user: &UserId) -> Credits {
        self.balances.get(user).copied().unwrap_or(Credits::ZERO)
    }

    fn append(&mut self, entry: LedgerEntry) -> LedgerEntry {
        self.balances.insert(entry.user_id.clone(), entry.balance_after);
        self.entries.push(entry.clone());
        entry
    }

    fn close(&mut self, plan: ClosePlan, now: Timestamp) -> Reservation {
        let user = plan.reservation.user_id.clone();
        self.append(plan.posting.into_entry(&user, now));
        self.reservations.insert(plan.reservation.id.clone(), plan.reservation.clone());
        plan.reservation
    }

    fn held(&self, id: &ReservationId) -> Result<(Reservation, Credits), BillingError> {
        let reservation = self.reservations.get(id).cloned().ok_or(BillingError::NotFound)?;
        let balance = self.balance(&reservation.user_id);
        Ok((reservation, balance))
    }
}

#[derive(Default)]
pub struct MemoryLedger {
    state: Mutex<State>,
    audit: MemoryAuditLog,
}

impl AuditLog for MemoryLedger {
    fn audit_entries(
        &self,
        filter: &AuditFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<AuditEntry>, AuditError> {
        self.audit.audit_entries(filter, cursor, limit)
    }
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StorageError> {
        self.state.lock().map_err(|_| StorageError::Failure("in-memory ledger poisoned".into()))
    }
}

impl Ledger for MemoryLedger {
    fn balance(&self, user: &UserId) -> Result<Credits, BillingError> {
        Ok(self.state()?.balance(user))
    }

    fn entries(&self, user: &UserId, cursor: Option<&Cursor>, limit: u32) -> Result<Page<LedgerEntry>, BillingError> {
        let before: Option<EntryId> = cursor
            .map(|c| c.0.parse().map_err(|_| BillingError::invalid("cursor", "is not a valid cursor")))
            .transpose()?;
        let limit = usize::try_from(limit.clamp(1, Page::<LedgerEntry>::MAX_LIMIT)).unwrap_or(usize::MAX);
        let state = self.state()?;
        let mut items: Vec<LedgerEntry> = state
            .entries
            .iter()
            .rev()
            .filter(|e| &e.user_id == user)
            .filter(|e| before.as_ref().is_none_or(|b| &e.id < b))
            .take(limit + 1)
            .cloned()
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|e| Cursor(e.id.to_string()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    fn grant_once(&self, grant: &Grant, keys: &[String]) -> Result<GrantOutcome, BillingError> {
        let mut state = self.state()?;
        let posting = ledger::plan_grant(
            state.balance(&grant.user),
            grant.kind,
            grant.amount,
            &grant.reason,
            grant.reference.as_deref(),
        )?;
        if keys.iter().any(|k| state.claimed.contains(k)) {
            return Ok(GrantOutcome::AlreadyGranted);
        }
        state.claimed.extend(keys.iter().cloned());
        let entry = state.append(posting.into_entry(&grant.user, grant.now));
        Ok(GrantOutcome::Granted(entry))
    }

    fn adjust(
        &self,
        user: &UserId,
        delta: Credits,
        reason: &str,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<LedgerEntry, BillingError> {
        let mut state = self.state()?;
        let posting = ledger::plan_adjust(state.balance(user), delta, reason)?;
        let entry = posting.into_entry(user, now);
        if let Some(ctx) = audit {
            let object = ObjectRef::new(ObjectType::LedgerEntry, &entry.id);
            self.audit.append(ctx.entry(AuditAction::CreditsGrant, object, Some(user.clone()), now))?;
        }
        Ok(state.append(entry))
    }

    fn reserve(
        &self,
        user: &UserId,
        amount: Credits,
        reason: &str,
        ttl: TimeDelta,
        now: Timestamp,
    ) -> Result<Reservation, BillingError> {
        let mut state = self.state()?;
        let plan = ledger::plan_reserve(state.balance(user), user, amount, reason, ttl, now)?;
        state.append(plan.posting.into_entry(user, now));
        state.reservations.insert(plan.reservation.id.clone(), plan.reservation.clone());
        Ok(plan.reservation)
    }

    fn settle(&self, id: &ReservationId, actual: Credits, now: Timestamp) -> Result<Reservation, BillingError> {
        let mut state = self.state()?;
        let (reservation, balance) = state.held(id)?;
        let plan = ledger::plan_settle(balance, &reservation, actual)?;
        Ok(state.close(plan, now))
    }

    fn release(&self, id: &ReservationId, now: Timestamp) -> Result<Reservation, BillingError> {
        let mut state = self.state()?;
        let (reservation, balance) = state.held(id)?;
        let plan = ledger::plan_release(balance, &reservation, false)?;
        Ok(state.close(plan, now))
    }

    fn reservation(&self, id: &ReservationId) -> Result<Option<Reservation>, BillingError> {
        Ok(self.state()?.reservations.get(id).cloned())
    }

    fn expire_reservations(&self, now: Timestamp) -> Result<u64, BillingError> {
        let mut state = self.state()?;
        let mut due: Vec<ReservationId> = state
            .reservations
            .values()
            .filter(|r| r.state == ReservationState::Held && r.expires_at <= now)
            .map(|r| r.id.clone())
            .collect();
        // Oldest first, so the entries read in a sensible order.
        due.sort();
        let mut released = 0;
        for id in due {
            let (reservation, balance) = state.held(&id)?;
            let plan = ledger::plan_release(balance, &reservation, true)?;
            state.close(plan, now);
            released += 1;
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Harness;

    crate::ledger_contract_tests!(MemoryLedger::new());

    /// The adapter the store uses, exercised here so its signature stays usable.
    mod through_harness {
        use super::*;

        fn make() -> Harness<MemoryLedger> {
            Harness::new(MemoryLedger::new(), |m| m, |_| UserId::new())
        }

        crate::ledger_contract_tests!(optional Some(make()));
    }
}
