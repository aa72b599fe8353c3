//! Query plans and benchmarks of DIDHub's hot queries on every backend (SPEC §5).
//!
//! [`load`] is the shared set-up: a fresh migrated database on a backend (through the harness),
//! generated data of a given size, and fresh planner statistics. [`plan_table`] explains every
//! hot query there and says whether its documented index is used; the plan tests assert it and
//! `just plans` prints it.

use std::fmt::Write as _;

use anyhow::Context;
use chrono::TimeZone;
use didhub_harness::plans::{self, Plan};
use didhub_harness::{Kind, TestDatabase};
use didhub_migrations::Backend;
use didhub_server::config::Config;
use didhub_server::db::{Db, Stmt, Timestamp};
use didhub_server::generate::{self, Generated, Size};
use didhub_server::store::hot::hot_queries;

/// A backend with data loaded and analysed.
pub struct Loaded {
    pub backend: Backend,
    pub db: Db,
    pub data: Generated,
    _database: TestDatabase,
}

/// Loads `alters` generated alters (and their users, systems and audit entries) into a fresh
/// database. `before_analyze` runs after loading (a schema change under test, say).
pub async fn load(
    backend: Backend,
    alters: usize,
    before_analyze: Option<&'static str>,
) -> anyhow::Result<Loaded> {
    let kind: Kind = backend.name().parse().map_err(anyhow::Error::msg)?;
    let database = TestDatabase::migrated(kind, "didhub", backend.migrator()).await?;
    // One connection: the schema change, ANALYZE and EXPLAIN all see the same schema.
    let url = format!("{}?max_connections=1", database.url);
    let config = Config::from_sources(None, |k| (k == "DIDHUB_DB").then(|| url.clone()))?;
    let db = Db::connect(&config.database).await?;
    let data = generate::generate(&db, Size { alters, seed: 7 })
        .await
        .context("generating data")?;
    if let Some(sql) = before_analyze {
        db.conn().execute(Stmt::new(sql)).await?;
    }
    generate::analyze(&db).await?;
    Ok(Loaded {
        backend,
        db,
        data,
        _database: database,
    })
}

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

/// Explains every hot query on loaded data.
pub async fn plan_table(loaded: &Loaded) -> anyhow::Result<Vec<PlanRow>> {
    let kind: Kind = loaded.backend.name().parse().map_err(anyhow::Error::msg)?;
    let day = Timestamp::from(chrono::Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap());
    let mut rows = Vec::new();
    for query in hot_queries(loaded.backend, &loaded.data.sample, day) {
        let text = loaded.db.conn().explain(query.stmt).await?;
        rows.push(PlanRow {
            query: query.name,
            table: query.table,
            expected_index: query.index,
            plan: plans::parse(kind, &text).map_err(anyhow::Error::msg)?,
        });
    }
    Ok(rows)
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
