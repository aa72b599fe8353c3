//! The plan table: how a backend executes each hot query, and whether it uses the documented
//! index.

use std::fmt::Write as _;

use crate::hot::hot_queries;
use chrono::TimeZone;
use didhub_harness::backend::parse_plan;
use didhub_harness::plans::Plan;
use didhub_migrations::Backend;
use didhub_server::db::Timestamp;

use crate::Loaded;

/// One hot query's plan on one backend.
#[derive(Debug)]
pub struct PlanRow {
    pub query: &'static str,
    pub table: &'static str,
    pub expected_index: String,
    pub plan: Plan,
}

impl PlanRow {
    pub fn uses_expected_index(&self) -> bool {
        self.plan.uses_index(self.table, &self.expected_index)
    }
}

/// The start of the one-day window the audit query reads (generated data spans 2025).
pub fn audit_day() -> Timestamp {
    Timestamp::from(chrono::Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap())
}

/// Explains every hot query on loaded data.
pub async fn plan_table(loaded: &Loaded) -> anyhow::Result<Vec<PlanRow>> {
    let kind = loaded.backend;
    let mut rows = Vec::new();
    for query in hot_queries(loaded.backend, &loaded.data.sample, audit_day()) {
        let text = loaded.db.conn().explain(query.stmt).await?;
        rows.push(PlanRow {
            query: query.name,
            table: query.table,
            expected_index: query.index,
            plan: parse_plan(kind, &text)?,
        });
    }
    Ok(rows)
}

/// One row of the plan table as `plans --format json` prints it.
pub fn plan_json(backend: Backend, row: &PlanRow) -> serde_json::Value {
    serde_json::json!({
        "backend": backend.name(),
        "query": row.query,
        "table": row.table,
        "expected_index": row.expected_index,
        "uses_expected_index": row.uses_expected_index(),
        "plan": row.plan.to_string(),
        "accesses": row.plan.accesses,
    })
}

/// The plan table as text: query × backend → access path, index, estimated rows.
pub fn render(backend: Backend, rows: &[PlanRow]) -> String {
    let mut out = String::new();
    for row in rows {
        let verdict = if row.uses_expected_index() {
            "ok  "
        } else {
            "MISS"
        };
        let _ = writeln!(
            out,
            "{verdict} {:<8} {:<28} {} (documented: {})",
            backend.name(),
            row.query,
            row.plan,
            row.expected_index
        );
    }
    out
}
