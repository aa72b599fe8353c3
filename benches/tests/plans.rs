//! The server's hot queries use their documented index on every backend, on generated data
//! (10k alters) after ANALYZE. Dropping or renaming one of those indexes makes this fail.

use didhub_benches::{load, plan_table, render};
use didhub_migrations::Backend;

/// The hot queries whose plan does not use their documented index.
async fn misses(backend: Backend, before_analyze: Option<&'static str>) -> Vec<String> {
    let loaded = load(backend, 10_000, before_analyze).await.unwrap();
    let rows = plan_table(&loaded).await.unwrap();
    eprint!("{}", render(backend, &rows));
    rows.iter()
        .filter(|r| !r.uses_expected_index())
        .map(|r| format!("{}: expected {}, got {}", r.query, r.expected_index, r.plan))
        .collect()
}

async fn hot_queries_use_their_documented_index(backend: Backend) {
    let misses = misses(backend, None).await;
    assert!(misses.is_empty(), "{backend}:\n{}", misses.join("\n"));
}

#[tokio::test]
async fn a_dropped_index_is_caught() {
    let misses = misses(Backend::Sqlite, Some("DROP INDEX idx_audit_logs_action")).await;
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
