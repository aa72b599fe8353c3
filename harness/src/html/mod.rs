//! The report as one self-contained HTML page (`--format html --output FILE`): what CI hands
//! people to look at rather than read.
//!
//! A page is rendered from the very documents `--format json` prints (`check`, `parity` and
//! `lint`'s report, `impact`'s), never from the structures behind them, so that the page and
//! the JSON cannot disagree; `didhub-harness report` renders one page from saved JSON
//! documents. The markup is a minijinja template ([`TEMPLATE`]), the impact charts SVG drawn
//! by plotters ([`chart`]); the CSS is inline and there is no script, so the page works from
//! `file://` and as a CI artifact, with no network.

pub mod browser;
mod chart;

use std::collections::BTreeMap;

use minijinja::{Environment, Value as Jinja, context};
use serde_json::Value;

use crate::lint;

/// The page's markup.
const TEMPLATE: &str = include_str!("report.html");

/// What one page shows: the JSON documents of a check (`check`, `parity`, `lint`) and of an
/// impact run, as `--format json` prints them.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub title: String,
    /// What the report is about (the migrations folder).
    pub source: Option<String>,
    pub check: Option<Value>,
    pub impact: Option<Value>,
    /// A `plans --format json` document (the benches' query plans).
    pub plans: Option<Value>,
}

/// Why a page could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("the report page could not be rendered: {0}")]
    Template(#[from] minijinja::Error),
    #[error("an impact chart could not be drawn: {0}")]
    Chart(String),
}

impl Page {
    pub fn render(&self) -> Result<String, HtmlError> {
        let mut env = Environment::new();
        env.add_template("report.html", TEMPLATE)?;
        let check = self.check.as_ref();
        let entries = check
            .and_then(|c| c["entries"].as_array())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let charts = match &self.impact {
            Some(impact) => chart::all(impact)?,
            None => Vec::new(),
        };
        let html = env.get_template("report.html")?.render(context! {
            title => &self.title,
            source => &self.source,
            version => env!("CARGO_PKG_VERSION"),
            check => check,
            headlines => headlines(entries),
            checks => checks(entries),
            slowest_step => slowest_step(check),
            parity_compared => entries.iter().any(|e| e["step"] == "parity"),
            parity_backends => parity_backends(check),
            parity_groups => parity_groups(check),
            lint_ran => entries.iter().any(|e| e["step"] == "lint"),
            lint_groups => lint_groups(entries),
            impact => &self.impact,
            plans => &self.plans,
            plan_matrix => plan_matrix(self.plans.as_ref()),
            charts => charts.into_iter().map(Jinja::from_safe_string).collect::<Vec<_>>(),
        })?;
        Ok(html)
    }
}

/// One line per check and backend, in the order the report ran them: the worst verdict of its
/// entries, how many failed, and what its passing or noting entry says of it.
fn checks(entries: &[Value]) -> Vec<Jinja> {
    let rank = |status: &str| match status {
        "error" => 4,
        "fail" => 3,
        "skip" => 2,
        "note" => 1,
        _ => 0,
    };
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for e in entries {
        let key = (
            e["step"].as_str().unwrap_or_default().to_owned(),
            e["backend"].as_str().unwrap_or("all").to_owned(),
        );
        if !by.contains_key(&key) {
            order.push(key.clone());
        }
        by.entry(key).or_default().push(e);
    }
    order
        .into_iter()
        .map(|key| {
            let group = &by[&key];
            let status = |e: &&Value| e["status"].as_str().unwrap_or_default().to_owned();
            let worst = group.iter().map(status).max_by_key(|s| rank(s));
            // A failing entry found as many things as it lists (at least one).
            let failed: usize = group
                .iter()
                .filter(|e| rank(&status(e)) >= 3)
                .map(|e| e["findings"].as_array().map_or(1, |f| f.len().max(1)))
                .sum();
            let said = group
                .iter()
                .find(|e| rank(&status(e)) < 3)
                .or(group.first())
                .and_then(|e| e["message"].as_str())
                .and_then(|m| m.lines().next());
            context! {
                step => key.0,
                backend => key.1,
                status => worst,
                failed => failed,
                said => said,
            }
        })
        .collect()
}

/// The plans as a table: a row per query, a column per backend, each cell the index the
/// query's table is read through (or a scan) and whether it is the documented one.
fn plan_matrix(plans: Option<&Value>) -> Jinja {
    let rows = plans.and_then(|p| p["plans"].as_array()).map(Vec::as_slice);
    let rows = rows.unwrap_or_default();
    let mut backends: Vec<&str> = Vec::new();
    let mut queries: Vec<(&str, &str, &str)> = Vec::new();
    let mut cells: BTreeMap<(&str, &str), Jinja> = BTreeMap::new();
    for row in rows {
        let text = |key: &str| row[key].as_str().unwrap_or_default();
        let (backend, query, table) = (text("backend"), text("query"), text("table"));
        if !backends.contains(&backend) {
            backends.push(backend);
        }
        if !queries.iter().any(|(q, _, _)| *q == query) {
            queries.push((query, table, text("expected_index")));
        }
        let index = row["accesses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["table"] == table)
            .find_map(|a| a["index"].as_str());
        cells.insert(
            (query, backend),
            context! {
                index => index,
                ok => row["uses_expected_index"] == true,
                plan => text("plan"),
            },
        );
    }
    let rows: Vec<Jinja> = queries
        .iter()
        .map(|&(query, table, expected)| {
            let row: BTreeMap<&str, Jinja> = backends
                .iter()
                .filter_map(|b| Some((*b, cells.get(&(query, *b))?.clone())))
                .collect();
            context! { query => query, table => table, expected => expected, cells => row }
        })
        .collect();
    context! { backends => backends, rows => rows }
}

/// Each entry's first line, and how many lines follow it: the summary shows the first, the
/// rest folded away.
fn headlines(entries: &[Value]) -> Vec<Jinja> {
    entries
        .iter()
        .map(|e| {
            let message = e["message"].as_str().unwrap_or_default();
            let mut lines = message.lines();
            let first = lines.next().unwrap_or_default();
            context! { first => first, more => lines.count() }
        })
        .collect()
}

/// The longest up or down of every walk, which the staircase's bars are drawn against.
fn slowest_step(check: Option<&Value>) -> f64 {
    let stairs = check
        .and_then(|c| c["staircases"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|t| t["stairs"].as_array())
        .flatten();
    stairs
        .flat_map(|s| [s["up_ms"].as_f64(), s["down_ms"].as_f64()])
        .flatten()
        .fold(1.0, f64::max)
}

/// The backends some difference has a value for, in the order the report names them.
fn parity_backends(check: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let differences = check.and_then(|c| c["differences"].as_array());
    for d in differences.into_iter().flatten() {
        for name in d["values"].as_object().into_iter().flat_map(|v| v.keys()) {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
    }
    out
}

/// The differences in three tables: failing and lasting, failing and transient, allowed.
fn parity_groups(check: Option<&Value>) -> Vec<Jinja> {
    let differences: Vec<&Value> = check
        .and_then(|c| c["differences"].as_array())
        .into_iter()
        .flatten()
        .collect();
    // Which table a difference goes in: lasting, transient, allowed.
    let group = |d: &Value| match (d["allowed"].is_null(), d["lasting"] == true) {
        (false, _) => 2,
        (true, true) => 0,
        (true, false) => 1,
    };
    [
        "Lasting differences",
        "Transient differences (not in the newest schemas)",
        "Allowed differences",
    ]
    .into_iter()
    .enumerate()
    .map(|(n, title)| {
        let members: Vec<&Value> = differences
            .iter()
            .copied()
            .filter(|d| group(d) == n)
            .collect();
        (title, members)
    })
    .filter(|(_, members)| !members.is_empty())
    .map(|(title, members)| context! { title => title, differences => members })
    .collect()
}

/// The lint's findings by rule, each group with the rule's page: squawk's on squawkhq.com, the
/// harness's own described in the page itself (its title and reason).
fn lint_groups(entries: &[Value]) -> Vec<Jinja> {
    let mut groups: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let findings = entries
        .iter()
        .filter(|e| e["step"] == "lint")
        .filter_map(|e| e["findings"].as_array())
        .flatten();
    for f in findings {
        if let Some(rule) = f["rule"].as_str() {
            groups.entry(rule.to_owned()).or_default().push(f);
        }
    }
    groups
        .into_iter()
        .map(|(rule, findings)| {
            let own = lint::rule(&rule);
            let url = match own {
                Some(_) => format!("#rule-{rule}"),
                None => format!("https://squawkhq.com/docs/{rule}"),
            };
            context! {
                rule => rule,
                url => url,
                title => own.map(|r| r.title),
                reason => own.map(|r| r.reason),
                findings => findings,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_escaped_and_every_entry_is_a_row() {
        let page = Page {
            title: "t".into(),
            check: Some(json!({
                "ok": false,
                "entries": [
                    {"status": "fail", "step": "lint", "backend": null, "message": "<script>x</script>",
                     "findings": [{"rule": "ALL001", "file": "sqlite/1.up.sql", "line": 3, "message": "drops <b>"}]},
                    {"status": "pass", "step": "integrity", "backend": null, "message": "fine", "findings": []}
                ],
                "staircases": [],
                "differences": []
            })),
            ..Page::default()
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert_eq!(html.matches("<tr class=\"entry\"").count(), 2);
        assert!(html.contains("id=\"rule-ALL001\""));
        assert_eq!(html.matches("<tr class=\"finding\"").count(), 1);
    }
}
