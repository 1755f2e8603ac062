//! Embedded migrations, one directory per backend with the same migration names.

use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::{DbConnection, Store};
use crate::error::{StoreError, db_error};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Serialises migrations across Levqor instances that start together on one PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x4c45_5651_4f52; // "LEVQOR"

impl Store {
    /// Apply every pending migration; returns the names applied.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        match &mut *conn {
            DbConnection::Sqlite(c) => run(c, SQLITE),
            DbConnection::Pg(c) => {
                diesel::sql_query(format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))
                    .execute(c)
                    .map_err(db_error)?;
                let applied = run(c, POSTGRES);
                let unlocked = diesel::sql_query(format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})")).execute(c);
                let applied = applied?;
                unlocked.map_err(db_error)?;
                Ok(applied)
            }
        }
    }

    /// How many migrations this binary knows of that the database has not applied.
    pub fn pending_migrations(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let pending = match &mut *conn {
            DbConnection::Sqlite(c) => c.pending_migrations(SQLITE).map(|m| m.len()),
            DbConnection::Pg(c) => c.pending_migrations(POSTGRES).map(|m| m.len()),
        };
        pending.map_err(|e| StoreError::Migration(e.to_string()))
    }
}

fn run<B: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<B>,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>, StoreError> {
    conn.run_pending_migrations(migrations)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect())
        .map_err(|e| StoreError::Migration(e.to_string()))
}
