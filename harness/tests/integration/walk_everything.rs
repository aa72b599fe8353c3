//! A failing step never hides the rest: every version is walked on every backend, every failure
//! is reported, and what could not be checked is named with why.

use crate::support;

use didhub_harness::backends;
use rstest_reuse::apply;

use didhub_harness::check::{self, CheckOptions};
use didhub_harness::migrations::MigrationSet;
use didhub_harness::project::ColumnOrder;
use didhub_harness::report::Status;
use didhub_harness::staircase::{self, Failure};
use didhub_migrations::Backend;

/// Version 2's down forgets its column, version 3's down refers to a table that does not exist,
/// and version 4 is right: the walk reports both failures and still checks version 4's down.
#[apply(backends)]
#[tokio::test]
async fn a_wrong_down_and_a_failing_down_do_not_hide_the_versions_after_them(
    #[case] kind: Backend,
) {
    let dir = support::same_in_every_dialect(&[
        (
            "0001_t.up.sql",
            "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY);\n",
        ),
        ("0001_t.down.sql", "DROP TABLE t;\n"),
        ("0002_b.up.sql", "ALTER TABLE t ADD COLUMN b INTEGER;\n"),
        ("0002_b.down.sql", "SELECT 1;\n"),
        ("0003_u.up.sql", "CREATE TABLE u (id INTEGER NOT NULL);\n"),
        ("0003_u.down.sql", "DROP TABLE u;\nDROP TABLE missing;\n"),
        ("0004_v.up.sql", "CREATE TABLE v (id INTEGER NOT NULL);\n"),
        ("0004_v.down.sql", "DROP TABLE v;\n"),
    ]);
    let set = MigrationSet::load(dir.path(), kind).await.unwrap();
    let stairs = staircase::walk(&set, ColumnOrder::Ignore).await.unwrap();
    let versions: Vec<i64> = stairs.versions().collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(
        stairs.downs_checked.iter().copied().collect::<Vec<_>>(),
        [1, 4]
    );
    assert!(stairs.unchecked.iter().all(|u| u.versions.is_empty()));
    match stairs.failures.as_slice() {
        [
            Failure::DownDoesNotRestore { version: 2, .. },
            Failure::MigrationFailed {
                version: 3,
                line: Some(2),
                ..
            },
        ] => {}
        other => panic!("{kind}: {other:#?}"),
    }
    // What later versions see is the schema the up gave: version 4 holds t with b, u and v.
    let (newest, schema) = stairs.newest();
    assert_eq!(newest, 4);
    assert_eq!(
        schema.tables.keys().cloned().collect::<Vec<_>>(),
        ["t", "u", "v"]
    );
    assert_eq!(schema.tables["t"].columns.len(), 2);

    let report = check::run(&CheckOptions::new(dir.path(), &[kind])).await;
    assert!(!report.ok, "{}", report.text);
    let walked =
        format!("note {kind}: 4 migrations: 2 up, down and up again, 2 with a failure in ");
    assert!(report.text.contains(&walked), "{}", report.text);
    assert!(
        report
            .text
            .contains("reverting every migration in turn from the newest was not checked"),
        "{}",
        report.text
    );
    let failed: Vec<_> = report
        .entries
        .iter()
        .filter(|e| e.status == Status::Fail && e.backend == Some(kind))
        .collect();
    assert_eq!(failed.len(), 2, "{}", report.text);
}

/// An up that fails ends the walk (every later version applies on top of it); the versions
/// left are counted and named as unchecked, and the report says why.
#[apply(backends)]
#[tokio::test]
async fn a_failing_up_names_the_versions_it_leaves_unchecked(#[case] kind: Backend) {
    let dir = support::same_in_every_dialect(&[
        (
            "0001_t.up.sql",
            "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY);\n",
        ),
        ("0001_t.down.sql", "DROP TABLE t;\n"),
        ("0002_x.up.sql", "CREATE INDEX ix ON missing (id);\n"),
        ("0002_x.down.sql", "DROP INDEX ix;\n"),
        ("0003_u.up.sql", "CREATE TABLE u (id INTEGER NOT NULL);\n"),
        ("0003_u.down.sql", "DROP TABLE u;\n"),
        ("0004_v.up.sql", "CREATE TABLE v (id INTEGER NOT NULL);\n"),
        ("0004_v.down.sql", "DROP TABLE v;\n"),
    ]);
    let report = check::run(&CheckOptions::new(dir.path(), &[kind])).await;
    assert!(!report.ok, "{}", report.text);
    assert!(
        report.text.contains(&format!(
            "FAIL {kind}: 0002_x.up.sql (version 2) failed: line 1: "
        )),
        "{}",
        report.text
    );
    assert!(
        report.text.contains(&format!(
            "note {kind}: 2 of 4 migrations walked: 1 up, down and up again, 1 with a failure"
        )),
        "{}",
        report.text
    );
    assert!(
        report.text.contains(
            "unchecked: 2 versions (3 to 4): 0002_x.up.sql (version 2) failed, and every later \
             version applies on top of it"
        ),
        "{}",
        report.text
    );
}

/// PostgreSQL and SQLite can only append a column: a down that re-adds a dropped column puts
/// it last. That is noted, not failed, unless the project asks.
#[apply(backends)]
#[tokio::test]
async fn a_column_put_back_in_another_place_is_noted_unless_asked(#[case] kind: Backend) {
    let dir = support::same_in_every_dialect(&[
        (
            "0001_t.up.sql",
            "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, b INTEGER, c INTEGER);\n",
        ),
        ("0001_t.down.sql", "DROP TABLE t;\n"),
        (
            "0002_drop_b.up.sql",
            "-- lint: allow ALL001 the dropped column is what this set is about\n\
             -- lint: allow ban-drop-column the dropped column is what this set is about\n\
             ALTER TABLE t DROP COLUMN b;\n",
        ),
        (
            "0002_drop_b.down.sql",
            "ALTER TABLE t ADD COLUMN b INTEGER;\n",
        ),
    ]);
    let set = MigrationSet::load(dir.path(), kind).await.unwrap();
    let noted = staircase::walk(&set, ColumnOrder::Ignore).await.unwrap();
    assert!(noted.failures.is_empty(), "{kind}: {:?}", noted.failures);
    assert_eq!(noted.downs_checked.len(), 2);
    assert_eq!(noted.reordered.len(), 1, "{kind}");
    assert_eq!(noted.reordered[0].tables, ["t: id,c,b (was id,b,c)"]);

    let failed = staircase::walk(&set, ColumnOrder::Fail).await.unwrap();
    match failed.failures.as_slice() {
        [Failure::DownDoesNotRestore { version: 2, .. }] => {}
        other => panic!("{kind}: {other:#?}"),
    }

    let report = check::run(&CheckOptions::new(dir.path(), &[kind])).await;
    assert!(report.ok, "{}", report.text);
    assert!(
        report
            .text
            .contains("0002_drop_b.down.sql (version 2) puts columns back in another order"),
        "{}",
        report.text
    );
}

/// diesel's `00000000000000_diesel_initial_setup` is version 0, which sqlx's undo never
/// reverts: it is reported as such, never counted as reverted, and no count underflows.
#[tokio::test]
async fn version_0_is_not_counted_as_reverted() {
    let dir = support::same_in_every_dialect(&[
        (
            "00000000000000_initial_setup.up.sql",
            "CREATE TABLE setup (id INTEGER NOT NULL PRIMARY KEY);\n",
        ),
        (
            "00000000000000_initial_setup.down.sql",
            "DROP TABLE setup;\n",
        ),
        (
            "20240101000000_t.up.sql",
            "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY);\n",
        ),
        ("20240101000000_t.down.sql", "DROP TABLE t;\n"),
    ]);
    let set = MigrationSet::load(dir.path(), Backend::Sqlite)
        .await
        .unwrap();
    let stairs = staircase::walk(&set, ColumnOrder::Ignore).await.unwrap();
    assert!(stairs.failures.is_empty(), "{:?}", stairs.failures);
    assert_eq!(stairs.not_revertible, [0]);
    assert_eq!(
        stairs.downs_checked.iter().copied().collect::<Vec<_>>(),
        [20240101000000]
    );
    assert_eq!(
        stairs.summary(),
        "2 migrations: 1 up, down and up again, 1 up only: version 0 (sqlx cannot revert \
         version 0)"
    );
    // Reverting everything ends at version 0's schema, not at an empty database.
    assert!(stairs.steps[0].1.tables.contains_key("setup"));
}

/// Dialects that keep histories of their own (SQLite folds PostgreSQL's second migration into
/// its first) are compared at their newest schemas and at the checkpoints the project names,
/// not version by version; integrity does not hold their versions to each other.
#[cfg(feature = "containers")]
#[tokio::test]
async fn dialects_with_histories_of_their_own_are_compared_where_they_meet() {
    let dir = tempfile::tempdir().unwrap();
    support::plain_sql_settings(dir.path());
    let write = |folder: &str, name: &str, text: &str| {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        std::fs::write(dir.path().join(folder).join(name), text).unwrap();
    };
    write(
        "sqlite",
        "0001_t.up.sql",
        "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, a INTEGER);\n",
    );
    write("sqlite", "0001_t.down.sql", "DROP TABLE t;\n");
    write(
        "postgres",
        "0001_t.up.sql",
        "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY);\n",
    );
    write("postgres", "0001_t.down.sql", "DROP TABLE t;\n");
    write(
        "postgres",
        "0002_a.up.sql",
        "ALTER TABLE t ADD COLUMN a INTEGER;\n",
    );
    write(
        "postgres",
        "0002_a.down.sql",
        "ALTER TABLE t DROP COLUMN a;\n",
    );
    let both = [Backend::Sqlite, Backend::Postgres];
    let report = check::run(&CheckOptions::new(dir.path(), &both)).await;
    assert!(report.ok, "{}", report.text);
    assert!(
        report
            .text
            .contains("the folders keep histories of their own (sqlite 1, postgres 2 migrations)"),
        "{}",
        report.text
    );
    assert!(
        report
            .text
            .contains("their newest schemas are compared (sqlite 1, postgres 2)"),
        "{}",
        report.text
    );

    // A lasting difference at the newest schemas, and one at a checkpoint only.
    write(
        "postgres",
        "0002_a.up.sql",
        "ALTER TABLE t ADD COLUMN a INTEGER NOT NULL DEFAULT 0;\n",
    );
    let settings = dir.path().join(didhub_harness::project::SETTINGS_FILE);
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str("\n[[parity.align]]\nsqlite = \"1\"\npostgres = \"1\"\n");
    std::fs::write(&settings, text).unwrap();
    let report = check::run(&CheckOptions::new(dir.path(), &both)).await;
    assert!(!report.ok, "{}", report.text);
    assert!(
        report
            .text
            .contains("\ndrift: newest schemas: t.a nullability: sqlite=true postgres=false\n"),
        "{}",
        report.text
    );
    assert!(
        report.text.contains(
            "\ntransient drift: checkpoint (sqlite 1, postgres 1), not in the newest schemas: \
             t.a presence: sqlite=\"present\" postgres=absent\n"
        ),
        "{}",
        report.text
    );
}
