//! The pre-flight check of a database's migration history: a migration that failed half way,
//! an applied file that changed since, and a version the files do not know are each refused
//! with the file, the version and what to do — on real databases.

use std::path::Path;

use didhub_harness::{Pool, TestDatabase};
use didhub_migrations::{Backend, HistoryProblem, PreflightFailed, check_history};
use sqlx::migrate::Migrator;

/// A throwaway migration folder holding `files` (name, SQL).
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    dir
}

async fn migrator(dir: &Path) -> Migrator {
    Migrator::new(dir).await.unwrap()
}

fn backend(kind: Backend) -> Backend {
    Backend::ALL
        .into_iter()
        .find(|b| b.name() == kind.name())
        .unwrap()
}

async fn preflight(pool: &Pool, migrator: &Migrator) -> Result<(), PreflightFailed> {
    let backend = backend(pool.kind());
    match pool {
        Pool::Sqlite(p) => check_history(backend, migrator, p).await,
        Pool::Postgres(p) => check_history(backend, migrator, p).await,
        Pool::MySql(p) => check_history(backend, migrator, p).await,
    }
}

/// The rows of `_sqlx_migrations`: (version, success).
async fn history(pool: &Pool) -> Vec<(i64, bool)> {
    let sql = "SELECT version, success FROM _sqlx_migrations ORDER BY version";
    match pool {
        Pool::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await,
        Pool::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await,
        Pool::MySql(p) => sqlx::query_as(sql).fetch_all(p).await,
    }
    .unwrap()
}

async fn tables(pool: &Pool) -> Vec<String> {
    pool.introspect()
        .await
        .unwrap()
        .tables
        .into_keys()
        .collect()
}

fn problems(result: Result<(), PreflightFailed>) -> Vec<HistoryProblem> {
    match result {
        Err(PreflightFailed::Disagrees { problems, .. }) => problems,
        other => panic!("expected the history to be refused, got {other:?}"),
    }
}

const FIRST: [(&str, &str); 2] = [
    (
        "0001_first.up.sql",
        "CREATE TABLE first (id INTEGER NOT NULL);\n",
    ),
    ("0001_first.down.sql", "DROP TABLE first;\n"),
];

/// Version 2's second statement fails (`first` exists): its first statement is applied on
/// MySQL, where DDL commits on its own, and rolled back on SQLite and PostgreSQL.
async fn a_migration_that_fails_half_way(kind: Backend) {
    let dir = folder(&[
        FIRST[0],
        FIRST[1],
        (
            "0002_half.up.sql",
            "CREATE TABLE second (id INTEGER NOT NULL);\nCREATE TABLE first (id INTEGER NOT NULL);\n",
        ),
        ("0002_half.down.sql", "DROP TABLE second;\n"),
    ]);
    let migrator = migrator(dir.path()).await;
    let db = TestDatabase::create(kind).await.unwrap();
    let pool = db.connect().await.unwrap();
    let failed = pool.migrate_up(&migrator, i64::MAX).await;
    assert!(failed.is_err(), "{kind}: version 2 should fail");

    if kind != Backend::MySql {
        assert_eq!(tables(&pool).await, ["first"], "{kind}: rolled back");
        assert_eq!(history(&pool).await, [(1, true)], "{kind}: no row for 2");
        preflight(&pool, &migrator).await.unwrap();
        pool.close().await;
        return;
    }

    assert_eq!(tables(&pool).await, ["first", "second"], "half applied");
    assert_eq!(history(&pool).await, [(1, true), (2, false)], "dirty row");
    let result = preflight(&pool, &migrator).await;
    let message = result.as_ref().unwrap_err().to_string();
    assert_eq!(
        problems(result),
        [HistoryProblem::Dirty {
            backend: Backend::MySql,
            version: 2,
            file: "0002_half.up.sql".into(),
            down: "0002_half.down.sql".into(),
        }]
    );
    for expected in [
        "mysql: migration 0002_half.up.sql (version 2) failed part way",
        "MySQL commits every DDL statement on its own",
        "0002_half.down.sql reverses each of them",
        "`DELETE FROM _sqlx_migrations WHERE version = 2;`",
    ] {
        assert!(message.contains(expected), "{expected:?} in\n{message}");
    }
    // Following the instructions gives a database the pre-flight accepts, at version 1.
    pool.execute("DROP TABLE second; DELETE FROM _sqlx_migrations WHERE version = 2;")
        .await
        .unwrap();
    preflight(&pool, &migrator).await.unwrap();
    assert_eq!(tables(&pool).await, ["first"]);
    pool.close().await;
}

#[tokio::test]
async fn sqlite_rolls_back_a_migration_that_fails_half_way() {
    a_migration_that_fails_half_way(Backend::Sqlite).await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn postgres_rolls_back_a_migration_that_fails_half_way() {
    a_migration_that_fails_half_way(Backend::Postgres).await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn mysql_reports_a_migration_that_fails_half_way_as_dirty_with_the_repair() {
    a_migration_that_fails_half_way(Backend::MySql).await;
}

#[tokio::test]
async fn an_applied_migration_whose_file_changed_is_named_with_both_checksums() {
    let dir = folder(&FIRST);
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let pool = db.connect().await.unwrap();
    pool.migrate_up(&migrator(dir.path()).await, i64::MAX)
        .await
        .unwrap();
    preflight(&pool, &migrator(dir.path()).await).await.unwrap();

    let edited = "CREATE TABLE first (id INTEGER NOT NULL, name TEXT);\n";
    std::fs::write(dir.path().join("0001_first.up.sql"), edited).unwrap();
    let result = preflight(&pool, &migrator(dir.path()).await).await;
    let message = result.as_ref().unwrap_err().to_string();
    let sha = |sql: &str| didhub_harness::lock::sha384_hex(sql.as_bytes());
    assert_eq!(
        problems(result),
        [HistoryProblem::ChecksumMismatch {
            backend: Backend::Sqlite,
            version: 1,
            file: "0001_first.up.sql".into(),
            applied: sha(FIRST[0].1),
            expected: sha(edited),
        }]
    );
    assert!(
        message.contains("make the change in a new migration"),
        "{message}"
    );
}

#[tokio::test]
async fn a_version_the_files_do_not_know_is_named() {
    let newer = folder(&[
        FIRST[0],
        FIRST[1],
        ("0002_second.up.sql", "CREATE TABLE second (id INTEGER);\n"),
        ("0002_second.down.sql", "DROP TABLE second;\n"),
    ]);
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let pool = db.connect().await.unwrap();
    pool.migrate_up(&migrator(newer.path()).await, i64::MAX)
        .await
        .unwrap();
    let older = folder(&FIRST);
    let result = preflight(&pool, &migrator(older.path()).await).await;
    let message = result.as_ref().unwrap_err().to_string();
    assert_eq!(
        problems(result),
        [HistoryProblem::UnknownVersion {
            backend: Backend::Sqlite,
            version: 2
        }]
    );
    assert!(
        message.contains(
            "sqlite: the database has migration version 2 applied, which this build does not know"
        ),
        "{message}"
    );
}
