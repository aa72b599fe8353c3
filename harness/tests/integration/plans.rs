//! EXPLAIN read the same way on every backend, on real data.

use didhub_harness::TestDatabase;
use didhub_harness::backends;
use didhub_migrations::Backend;
use rstest_reuse::apply;

async fn table_with_rows(kind: Backend) -> (TestDatabase, didhub_harness::Pool) {
    let db = TestDatabase::create(kind).await.unwrap();
    let pool = db.connect().await.unwrap();
    pool.execute(
        "CREATE TABLE items (id INTEGER NOT NULL PRIMARY KEY, grp INTEGER NOT NULL, label VARCHAR(20) NOT NULL)",
    )
    .await
    .unwrap();
    pool.execute("CREATE INDEX idx_items_grp ON items (grp)")
        .await
        .unwrap();
    let values: Vec<String> = (1..=3000)
        .map(|i| format!("({i}, {}, 'l{i}')", i % 300))
        .collect();
    pool.execute(&format!(
        "INSERT INTO items (id, grp, label) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    let analyze = match kind {
        Backend::MySql => "ANALYZE TABLE items",
        _ => "ANALYZE",
    };
    pool.execute(analyze).await.unwrap();
    (db, pool)
}

#[apply(backends)]
#[tokio::test]
async fn plans_name_the_index_or_the_scan(#[case] kind: Backend) {
    let (_db, pool) = table_with_rows(kind).await;
    let by_group = pool
        .explain("SELECT id, label FROM items WHERE grp = 7 ORDER BY id")
        .await
        .unwrap();
    assert!(
        by_group.uses_index("items", "idx_items_grp"),
        "{kind}: {by_group}"
    );

    let by_label = pool
        .explain("SELECT id FROM items WHERE label = 'l42'")
        .await
        .unwrap();
    let access: Vec<_> = by_label.on("items").collect();
    assert!(!access.is_empty(), "{kind}: {by_label}");
    assert!(
        access.iter().all(|a| a.is_full_scan()),
        "{kind}: {by_label}"
    );
}
