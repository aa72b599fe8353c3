//! Query plans, read the same way on every backend.
//!
//! Each backend explains a query its own way — PostgreSQL `EXPLAIN (FORMAT JSON)` (a tree of
//! `Plans`), MySQL/MariaDB `EXPLAIN FORMAT=JSON` (`table` objects nested in the query block),
//! SQLite `EXPLAIN QUERY PLAN` (`SEARCH t USING INDEX i (…)` / `SCAN t` lines). [`parse`] turns
//! each into a [`Plan`]: which tables are read, how, through which index, and how many rows the
//! planner expects. Plans on empty tables say little: load data and ANALYZE first.

use std::fmt;

use serde_json::Value;

use didhub_migrations::Backend;

/// How one table is read.
#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Clone, PartialEq)]
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

/// Parses what [`explain_sql`] returned: the JSON document (PostgreSQL, MySQL), or the `detail`
/// lines of the query plan joined by newlines (SQLite).
pub fn parse(kind: Backend, output: &str) -> Result<Plan, String> {
    let mut accesses = Vec::new();
    match kind {
        Backend::Sqlite => {
            for line in output.lines() {
                if let Some(access) = sqlite_line(line.trim()) {
                    accesses.push(access);
                }
            }
        }
        Backend::Postgres => {
            let doc: Value = serde_json::from_str(output).map_err(|e| e.to_string())?;
            let root = doc
                .get(0)
                .and_then(|d| d.get("Plan"))
                .ok_or("no Plan in PostgreSQL's EXPLAIN output")?;
            postgres_node(root, None, &mut accesses);
        }
        Backend::MySql => {
            let doc: Value = serde_json::from_str(output).map_err(|e| e.to_string())?;
            mysql_tables(&doc, &mut accesses);
        }
    }
    Ok(Plan { accesses })
}

/// `SEARCH alters USING INDEX idx_alters_system_id (system_id=?)`, `SCAN alters`,
/// `SEARCH t USING INTEGER PRIMARY KEY (rowid=?)`, `SCAN t USING COVERING INDEX i`.
fn sqlite_line(line: &str) -> Option<Access> {
    let mut words = line.split_whitespace();
    let method = words.next()?;
    if method != "SEARCH" && method != "SCAN" {
        return None;
    }
    let table = words.next()?.to_owned();
    let rest: Vec<&str> = words.collect();
    let index = rest
        .iter()
        .position(|w| *w == "INDEX")
        .and_then(|i| rest.get(i + 1))
        .map(|s| s.to_string())
        .or_else(|| {
            line.contains("USING INTEGER PRIMARY KEY")
                .then(|| "INTEGER PRIMARY KEY".to_owned())
        });
    Some(Access {
        table,
        method: method.to_owned(),
        index,
        rows: None,
    })
}

fn postgres_node(node: &Value, parent_relation: Option<&str>, out: &mut Vec<Access>) {
    let method = node["Node Type"].as_str().unwrap_or_default();
    let relation = node["Relation Name"].as_str().or(parent_relation);
    let index = node["Index Name"].as_str();
    let reads_table = node.get("Relation Name").is_some() || index.is_some();
    // A Bitmap Heap Scan is reported through its Bitmap Index Scan child, which names the index.
    if reads_table && method != "Bitmap Heap Scan" {
        out.push(Access {
            table: relation.unwrap_or_default().to_owned(),
            method: method.to_owned(),
            index: index.map(str::to_owned),
            rows: node["Plan Rows"].as_f64(),
        });
    }
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            postgres_node(child, relation, out);
        }
    }
}

/// Every `table` object with a `table_name`, in document order (subqueries and derived tables
/// nest deeper; recursing into every value finds them).
fn mysql_tables(value: &Value, out: &mut Vec<Access>) {
    match value {
        Value::Object(map) => {
            if let Some(table) = map.get("table").filter(|t| t.get("table_name").is_some()) {
                let access_type = table["access_type"].as_str().unwrap_or_default();
                out.push(Access {
                    table: table["table_name"].as_str().unwrap_or_default().to_owned(),
                    method: access_type.to_owned(),
                    index: table["key"]
                        .as_str()
                        .filter(|_| access_type != "ALL")
                        .map(str::to_owned),
                    rows: table["rows"]
                        .as_f64()
                        .or_else(|| table["rows_examined_per_scan"].as_f64()),
                });
            }
            map.values().for_each(|child| mysql_tables(child, out));
        }
        Value::Array(items) => items.iter().for_each(|v| mysql_tables(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_lines_name_the_index_or_a_scan() {
        let plan = parse(
            Backend::Sqlite,
            "SEARCH alters USING INDEX idx_alters_system_id (system_id=?)\nUSE TEMP B-TREE FOR ORDER BY\nSCAN users",
        )
        .unwrap();
        assert!(plan.uses_index("alters", "idx_alters_system_id"));
        assert!(plan.on("users").all(Access::is_full_scan));
        assert_eq!(plan.accesses.len(), 2);
    }

    #[test]
    fn postgres_bitmap_scans_report_their_index_and_table() {
        let doc = r#"[{"Plan": {"Node Type": "Limit", "Plan Rows": 10, "Plans": [
            {"Node Type": "Bitmap Heap Scan", "Relation Name": "a", "Plan Rows": 100, "Plans": [
                {"Node Type": "Bitmap Index Scan", "Index Name": "idx_a_s", "Plan Rows": 100}]}]}}]"#;
        let plan = parse(Backend::Postgres, doc).unwrap();
        assert_eq!(
            plan.accesses,
            [Access {
                table: "a".into(),
                method: "Bitmap Index Scan".into(),
                index: Some("idx_a_s".into()),
                rows: Some(100.0)
            }]
        );
        let seq =
            r#"[{"Plan": {"Node Type": "Seq Scan", "Relation Name": "a", "Plan Rows": 5000}}]"#;
        assert!(parse(Backend::Postgres, seq).unwrap().accesses[0].is_full_scan());
    }

    #[test]
    fn mysql_tables_are_found_wherever_they_nest() {
        let doc = r#"{"query_block": {"nested_loop": [{"read_sorted_file": {"filesort": {"table": {
            "table_name": "a", "access_type": "ref", "key": "idx_a_s", "rows": 100}}}}]}}"#;
        let plan = parse(Backend::MySql, doc).unwrap();
        assert!(plan.uses_index("a", "idx_a_s"));
        let all = r#"{"query_block": {"table": {"table_name": "a", "access_type": "ALL", "rows": 9000}}}"#;
        assert!(parse(Backend::MySql, all).unwrap().accesses[0].is_full_scan());
    }
}
