//! `Idempotency-Key` records, and the intake write that stores a job together with
//! the response its key will replay.

use diesel::prelude::*;
use levqor_core::{StorageError, Timestamp};
use levqor_jobs::idempotency::{self, IdempotencyRecord, RecordState};
use levqor_jobs::{
    Begin, Fingerprint, IdempotencyKey, IdempotencyStore, Intake, Job, NewJob, RecordedResponse, StoredResponse,
};

use crate::connection::{DbConnection, Store};
use crate::error::db_error;
use crate::schema::idempotency_keys as ik;
use crate::time::{from_db, to_db};

#[derive(Queryable, Insertable)]
#[diesel(table_name = ik)]
struct Row {
    caller: String,
    key: String,
    fingerprint: String,
    status: Option<i32>,
    body: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl Row {
    fn into_record(self) -> Result<IdempotencyRecord, StorageError> {
        let corrupt = || StorageError::Failure("stored idempotency record is not valid".into());
        let state = match (self.status, self.body) {
            (Some(status), Some(body)) => {
                RecordState::Completed(StoredResponse { status: u16::try_from(status).map_err(|_| corrupt())?, body })
            }
            _ => RecordState::InFlight,
        };
        Ok(IdempotencyRecord {
            caller: self.caller,
            key: IdempotencyKey::parse(&self.key).map_err(|_| corrupt())?,
            fingerprint: Fingerprint::from_hex(&self.fingerprint).ok_or_else(corrupt)?,
            state,
            created_at: from_db(self.created_at),
            expires_at: from_db(self.expires_at),
        })
    }
}

pub(crate) fn record_completion(
    conn: &mut DbConnection,
    r: &RecordedResponse,
    now: Timestamp,
) -> Result<(), StorageError> {
    diesel::update(ik::table.filter(ik::caller.eq(&r.caller)).filter(ik::key.eq(r.key.as_str())))
        .set((
            ik::status.eq(Some(i32::from(r.response.status))),
            ik::body.eq(Some(&r.response.body)),
            ik::expires_at.eq(to_db(now + idempotency::RETENTION)),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(db_error)
}

impl Store {
    /// Store a batch of intakes in one transaction (group commit): every job, and
    /// every recorded response, or nothing.
    pub fn intake_batch(&self, batch: &[Intake], now: Timestamp) -> Result<Vec<Job>, StorageError> {
        let jobs: Vec<NewJob> = batch.iter().map(|i| i.job.clone()).collect();
        self.write(|conn| {
            let stored = crate::jobs::insert_jobs(conn, &jobs)?;
            for recorded in batch.iter().filter_map(|i| i.recorded.as_ref()) {
                record_completion(conn, recorded, now)?;
            }
            Ok(stored)
        })
    }
}

impl IdempotencyStore for Store {
    fn begin(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: Timestamp,
    ) -> Result<Begin, StorageError> {
        // Two first requests with one key race to insert; the loser's retry sees the
        // winner's in-flight record.
        self.write_retrying(|conn| {
            let existing = ik::table
                .filter(ik::caller.eq(caller))
                .filter(ik::key.eq(key.as_str()))
                .first::<Row>(conn)
                .optional()
                .map_err(db_error)?
                .map(Row::into_record)
                .transpose()?;
            let decision = idempotency::decide(existing.as_ref(), fingerprint, now);
            if decision == Begin::Fresh {
                let record = idempotency::in_flight_record(caller, key, fingerprint, now);
                // Replace only the record we read (expired or abandoned); with none read,
                // insert and let a concurrent first request's row win the unique key.
                if let Some(old) = &existing {
                    diesel::delete(
                        ik::table
                            .filter(ik::caller.eq(caller))
                            .filter(ik::key.eq(key.as_str()))
                            .filter(ik::created_at.eq(to_db(old.created_at))),
                    )
                    .execute(conn)
                    .map_err(db_error)?;
                }
                let row = Row {
                    caller: record.caller,
                    key: record.key.as_str().to_owned(),
                    fingerprint: record.fingerprint.to_hex(),
                    status: None,
                    body: None,
                    created_at: to_db(record.created_at),
                    expires_at: to_db(record.expires_at),
                };
                diesel::insert_into(ik::table).values(&row).execute(conn).map_err(db_error)?;
            }
            Ok(decision)
        })
    }

    fn complete(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        response: &StoredResponse,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let recorded = RecordedResponse { caller: caller.to_owned(), key: key.clone(), response: response.clone() };
        self.write(|conn| record_completion(conn, &recorded, now))
    }

    fn abandon(&self, caller: &str, key: &IdempotencyKey) -> Result<(), StorageError> {
        self.write(|conn| {
            diesel::delete(
                ik::table.filter(ik::caller.eq(caller)).filter(ik::key.eq(key.as_str())).filter(ik::status.is_null()),
            )
            .execute(conn)
            .map(|_| ())
            .map_err(db_error)
        })
    }

    fn purge_expired(&self, now: Timestamp) -> Result<u64, StorageError> {
        self.write(|conn| {
            diesel::delete(ik::table.filter(ik::expires_at.le(to_db(now))))
                .execute(conn)
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(db_error)
        })
    }
}
