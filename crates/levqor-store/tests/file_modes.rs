//! The SQLite database, its WAL and shared-memory files and the folder Levqor
//! creates for them are readable by the owner only, whatever the umask.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chrono::Utc;
use levqor_accounts::{ProfileChanges, UserRepo};
use levqor_core::Email;
use levqor_store::{Store, StoreOptions};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn database_files_and_folder_are_private() {
    let root = tempfile::tempdir().unwrap();
    let db = root.path().join("data/levqor.db");
    let store = Store::open(&format!("sqlite://{}", db.display()), &StoreOptions::default()).unwrap();
    store.migrate().unwrap();
    // A write, so that the WAL and shared-memory files exist.
    let email = Email::parse("modes@example.com").unwrap();
    store
        .upsert_by_email(
            &email,
            &|_| {
                ProfileChanges::default()
                    .create(email.clone(), Utc::now())
                    .map_err(levqor_accounts::AccountsError::Invalid)
            },
            None,
        )
        .unwrap();
    assert_eq!(mode(&root.path().join("data")), 0o700);
    for file in ["levqor.db", "levqor.db-wal", "levqor.db-shm"] {
        let path = root.path().join("data").join(file);
        assert!(path.exists(), "{file} exists while the store is open");
        assert_eq!(mode(&path), 0o600, "{file}");
    }
    drop(store);
}

#[test]
fn a_database_left_readable_is_tightened() {
    let root = tempfile::tempdir().unwrap();
    let db = root.path().join("old.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&format!("sqlite://{}", db.display()), &StoreOptions::default()).unwrap();
    store.migrate().unwrap();
    assert_eq!(mode(&db), 0o600);
}
