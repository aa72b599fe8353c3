//! The SQLite set on a real database file. (The harness walks every backend version by version;
//! these are the quick checks that need no Docker.)

use std::str::FromStr;

use didhub_migrations::{LockTimeout, migrate_down, migrate_up};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

async fn fresh_db(dir: &tempfile::TempDir) -> SqlitePool {
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}/m.sqlite", dir.path().display()))
            .unwrap()
            .create_if_missing(true);
    SqlitePool::connect_with(options).await.unwrap()
}

async fn tables(pool: &SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_migration_applies_and_reverting_all_leaves_no_table() {
    let dir = tempfile::tempdir().unwrap();
    let pool = fresh_db(&dir).await;
    migrate_up(&pool, None, LockTimeout::default())
        .await
        .unwrap();
    let created = tables(&pool).await;
    for table in [
        "users",
        "systems",
        "alters",
        "audit_logs",
        "alter_groups",
        "settings",
    ] {
        assert!(
            created.contains(&table.to_owned()),
            "{table} missing: {created:?}"
        );
    }
    migrate_down(&pool, 0, LockTimeout::default())
        .await
        .unwrap();
    assert_eq!(tables(&pool).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_failing_migration_is_named_with_backend_version_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let pool = fresh_db(&dir).await;
    sqlx::query("CREATE TABLE systems (id TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    let err = migrate_up(&pool, None, LockTimeout::default())
        .await
        .unwrap_err();
    assert_eq!(err.version(), Some(2));
    assert_eq!(err.file(), Some("0002_systems.up.sql"));
    let message = err.to_string();
    assert!(
        message.starts_with("sqlite: migration 0002_systems.up.sql (version 2): "),
        "{message}"
    );
    assert!(message.contains("already exists"), "{message}");
    // Version 1 went in; version 2 rolled back as a whole.
    assert_eq!(tables(&pool).await, ["systems", "users"]);
}
