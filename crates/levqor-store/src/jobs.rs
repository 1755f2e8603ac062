//! The job queue on SQLite and PostgreSQL. The rules (what the next state is, when
//! a failed job runs again) come from `levqor_jobs::rules`; this module only reads
//! rows, applies a rule, and writes the row back conditionally.

use chrono::TimeDelta;
use diesel::prelude::*;
use levqor_core::{Cursor, Page, StorageError, Timestamp, UserId};
use levqor_jobs::queue::{job_cursor, parse_job_cursor};
use levqor_jobs::retry::RetryPolicy;
use levqor_jobs::{
    ClaimRequest, ClaimedJob, FinishResult, Job, JobFilter, JobId, JobQueue, JobState, JobsError, LeaseToken, NewJob,
    Outcome, Priority, QueueCounts, rules,
};

use crate::connection::{DbConnection, Store};
use crate::error::{db_error, failure, to_i32, to_u32};
use crate::job_notify::notify_jobs;
use crate::schema::jobs;
use crate::time::{from_db, to_db};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs)]
struct JobRow {
    id: String,
    owner: String,
    workflow: String,
    payload: String,
    state: String,
    priority: i16,
    attempts: i32,
    max_attempts: i32,
    timeout_s: i32,
    run_at: i64,
    callback_url: Option<String>,
    result: Option<String>,
    error: Option<String>,
    lease_token: Option<String>,
    lease_expires_at: Option<i64>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    updated_at: i64,
}

impl JobRow {
    fn from_job(j: &Job) -> Result<Self, StorageError> {
        Ok(Self {
            id: j.id.to_string(),
            owner: j.owner.to_string(),
            workflow: j.workflow.clone(),
            payload: serde_json::to_string(&j.payload).map_err(failure)?,
            state: j.state.as_str().to_owned(),
            priority: j.priority.rank(),
            attempts: to_i32(j.attempts),
            max_attempts: to_i32(j.max_attempts),
            timeout_s: to_i32(j.timeout_s),
            run_at: to_db(j.run_at),
            callback_url: j.callback_url.clone(),
            result: j.result.as_ref().map(serde_json::to_string).transpose().map_err(failure)?,
            error: j.error.clone(),
            lease_token: j.lease_token.as_ref().map(|t| t.as_str().to_owned()),
            lease_expires_at: j.lease_expires_at.map(to_db),
            created_at: to_db(j.created_at),
            started_at: j.started_at.map(to_db),
            finished_at: j.finished_at.map(to_db),
            updated_at: to_db(j.updated_at),
        })
    }

    fn into_job(self) -> Result<Job, StorageError> {
        Ok(Job {
            id: self.id.parse().map_err(|_| failure(format!("stored job id `{}` is not valid", self.id)))?,
            owner: self.owner.parse().map_err(|_| failure(format!("stored owner `{}` is not valid", self.owner)))?,
            workflow: self.workflow,
            payload: serde_json::from_str(&self.payload).map_err(failure)?,
            state: JobState::parse(&self.state).map_err(failure)?,
            priority: Priority::from_rank(self.priority).ok_or_else(|| failure("stored priority is not valid"))?,
            attempts: to_u32(self.attempts),
            max_attempts: to_u32(self.max_attempts),
            timeout_s: to_u32(self.timeout_s),
            run_at: from_db(self.run_at),
            callback_url: self.callback_url,
            result: self.result.map(|r| serde_json::from_str(&r)).transpose().map_err(failure)?,
            error: self.error,
            lease_token: self.lease_token.map(LeaseToken::from_stored),
            lease_expires_at: self.lease_expires_at.map(from_db),
            created_at: from_db(self.created_at),
            started_at: self.started_at.map(from_db),
            finished_at: self.finished_at.map(from_db),
            updated_at: from_db(self.updated_at),
        })
    }
}

const CLAIMABLE: [&str; 2] = ["queued", "failed"];

fn load(conn: &mut DbConnection, id: &JobId) -> Result<Option<Job>, StorageError> {
    jobs::table
        .find(id.to_string())
        .first::<JobRow>(conn)
        .optional()
        .map_err(db_error)?
        .map(JobRow::into_job)
        .transpose()
}

/// The columns a state transition changes (`levqor_jobs::rules` never touches the
/// rest): writing only these keeps the payload out of every claim and completion.
#[derive(AsChangeset)]
#[diesel(table_name = jobs, treat_none_as_null = true)]
struct Transition<'a> {
    state: &'a str,
    attempts: i32,
    run_at: i64,
    result: Option<String>,
    error: Option<&'a str>,
    lease_token: Option<&'a str>,
    lease_expires_at: Option<i64>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    updated_at: i64,
}

impl<'a> Transition<'a> {
    fn of(j: &'a Job) -> Result<Self, StorageError> {
        Ok(Self {
            state: j.state.as_str(),
            attempts: to_i32(j.attempts),
            run_at: to_db(j.run_at),
            result: j.result.as_ref().map(serde_json::to_string).transpose().map_err(failure)?,
            error: j.error.as_deref(),
            lease_token: j.lease_token.as_ref().map(LeaseToken::as_str),
            lease_expires_at: j.lease_expires_at.map(to_db),
            started_at: j.started_at.map(to_db),
            finished_at: j.finished_at.map(to_db),
            updated_at: to_db(j.updated_at),
        })
    }
}

/// Write `new` over `old` only if nobody changed the row since `old` was read
/// (same state, same `updated_at`). `false` means someone else got there first.
fn write_if_unchanged(conn: &mut DbConnection, old: &Job, new: &Job) -> Result<bool, StorageError> {
    let row = Transition::of(new)?;
    let n = diesel::update(
        jobs::table
            .filter(jobs::id.eq(old.id.to_string()))
            .filter(jobs::state.eq(old.state.as_str()))
            .filter(jobs::updated_at.eq(to_db(old.updated_at))),
    )
    .set(&row)
    .execute(conn)
    .map_err(db_error)?;
    Ok(n == 1)
}

/// Due jobs' ids and owners in claim order, read from the claim index alone (it
/// holds both), so choosing among a wide window reads no job rows. On PostgreSQL
/// the rows are locked and rows another claimer holds are skipped, so several
/// processes share one queue; on SQLite the surrounding `BEGIN IMMEDIATE` already
/// makes the claimer alone.
fn due_jobs(conn: &mut DbConnection, now: Timestamp, limit: i64) -> Result<Vec<(String, String)>, StorageError> {
    let now = to_db(now);
    match conn {
        DbConnection::Pg(pg) => jobs::table
            .filter(jobs::state.eq_any(CLAIMABLE))
            .filter(jobs::run_at.le(now))
            .order((jobs::priority.desc(), jobs::run_at, jobs::created_at, jobs::id))
            .limit(limit)
            .for_update()
            .skip_locked()
            .select((jobs::id, jobs::owner))
            .load(pg),
        // Named, because without statistics SQLite's planner may prefer the
        // `jobs_state` index for `state IN (…)` and then sort every queued job.
        DbConnection::Sqlite(lite) => diesel::sql_query(
            "SELECT id, owner FROM jobs INDEXED BY jobs_claimable \
             WHERE state IN ('queued', 'failed') AND run_at <= ? \
             ORDER BY priority DESC, run_at, created_at, id LIMIT ?",
        )
        .bind::<diesel::sql_types::BigInt, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .load::<DueJob>(lite)
        .map(|rows| rows.into_iter().map(|r| (r.id, r.owner)).collect()),
    }
    .map_err(db_error)
}

#[derive(QueryableByName)]
struct DueJob {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    owner: String,
}

/// The jobs with these ids, in the order given (ids not found are left out).
fn load_in_order(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<Job>, StorageError> {
    let mut found: std::collections::HashMap<String, JobRow> = jobs::table
        .filter(jobs::id.eq_any(ids))
        .select(JobRow::as_select())
        .load::<JobRow>(conn)
        .map_err(db_error)?
        .into_iter()
        .map(|row| (row.id.clone(), row))
        .collect();
    ids.iter().filter_map(|id| found.remove(id)).map(JobRow::into_job).collect()
}

fn expired_leases(conn: &mut DbConnection, now: Timestamp, limit: i64) -> Result<Vec<Job>, StorageError> {
    let now = to_db(now);
    let rows: Vec<JobRow> = match conn {
        DbConnection::Pg(pg) => jobs::table
            .filter(jobs::state.eq("running"))
            .filter(jobs::lease_expires_at.le(now))
            .limit(limit)
            .for_update()
            .skip_locked()
            .select(JobRow::as_select())
            .load(pg),
        DbConnection::Sqlite(lite) => jobs::table
            .filter(jobs::state.eq("running"))
            .filter(jobs::lease_expires_at.le(now))
            .limit(limit)
            .select(JobRow::as_select())
            .load(lite),
    }
    .map_err(db_error)?;
    rows.into_iter().map(JobRow::into_job).collect()
}

/// On PostgreSQL, claims in other processes run at the same time: each would
/// count an owner's running jobs before the others commit and together they
/// would pass the per-owner limit. A transaction-scoped advisory lock per owner
/// (taken in sorted order, so two claims cannot deadlock) makes the count and the
/// claim one step across processes. SQLite's single writer already serialises
/// claims.
fn lock_owners(conn: &mut DbConnection, owners: &[String]) -> Result<(), StorageError> {
    let DbConnection::Pg(pg) = conn else { return Ok(()) };
    for owner in owners {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7405))")
            .bind::<diesel::sql_types::Text, _>(owner)
            .execute(pg)
            .map_err(db_error)?;
    }
    Ok(())
}

fn running_per_owner(conn: &mut DbConnection, owners: &[String]) -> Result<Vec<(String, i64)>, StorageError> {
    jobs::table
        .filter(jobs::state.eq("running"))
        .filter(jobs::owner.eq_any(owners))
        .group_by(jobs::owner)
        .select((jobs::owner, diesel::dsl::count_star()))
        .load(conn)
        .map_err(db_error)
}

/// The job if `owner` owns it; another user's job is "not found".
fn load_owned(conn: &mut DbConnection, owner: &UserId, id: &JobId) -> Result<Job, JobsError> {
    load(conn, id)?.filter(|j| &j.owner == owner).ok_or(JobsError::NotFound)
}

pub(crate) fn insert_jobs(conn: &mut DbConnection, new: &[NewJob]) -> Result<Vec<Job>, StorageError> {
    let stored: Vec<Job> = new.iter().map(NewJob::to_job).collect();
    let rows = stored.iter().map(JobRow::from_job).collect::<Result<Vec<_>, _>>()?;
    // SQLite caps bound parameters per statement; 19 columns × 500 rows stays under it.
    for chunk in rows.chunks(500) {
        // Multi-row inserts differ per backend in Diesel's type system, not in SQL.
        match conn {
            DbConnection::Pg(pg) => diesel::insert_into(jobs::table).values(chunk).execute(pg),
            DbConnection::Sqlite(lite) => diesel::insert_into(jobs::table).values(chunk).execute(lite),
        }
        .map_err(db_error)?;
    }
    notify_jobs(conn)?;
    Ok(stored)
}

impl JobQueue for Store {
    fn enqueue(&self, job: &NewJob) -> Result<Job, JobsError> {
        let mut stored = self.enqueue_batch(std::slice::from_ref(job))?;
        stored.pop().ok_or_else(|| StorageError::Failure("insert returned nothing".into()).into())
    }

    fn enqueue_batch(&self, new: &[NewJob]) -> Result<Vec<Job>, JobsError> {
        Ok(self.write(|conn| insert_jobs(conn, new))?)
    }

    fn claim(&self, request: &ClaimRequest) -> Result<Vec<ClaimedJob>, JobsError> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        self.write(|conn| {
            // Read a few more than asked when a per-owner limit may skip some.
            let window = if request.per_owner_limit.is_some() { request.limit * 4 } else { request.limit };
            let due = due_jobs(conn, request.now, i64::from(window))?;
            let mut running: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
            if request.per_owner_limit.is_some() && !due.is_empty() {
                let mut owners: Vec<String> = due.iter().map(|(_, owner)| owner.clone()).collect();
                owners.sort();
                owners.dedup();
                lock_owners(conn, &owners)?;
                running.extend(running_per_owner(conn, &owners)?);
            }
            let mut chosen = Vec::new();
            for (id, owner) in due {
                if chosen.len() >= request.limit as usize {
                    break;
                }
                if let Some(max) = request.per_owner_limit {
                    let count = running.entry(owner).or_default();
                    if *count >= i64::from(max) {
                        continue;
                    }
                    *count += 1;
                }
                chosen.push(id);
            }
            let mut claimed = Vec::with_capacity(chosen.len());
            // SQLite caps bound parameters per statement.
            for ids in chosen.chunks(500) {
                for job in load_in_order(conn, ids)? {
                    let token = LeaseToken::generate_for(&request.worker);
                    let next = rules::claim(&job, token.clone(), request.lease, request.now)?;
                    if write_if_unchanged(conn, &job, &next)? {
                        claimed.push(ClaimedJob { job: next, lease_token: token });
                    }
                }
            }
            Ok(claimed)
        })
    }

    fn heartbeat(&self, id: &JobId, token: &LeaseToken, extend_to: Timestamp) -> Result<bool, JobsError> {
        let n = self.write(|conn| {
            diesel::update(
                jobs::table
                    .filter(jobs::id.eq(id.to_string()))
                    .filter(jobs::state.eq("running"))
                    .filter(jobs::lease_token.eq(token.as_str())),
            )
            .set(jobs::lease_expires_at.eq(Some(to_db(extend_to))))
            .execute(conn)
            .map_err(db_error)
        })?;
        Ok(n == 1)
    }

    fn complete(
        &self,
        id: &JobId,
        token: &LeaseToken,
        outcome: &Outcome,
        policy: &RetryPolicy,
        now: Timestamp,
    ) -> Result<FinishResult, JobsError> {
        self.write(|conn| complete_one(conn, id, token, outcome, policy, now))
    }

    fn complete_batch(
        &self,
        completions: &[levqor_jobs::Completion],
        policy: &RetryPolicy,
        now: Timestamp,
    ) -> Result<Vec<FinishResult>, JobsError> {
        self.write(|conn| {
            completions.iter().map(|c| complete_one(conn, &c.id, &c.lease_token, &c.outcome, policy, now)).collect()
        })
    }

    fn release(&self, id: &JobId, token: &LeaseToken, now: Timestamp) -> Result<bool, JobsError> {
        self.write(|conn| {
            let Some(job) = load(conn, id)? else { return Ok(false) };
            if !rules::holds_lease(&job, token) {
                return Ok(false);
            }
            let next = rules::release(&job, now)?;
            let released = write_if_unchanged(conn, &job, &next)?;
            if released {
                // A job given back at shutdown can run in another process now.
                notify_jobs(conn)?;
            }
            Ok(released)
        })
    }

    fn cancel(&self, owner: &UserId, id: &JobId, now: Timestamp) -> Result<Job, JobsError> {
        self.write_retrying(|conn| {
            let job = load_owned(conn, owner, id)?;
            let next = rules::cancel(&job, now)?;
            if write_if_unchanged(conn, &job, &next)? {
                Ok(next)
            } else {
                Err(StorageError::Conflict("the job changed while it was being cancelled".into()).into())
            }
        })
    }

    fn retry(&self, owner: &UserId, id: &JobId, now: Timestamp) -> Result<Job, JobsError> {
        self.write_retrying(|conn| {
            let job = load_owned(conn, owner, id)?;
            let next = rules::retry(&job, now)?;
            if write_if_unchanged(conn, &job, &next)? {
                notify_jobs(conn)?;
                Ok(next)
            } else {
                Err(StorageError::Conflict("the job changed while it was being retried".into()).into())
            }
        })
    }

    fn rescue_expired(&self, policy: &RetryPolicy, now: Timestamp, limit: u32) -> Result<Vec<Job>, JobsError> {
        self.write(|conn| {
            let mut rescued = Vec::new();
            for job in expired_leases(conn, now, i64::from(limit))? {
                let next = rules::rescue(&job, policy, now, RetryPolicy::sample())?;
                if write_if_unchanged(conn, &job, &next)? {
                    rescued.push(next);
                }
            }
            Ok(rescued)
        })
    }

    fn get(&self, id: &JobId) -> Result<Option<Job>, StorageError> {
        self.read(|conn| load(conn, id))
    }

    fn list(
        &self,
        owner: &UserId,
        filter: &JobFilter,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<Job>, JobsError> {
        let after = cursor.map(parse_job_cursor).transpose()?;
        let limit = limit.max(1);
        let rows = self.read(|conn| {
            let mut query = jobs::table.filter(jobs::owner.eq(owner.to_string())).into_boxed();
            if let Some(state) = filter.state {
                query = query.filter(jobs::state.eq(state.as_str()));
            }
            if let Some(workflow) = &filter.workflow {
                query = query.filter(jobs::workflow.eq(workflow.clone()));
            }
            if let Some(after) = &after {
                query = query.filter(jobs::id.lt(after.to_string()));
            }
            query
                .order(jobs::id.desc())
                .limit(i64::from(limit) + 1)
                .select(JobRow::as_select())
                .load::<JobRow>(conn)
                .map_err(db_error)
        })?;
        let mut items = rows.into_iter().map(JobRow::into_job).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|j| job_cursor(&j.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    fn expire_lapsed_workers(&self, worker: &str, now: Timestamp, lapse: TimeDelta) -> Result<u64, StorageError> {
        use crate::schema::worker_processes as wp;
        self.write(|conn| {
            let seen = to_db(now);
            match conn {
                DbConnection::Pg(pg) => diesel::insert_into(wp::table)
                    .values((wp::id.eq(worker), wp::seen_at.eq(seen)))
                    .on_conflict(wp::id)
                    .do_update()
                    .set(wp::seen_at.eq(seen))
                    .execute(pg),
                DbConnection::Sqlite(lite) => diesel::insert_into(wp::table)
                    .values((wp::id.eq(worker), wp::seen_at.eq(seen)))
                    .on_conflict(wp::id)
                    .do_update()
                    .set(wp::seen_at.eq(seen))
                    .execute(lite),
            }
            .map_err(db_error)?;
            let lapsed: Vec<String> =
                wp::table.filter(wp::seen_at.lt(to_db(now - lapse))).select(wp::id).load(conn).map_err(db_error)?;
            let mut expired = 0;
            for gone in &lapsed {
                // `_` and `%` cannot occur in worker ids, so the prefix is literal.
                let n = diesel::update(
                    jobs::table
                        .filter(jobs::state.eq("running"))
                        .filter(jobs::lease_token.like(format!("{}%", LeaseToken::prefix_of(gone)))),
                )
                .set(jobs::lease_expires_at.eq(Some(seen)))
                .execute(conn)
                .map_err(db_error)?;
                expired += n as u64;
                diesel::delete(wp::table.filter(wp::id.eq(gone))).execute(conn).map_err(db_error)?;
            }
            Ok(expired)
        })
    }

    fn count_waiting(&self, owner: &UserId) -> Result<u64, StorageError> {
        let owner = owner.to_string();
        self.read(|conn| {
            // Reads the partial index `jobs_waiting_owner` (migration 000101).
            let n: i64 = jobs::table
                .filter(jobs::owner.eq(&owner))
                .filter(jobs::state.eq_any(CLAIMABLE))
                .count()
                .get_result(conn)
                .map_err(db_error)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn counts(&self, now: Timestamp) -> Result<QueueCounts, StorageError> {
        self.read(|conn| {
            let per_state: Vec<(String, i64)> = jobs::table
                .group_by(jobs::state)
                .select((jobs::state, diesel::dsl::count_star()))
                .load(conn)
                .map_err(db_error)?;
            let mut counts = QueueCounts::default();
            for (state, n) in per_state {
                counts.add(JobState::parse(&state).map_err(failure)?, u64::try_from(n).unwrap_or(0));
            }
            // One index seek per priority on the claim index (its condition is
            // repeated so the partial index applies), instead of reading every
            // queued row: this runs on every queue-health probe.
            let mut oldest: Option<i64> = None;
            for priority in Priority::ALL {
                let first: Option<i64> = jobs::table
                    .filter(jobs::state.eq_any(CLAIMABLE))
                    .filter(jobs::state.eq("queued"))
                    .filter(jobs::priority.eq(priority.rank()))
                    .filter(jobs::run_at.le(to_db(now)))
                    .select(diesel::dsl::min(jobs::run_at))
                    .first(conn)
                    .map_err(db_error)?;
                oldest = match (oldest, first) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            counts.oldest_queued_at = oldest.map(from_db);
            Ok(counts)
        })
    }
}

fn complete_one(
    conn: &mut DbConnection,
    id: &JobId,
    token: &LeaseToken,
    outcome: &Outcome,
    policy: &RetryPolicy,
    now: Timestamp,
) -> Result<FinishResult, JobsError> {
    let Some(job) = load(conn, id)? else { return Ok(FinishResult::Stale) };
    if !rules::holds_lease(&job, token) {
        return Ok(FinishResult::Stale);
    }
    let next = rules::finish(&job, outcome, policy, now, RetryPolicy::sample())?;
    if write_if_unchanged(conn, &job, &next)? {
        Ok(FinishResult::Finished(Box::new(next)))
    } else {
        Ok(FinishResult::Stale)
    }
}

impl crate::connection::IsConflict for JobsError {
    fn is_conflict(&self) -> bool {
        matches!(self, JobsError::Storage(StorageError::Conflict(_)))
    }
}
