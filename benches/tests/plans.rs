//! The server's hot queries use their documented index on every backend, on generated data
//! (10k alters) after ANALYZE. Dropping or renaming one of those indexes makes this fail.

use didhub_benches::{load, plan_table, render};
use didhub_migrations::Backend;

/// The hot queries whose plan does not use their documented index.
async fn misses(backend: Backend, dropped: &[(&str, &str)]) -> Vec<String> {
    let mut loaded = load(backend, 10_000).await.unwrap();
    if !dropped.is_empty() {
        loaded.drop_indexes(dropped).await.unwrap();
    }
    let rows = plan_table(&loaded).await.unwrap();
    eprint!("{}", render(backend, &rows));
    rows.iter()
        .filter(|r| !r.uses_expected_index())
        .map(|r| format!("{}: expected {}, got {}", r.query, r.expected_index, r.plan))
        .collect()
}

async fn hot_queries_use_their_documented_index(backend: Backend) {
    let misses = misses(backend, &[]).await;
    assert!(misses.is_empty(), "{backend}:\n{}", misses.join("\n"));
}

#[tokio::test]
async fn a_dropped_index_is_caught() {
    let misses = misses(Backend::Sqlite, &[("audit_logs", "idx_audit_logs_action")]).await;
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(
        misses[0].starts_with("audit log of a rare action: expected idx_audit_logs_action"),
        "{misses:?}"
    );
}

#[tokio::test]
async fn sqlite_hot_queries_use_their_documented_index() {
    hot_queries_use_their_documented_index(Backend::Sqlite).await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn postgres_hot_queries_use_their_documented_index() {
    hot_queries_use_their_documented_index(Backend::Postgres).await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn mysql_hot_queries_use_their_documented_index() {
    hot_queries_use_their_documented_index(Backend::MySql).await;
}

/// On MySQL a foreign key's index can only go with the key; the benches' index dropping handles it.
#[cfg(feature = "containers")]
#[tokio::test]
async fn mysql_a_dropped_foreign_key_index_is_caught() {
    let misses = misses(Backend::MySql, &[("alters", "idx_alters_system_id")]).await;
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(
        misses[0].starts_with("alters of a system, paged: expected idx_alters_system_id"),
        "{misses:?}"
    );
}
