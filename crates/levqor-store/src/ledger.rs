//! The credit ledger on SQLite and PostgreSQL. The arithmetic comes from
//! `levqor_billing::ledger` (`plan_*`); this module only serialises the writers of
//! one user, reads the balance, asks the rule, and writes exactly what it returns.
//!
//! Every write is one transaction that first takes the user's `credit_balances`
//! row: `SELECT … FOR UPDATE` on PostgreSQL (inserting the row with balance 0 the
//! first time), while SQLite's `BEGIN IMMEDIATE` already makes the writer alone.
//! Concurrent reservations therefore queue, and the balance can never go below
//! zero (the `CHECK (balance >= 0)` columns are a second line of defence).

use std::collections::BTreeMap;

use chrono::TimeDelta;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use levqor_billing::{
    BillingError, ClosePlan, EntryId, EntryKind, Grant, GrantOutcome, Ledger, LedgerEntry, Posting, Reservation,
    ReservationId, ReservationState, plan_adjust, plan_grant, plan_release, plan_reserve, plan_settle,
};
use levqor_core::{
    AuditAction, AuditContext, Credits, Cursor, ObjectRef, ObjectType, Page, StorageError, Timestamp, UserId,
};

use crate::connection::{DbConnection, IsConflict, Store};
use crate::error::db_error;
use crate::schema::{credit_balances as cb, credit_reservations as cr, ledger_entries as le, ledger_once_keys as lok};
use crate::time::{from_db, to_db};

fn corrupt(what: &str, value: &str) -> StorageError {
    StorageError::Failure(format!("stored {what} `{value}` is not valid"))
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = le)]
struct EntryRow {
    id: String,
    user_id: String,
    kind: String,
    amount: i64,
    balance_after: i64,
    reason: String,
    reference: Option<String>,
    created_at: i64,
}

impl EntryRow {
    fn from_entry(e: &LedgerEntry) -> Self {
        Self {
            id: e.id.to_string(),
            user_id: e.user_id.to_string(),
            kind: e.kind.as_str().to_owned(),
            amount: e.amount.get(),
            balance_after: e.balance_after.get(),
            reason: e.reason.clone(),
            reference: e.reference.clone(),
            created_at: to_db(e.created_at),
        }
    }

    fn into_entry(self) -> Result<LedgerEntry, StorageError> {
        Ok(LedgerEntry {
            id: self.id.parse().map_err(|_| corrupt("entry id", &self.id))?,
            user_id: self.user_id.parse().map_err(|_| corrupt("user id", &self.user_id))?,
            kind: EntryKind::parse(&self.kind).ok_or_else(|| corrupt("entry kind", &self.kind))?,
            amount: Credits::new(self.amount),
            balance_after: Credits::new(self.balance_after),
            reason: self.reason,
            reference: self.reference,
            created_at: from_db(self.created_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = cr)]
struct ReservationRow {
    id: String,
    user_id: String,
    amount: i64,
    charged: Option<i64>,
    reason: String,
    state: String,
    created_at: i64,
    expires_at: i64,
    closed_at: Option<i64>,
}

impl ReservationRow {
    fn from_reservation(r: &Reservation) -> Self {
        Self {
            id: r.id.to_string(),
            user_id: r.user_id.to_string(),
            amount: r.amount.get(),
            charged: r.charged.map(Credits::get),
            reason: r.reason.clone(),
            state: r.state.as_str().to_owned(),
            created_at: to_db(r.created_at),
            expires_at: to_db(r.expires_at),
            closed_at: None,
        }
    }

    fn into_reservation(self) -> Result<Reservation, StorageError> {
        Ok(Reservation {
            id: self.id.parse().map_err(|_| corrupt("reservation id", &self.id))?,
            user_id: self.user_id.parse().map_err(|_| corrupt("user id", &self.user_id))?,
            amount: Credits::new(self.amount),
            reason: self.reason,
            created_at: from_db(self.created_at),
            expires_at: from_db(self.expires_at),
            state: ReservationState::parse(&self.state).ok_or_else(|| corrupt("reservation state", &self.state))?,
            charged: self.charged.map(Credits::new),
        })
    }
}

fn locked_balance(pg: &mut PgConnection, user: &str) -> QueryResult<Option<i64>> {
    cb::table.find(user).select(cb::balance).for_update().first::<i64>(pg).optional()
}

/// Takes the user's balance row for the rest of the transaction and returns the
/// balance. Creates the row (balance 0) the first time; a user that does not exist
/// fails on the foreign key.
/// Holds `amount` of `user`'s balance inside the caller's transaction.
pub(crate) fn reserve_in(
    conn: &mut DbConnection,
    user: &UserId,
    amount: Credits,
    reason: &str,
    ttl: TimeDelta,
    now: Timestamp,
) -> Result<Reservation, BillingError> {
    let balance = lock_balance(conn, &user.to_string(), to_db(now))?;
    let plan = plan_reserve(balance, user, amount, reason, ttl, now)?;
    let row = ReservationRow::from_reservation(&plan.reservation);
    diesel::insert_into(cr::table).values(&row).execute(conn).map_err(db_error)?;
    post(conn, user, plan.posting, now)?;
    Ok(row.into_reservation()?)
}

/// What `user`'s runs spent from `since` on (see [`levqor_billing::SpendingCap`]).
/// Called after [`reserve_in`] took the balance row, so concurrent starts for the
/// same user see each other's reservations.
pub(crate) fn run_spending_since(
    conn: &mut DbConnection,
    user: &UserId,
    since: Timestamp,
) -> Result<Credits, StorageError> {
    let kinds: Vec<&str> = EntryKind::RUN_SPENDING.iter().map(|k| k.as_str()).collect();
    // SUM(BIGINT) is NUMERIC on PostgreSQL: cast back, so both backends read an i64.
    let moved: i64 = le::table
        .filter(le::user_id.eq(user.to_string()))
        .filter(le::created_at.ge(to_db(since)))
        .filter(le::kind.eq_any(kinds))
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(COALESCE(SUM(amount), 0) AS BIGINT)"))
        .first(conn)
        .map_err(db_error)?;
    Ok(Credits::new(moved.saturating_neg().max(0)))
}

fn lock_balance(conn: &mut DbConnection, user: &str, now: i64) -> Result<Credits, StorageError> {
    let fresh = (cb::user_id.eq(user), cb::balance.eq(0_i64), cb::updated_at.eq(now));
    match conn {
        DbConnection::Pg(pg) => {
            if let Some(balance) = locked_balance(pg, user).map_err(db_error)? {
                return Ok(Credits::new(balance));
            }
            // A concurrent first writer may insert the row too: DO NOTHING waits for
            // it to commit, and the locking read below then takes its row.
            diesel::insert_into(cb::table).values(fresh).on_conflict_do_nothing().execute(pg).map_err(db_error)?;
            locked_balance(pg, user)
                .map_err(db_error)?
                .map(Credits::new)
                .ok_or_else(|| StorageError::Conflict("the balance row vanished while it was being locked".into()))
        }
        DbConnection::Sqlite(lite) => {
            // `BEGIN IMMEDIATE` holds the write lock: nobody else can insert it meanwhile.
            let found = cb::table.find(user).select(cb::balance).first::<i64>(lite).optional().map_err(db_error)?;
            if let Some(balance) = found {
                return Ok(Credits::new(balance));
            }
            diesel::insert_into(cb::table).values(fresh).execute(lite).map_err(db_error)?;
            Ok(Credits::ZERO)
        }
    }
}

/// Appends the posting as an entry and moves the balance row to its `balance_after`.
/// Returns the entry as stored (times at microsecond precision).
fn post(conn: &mut DbConnection, user: &UserId, posting: Posting, now: Timestamp) -> Result<LedgerEntry, StorageError> {
    let row = EntryRow::from_entry(&posting.into_entry(user, now));
    diesel::insert_into(le::table).values(&row).execute(conn).map_err(db_error)?;
    let moved = diesel::update(cb::table.find(&row.user_id))
        .set((cb::balance.eq(row.balance_after), cb::updated_at.eq(row.created_at)))
        .execute(conn)
        .map_err(db_error)?;
    if moved != 1 {
        return Err(StorageError::Failure(format!("no balance row for user {}", row.user_id)));
    }
    row.into_entry()
}

fn load_reservation(conn: &mut DbConnection, id: &str) -> Result<Option<Reservation>, StorageError> {
    cr::table
        .find(id)
        .select(ReservationRow::as_select())
        .first::<ReservationRow>(conn)
        .optional()
        .map_err(db_error)?
        .map(ReservationRow::into_reservation)
        .transpose()
}

/// Writes a settlement or release: the reservation's final state (only if it is
/// still held) and the entry that returns what was not used.
fn close(conn: &mut DbConnection, plan: ClosePlan, now: Timestamp) -> Result<Reservation, BillingError> {
    let r = &plan.reservation;
    let closed = diesel::update(
        cr::table.filter(cr::id.eq(r.id.to_string())).filter(cr::state.eq(ReservationState::Held.as_str())),
    )
    .set((
        cr::state.eq(r.state.as_str()),
        cr::charged.eq(r.charged.map(Credits::get)),
        cr::closed_at.eq(Some(to_db(now))),
    ))
    .execute(conn)
    .map_err(db_error)?;
    if closed != 1 {
        return Err(StorageError::Conflict("the reservation was closed concurrently".into()).into());
    }
    post(conn, &r.user_id, plan.posting, now)?;
    load_reservation(conn, &r.id.to_string())?
        .ok_or_else(|| StorageError::Failure("a closed reservation vanished".into()).into())
}

impl IsConflict for BillingError {
    fn is_conflict(&self) -> bool {
        matches!(self, BillingError::Storage(StorageError::Conflict(_)))
    }
}

impl Store {
    /// Settle or release one reservation under its user's balance lock.
    fn close_reservation(
        &self,
        id: &ReservationId,
        now: Timestamp,
        plan: impl Fn(Credits, &Reservation) -> Result<ClosePlan, BillingError>,
    ) -> Result<Reservation, BillingError> {
        let id = id.to_string();
        self.write(|conn| {
            let seen = load_reservation(conn, &id)?.ok_or(BillingError::NotFound)?;
            let balance = lock_balance(conn, &seen.user_id.to_string(), to_db(now))?;
            // On PostgreSQL a concurrent settle, release or sweep may have closed it
            // between the first read and the lock: read it again under the lock.
            let current = match conn {
                DbConnection::Pg(_) => load_reservation(conn, &id)?.ok_or(BillingError::NotFound)?,
                DbConnection::Sqlite(_) => seen,
            };
            let plan = plan(balance, &current)?;
            close(conn, plan, now)
        })
    }

    /// Releases this user's held reservations among `ids` that are due at `now`, in
    /// one transaction under the user's lock; returns how many.
    fn expire_for_user(&self, user: &str, ids: &[String], now: Timestamp) -> Result<u64, BillingError> {
        self.write(|conn| {
            let mut balance = lock_balance(conn, user, to_db(now))?;
            let mut released = 0;
            for id in ids {
                let Some(r) = load_reservation(conn, id)? else { continue };
                // Settled or released since the sweeper listed it.
                if r.state != ReservationState::Held || r.expires_at > now {
                    continue;
                }
                let plan = plan_release(balance, &r, true)?;
                balance = plan.posting.balance_after;
                close(conn, plan, now)?;
                released += 1;
            }
            Ok(released)
        })
    }
}

impl Ledger for Store {
    fn balance(&self, user: &UserId) -> Result<Credits, BillingError> {
        let user = user.to_string();
        let found = self
            .read(|conn| cb::table.find(&user).select(cb::balance).first::<i64>(conn).optional().map_err(db_error))?;
        Ok(found.map_or(Credits::ZERO, Credits::new))
    }

    fn entries(&self, user: &UserId, cursor: Option<&Cursor>, limit: u32) -> Result<Page<LedgerEntry>, BillingError> {
        let before: Option<EntryId> = cursor
            .map(|c| c.0.parse().map_err(|_| BillingError::invalid("cursor", "is not a valid cursor")))
            .transpose()?;
        let limit = limit.clamp(1, Page::<LedgerEntry>::MAX_LIMIT);
        let user = user.to_string();
        let rows = self.read(|conn| {
            let mut query = le::table.filter(le::user_id.eq(&user)).into_boxed();
            if let Some(before) = &before {
                query = query.filter(le::id.lt(before.to_string()));
            }
            query
                .order(le::id.desc())
                .limit(i64::from(limit) + 1)
                .select(EntryRow::as_select())
                .load::<EntryRow>(conn)
                .map_err(db_error)
        })?;
        let mut items = rows.into_iter().map(EntryRow::into_entry).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| Cursor(e.id.to_string()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    fn grant_once(&self, grant: &Grant, keys: &[String]) -> Result<GrantOutcome, BillingError> {
        let user = grant.user.to_string();
        // Sorted, so two grants that share keys insert them in the same order and
        // cannot deadlock on PostgreSQL's unique index.
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        // A concurrent grant of another user that claims one of our keys first makes
        // our key insert a unique violation (a conflict, which also aborts the
        // PostgreSQL transaction); the retry's check below then sees its key.
        self.write_retrying(|conn| {
            let balance = lock_balance(conn, &user, to_db(grant.now))?;
            let posting = plan_grant(balance, grant.kind, grant.amount, &grant.reason, grant.reference.as_deref())?;
            if !keys.is_empty() {
                let claimed: i64 =
                    lok::table.filter(lok::key.eq_any(keys.as_slice())).count().get_result(conn).map_err(db_error)?;
                if claimed > 0 {
                    return Ok(GrantOutcome::AlreadyGranted);
                }
            }
            let entry = post(conn, &grant.user, posting, grant.now)?;
            let entry_id = entry.id.to_string();
            for key in &keys {
                diesel::insert_into(lok::table)
                    .values((lok::key.eq(key), lok::entry_id.eq(&entry_id)))
                    .execute(conn)
                    .map_err(db_error)?;
            }
            Ok(GrantOutcome::Granted(entry))
        })
    }

    fn adjust(
        &self,
        user: &UserId,
        delta: Credits,
        reason: &str,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<LedgerEntry, BillingError> {
        let id = user.to_string();
        self.write(|conn| {
            let balance = lock_balance(conn, &id, to_db(now))?;
            let posting = plan_adjust(balance, delta, reason)?;
            let entry = post(conn, user, posting, now)?;
            let object = ObjectRef::new(ObjectType::LedgerEntry, &entry.id);
            crate::audit::record(conn, audit, AuditAction::CreditsGrant, object, Some(user), now)?;
            Ok(entry)
        })
    }

    fn reserve(
        &self,
        user: &UserId,
        amount: Credits,
        reason: &str,
        ttl: TimeDelta,
        now: Timestamp,
    ) -> Result<Reservation, BillingError> {
        self.write(|conn| reserve_in(conn, user, amount, reason, ttl, now))
    }

    fn settle(&self, id: &ReservationId, actual: Credits, now: Timestamp) -> Result<Reservation, BillingError> {
        self.close_reservation(id, now, |balance, r| plan_settle(balance, r, actual))
    }

    fn release(&self, id: &ReservationId, now: Timestamp) -> Result<Reservation, BillingError> {
        self.close_reservation(id, now, |balance, r| plan_release(balance, r, false))
    }

    fn reservation(&self, id: &ReservationId) -> Result<Option<Reservation>, BillingError> {
        let id = id.to_string();
        Ok(self.read(|conn| load_reservation(conn, &id))?)
    }

    fn expire_reservations(&self, now: Timestamp) -> Result<u64, BillingError> {
        let due: Vec<(String, String)> = self.read(|conn| {
            cr::table
                .filter(cr::state.eq(ReservationState::Held.as_str()))
                .filter(cr::expires_at.le(to_db(now)))
                .order(cr::id)
                .select((cr::user_id, cr::id))
                .load(conn)
                .map_err(db_error)
        })?;
        let mut per_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (user, id) in due {
            per_user.entry(user).or_default().push(id);
        }
        // One transaction per user, so the sweeper holds one balance lock at a time
        // (no lock-order deadlock with anyone) and a user's releases are atomic.
        let mut released = 0;
        for (user, ids) in &per_user {
            released += self.expire_for_user(user, ids, now)?;
        }
        Ok(released)
    }
}
