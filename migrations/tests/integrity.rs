//! The three driver folders describe the same migrations, and every one of them is reversible.

use didhub_harness::integrity::check_folders;
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
