//! Schema compatibility: every query the application sends, prepared on every schema version of
//! every backend (`didhub-harness compat`).
//!
//! For each backend, a fresh database is migrated one version at a time from `--since` (or the
//! first version) to the newest; at each, every query of the corpus ([`corpus`]) sent there is
//! prepared and described by the database itself — PostgreSQL's Parse/Describe, MySQL's
//! `PREPARE`, SQLite's `sqlite3_prepare`, through sqlx's `prepare` — giving its parameters'
//! types and its result columns. A query that stops preparing is reported at the version whose
//! migration broke it, with the database's words; one whose result columns or parameters change
//! (a column renamed, dropped, retyped) at the version that changed them; one that sqlx recorded
//! is held to that record at the newest version. Every query is checked at every version,
//! whatever failed before it: the report lists every break, and says which versions a backend
//! could not reach.

pub mod corpus;
mod insert;

use std::fmt::Write as _;

use crate::backend::{Backend, TestDatabase, why};
use crate::migrations::MigrationSet;
use crate::project::Project;
use crate::report::{CheckReport, Finding, Step};

pub use crate::backend::Shape;
pub use corpus::{CorpusError, Query};

/// What `compat` checks.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The first version to check at (the first of each backend's when absent).
    pub since: Option<i64>,
}

/// One thing found about one query on one backend.
struct Break {
    query: usize,
    version: i64,
    rule: &'static str,
    message: String,
}

/// Prepares every query of `queries` at every version of `project` on each of `backends`.
pub async fn run(
    project: &Project,
    backends: &[Backend],
    queries: &[Query],
    options: &Options,
) -> CheckReport {
    let mut report = CheckReport::default();
    for &kind in backends {
        let sent: Vec<usize> = (0..queries.len())
            .filter(|&i| queries[i].backends.contains(&kind))
            .collect();
        if sent.is_empty() {
            report.skip(
                Step::Compat,
                Some(kind),
                format!("{kind}: no query of the corpus is sent to {kind}"),
            );
            continue;
        }
        match Box::pin(on_backend(project, kind, queries, &sent, options)).await {
            Ok((breaks, line)) if breaks.is_empty() => report.pass(Step::Compat, Some(kind), line),
            Ok((breaks, line)) => {
                let findings = breaks
                    .iter()
                    .map(|b| Finding {
                        backend: Some(kind),
                        version: Some(b.version),
                        file: Some(queries[b.query].file.clone()),
                        line: Some(queries[b.query].line),
                        rule: Some(b.rule.to_owned()),
                        message: b.message.clone(),
                        ..Finding::default()
                    })
                    .collect();
                let mut text = line;
                for b in &breaks {
                    write!(text, "\n  {}", b.message).ok();
                }
                report.fail_with(Step::Compat, Some(kind), text, findings, false);
            }
            Err(e) => {
                let cannot_check = e.cannot_check();
                report.fail(
                    Step::Compat,
                    Some(kind),
                    format!("{kind}: {e}"),
                    cannot_check,
                );
            }
        }
    }
    report
}

/// What was said of a query at the last version it was prepared at.
#[derive(Clone, PartialEq)]
enum Seen {
    Never,
    Prepared(Shape),
    Failed(String),
}

async fn on_backend(
    project: &Project,
    kind: Backend,
    queries: &[Query],
    sent: &[usize],
    options: &Options,
) -> Result<(Vec<Break>, String), crate::HarnessError> {
    let set = MigrationSet::of(project, kind).await?;
    let versions: Vec<i64> = set
        .versions()
        .into_iter()
        .filter(|v| options.since.is_none_or(|since| *v >= since))
        .collect();
    let db = TestDatabase::create(kind).await?;
    let migrating = db.connect().await?;
    let mut breaks = Vec::new();
    let mut seen = vec![Seen::Never; queries.len()];
    let mut ever = vec![false; queries.len()];
    // Whether each INSERT went in at the last version it was tried at.
    let mut inserted: Vec<Option<bool>> = vec![None; queries.len()];
    let mut checked = 0;
    let mut unreached = None;
    for &version in &versions {
        if let Err(e) = migrating.migrate_up(&set.migrator, version).await {
            unreached = Some(format!(
                "versions from {version} on not checked: {} failed: {}",
                set.up_file(version),
                why(&e)
            ));
            break;
        }
        checked += 1;
        let file = set.up_file(version);
        // A connection of its own at each version: a server keeps what it prepared on a
        // connection (PostgreSQL then refuses a statement whose result type changed, "cached
        // plan must not change result type"), and an application's connections are new after
        // a deploy too.
        let pool = db.connect().await?;
        for &i in sent {
            let query = &queries[i];
            if query.since.is_some_and(|since| version < since) {
                continue;
            }
            let now = match pool.describe(&query.sql).await {
                Ok(shape) => Seen::Prepared(shape),
                Err(e) => Seen::Failed(e),
            };
            let said = |rule, message: String| Break {
                query: i,
                version,
                rule,
                message: format!(
                    "query {} {message} at version {version} ({file})",
                    named(query)
                ),
            };
            // A query without `-- since:` is sent from the first version it prepares at (the
            // tables it reads come with some migration); one with it, from that version.
            let sent_here = query.since.is_some() || matches!(seen[i], Seen::Prepared(_));
            match (&seen[i], &now) {
                (Seen::Failed(_), Seen::Failed(_)) => {}
                (_, Seen::Failed(e)) if sent_here => {
                    breaks.push(said("fails", format!("fails on {kind}: {e};")));
                }
                (Seen::Prepared(before), Seen::Prepared(after)) => {
                    for change in changes(before, after, Types::Widening(kind)) {
                        breaks.push(said("changed", format!("on {kind}: {change}")));
                    }
                }
                _ => {}
            }
            ever[i] |= matches!(now, Seen::Prepared(_));
            seen[i] = now;
        }
        pool.close().await;
        // Each INSERT that prepares, run with generated values in a transaction rolled back: a
        // column made NOT NULL without a default breaks it, and preparing does not show that.
        let inserts: Vec<usize> = sent
            .iter()
            .copied()
            .filter(|&i| {
                matches!(seen[i], Seen::Prepared(_)) && insert::is_insert(&queries[i], kind)
            })
            .collect();
        if !inserts.is_empty() {
            let schema = migrating.introspect().await?;
            let session = insert::Session::open(kind, &db.url).await?;
            for i in inserts {
                let query = &queries[i];
                let went_in = session.try_insert(query, &schema).await;
                if let (Some(true), Err(e)) = (inserted[i], &went_in) {
                    breaks.push(Break {
                        query: i,
                        version,
                        rule: "insert fails",
                        message: format!(
                            "query {} prepares but its INSERT fails on {kind} (generated values, rolled back): {e}; at version {version} ({file})",
                            named(query)
                        ),
                    });
                }
                inserted[i] = Some(went_in.is_ok());
            }
            session.close().await;
        }
    }
    // A query that prepared at no version at all (a dialect that does not take it).
    let newest = versions
        .get(checked.max(1) - 1)
        .copied()
        .unwrap_or_default();
    for &i in sent {
        if let (None, false, Seen::Failed(e)) = (queries[i].since, ever[i], &seen[i]) {
            breaks.push(Break {
                query: i,
                version: newest,
                rule: "never prepares",
                message: format!(
                    "query {} prepares at no version on {kind}; at version {newest}: {e}",
                    named(&queries[i])
                ),
            });
        }
    }
    // Held to what sqlx recorded when the application was built, at the newest version checked.
    for &i in sent {
        if let (Some(recorded), Seen::Prepared(now)) = (&queries[i].recorded, &seen[i]) {
            let query = &queries[i];
            // sqlx records MySQL's types as its protocol's column types (`Long`, `VarString`),
            // not the names it describes them by (`INT`, `VARCHAR`): there only names compare.
            let types = match kind {
                Backend::MySql => Types::Ignored,
                _ => Types::Exact,
            };
            for change in changes(recorded, now, types) {
                breaks.push(Break {
                    query: i,
                    version: versions
                        .get(checked.max(1) - 1)
                        .copied()
                        .unwrap_or_default(),
                    rule: "differs from sqlx's record",
                    message: format!(
                        "query {} on {kind}, against what sqlx recorded: {change}",
                        named(query)
                    ),
                });
            }
        }
    }
    migrating.close().await;
    db.discard().await.ok();
    let mut line = format!(
        "{kind}: {} quer{} prepared at {checked} version(s)",
        sent.len(),
        if sent.len() == 1 { "y" } else { "ies" }
    );
    if let Some(unreached) = unreached {
        write!(line, "; {unreached}").ok();
    }
    Ok((breaks, line))
}

/// `name (file:line)`, or `file:line` for a query without a name of its own (a file of
/// sqlx's data, one query each, by its file alone).
fn named(query: &Query) -> String {
    let at = format!("{}:{}", query.file, query.line);
    if query.name == query.file || query.name == at {
        return query.name.clone();
    }
    format!("{} ({at})", query.name)
}

/// How `after` differs from `before`: columns gone, renamed or retyped (where `types`),
/// parameters changed.
/// How [`changes`] compares types.
#[derive(Clone, Copy)]
enum Types {
    /// Not at all (sqlx records MySQL's protocol types, not names).
    Ignored,
    /// Every change of a name (against sqlx's record: the application was built for that type).
    Exact,
    /// Between two versions on `kind`: a widened type ([`widens`]) is no change — every query
    /// that read or wrote the column still takes it.
    Widening(Backend),
}

impl Types {
    fn differ(self, before: &str, after: &str) -> bool {
        match self {
            Types::Ignored => false,
            Types::Exact => !before.eq_ignore_ascii_case(after),
            Types::Widening(kind) => {
                !before.eq_ignore_ascii_case(after) && !widens(kind, before, after)
            }
        }
    }
}

/// Whether every value of type `from` fits `to`, as `kind` names types (a smaller integer in a
/// larger one, a single-precision float in a double, a bounded text in a longer one).
fn widens(kind: Backend, from: &str, to: &str) -> bool {
    let chains: &[&[&str]] = match kind {
        Backend::Postgres => &[
            &["INT2", "INT4", "INT8", "NUMERIC"],
            &["FLOAT4", "FLOAT8"],
            &["VARCHAR", "TEXT"],
        ],
        Backend::MySql => &[
            &[
                "TINYINT",
                "SMALLINT",
                "MEDIUMINT",
                "INT",
                "BIGINT",
                "DECIMAL",
            ],
            &["FLOAT", "DOUBLE"],
            &["CHAR", "VARCHAR", "TEXT", "MEDIUMTEXT", "LONGTEXT"],
        ],
        // SQLite names a column by its declared affinity, which a migration does not widen.
        Backend::Sqlite => &[],
    };
    let at = |chain: &[&str], name: &str| chain.iter().position(|t| t.eq_ignore_ascii_case(name));
    chains
        .iter()
        .any(|chain| matches!((at(chain, from), at(chain, to)), (Some(f), Some(t)) if f < t))
}

fn changes(before: &Shape, after: &Shape, types: Types) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (name, ty)) in before.columns.iter().enumerate() {
        match after.columns.iter().find(|(n, _)| n == name) {
            Some((_, now)) if types.differ(ty, now) => {
                out.push(format!("result column {name} changed type {ty} → {now}"));
            }
            Some(_) => {}
            None => match after.columns.get(i) {
                Some((now, _)) if !before.columns.iter().any(|(n, _)| n == now) => {
                    out.push(format!("result column {name} is now called {now}"));
                }
                _ => out.push(format!("result column {name} is gone")),
            },
        }
    }
    for (name, _) in &after.columns {
        if !before.columns.iter().any(|(n, _)| n == name)
            && after.columns.len() > before.columns.len()
        {
            out.push(format!("result column {name} is new"));
        }
    }
    if before.parameters.len() != after.parameters.len() {
        out.push(format!(
            "takes {} parameter(s) where it took {}",
            after.parameters.len(),
            before.parameters.len()
        ));
    } else {
        for (n, (a, b)) in before.parameters.iter().zip(&after.parameters).enumerate() {
            if a != "?" && b != "?" && types.differ(a, b) {
                out.push(format!("parameter {} changed type {a} → {b}", n + 1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(columns: &[(&str, &str)]) -> Shape {
        Shape {
            parameters: Vec::new(),
            columns: columns
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_renamed_retyped_or_dropped_column_is_named() {
        let before = shape(&[("id", "INT8"), ("name", "TEXT"), ("age", "INT4")]);
        assert_eq!(
            changes(
                &before,
                &shape(&[("id", "INT8"), ("full_name", "TEXT"), ("age", "INT4")]),
                Types::Exact
            ),
            ["result column name is now called full_name"]
        );
        assert_eq!(
            changes(
                &before,
                &shape(&[("id", "INT8"), ("name", "TEXT"), ("age", "INT8")]),
                Types::Exact
            ),
            ["result column age changed type INT4 → INT8"]
        );
        assert_eq!(
            changes(
                &before,
                &shape(&[("id", "INT8"), ("name", "TEXT")]),
                Types::Exact
            ),
            ["result column age is gone"]
        );
        assert!(changes(&before, &before, Types::Exact).is_empty());
    }

    #[test]
    fn a_widened_type_is_no_change_between_versions_and_a_narrowed_one_is() {
        let int4 = shape(&[("age", "INT4")]);
        let int8 = shape(&[("age", "INT8")]);
        let widening = Types::Widening(Backend::Postgres);
        assert!(changes(&int4, &int8, widening).is_empty());
        assert_eq!(
            changes(&int8, &int4, widening),
            ["result column age changed type INT8 → INT4"]
        );
        assert_eq!(
            changes(&int4, &int8, Types::Exact).len(),
            1,
            "sqlx's record is exact"
        );
        assert!(widens(Backend::MySql, "INT", "BIGINT"));
        assert!(widens(Backend::MySql, "VARCHAR", "TEXT"));
        assert!(!widens(Backend::MySql, "TEXT", "VARCHAR"));
        assert!(!widens(Backend::Postgres, "INT8", "FLOAT8"));
    }
}
