//! Operations records: the activity log of scheduled tasks, once-per-period task
//! claims, and the per-day figures the admin dashboard draws.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use levqor_core::{StorageError, Timestamp};

use crate::connection::{DbConnection, Store};
use crate::error::{db_error, failure};
use crate::schema::{activity_log as al, task_claims as tc};
use crate::time::{from_db, to_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Nothing to do here (another instance claimed the period).
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    fn parse(raw: &str) -> Result<Self, StorageError> {
        match raw {
            "ok" => Ok(Self::Ok),
            "skipped" => Ok(Self::Skipped),
            "failed" => Ok(Self::Failed),
            other => Err(failure(format!("stored activity outcome `{other}` is not valid"))),
        }
    }
}

/// One run of a scheduled task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRecord {
    pub task: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub outcome: Outcome,
    pub detail: String,
}

/// One UTC day of the dashboard's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailyOps {
    /// Days since the Unix epoch.
    pub day: i64,
    pub jobs: u64,
    pub credits_granted: i64,
    pub credits_spent: i64,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

#[derive(QueryableByName)]
struct DayCount {
    #[diesel(sql_type = BigInt)]
    day: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct DayKindSum {
    #[diesel(sql_type = BigInt)]
    day: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

#[derive(QueryableByName)]
pub(crate) struct NameRow {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)] // Read only to learn that a row exists.
    pub(crate) name: String,
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Store {
    pub fn record_activity(&self, record: &ActivityRecord) -> Result<(), StorageError> {
        let id = uuid::Uuid::now_v7().to_string();
        self.write(|conn| {
            diesel::insert_into(al::table)
                .values((
                    al::id.eq(&id),
                    al::task.eq(&record.task),
                    al::started_at.eq(to_db(record.started_at)),
                    al::finished_at.eq(to_db(record.finished_at)),
                    al::outcome.eq(record.outcome.as_str()),
                    al::detail.eq(&record.detail),
                ))
                .execute(conn)
                .map(|_| ())
                .map_err(db_error)
        })
    }

    /// The newest runs, of one task or of all, newest first.
    pub fn recent_activity(&self, task: Option<&str>, limit: u32) -> Result<Vec<ActivityRecord>, StorageError> {
        type Row = (String, i64, i64, String, String);
        let rows: Vec<Row> = self.read(|conn| {
            let mut q = al::table
                .select((al::task, al::started_at, al::finished_at, al::outcome, al::detail))
                .order((al::started_at.desc(), al::id.desc()))
                .limit(i64::from(limit))
                .into_boxed();
            if let Some(task) = task {
                q = q.filter(al::task.eq(task.to_owned()));
            }
            q.load(conn).map_err(db_error)
        })?;
        rows.into_iter()
            .map(|(task, s, f, o, detail)| {
                Ok(ActivityRecord {
                    task,
                    started_at: from_db(s),
                    finished_at: from_db(f),
                    outcome: Outcome::parse(&o)?,
                    detail,
                })
            })
            .collect()
    }

    /// Forgets activity older than `before`.
    pub fn purge_activity(&self, before: Timestamp) -> Result<u64, StorageError> {
        let n = self.write(|conn| {
            diesel::delete(al::table.filter(al::started_at.lt(to_db(before)))).execute(conn).map_err(db_error)
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Claims `(task, period)` for this instance: `true` for the first caller only,
    /// whichever instance it runs in.
    pub fn claim_task(&self, task: &str, period: &str, now: Timestamp) -> Result<bool, StorageError> {
        let values = (tc::task.eq(task), tc::period.eq(period), tc::claimed_at.eq(to_db(now)));
        let inserted = self.read(|conn| {
            match conn {
                DbConnection::Pg(pg) => {
                    diesel::insert_into(tc::table).values(values).on_conflict_do_nothing().execute(pg)
                }
                DbConnection::Sqlite(lite) => {
                    diesel::insert_into(tc::table).values(values).on_conflict_do_nothing().execute(lite)
                }
            }
            .map_err(db_error)
        });
        match inserted {
            Ok(n) => Ok(n == 1),
            Err(StorageError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Jobs created and credits granted and spent per UTC day in `[first_day,
    /// end_day)` (days since the epoch); days without any are absent.
    pub fn daily_ops(&self, first_day: i64, end_day: i64) -> Result<Vec<DailyOps>, StorageError> {
        let (lo, hi) = (first_day.saturating_mul(MICROS_PER_DAY), end_day.saturating_mul(MICROS_PER_DAY));
        // Integers formatted in (not user input); the same text runs on both
        // backends, which bind placeholders would not.
        let jobs_sql = format!(
            "SELECT CAST(created_at / {MICROS_PER_DAY} AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS n \
             FROM jobs WHERE created_at >= {lo} AND created_at < {hi} GROUP BY 1"
        );
        let credits_sql = format!(
            "SELECT CAST(created_at / {MICROS_PER_DAY} AS BIGINT) AS day, kind, CAST(SUM(amount) AS BIGINT) AS total \
             FROM ledger_entries WHERE created_at >= {lo} AND created_at < {hi} GROUP BY 1, kind"
        );
        let (jobs, credits): (Vec<DayCount>, Vec<DayKindSum>) = self.read(|conn| {
            let jobs = diesel::sql_query(jobs_sql).load(conn).map_err(db_error)?;
            let credits = diesel::sql_query(credits_sql).load(conn).map_err(db_error)?;
            Ok((jobs, credits))
        })?;
        let mut days: std::collections::BTreeMap<i64, DailyOps> = std::collections::BTreeMap::new();
        for j in jobs {
            days.entry(j.day).or_insert_with(|| DailyOps { day: j.day, ..DailyOps::default() }).jobs =
                u64::try_from(j.n).unwrap_or(0);
        }
        let spending: Vec<&str> = levqor_billing::EntryKind::RUN_SPENDING.iter().map(|k| k.as_str()).collect();
        for c in credits {
            let d = days.entry(c.day).or_insert_with(|| DailyOps { day: c.day, ..DailyOps::default() });
            if spending.contains(&c.kind.as_str()) {
                d.credits_spent -= c.total;
            } else if c.total > 0 {
                d.credits_granted += c.total;
            }
        }
        Ok(days.into_values().collect())
    }

    /// Credits ever granted and ever spent (as positive numbers), over all users.
    pub fn credit_totals(&self) -> Result<(i64, i64), StorageError> {
        let rows: Vec<DayKindSum> = self.read(|conn| {
            diesel::sql_query(
                "SELECT CAST(0 AS BIGINT) AS day, kind, CAST(SUM(amount) AS BIGINT) AS total \
                 FROM ledger_entries GROUP BY kind",
            )
            .load(conn)
            .map_err(db_error)
        })?;
        let spending: Vec<&str> = levqor_billing::EntryKind::RUN_SPENDING.iter().map(|k| k.as_str()).collect();
        let (mut granted, mut spent) = (0i64, 0i64);
        for r in rows {
            if spending.contains(&r.kind.as_str()) {
                spent -= r.total;
            } else if r.total > 0 {
                granted += r.total;
            }
        }
        Ok((granted, spent.max(0)))
    }

    /// Rows per table (Levqor's tables, not the migration bookkeeping), by name.
    pub fn table_counts(&self) -> Result<Vec<(String, i64)>, StorageError> {
        let mut conn = self.conn()?;
        table_counts(&mut conn)
    }
}

pub(crate) fn table_counts(conn: &mut DbConnection) -> Result<Vec<(String, i64)>, StorageError> {
    let list = match conn {
        DbConnection::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '__diesel%' ORDER BY name"
        }
        DbConnection::Pg(_) => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() \
             AND tablename NOT LIKE '__diesel%' ORDER BY tablename"
        }
    };
    let names: Vec<TableName> = diesel::sql_query(list).load(conn).map_err(db_error)?;
    names
        .into_iter()
        .map(|t| {
            // Names come from the catalogue and are quoted as identifiers.
            let quoted = t.name.replace('"', "\"\"");
            let count: Count = diesel::sql_query(format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM \"{quoted}\""))
                .get_result(conn)
                .map_err(db_error)?;
            Ok((t.name, count.n))
        })
        .collect()
}
