//! Stored pipelines, their runs and the scheduler's tick claims, on SQLite and
//! PostgreSQL. The rules live in `levqor_pipelines::ports`; this module reads
//! and writes rows.
//!
//! A new version is written under a lock on its pipeline's row: `SELECT … FOR
//! UPDATE` on PostgreSQL, the `BEGIN IMMEDIATE` write lock on SQLite, so
//! concurrent writers get distinct, consecutive versions. A tick is claimed by
//! inserting its `(pipeline_id, tick)` row: only one insert succeeds.

use diesel::prelude::*;
use levqor_core::{AuditAction, AuditContext, Cursor, ObjectRef, ObjectType, Page, StorageError, Timestamp, UserId};
use levqor_jobs::JobId;
use levqor_pipelines::ports::{
    check_same_steps, check_state, page_of, parse_pipeline_cursor, parse_run_cursor, pipeline_cursor, run_cursor,
    schedule_of, version_to_i32,
};
use levqor_pipelines::{
    NewRun, Pipeline, PipelineId, PipelineRepo, PipelinesError, RunRepo, RunState, ScheduleClaims, ScheduledPipeline,
    StoredPipeline, StoredRun,
};

use crate::connection::{DbConnection, IsConflict, Store};
use crate::error::{db_error, failure, to_u32};
use crate::schema::{pipeline_runs, pipeline_versions, pipelines, schedule_ticks};
use crate::time::{from_db, to_db};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = pipelines)]
struct PipelineRow {
    id: String,
    owner: String,
    current_version: i32,
    schedule: Option<String>,
    webhook_token_hash: Option<String>,
    deleted_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = pipeline_versions)]
struct VersionRow {
    pipeline_id: String,
    version: i32,
    document: String,
    created_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = pipeline_runs)]
struct RunRow {
    job_id: String,
    pipeline_id: String,
    version: i32,
    owner: String,
    input: String,
    state: String,
    reservation_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = schedule_ticks)]
struct TickRow {
    pipeline_id: String,
    tick: i64,
    claimed_at: i64,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(failure)
}

fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, StorageError> {
    raw.parse().map_err(|_| failure(format!("stored {what} `{raw}` is not valid")))
}

impl PipelineRow {
    fn is_live_for(&self, owner: &UserId) -> bool {
        self.owner == owner.to_string() && self.deleted_at.is_none()
    }

    fn with_version(&self, version: VersionRow) -> Result<StoredPipeline, StorageError> {
        Ok(StoredPipeline {
            id: parse_id(&self.id, "pipeline id")?,
            owner: parse_id(&self.owner, "owner")?,
            version: to_u32(version.version),
            latest_version: to_u32(self.current_version),
            pipeline: serde_json::from_str::<Pipeline>(&version.document).map_err(failure)?,
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
            version_created_at: from_db(version.created_at),
            deleted: self.deleted_at.is_some(),
        })
    }
}

impl RunRow {
    fn from_new(run: &NewRun) -> Result<Self, StorageError> {
        Ok(Self {
            job_id: run.job_id.to_string(),
            pipeline_id: run.pipeline_id.to_string(),
            version: version_to_i32(run.version),
            owner: run.owner.to_string(),
            input: to_json(&run.input)?,
            state: to_json(&run.state)?,
            reservation_id: run.reservation_id.clone(),
            created_at: to_db(run.created_at),
            updated_at: to_db(run.created_at),
        })
    }

    fn into_run(self) -> Result<StoredRun, StorageError> {
        Ok(StoredRun {
            job_id: parse_id(&self.job_id, "job id")?,
            pipeline_id: parse_id(&self.pipeline_id, "pipeline id")?,
            version: to_u32(self.version),
            owner: parse_id(&self.owner, "owner")?,
            input: serde_json::from_str(&self.input).map_err(failure)?,
            state: serde_json::from_str(&self.state).map_err(failure)?,
            reservation_id: self.reservation_id,
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
        })
    }
}

fn load_row(conn: &mut DbConnection, id: &PipelineId) -> Result<Option<PipelineRow>, StorageError> {
    pipelines::table.find(id.to_string()).select(PipelineRow::as_select()).first(conn).optional().map_err(db_error)
}

/// The pipeline's row, locked until the transaction ends on PostgreSQL; on
/// SQLite the surrounding `BEGIN IMMEDIATE` already holds the write lock.
fn lock_row(conn: &mut DbConnection, id: &PipelineId) -> Result<Option<PipelineRow>, StorageError> {
    match conn {
        DbConnection::Pg(pg) => pipelines::table
            .find(id.to_string())
            .for_update()
            .select(PipelineRow::as_select())
            .first(pg)
            .optional()
            .map_err(db_error),
        DbConnection::Sqlite(_) => load_row(conn, id),
    }
}

fn load_version(conn: &mut DbConnection, id: &PipelineId, version: u32) -> Result<Option<VersionRow>, StorageError> {
    pipeline_versions::table
        .find((id.to_string(), version_to_i32(version)))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()
        .map_err(db_error)
}

/// The row and its latest version.
fn load_latest(conn: &mut DbConnection, id: &PipelineId) -> Result<Option<(PipelineRow, VersionRow)>, StorageError> {
    pipelines::table
        .inner_join(
            pipeline_versions::table.on(pipeline_versions::pipeline_id
                .eq(pipelines::id)
                .and(pipeline_versions::version.eq(pipelines::current_version))),
        )
        .filter(pipelines::id.eq(id.to_string()))
        .select((PipelineRow::as_select(), VersionRow::as_select()))
        .first(conn)
        .optional()
        .map_err(db_error)
}

/// Locks the owner's live pipeline for a change, or `NotFound`.
fn lock_owned(conn: &mut DbConnection, owner: &UserId, id: &PipelineId) -> Result<PipelineRow, PipelinesError> {
    lock_row(conn, id)?.filter(|row| row.is_live_for(owner)).ok_or(PipelinesError::NotFound)
}

/// Stores `run` in the caller's transaction (so a run can be stored with its
/// job and its credit reservation, all or nothing).
pub(crate) fn insert_run(conn: &mut DbConnection, run: &NewRun) -> Result<StoredRun, PipelinesError> {
    let row = load_row(conn, &run.pipeline_id)?
        .filter(|row| row.owner == run.owner.to_string())
        .ok_or(PipelinesError::NotFound)?;
    let version = load_version(conn, &run.pipeline_id, run.version)?.ok_or(PipelinesError::NotFound)?;
    check_state(&run.state, &row.with_version(version)?.pipeline)?;
    diesel::insert_into(pipeline_runs::table).values(RunRow::from_new(run)?).execute(conn).map_err(db_error)?;
    Ok(run.to_run())
}

impl PipelineRepo for Store {
    fn create(
        &self,
        owner: &UserId,
        pipeline: &Pipeline,
        webhook_token_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<StoredPipeline, PipelinesError> {
        let id = PipelineId::new();
        let row = PipelineRow {
            id: id.to_string(),
            owner: owner.to_string(),
            current_version: 1,
            schedule: schedule_of(pipeline).map(str::to_owned),
            webhook_token_hash: webhook_token_hash.map(str::to_owned),
            deleted_at: None,
            created_at: to_db(now),
            updated_at: to_db(now),
        };
        let version = VersionRow {
            pipeline_id: id.to_string(),
            version: 1,
            document: to_json(pipeline)?,
            created_at: to_db(now),
        };
        self.write(|conn| {
            diesel::insert_into(pipelines::table).values(&row).execute(conn).map_err(db_error)?;
            diesel::insert_into(pipeline_versions::table).values(&version).execute(conn).map_err(db_error)?;
            Ok::<_, PipelinesError>(())
        })?;
        Ok(row.with_version(version)?)
    }

    fn new_version(
        &self,
        owner: &UserId,
        id: &PipelineId,
        pipeline: &Pipeline,
        now: Timestamp,
    ) -> Result<StoredPipeline, PipelinesError> {
        let document = to_json(pipeline)?;
        let schedule = schedule_of(pipeline).map(str::to_owned);
        self.write_retrying(|conn| {
            let mut row = lock_owned(conn, owner, id)?;
            let next = row.current_version.checked_add(1).ok_or_else(|| failure("too many versions"))?;
            let version = VersionRow {
                pipeline_id: id.to_string(),
                version: next,
                document: document.clone(),
                created_at: to_db(now),
            };
            diesel::insert_into(pipeline_versions::table).values(&version).execute(conn).map_err(db_error)?;
            diesel::update(pipelines::table.find(id.to_string()))
                .set((
                    pipelines::current_version.eq(next),
                    pipelines::schedule.eq(schedule.clone()),
                    pipelines::updated_at.eq(to_db(now)),
                ))
                .execute(conn)
                .map_err(db_error)?;
            row.current_version = next;
            row.schedule = schedule.clone();
            row.updated_at = to_db(now);
            Ok(row.with_version(version)?)
        })
    }

    fn get(&self, owner: &UserId, id: &PipelineId) -> Result<StoredPipeline, PipelinesError> {
        let found = self.read(|conn| load_latest(conn, id))?;
        match found {
            Some((row, version)) if row.is_live_for(owner) => Ok(row.with_version(version)?),
            _ => Err(PipelinesError::NotFound),
        }
    }

    fn get_version(&self, id: &PipelineId, version: u32) -> Result<StoredPipeline, PipelinesError> {
        let found = self.read(|conn| {
            let Some(row) = load_row(conn, id)? else { return Ok(None) };
            Ok(load_version(conn, id, version)?.map(|v| (row, v)))
        })?;
        let (row, version) = found.ok_or(PipelinesError::NotFound)?;
        Ok(row.with_version(version)?)
    }

    fn list(
        &self,
        owner: &UserId,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<StoredPipeline>, PipelinesError> {
        let after = cursor.map(parse_pipeline_cursor).transpose()?;
        let limit = limit.max(1);
        let rows = self.read(|conn| {
            let mut query = pipelines::table
                .inner_join(
                    pipeline_versions::table.on(pipeline_versions::pipeline_id
                        .eq(pipelines::id)
                        .and(pipeline_versions::version.eq(pipelines::current_version))),
                )
                .filter(pipelines::owner.eq(owner.to_string()))
                .filter(pipelines::deleted_at.is_null())
                .into_boxed();
            if let Some(after) = &after {
                query = query.filter(pipelines::id.lt(after.to_string()));
            }
            query
                .order(pipelines::id.desc())
                .limit(i64::from(limit) + 1)
                .select((PipelineRow::as_select(), VersionRow::as_select()))
                .load::<(PipelineRow, VersionRow)>(conn)
                .map_err(db_error)
        })?;
        let items = rows.into_iter().map(|(row, v)| row.with_version(v)).collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(items, limit, |p| pipeline_cursor(&p.id)))
    }

    fn delete(
        &self,
        owner: &UserId,
        id: &PipelineId,
        now: Timestamp,
        audit: Option<&AuditContext>,
    ) -> Result<(), PipelinesError> {
        self.write(|conn| {
            lock_owned(conn, owner, id)?;
            diesel::update(pipelines::table.find(id.to_string()))
                .set((pipelines::deleted_at.eq(Some(to_db(now))), pipelines::updated_at.eq(to_db(now))))
                .execute(conn)
                .map_err(db_error)?;
            let object = ObjectRef::new(ObjectType::Pipeline, id);
            crate::audit::record(conn, audit, AuditAction::PipelineDelete, object, Some(owner), now)?;
            Ok(())
        })
    }

    fn set_webhook_token(
        &self,
        owner: &UserId,
        id: &PipelineId,
        webhook_token_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<(), PipelinesError> {
        self.write(|conn| {
            lock_owned(conn, owner, id)?;
            diesel::update(pipelines::table.find(id.to_string()))
                .set((
                    pipelines::webhook_token_hash.eq(webhook_token_hash.map(str::to_owned)),
                    pipelines::updated_at.eq(to_db(now)),
                ))
                .execute(conn)
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn find_by_webhook(&self, id: &PipelineId) -> Result<(StoredPipeline, String), PipelinesError> {
        let found = self.read(|conn| load_latest(conn, id))?;
        let Some((row, version)) = found.filter(|(row, _)| row.deleted_at.is_none()) else {
            return Err(PipelinesError::NotFound);
        };
        let hash = row.webhook_token_hash.clone().ok_or(PipelinesError::NotFound)?;
        Ok((row.with_version(version)?, hash))
    }

    fn scheduled(&self) -> Result<Vec<ScheduledPipeline>, PipelinesError> {
        let rows: Vec<(String, String, i32, Option<String>)> = self.read(|conn| {
            pipelines::table
                .filter(pipelines::schedule.is_not_null())
                .filter(pipelines::deleted_at.is_null())
                .order(pipelines::id)
                .select((pipelines::id, pipelines::owner, pipelines::current_version, pipelines::schedule))
                .load(conn)
                .map_err(db_error)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, owner, version, cron) in rows {
            let Some(cron) = cron else { continue };
            out.push(ScheduledPipeline {
                id: parse_id(&id, "pipeline id")?,
                owner: parse_id(&owner, "owner")?,
                version: to_u32(version),
                cron,
            });
        }
        Ok(out)
    }
}

impl RunRepo for Store {
    fn create_run(&self, run: &NewRun) -> Result<StoredRun, PipelinesError> {
        self.write(|conn| insert_run(conn, run))
    }

    fn get_run(&self, job_id: &JobId) -> Result<Option<StoredRun>, PipelinesError> {
        let row = self.read(|conn| {
            pipeline_runs::table
                .find(job_id.to_string())
                .select(RunRow::as_select())
                .first(conn)
                .optional()
                .map_err(db_error)
        })?;
        Ok(row.map(RunRow::into_run).transpose()?)
    }

    fn save_state(&self, job_id: &JobId, state: &RunState, now: Timestamp) -> Result<(), PipelinesError> {
        let json = to_json(state)?;
        self.write(|conn| {
            let old: String = pipeline_runs::table
                .find(job_id.to_string())
                .select(pipeline_runs::state)
                .first(conn)
                .optional()
                .map_err(db_error)?
                .ok_or(PipelinesError::NotFound)?;
            let old: RunState = serde_json::from_str(&old).map_err(failure)?;
            check_same_steps(&old, state)?;
            diesel::update(pipeline_runs::table.find(job_id.to_string()))
                .set((pipeline_runs::state.eq(&json), pipeline_runs::updated_at.eq(to_db(now))))
                .execute(conn)
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn list_runs(
        &self,
        owner: &UserId,
        pipeline_id: Option<&PipelineId>,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<StoredRun>, PipelinesError> {
        let after = cursor.map(parse_run_cursor).transpose()?;
        let limit = limit.max(1);
        let rows = self.read(|conn| {
            let mut query = pipeline_runs::table.filter(pipeline_runs::owner.eq(owner.to_string())).into_boxed();
            if let Some(pipeline_id) = pipeline_id {
                query = query.filter(pipeline_runs::pipeline_id.eq(pipeline_id.to_string()));
            }
            if let Some(after) = &after {
                query = query.filter(pipeline_runs::job_id.lt(after.to_string()));
            }
            query
                .order(pipeline_runs::job_id.desc())
                .limit(i64::from(limit) + 1)
                .select(RunRow::as_select())
                .load::<RunRow>(conn)
                .map_err(db_error)
        })?;
        let items = rows.into_iter().map(RunRow::into_run).collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(items, limit, |r| run_cursor(&r.job_id)))
    }
}

impl ScheduleClaims for Store {
    fn claim_tick(&self, pipeline_id: &PipelineId, tick: Timestamp, now: Timestamp) -> Result<bool, PipelinesError> {
        let row = TickRow { pipeline_id: pipeline_id.to_string(), tick: to_db(tick), claimed_at: to_db(now) };
        // One statement, committed on its own: the first insert wins, the
        // others find the row and insert nothing.
        let inserted = self.read(|conn| {
            match conn {
                DbConnection::Pg(pg) => {
                    diesel::insert_into(schedule_ticks::table).values(&row).on_conflict_do_nothing().execute(pg)
                }
                DbConnection::Sqlite(lite) => {
                    diesel::insert_into(schedule_ticks::table).values(&row).on_conflict_do_nothing().execute(lite)
                }
            }
            .map_err(db_error)
        });
        match inserted {
            Ok(n) => Ok(n == 1),
            Err(StorageError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn purge_ticks(&self, before: Timestamp) -> Result<u64, PipelinesError> {
        let n = self.write(|conn| {
            diesel::delete(schedule_ticks::table.filter(schedule_ticks::tick.lt(to_db(before))))
                .execute(conn)
                .map_err(db_error)
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

impl IsConflict for PipelinesError {
    fn is_conflict(&self) -> bool {
        matches!(self, PipelinesError::Storage(StorageError::Conflict(_)))
    }
}

/// Why [`Store::start_run`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum StartRunError {
    #[error(transparent)]
    Billing(#[from] levqor_billing::BillingError),
    #[error(transparent)]
    Pipelines(#[from] PipelinesError),
}

impl From<StorageError> for StartRunError {
    fn from(e: StorageError) -> Self {
        Self::Pipelines(PipelinesError::Storage(e))
    }
}

/// Everything [`Store::start_run`] writes.
#[derive(Debug, Clone)]
pub struct RunStart {
    pub run: NewRun,
    pub job: levqor_jobs::NewJob,
    /// Credits reserved for the run, held for `ttl` at most.
    pub amount: levqor_core::Credits,
    pub reason: String,
    pub ttl: chrono::TimeDelta,
    /// Refuse when the owner's run spending, this run included, exceeds it.
    pub cap: Option<levqor_billing::SpendingCap>,
    /// The answer to record for an `Idempotency-Key`.
    pub recorded: Option<levqor_jobs::RecordedResponse>,
}

impl Store {
    /// Starts a pipeline run in one transaction: reserves the run's credits
    /// (`InsufficientCredits` or `SpendingCapReached`: nothing is written), stores
    /// the run with the reservation's id, enqueues its job and records the
    /// `Idempotency-Key` answer. All of them or none.
    pub fn start_run(&self, start: &RunStart) -> Result<levqor_billing::Reservation, StartRunError> {
        let RunStart { run, job, amount, reason, ttl, cap, recorded } = start;
        let (amount, ttl) = (*amount, *ttl);
        self.write(|conn| {
            let reservation = crate::ledger::reserve_in(conn, &run.owner, amount, reason, ttl, run.created_at)?;
            if let Some(cap) = *cap {
                // Under the balance row's lock: simultaneous starts cannot both pass.
                cap.check(crate::ledger::run_spending_since(conn, &run.owner, cap.since)?, amount)?;
            }
            let run = NewRun { reservation_id: Some(reservation.id.to_string()), ..run.clone() };
            insert_run(conn, &run)?;
            crate::jobs::insert_jobs(conn, std::slice::from_ref(job))?;
            if let Some(recorded) = recorded {
                crate::idempotency::record_completion(conn, recorded, run.created_at)?;
            }
            Ok(reservation)
        })
    }
}
