//! The server's hot queries use their documented index on every backend, on generated data
//! (10k alters) after ANALYZE. Dropping or renaming one of those indexes makes this fail. The plan
//! table itself (without the planner's row estimates, which follow sampled statistics) is an
//! insta snapshot per backend, so a change of access path shows up in review.

use didhub_benches::{PlanRow, load, plan_table, render};
use didhub_harness::backends;
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// The hot queries' plans, after dropping `dropped` indexes (`(table, index)`).
async fn plans(backend: Backend, dropped: &[(&str, &str)]) -> Vec<PlanRow> {
    let mut loaded = load(backend, 10_000).await.unwrap();
    if !dropped.is_empty() {
        loaded.drop_indexes(dropped).await.unwrap();
    }
    let rows = plan_table(&loaded).await.unwrap();
    eprint!("{}", render(backend, &rows));
    rows
}

/// The hot queries whose plan does not use their documented index.
fn misses(rows: &[PlanRow]) -> Vec<String> {
    rows.iter()
        .filter(|r| !r.uses_expected_index())
        .map(|r| format!("{}: expected {}, got {}", r.query, r.expected_index, r.plan))
        .collect()
}

#[apply(backends)]
#[tokio::test]
async fn hot_queries_use_their_documented_index(backend: Backend) {
    let mut rows = plans(backend, &[]).await;
    let misses = misses(&rows);
    assert!(misses.is_empty(), "{backend}:\n{}", misses.join("\n"));
    for row in &mut rows {
        row.plan = row.plan.without_estimates();
    }
    insta::assert_snapshot!(backend.name(), render(backend, &rows));
}

#[tokio::test]
async fn a_dropped_index_is_caught() {
    let rows = plans(Backend::Sqlite, &[("audit_logs", "idx_audit_logs_action")]).await;
    let misses = misses(&rows);
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(
        misses[0].starts_with("audit log of a rare action: expected idx_audit_logs_action"),
        "{misses:?}"
    );
}

/// The report's plan table (`didhub-harness report --plans`), loaded in headless chromium: a
/// row per query, a cell per backend, the dropped index's query the one that says so; the
/// counts are the JSON document's.
#[tokio::test]
async fn the_report_page_shows_the_plan_that_misses_its_index() {
    use didhub_harness::html::{Page, browser};
    let rows = plans(Backend::Sqlite, &[("audit_logs", "idx_audit_logs_action")]).await;
    let doc = serde_json::json!({
        "ok": false,
        "alters": 10_000,
        "plans": rows.iter().map(|r| didhub_benches::plan_json(Backend::Sqlite, r)).collect::<Vec<_>>(),
    });
    let page = Page {
        title: "plans".into(),
        plans: Some(doc),
        ..Page::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.html");
    std::fs::write(&path, page.render().unwrap()).unwrap();
    let loaded = browser::load(&path).unwrap();
    assert!(loaded.dom.contains("<section id=\"plans\""));
    assert!(loaded.console().is_empty(), "{:?}", loaded.console());
    assert_eq!(
        loaded.dom.matches("<tr class=\"plan-row\"").count(),
        rows.len()
    );
    let used = rows.iter().filter(|r| r.uses_expected_index()).count();
    assert_eq!(loaded.dom.matches("data-uses-index=\"true\"").count(), used);
    assert_eq!(loaded.dom.matches("data-uses-index=\"false\"").count(), 1);
    assert!(loaded.dom.contains("data-ok=\"false\""));
}

/// On MySQL a foreign key's index can only go with the key; `drop_indexes` handles that.
#[cfg(feature = "containers")]
#[tokio::test]
async fn mysql_a_dropped_foreign_key_index_is_caught() {
    let rows = plans(Backend::MySql, &[("alters", "idx_alters_system_id")]).await;
    let misses = misses(&rows);
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(
        misses[0].starts_with("alters of a system, paged: expected idx_alters_system_id"),
        "{misses:?}"
    );
}
