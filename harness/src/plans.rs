//! Query plans, read the same way on every backend.
//!
//! Each backend explains a query its own way — PostgreSQL `EXPLAIN (FORMAT JSON)` (a tree of
//! `Plans`), MySQL/MariaDB `EXPLAIN FORMAT=JSON` (`table` objects nested in the query block),
//! SQLite `EXPLAIN QUERY PLAN` (`SEARCH t USING INDEX i (…)` / `SCAN t` lines). Each dialect's
//! module of [`crate::backend`] reads its own into a [`Plan`] ([`crate::backend::parse_plan`]):
//! which tables are read, how, through which index, and how many rows the planner expects.
//! Plans on empty tables say little: load data and ANALYZE first.

use std::fmt;

use didhub_migrations::Backend;

/// How one table is read.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Access {
    pub table: String,
    /// The backend's own word: `Index Scan`, `Bitmap Heap Scan`, `ref`, `SEARCH`, `SCAN`, …
    pub method: String,
    /// The index used, if any.
    pub index: Option<String>,
    /// The planner's row estimate, where the backend gives one.
    pub rows: Option<f64>,
}

impl Access {
    /// Reads every row of the table.
    pub fn is_full_scan(&self) -> bool {
        self.index.is_none()
    }
}

/// Why a backend's EXPLAIN output could not be read into a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error("EXPLAIN's output is not JSON: {0}")]
    NotJson(String),
    #[error("no Plan in PostgreSQL's EXPLAIN output")]
    NoPlan,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    pub accesses: Vec<Access>,
}

impl Plan {
    /// Whether `table` is read through `index`.
    pub fn uses_index(&self, table: &str, index: &str) -> bool {
        self.accesses
            .iter()
            .any(|a| a.table == table && a.index.as_deref() == Some(index))
    }

    /// The same plan without the estimated row counts, which vary with sampled statistics.
    pub fn without_estimates(&self) -> Plan {
        Plan {
            accesses: self
                .accesses
                .iter()
                .map(|a| Access {
                    rows: None,
                    ..a.clone()
                })
                .collect(),
        }
    }

    /// The accesses to `table`.
    pub fn on(&self, table: &str) -> impl Iterator<Item = &Access> {
        self.accesses.iter().filter(move |a| a.table == table)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .accesses
            .iter()
            .map(|a| {
                let mut s = format!("{} {}", a.table, a.method);
                if let Some(index) = &a.index {
                    s.push_str(&format!(" using {index}"));
                }
                if let Some(rows) = a.rows {
                    s.push_str(&format!(" (~{rows} rows)"));
                }
                s
            })
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// The statement that asks `kind` for a plan of `sql`.
pub fn explain_sql(kind: Backend, sql: &str) -> String {
    match kind {
        Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
        Backend::Postgres => format!("EXPLAIN (FORMAT JSON) {sql}"),
        Backend::MySql => format!("EXPLAIN FORMAT=JSON {sql}"),
    }
}
