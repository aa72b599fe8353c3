//! The three driver folders describe the same migrations, and every one of them is reversible.

use didhub_harness::integrity::check_folders;
use didhub_harness::lock::{self, Lock};
use didhub_harness::project::Project;
use didhub_migrations::{Backend, file_name};
use std::path::Path;

#[test]
fn driver_folders_hold_the_same_reversible_migrations() {
    let report = check_folders(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(report.is_ok(), "migration folders disagree:\n{report}");
    assert!(
        report.versions.len() >= 10,
        "expected the foundation's ten migrations, found {:?}",
        report.versions
    );
}

#[test]
fn embedded_migrators_match_the_files_on_disk() {
    for backend in Backend::ALL {
        let mut embedded: Vec<String> = backend.migrator().iter().map(file_name).collect();
        let mut on_disk: Vec<String> = std::fs::read_dir(backend.source_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        embedded.sort();
        on_disk.sort();
        assert_eq!(
            embedded, on_disk,
            "{backend}: rebuild to re-embed migrations"
        );
    }
}

/// CI fails when a released migration file is edited or deleted, a version is inserted below a
/// released one, or a new migration is not locked yet.
#[test]
fn the_checked_in_lock_matches_the_files() {
    let project = Project::open(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let report = lock::verify(&project)
        .unwrap()
        .expect("migrations/migrations.lock is missing: run `cargo run -p didhub-harness -- lock`");
    assert!(report.is_ok(), "migrations.lock:\n{report}");
    assert!(
        report.unreleased.is_empty(),
        "new migration files are not locked yet: run `cargo run -p didhub-harness -- lock` and \
         commit migrations.lock: {:?}",
        report.unreleased
    );
}

/// The lock records exactly the checksums sqlx embeds and stores in `_sqlx_migrations`.
#[test]
fn the_lock_holds_the_checksums_sqlx_embeds() {
    let lock = Lock::read(Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .unwrap();
    for backend in Backend::ALL {
        for migration in backend.migrator().iter() {
            let file = file_name(migration);
            let entry = lock
                .entries
                .iter()
                .find(|e| e.folder == backend.name() && e.file == file)
                .unwrap_or_else(|| panic!("{backend}/{file} is not locked"));
            let embedded: String = migration
                .checksum
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(entry.sha384, embedded, "{backend}/{file}");
        }
    }
}
