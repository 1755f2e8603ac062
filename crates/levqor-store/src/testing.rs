//! Throw-away databases for tests: a fresh SQLite file in a temporary directory, or
//! a fresh PostgreSQL database created under `LEVQOR_TEST_DATABASE_URL` and dropped
//! when the test ends. Each test gets its own, so tests run in parallel.

use std::io::Write;

use diesel::{Connection, RunQueryDsl};

use crate::{Store, StoreOptions};

/// The variable that names the PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const PG_ENV: &str = "LEVQOR_TEST_DATABASE_URL";

pub struct TestDb {
    pub store: Store,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A migrated SQLite database in a temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a temporary directory: {e}"),
        };
        let url = format!("sqlite://{}", dir.path().join("levqor.db").display());
        let store = open_migrated(&url);
        TestDb { store, url, cleanup: Cleanup::Sqlite(dir) }
    }

    /// A migrated PostgreSQL database, or `None` (with a note on stderr that the test
    /// was skipped) when `LEVQOR_TEST_DATABASE_URL` is not set.
    pub fn postgres(test: &str) -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(PG_ENV) else {
            // CI sets this so that a missing database fails instead of skipping.
            if std::env::var("LEVQOR_REQUIRE_PG").is_ok_and(|v| v == "1") {
                panic!("{test}: LEVQOR_REQUIRE_PG=1 but {PG_ENV} is not set");
            }
            // Straight to stderr so the note shows even though the test passes.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {PG_ENV} is not set, PostgreSQL test not run");
            return None;
        };
        let name = format!("levqor_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = match diesel::PgConnection::establish(&admin_url) {
            Ok(c) => c,
            Err(e) => panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"),
        };
        if let Err(e) = diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin) {
            panic!("cannot create test database {name}: {e}");
        }
        let url = with_database(&admin_url, &name);
        let store = open_migrated(&url);
        Some(TestDb { store, url, cleanup: Cleanup::Postgres { admin_url, name } })
    }

    /// The `DATABASE_URL` of this database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup
            && let Ok(mut admin) = diesel::PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
}

/// One `#[test]` per case on SQLite (in `mod sqlite`) and one on PostgreSQL (in
/// `mod postgres`; skipped, with a note, without `LEVQOR_TEST_DATABASE_URL`), each
/// on a fresh database. Three forms:
///
/// - `store_cases_on_both_backends!(a, b)`: each case is `cases::<name>(&TestDb)`
///   in the calling test file.
/// - `store_cases_on_both_backends!(contract levqor_jobs::contract; a, b)`: a domain
///   crate's storage contract (its feature `contract-tests`), each case
///   `<path>::<name>(&Store)` given an absolute path; plus the test
///   `every_contract_case_is_listed`, which fails when `<path>::CASES` names a case
///   that is not listed here.
/// - `store_cases_on_both_backends!(store_cases => store_sqlite, store_postgres; a, b)`:
///   cases `store_cases::<name>(&TestDb)`, tests in the two modules named (for a
///   file that already has `sqlite` and `postgres` modules).
#[macro_export]
macro_rules! store_cases_on_both_backends {
    (@both $sqlite:ident, $postgres:ident, [$($cases:tt)+], $db:ident => $arg:expr; $($case:ident),* $(,)?) => {
        mod $sqlite {
            use $($cases)+ as cases;
            $( #[test] fn $case() {
                let $db = $crate::testing::TestDb::sqlite();
                cases::$case($arg);
            } )*
        }
        mod $postgres {
            use $($cases)+ as cases;
            $( #[test] fn $case() {
                if let Some($db) = $crate::testing::TestDb::postgres(concat!(module_path!(), "::", stringify!($case))) {
                    cases::$case($arg);
                }
            } )*
        }
    };
    (contract $contract:path; $($case:ident),* $(,)?) => {
        $crate::store_cases_on_both_backends!(@both sqlite, postgres, [$contract], db => &db.store; $($case),*);
        #[test]
        fn every_contract_case_is_listed() {
            use $contract as contract;
            let listed = [$(stringify!($case)),*];
            for (name, _) in contract::CASES {
                assert!(listed.contains(name), "contract case {name} is not run against the store");
            }
        }
    };
    ($cases:ident => $sqlite:ident, $postgres:ident; $($case:ident),* $(,)?) => {
        $crate::store_cases_on_both_backends!(@both $sqlite, $postgres, [super::$cases], db => &db; $($case),*);
    };
    ($($case:ident),* $(,)?) => {
        $crate::store_cases_on_both_backends!(cases => sqlite, postgres; $($case),*);
    };
}

fn open_migrated(url: &str) -> Store {
    // Small pools: many tests run at once against one PostgreSQL server.
    let options = StoreOptions { max_connections: 4, ..StoreOptions::default() };
    let store = match Store::open(url, &options) {
        Ok(s) => s,
        Err(e) => panic!("cannot open test database: {e}"),
    };
    if let Err(e) = store.migrate() {
        panic!("cannot migrate test database: {e}");
    }
    store
}

/// `postgres://u@h:5432/postgres?x=y` with the database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(super::with_database("postgres://p@h:5432/postgres", "t1"), "postgres://p@h:5432/t1");
        assert_eq!(super::with_database("postgres://p@h:5432", "t1"), "postgres://p@h:5432/t1");
        assert_eq!(
            super::with_database("postgres://p@h/db?sslmode=disable", "t1"),
            "postgres://p@h/t1?sslmode=disable"
        );
    }
}
