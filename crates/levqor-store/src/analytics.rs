//! Analytics events, and the one-time hashing of addresses stored before Levqor
//! kept only digests.

use diesel::connection::SimpleConnection;
use diesel::dsl::{count, count_star};
use diesel::prelude::*;
use levqor_analytics::{Bucket, BucketCount, BucketRange, BucketVisitors, EventRepo, EventType, NewEvent};
use levqor_core::{Email, EmailHasher, StorageError};

use crate::connection::{DbConnection, Store};
use crate::error::{StoreError, db_error};
use crate::schema::{analytics_events as ae, referral_visits as rv};
use crate::time::to_db;

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl EventRepo for Store {
    fn insert_event(&self, e: &NewEvent) -> Result<(), StorageError> {
        self.write(|conn| {
            diesel::insert_into(ae::table)
                .values((
                    ae::id.eq(&e.id),
                    ae::event_type.eq(e.event_type.as_str()),
                    ae::visitor.eq(&e.visitor),
                    ae::email_hash.eq(e.email_hash.as_ref().map(|d| d.as_str())),
                    ae::ref_code.eq(e.ref_code.as_deref()),
                    ae::props.eq(e.props.to_json()),
                    ae::hour.eq(Bucket::Hour.number(e.at)),
                    ae::day.eq(Bucket::Day.number(e.at)),
                    ae::created_at.eq(to_db(e.at)),
                ))
                .execute(conn)
                .map(|_| ())
                .map_err(db_error)
        })
    }

    fn counts_by_bucket(&self, r: &BucketRange) -> Result<Vec<BucketCount>, StorageError> {
        let rows: Vec<(i64, String, i64)> = self.read(|conn| {
            match r.bucket {
                Bucket::Hour => ae::table
                    .filter(ae::hour.ge(r.first).and(ae::hour.lt(r.end)))
                    .group_by((ae::hour, ae::event_type))
                    .select((ae::hour, ae::event_type, count_star()))
                    .load(conn),
                Bucket::Day => ae::table
                    .filter(ae::day.ge(r.first).and(ae::day.lt(r.end)))
                    .group_by((ae::day, ae::event_type))
                    .select((ae::day, ae::event_type, count_star()))
                    .load(conn),
            }
            .map_err(db_error)
        })?;
        Ok(rows
            .into_iter()
            .map(|(bucket, event_type, n)| BucketCount { bucket, event_type, count: to_u64(n) })
            .collect())
    }

    fn visitors_by_bucket(&self, r: &BucketRange) -> Result<Vec<BucketVisitors>, StorageError> {
        let rows: Vec<(i64, i64)> = self.read(|conn| {
            match r.bucket {
                Bucket::Hour => ae::table
                    .filter(ae::hour.ge(r.first).and(ae::hour.lt(r.end)))
                    .group_by(ae::hour)
                    .select((ae::hour, count(ae::visitor).aggregate_distinct()))
                    .load(conn),
                Bucket::Day => ae::table
                    .filter(ae::day.ge(r.first).and(ae::day.lt(r.end)))
                    .group_by(ae::day)
                    .select((ae::day, count(ae::visitor).aggregate_distinct()))
                    .load(conn),
            }
            .map_err(db_error)
        })?;
        Ok(rows.into_iter().map(|(bucket, n)| BucketVisitors { bucket, visitors: to_u64(n) }).collect())
    }

    fn distinct_visitors(
        &self,
        first_hour: i64,
        end_hour: i64,
        types: Option<&[EventType]>,
    ) -> Result<u64, StorageError> {
        let n: i64 = self.read(|conn| {
            let mut query = ae::table
                .filter(ae::hour.ge(first_hour).and(ae::hour.lt(end_hour)))
                .select(count(ae::visitor).aggregate_distinct())
                .into_boxed();
            if let Some(types) = types {
                query = query.filter(ae::event_type.eq_any(types.iter().map(|t| t.as_str().to_owned())));
            }
            query.get_result(conn).map_err(db_error)
        })?;
        Ok(to_u64(n))
    }
}

impl Store {
    /// Replaces every plain address left in `referral_visits` (rows stored before
    /// migration `2026-11-30-000120_analytics`) by its keyed digest, then scrubs
    /// the old bytes from the database: on SQLite with `secure_delete`, a `VACUUM`
    /// (the index that migration dropped left them in free pages) and a WAL
    /// truncation; on PostgreSQL with `VACUUM FULL` of the table. SQL cannot
    /// compute the HMAC (the key is not in the database), hence a step in Rust,
    /// run by every start-up and by `levqor migrate`; without plain rows it is one
    /// indexed query. Returns how many rows it hashed.
    pub fn hash_plain_emails(&self, hasher: &EmailHasher) -> Result<usize, StoreError> {
        let plain: Vec<(String, String)> = self.read(|conn| {
            rv::table.filter(rv::email_hash.like("%@%")).select((rv::id, rv::email_hash)).load(conn).map_err(db_error)
        })?;
        if plain.is_empty() {
            return Ok(0);
        }
        let mut conn = self.writer_conn()?;
        let sqlite = matches!(*conn, DbConnection::Sqlite(_));
        if sqlite {
            conn.batch_execute("PRAGMA secure_delete = ON").map_err(db_error)?;
        }
        let updated = crate::connection::write_tx(&mut conn, |conn| {
            for (id, raw) in &plain {
                let digest = match Email::parse(raw) {
                    Ok(email) => hasher.digest(&email).as_str().to_owned(),
                    // Not an address Levqor would accept today: still never kept.
                    Err(_) => hasher.keyed(b"levqor.email.legacy\0", raw.trim().to_lowercase().as_bytes()),
                };
                diesel::update(rv::table.find(id)).set(rv::email_hash.eq(digest)).execute(conn).map_err(db_error)?;
            }
            Ok::<_, StorageError>(plain.len())
        });
        let scrub = if sqlite {
            "VACUUM; PRAGMA wal_checkpoint(TRUNCATE); PRAGMA secure_delete = OFF;"
        } else {
            "VACUUM FULL referral_visits"
        };
        let scrubbed = conn.batch_execute(scrub).map_err(db_error);
        let updated = updated?;
        scrubbed?;
        Ok(updated)
    }
}
