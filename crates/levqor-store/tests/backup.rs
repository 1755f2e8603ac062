//! SQLite backup → verify → restore, with the live row counts kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use levqor_store::backup::{BackupError, restore_sqlite, verify_sqlite_file};
use levqor_store::{ActivityRecord, Outcome, Store};

fn seed(store: &Store, n: usize) {
    for i in 0..n {
        let now = chrono::Utc::now();
        store
            .record_activity(&ActivityRecord {
                task: "seed".into(),
                started_at: now,
                finished_at: now,
                outcome: Outcome::Ok,
                detail: format!("row {i}"),
            })
            .unwrap();
    }
}

#[test]
fn backup_verify_restore_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("levqor.db");
    let url = format!("sqlite://{}", db_path.display());
    let store = Store::open(&url, &Default::default()).unwrap();
    store.migrate().unwrap();
    seed(&store, 5);
    let copy = dir.path().join("levqor-backup.db");
    let steps = std::sync::Mutex::new(Vec::new());
    let report = store.backup_sqlite(&copy, &|s| steps.lock().unwrap().push(s)).unwrap();
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(report.bytes > 0);
    let live = store.table_counts().unwrap();
    assert_eq!(report.tables, live, "the copy has the live row counts");
    assert!(live.contains(&("activity_log".to_owned(), 5)), "{live:?}");
    assert_eq!(verify_sqlite_file(&copy).unwrap(), live);
    assert_eq!(steps.lock().unwrap().last(), Some(&levqor_store::backup::Step::Done));

    // Rows written after the backup are gone after the restore.
    seed(&store, 3);
    let refused = restore_sqlite(&db_path, &copy, &|_| {}, &mut |_, _| {});
    assert!(matches!(refused, Err(BackupError::InUse)), "refused while the store is open: {refused:?}");
    drop(store);

    let mut seen = 0;
    let restored = restore_sqlite(&db_path, &copy, &|_| {}, &mut |done, total| {
        assert!(done <= total);
        seen = done;
    })
    .unwrap();
    assert_eq!(seen, std::fs::metadata(&copy).unwrap().len(), "progress reached the whole file");
    assert_eq!(restored.tables, live);
    assert!(restored.previous.as_ref().is_some_and(|p| p.exists()), "the replaced database is kept aside");
    let reopened = Store::open(&url, &Default::default()).unwrap();
    assert_eq!(reopened.table_counts().unwrap(), live, "row counts equal after the restore");
    assert!(live.contains(&("activity_log".to_owned(), 5)));
}

#[test]
fn a_damaged_backup_is_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.db");
    std::fs::write(&bogus, b"SQLite format 3\0 but not really").unwrap();
    let target = dir.path().join("levqor.db");
    assert!(matches!(restore_sqlite(&target, &bogus, &|_| {}, &mut |_, _| {}), Err(BackupError::Unsound { .. })));
    assert!(!target.exists());
    let missing = dir.path().join("missing.db");
    assert!(verify_sqlite_file(&missing).is_err());
}
