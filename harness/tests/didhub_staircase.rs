//! DIDHub's own migrations on every backend: the staircase passes, and the schema after every
//! version is snapshotted (`cargo insta review` when a migration changes on purpose).

use std::path::PathBuf;

use didhub_harness::Kind;
use didhub_harness::migrations::MigrationSet;
use didhub_harness::staircase;

fn didhub_migrations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

async fn staircase_matches_snapshots(kind: Kind) {
    let set = MigrationSet::load(&didhub_migrations(), kind)
        .await
        .unwrap();
    let stairs = staircase::walk(&set)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stairs.steps.len(), set.versions().len() + 1);
    for (version, schema) in &stairs.steps {
        insta::assert_snapshot!(format!("{kind}_v{version:04}"), schema.to_string());
    }
}

#[tokio::test]
async fn sqlite_migrations_walk_the_staircase() {
    staircase_matches_snapshots(Kind::Sqlite).await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn postgres_migrations_walk_the_staircase() {
    staircase_matches_snapshots(Kind::Postgres).await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn mysql_migrations_walk_the_staircase() {
    staircase_matches_snapshots(Kind::MySql).await;
}
