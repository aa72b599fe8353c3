//! Data defects in a small project of its own (the harness is not DIDHub-specific): version 2
//! moves archived notes into a table of their own. Its correct down moves them back; the broken
//! one only drops the archive table, and the rows moved there are lost — on every backend.

use didhub_harness::backends;
use rstest_reuse::apply;
use std::path::Path;
use std::process::Command;

use didhub_harness::data::Fixture;
use didhub_harness::data_staircase::{self, DataStaircaseError};
use didhub_harness::migrations::MigrationSet;
use didhub_migrations::Backend;

const NOTES: [(&str, &str); 3] = [
    (
        "sqlite",
        "CREATE TABLE notes (id INTEGER NOT NULL, body TEXT NOT NULL, \
         archived INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)), CONSTRAINT pk_notes PRIMARY KEY (id));\n",
    ),
    (
        "postgres",
        "CREATE TABLE notes (id INTEGER NOT NULL, body TEXT NOT NULL, \
         archived BOOLEAN NOT NULL DEFAULT FALSE, CONSTRAINT pk_notes PRIMARY KEY (id));\n",
    ),
    (
        "mysql",
        "CREATE TABLE notes (id INT NOT NULL, body TEXT NOT NULL, \
         archived TINYINT(1) NOT NULL DEFAULT 0, CONSTRAINT pk_notes PRIMARY KEY (id));\n",
    ),
];

/// The same in every dialect.
const ARCHIVE_UP: &str = "CREATE TABLE archived_notes (id INTEGER NOT NULL, body TEXT NOT NULL, \
     CONSTRAINT pk_archived_notes PRIMARY KEY (id));\n\
     INSERT INTO archived_notes (id, body) SELECT id, body FROM notes WHERE archived = TRUE;\n\
     DELETE FROM notes WHERE archived = TRUE;\n";
const ARCHIVE_DOWN: &str = "INSERT INTO notes (id, body, archived) SELECT id, body, TRUE FROM archived_notes;\n\
     DROP TABLE archived_notes;\n";
/// The defect: the archive goes, and the rows in it with it.
const ARCHIVE_DOWN_LOSING_ROWS: &str = "DROP TABLE archived_notes;\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `migrations/` (three dialects) and `fixtures/` (three notes at version 1, two of them
/// archived, and what version 2 must make of them).
fn notes_project(archive_down: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (folder, create) in NOTES {
        let migrations = root.join("migrations").join(folder);
        write(&migrations.join("0001_notes.up.sql"), create);
        write(
            &migrations.join("0001_notes.down.sql"),
            "DROP TABLE notes;\n",
        );
        write(&migrations.join("0002_archive_notes.up.sql"), ARCHIVE_UP);
        write(
            &migrations.join("0002_archive_notes.down.sql"),
            archive_down,
        );
    }
    let fixture = root.join("fixtures/v0001");
    write(
        &fixture.join("notes.json"),
        r#"[
  {"id": 1, "body": "keep me", "archived": false},
  {"id": 2, "body": "old", "archived": true},
  {"id": 3, "body": "older", "archived": true}
]"#,
    );
    write(
        &fixture.join("expect/v0002/notes.json"),
        r#"[{"id": 1, "body": "keep me"}]"#,
    );
    write(
        &fixture.join("expect/v0002/archived_notes.json"),
        r#"[{"id": 2, "body": "old"}, {"id": 3, "body": "older"}]"#,
    );
    dir
}

async fn walk(
    project: &Path,
    kind: Backend,
) -> Result<data_staircase::DataStairs, DataStaircaseError> {
    let set = MigrationSet::load(&project.join("migrations"), kind)
        .await
        .unwrap();
    let fixtures = Fixture::load_all(&project.join("fixtures")).unwrap();
    data_staircase::walk(&set, &fixtures).await
}

/// The correct down passes, and version 2's expectations hold: the harness is not simply
/// failing on this project.
#[apply(backends)]
#[tokio::test]
async fn moving_rows_and_back_passes(#[case] kind: Backend) {
    let project = notes_project(ARCHIVE_DOWN);
    let stairs = walk(project.path(), kind)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let run = &stairs.runs[0];
    assert_eq!(
        run.expectations,
        [(2, "archived_notes".to_owned()), (2, "notes".to_owned())]
    );
    assert_eq!(run.restored[&1]["notes"].count(), 3);
    assert_eq!(
        run.restored[&1]["notes"].hash,
        run.snapshots[&1]["notes"].hash
    );
}

#[apply(backends)]
#[tokio::test]
async fn a_down_that_drops_moved_rows_is_named_with_its_row_counts(#[case] kind: Backend) {
    let project = notes_project(ARCHIVE_DOWN_LOSING_ROWS);
    let error = walk(project.path(), kind).await.unwrap_err();
    let message = error.to_string();
    match error {
        DataStaircaseError::DownLosesData {
            backend,
            fixture,
            version,
            file,
            table,
            before,
            after,
        } => {
            assert_eq!(backend, kind);
            assert_eq!(fixture, "v0001");
            assert_eq!(version, 2);
            assert_eq!(file, "0002_archive_notes.down.sql");
            assert_eq!(table, "notes");
            assert_eq!((before, after), (3, 1));
        }
        other => panic!("expected DownLosesData, got: {other}"),
    }
    assert_eq!(
        message,
        format!(
            "{kind}: 0002_archive_notes.down.sql (version 2) loses data: notes held 3 row(s) \
             before the up and 1 after the down (fixture v0001)"
        )
    );
}

/// Version 2 made up-only (`0002_archive_notes.sql`, as sqlx runs it) and a reversible
/// version 3 on top: the way down reverts 3 and stops at 2, which sqlx never reverts, instead
/// of "reverting" 2 (a no-op) and blaming it for the rows it moved.
#[apply(backends)]
#[tokio::test]
async fn the_way_down_stops_at_an_up_only_version(#[case] kind: Backend) {
    let project = notes_project(ARCHIVE_DOWN);
    for (folder, _) in NOTES {
        let migrations = project.path().join("migrations").join(folder);
        std::fs::remove_file(migrations.join("0002_archive_notes.down.sql")).unwrap();
        std::fs::rename(
            migrations.join("0002_archive_notes.up.sql"),
            migrations.join("0002_archive_notes.sql"),
        )
        .unwrap();
        write(
            &migrations.join("0003_notes_body.up.sql"),
            "CREATE INDEX idx_notes_body ON notes (id, archived);\n",
        );
        write(
            &migrations.join("0003_notes_body.down.sql"),
            if folder == "mysql" {
                "DROP INDEX idx_notes_body ON notes;\n"
            } else {
                "DROP INDEX idx_notes_body;\n"
            },
        );
    }
    let stairs = walk(project.path(), kind)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let run = &stairs.runs[0];
    assert_eq!(run.restored.keys().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(run.restored[&2]["notes"].count(), 1);
    let fixtures = Fixture::load_all(&project.path().join("fixtures")).unwrap();
    assert!(
        stairs
            .summary(&fixtures)
            .contains("as far as the downs go (v0001 back to version 2 only: up-only below)"),
        "{}",
        stairs.summary(&fixtures)
    );
}

#[tokio::test]
async fn a_fixture_column_the_schema_lacks_is_named() {
    let project = notes_project(ARCHIVE_DOWN);
    write(
        &project.path().join("fixtures/v0001/notes.json"),
        r#"[{"id": 1, "title": "x"}]"#,
    );
    let error = walk(project.path(), Backend::Sqlite).await.unwrap_err();
    assert!(
        matches!(&error, DataStaircaseError::FixtureDoesNotFit { version: 1, table, .. } if table == "notes"),
        "{error}"
    );
    assert!(
        error.to_string().contains("there is no column title"),
        "{error}"
    );
}

#[tokio::test]
async fn a_fixture_for_a_version_without_a_migration_is_named() {
    let project = notes_project(ARCHIVE_DOWN);
    let fixtures = project.path().join("fixtures");
    std::fs::remove_dir_all(fixtures.join("v0001/expect")).unwrap();
    std::fs::rename(fixtures.join("v0001"), fixtures.join("v0007")).unwrap();
    let error = walk(project.path(), Backend::Sqlite).await.unwrap_err();
    assert!(
        matches!(
            &error,
            DataStaircaseError::UnknownVersion { version: 7, .. }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_row_the_database_refuses_is_named_with_its_table_and_position() {
    let project = notes_project(ARCHIVE_DOWN);
    write(
        &project.path().join("fixtures/v0001/notes.json"),
        r#"[{"id": 1, "body": "x"}, {"id": 1, "body": "same id"}]"#,
    );
    let error = walk(project.path(), Backend::Sqlite).await.unwrap_err();
    assert!(
        matches!(&error, DataStaircaseError::LoadFailed { table, row: 1, version: 1, .. } if table == "notes"),
        "{error}"
    );
    assert!(
        error.to_string().contains("UNIQUE constraint failed"),
        "{error}"
    );
}

/// `check --fixtures` reports the loss and fails.
#[test]
fn the_cli_reports_the_lost_rows() {
    let project = notes_project(ARCHIVE_DOWN_LOSING_ROWS);
    let output = Command::new(env!("CARGO_BIN_EXE_didhub-harness"))
        .args(["check", "--db", "sqlite", "--migrations"])
        .arg(project.path().join("migrations"))
        .arg("--fixtures")
        .arg(project.path().join("fixtures"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains(
            "FAIL sqlite: 0002_archive_notes.down.sql (version 2) loses data: notes held 3 row(s) before the up and 1 after the down (fixture v0001)"
        ),
        "{text}"
    );
    assert!(
        text.contains("ok   sqlite: 2 migrations up, down and up again"),
        "{text}"
    );
}
