//! DIDHub's own migrations on every backend: the staircase passes, and the schema after every
//! version is snapshotted (`cargo insta review` when a migration changes on purpose).

use didhub_harness::backends;
use rstest_reuse::apply;
use std::path::PathBuf;

use didhub_harness::migrations::MigrationSet;
use didhub_harness::schema::Schema;
use didhub_harness::staircase;
use didhub_harness::{Pool, TestDatabase};
use didhub_migrations::Backend;

fn didhub_migrations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

#[apply(backends)]
#[tokio::test]
async fn staircase_matches_snapshots(#[case] kind: Backend) {
    let set = MigrationSet::load(&didhub_migrations(), kind)
        .await
        .unwrap();
    let stairs = staircase::walk(&set, didhub_harness::project::ColumnOrder::Fail)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stairs.failures.is_empty(), "{:?}", stairs.failures);
    assert!(stairs.unchecked.is_empty(), "{:?}", stairs.unchecked);
    assert!(stairs.reordered.is_empty(), "{:?}", stairs.reordered);
    assert_eq!(stairs.steps.len(), set.versions().len() + 1);
    for (version, schema) in &stairs.steps {
        insta::assert_snapshot!(format!("{kind}_v{version:04}"), schema.to_string());
    }
}

/// Every row of every table and the migration history, for comparing two databases.
async fn contents(pool: &Pool) -> (Schema, Vec<Vec<Vec<Option<String>>>>, Vec<(i64, Vec<u8>)>) {
    let schema = pool.introspect().await.unwrap();
    let mut rows = Vec::new();
    for (name, table) in &schema.tables {
        let mut table_rows = pool.read_rows(name, table).await.unwrap();
        table_rows.sort();
        rows.push(table_rows);
    }
    let history = "SELECT version, checksum FROM _sqlx_migrations ORDER BY version";
    let history = match pool {
        Pool::Sqlite(p) => sqlx::query_as(history).fetch_all(p).await,
        Pool::Postgres(p) => sqlx::query_as(history).fetch_all(p).await,
        Pool::MySql(p) => sqlx::query_as(history).fetch_all(p).await,
    }
    .unwrap();
    (schema, rows, history)
}

/// A database copied from the migrated template (PostgreSQL's `TEMPLATE`, SQLite's file copy,
/// MySQL's replayed tables) is what migrating a fresh database gives: the same schema, rows and
/// history.
#[apply(backends)]
#[tokio::test]
async fn a_database_from_the_template_is_a_migrated_database(#[case] kind: Backend) {
    let set = MigrationSet::load(&didhub_migrations(), kind)
        .await
        .unwrap();
    let template = "didhub staircase test";
    // The first call makes the template; the second is a plain copy.
    for _ in 0..2 {
        let copy = TestDatabase::migrated(kind, template, &set.migrator)
            .await
            .unwrap();
        let fresh = TestDatabase::create(kind).await.unwrap();
        let (copy, fresh) = (
            copy.connect().await.unwrap(),
            fresh.connect().await.unwrap(),
        );
        fresh.migrate_up(&set.migrator, i64::MAX).await.unwrap();
        let (expected, found) = (contents(&fresh).await, contents(&copy).await);
        assert_eq!(found.0.to_string(), expected.0.to_string());
        assert!(!expected.2.is_empty());
        assert_eq!(found, expected);
    }
}

/// What a copy of the tables would miss (here a view) makes the template migrate every database
/// instead.
#[apply(backends)]
#[tokio::test]
async fn a_template_with_a_view_still_gives_the_view(#[case] kind: Backend) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(kind.name());
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("0001_t.up.sql"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY);\nCREATE VIEW v AS SELECT id FROM t;\n",
    )
    .unwrap();
    std::fs::write(dir.join("0001_t.down.sql"), "DROP VIEW v;\nDROP TABLE t;\n").unwrap();
    let set = MigrationSet::load(root.path(), kind).await.unwrap();
    for _ in 0..2 {
        let db = TestDatabase::migrated(kind, "with a view", &set.migrator)
            .await
            .unwrap();
        let pool = db.connect().await.unwrap();
        pool.execute("SELECT id FROM v").await.unwrap();
    }
}
