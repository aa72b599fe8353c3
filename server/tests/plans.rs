//! The server's hot queries use their documented index on every backend, on generated data
//! (10k alters) after ANALYZE. Dropping or renaming one of those indexes makes this fail.

use chrono::TimeZone;
use didhub_harness::plans;
use didhub_migrations::Backend;
use didhub_server::config::Config;
use didhub_server::db::{Db, Timestamp};
use didhub_server::generate::{self, Size};
use didhub_server::store::hot::hot_queries;

/// The hot queries whose plan does not use their documented index, after generating data and
/// running `before_analyze` (say, a migration that drops an index).
async fn queries_missing_their_index(
    backend: Backend,
    before_analyze: Option<&'static str>,
) -> Vec<String> {
    let kind: didhub_harness::Kind = backend.name().parse().unwrap();
    let database = didhub_harness::TestDatabase::migrated(kind, "didhub", backend.migrator())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // One connection: the index change, ANALYZE and EXPLAIN all see the same schema.
    let url = format!("{}?max_connections=1", database.url);
    let config = Config::from_sources(None, |k| (k == "DIDHUB_DB").then(|| url.clone())).unwrap();
    let db = Db::connect(&config.database).await.unwrap();
    let data = generate::generate(
        &db,
        Size {
            alters: 10_000,
            seed: 7,
        },
    )
    .await
    .unwrap();
    if let Some(sql) = before_analyze {
        db.conn()
            .execute(didhub_server::db::Stmt::new(sql))
            .await
            .unwrap();
    }
    generate::analyze(&db).await.unwrap();
    eprintln!(
        "{backend}: generated {} rows in {:.2} s ({:.0} rows/s)",
        data.rows(),
        data.elapsed.as_secs_f64(),
        data.rows_per_second()
    );

    let day = Timestamp::from(chrono::Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap());
    let mut failures = Vec::new();
    for query in hot_queries(backend, &data.sample, day) {
        let text = db.conn().explain(query.stmt).await.unwrap();
        let plan = plans::parse(kind, &text).unwrap();
        if !plan.uses_index(query.table, &query.index) {
            failures.push(format!(
                "{}: expected {} on {}, got: {plan}",
                query.name, query.index, query.table
            ));
        }
    }
    failures
}

async fn hot_queries_use_their_documented_index(backend: Backend) {
    let failures = queries_missing_their_index(backend, None).await;
    assert!(failures.is_empty(), "{backend}:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn a_dropped_index_is_caught() {
    let failures =
        queries_missing_their_index(Backend::Sqlite, Some("DROP INDEX idx_audit_logs_action"))
            .await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].starts_with("audit log of a rare action: expected idx_audit_logs_action"),
        "{failures:?}"
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
