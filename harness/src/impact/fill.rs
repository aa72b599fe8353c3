//! Rows for any project's tables, generated from the introspected schema, and loaded fast.
//!
//! Each column gets a value of its type for row `i` (a number, a uuid, a timestamp, `v{i}`),
//! unique across rows so that unique indexes hold. A foreign key takes the referenced table's
//! key of a row that is there (its parent is filled first); a table's second foreign key to the
//! same parent takes the next row's, so `a <> b` checks hold. A column a check lists values for
//! (`status IN ('pending', 'approved')`, MySQL's `enum(…)`) takes one of them: the first row is
//! tried with each choice in turn, in a transaction rolled back, and the first the database
//! takes is used for every row. Columns that number themselves are left to the database.
//!
//! Where the project has data fixtures, a table a fixture holds (the newest fixture at or below
//! the version the database is at) is the fixture scaled: row `i` takes fixture row `i mod n`'s
//! values in every column that no key makes unique and that is no foreign key, so text lengths,
//! JSON documents and the spread of values are the project's own; keys are generated as above.
//! The fixture's rows are first tried in a transaction rolled back; where the database refuses
//! them (a later migration's check), the table is generated instead and the report says why.
//!
//! PostgreSQL loads with `COPY … FROM STDIN` (CSV); MySQL and SQLite with multi-row `INSERT`s
//! (SQLite's in one transaction). A progress bar shows on a terminal only.

use std::collections::BTreeMap;

use chrono::{Duration as Days, NaiveDate};
use indicatif::{ProgressBar, ProgressStyle};

use super::session::{Session, literal};
use crate::backend::{Backend, input_value, quote};
use crate::data::{Fixture, TableRows, canonical_input};
use crate::schema::{AUTO_INCREMENT, Column, Logical, ROWID, Schema, Table};

/// Where a filled table's values came from: the fixture it scaled and which columns took the
/// fixture's values, or why the database refused them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// The fixture folder, `v0004`.
    pub fixture: String,
    /// The columns that took the fixture's values (the others were generated).
    pub columns: Vec<String>,
    /// Why the fixture's rows were refused, in which case every column was generated.
    pub refused: Option<String>,
}

/// Rows of one table: which columns are written, and how row `i` fills each.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    kind: Backend,
    pub table: String,
    /// The columns written, in the table's order (those that number themselves are not).
    pub columns: Vec<String>,
    plans: Vec<Plan>,
    /// The referenced rows of each foreign key (its columns' values, row by row).
    parents: Vec<Texts>,
    /// The fixture whose values some columns take, if any.
    pub sample: Option<Sample>,
    /// How many rows the fixture has: the period of the sampled columns.
    sampled_rows: u64,
}

/// Rows read back as text, row by row.
type Texts = Vec<Vec<Option<String>>>;

/// The rows each filled table's referenced columns hold, by (table, columns).
type Parents = BTreeMap<(String, Vec<String>), Texts>;

/// PostgreSQL's enum types: each one's labels, by type name.
type Enums = BTreeMap<String, Vec<String>>;

/// Every enum type's labels, in order (PostgreSQL; none elsewhere).
async fn enums(session: &mut Session) -> Result<Enums, sqlx::Error> {
    if session.kind() != Backend::Postgres {
        return Ok(Enums::new());
    }
    let rows = session
        .texts(
            "SELECT t.typname::text, e.enumlabel::text FROM pg_enum e \
             JOIN pg_type t ON t.oid = e.enumtypid ORDER BY t.typname, e.enumsortorder",
        )
        .await?;
    let mut out = Enums::new();
    for row in rows {
        if let [Some(name), Some(label)] = &row[..] {
            out.entry(name.clone()).or_default().push(label.clone());
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Plan {
    Generated {
        logical: Logical,
        /// The values a check or the type lists, one of which every row takes.
        choices: Vec<String>,
    },
    /// A fixture's values, row `i` taking value `i mod n`.
    Sampled(Vec<Option<String>>),
    /// Column `position` of foreign key `fk`'s referenced rows, the `offset`-th key of the
    /// table to that parent.
    Reference {
        fk: usize,
        position: usize,
        offset: usize,
    },
    Null,
}

/// Why a table could not be filled.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error("{backend}: cannot fill table {table}: {reason}")]
    Table {
        backend: Backend,
        table: String,
        reason: String,
    },
}

impl Rows {
    /// How to fill `name`; `parents` holds each referenced table's rows by (table, columns),
    /// `sample` the fixture (by name) whose values the columns that allow it take.
    fn plan(
        kind: Backend,
        name: &str,
        table: &Table,
        parents: &Parents,
        enums: &Enums,
        sample: Option<(&str, &TableRows)>,
    ) -> Result<Rows, FillError> {
        let mut sampled = Vec::new();
        let mut columns = Vec::new();
        let mut plans = Vec::new();
        let mut referenced = Vec::new();
        let mut offsets: BTreeMap<&str, usize> = BTreeMap::new();
        let keys: Vec<_> = table.foreign_keys.values().collect();
        // A table of nothing but a column that numbers itself gets that column's values
        // written: an INSERT needs at least one column.
        let only_numbered = table
            .columns
            .iter()
            .all(|c| matches!(c.default.as_deref(), Some(AUTO_INCREMENT | ROWID)));
        for column in &table.columns {
            let numbered = matches!(column.default.as_deref(), Some(AUTO_INCREMENT | ROWID));
            if numbered && !only_numbered && !keys.iter().any(|k| k.columns.contains(&column.name))
            {
                continue;
            }
            let fk = keys
                .iter()
                .enumerate()
                .find(|(_, k)| k.columns.contains(&column.name));
            let plan = match fk {
                Some((_, key)) if key.ref_table == name => {
                    if !column.nullable {
                        return Err(FillError::Table {
                            backend: kind,
                            table: name.to_owned(),
                            reason: format!(
                                "{} refers to its own table and cannot be NULL",
                                column.name
                            ),
                        });
                    }
                    Plan::Null
                }
                Some((n, key)) => {
                    let rows = parents
                        .get(&(key.ref_table.clone(), key.ref_columns.clone()))
                        .cloned()
                        .unwrap_or_default();
                    if rows.is_empty() {
                        Plan::Null
                    } else {
                        let fk = match referenced.iter().position(|(k, _)| *k == n) {
                            Some(at) => at,
                            None => {
                                let offset = offsets.entry(key.ref_table.as_str()).or_default();
                                referenced.push((n, (rows, *offset)));
                                *offset += 1;
                                referenced.len() - 1
                            }
                        };
                        let position = key.columns.iter().position(|c| *c == column.name);
                        Plan::Reference {
                            fk,
                            position: position.unwrap_or_default(),
                            offset: referenced[fk].1.1,
                        }
                    }
                }
                None => {
                    match sample.and_then(|(_, rows)| fixture_values(kind, table, column, rows)) {
                        Some(values) => {
                            sampled.push(column.name.clone());
                            Plan::Sampled(values)
                        }
                        None => Plan::Generated {
                            logical: column.logical.clone(),
                            choices: choices(table, column, enums),
                        },
                    }
                }
            };
            if matches!(plan, Plan::Null) && !column.nullable {
                return Err(FillError::Table {
                    backend: kind,
                    table: name.to_owned(),
                    reason: match fk {
                        Some((_, key)) => format!(
                            "{} refers to {}, which has no rows to refer to (or does not exist: \
                             a foreign key left pointing at a renamed or dropped table)",
                            column.name, key.ref_table
                        ),
                        None => format!("{} cannot be NULL and has no value", column.name),
                    },
                });
            }
            columns.push(column.name.clone());
            plans.push(plan);
        }
        Ok(Rows {
            kind,
            table: name.to_owned(),
            columns,
            plans,
            parents: referenced.into_iter().map(|(_, (rows, _))| rows).collect(),
            sampled_rows: sample.map_or(0, |(_, rows)| rows.rows.len() as u64),
            sample: sample
                .filter(|_| !sampled.is_empty())
                .map(|(fixture, _)| Sample {
                    fixture: fixture.to_owned(),
                    columns: sampled,
                    refused: None,
                }),
        })
    }

    /// The most choices any column has: how many first rows to try.
    fn most_choices(&self) -> usize {
        self.plans
            .iter()
            .map(|p| match p {
                Plan::Generated { choices, .. } => choices.len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }

    /// Takes the `n`th choice (or the last, for columns with fewer) in every row.
    fn choose(&mut self, n: usize) {
        for plan in &mut self.plans {
            if let Plan::Generated { choices, .. } = plan
                && choices.len() > 1
            {
                let chosen = choices[n.min(choices.len() - 1)].clone();
                *choices = vec![chosen];
            }
        }
    }

    /// Row `i` (1-based): each written column's value as text, NULL as `None`.
    pub(crate) fn row(&self, i: u64) -> Vec<Option<String>> {
        self.plans
            .iter()
            .map(|plan| match plan {
                Plan::Null => None,
                Plan::Generated { choices, .. } if !choices.is_empty() => Some(choices[0].clone()),
                Plan::Generated { logical, .. } => Some(value(logical, i)),
                Plan::Sampled(values) => values[(i as usize - 1) % values.len()].clone(),
                Plan::Reference {
                    fk,
                    position,
                    offset,
                } => {
                    let rows = &self.parents[*fk];
                    let at = (i as usize - 1 + offset) % rows.len();
                    rows[at].get(*position).cloned().flatten()
                }
            })
            .collect()
    }

    /// `INSERT INTO t (…) VALUES (…), (…)` of rows `from..from + count`.
    pub(crate) fn insert_sql(&self, from: u64, count: u64) -> String {
        let kind = self.kind;
        let values: Vec<String> = (from..from + count)
            .map(|i| {
                let row: Vec<String> = self
                    .row(i)
                    .iter()
                    .map(|v| v.as_deref().map_or("NULL".to_owned(), |v| literal(kind, v)))
                    .collect();
                format!("({})", row.join(", "))
            })
            .collect();
        format!("{} VALUES {}", self.insert_head(), values.join(", "))
    }

    fn insert_head(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| quote(self.kind, c)).collect();
        format!(
            "INSERT INTO {} ({})",
            quote(self.kind, &self.table),
            columns.join(", ")
        )
    }

    /// Rows `from..from + count` as CSV lines, for PostgreSQL's `COPY … (FORMAT csv)`: NULL is
    /// an empty unquoted field, every value is quoted.
    fn csv(&self, from: u64, count: u64) -> Vec<u8> {
        let mut out = String::new();
        for i in from..from + count {
            let fields: Vec<String> = self
                .row(i)
                .iter()
                .map(|v| match v {
                    None => String::new(),
                    Some(v) => format!("\"{}\"", v.replace('"', "\"\"")),
                })
                .collect();
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// The values a column must take from a list: the string literals of each check that names it
/// (`status in ('pending', 'approved')`), those of MySQL's `enum('a','b')` type, or the labels
/// of a PostgreSQL enum type.
fn choices(table: &Table, column: &Column, enums: &Enums) -> Vec<String> {
    if column.native_type.starts_with("enum(") || column.native_type.starts_with("set(") {
        return quoted_literals(&column.native_type);
    }
    let type_name = column.native_type.rsplit('.').next().unwrap_or_default();
    if let Some(labels) = enums.get(type_name.trim_matches('"')) {
        return labels.clone();
    }
    let mut out = Vec::new();
    for check in table.checks.values() {
        if names(&check.expression, &column.name) {
            for literal in quoted_literals(&check.expression) {
                if !out.contains(&literal) {
                    out.push(literal);
                }
            }
        }
    }
    out
}

/// Every fixture row's value of `column` as the backend takes it, when the column may take them:
/// the fixture lists it, no key makes it unique, and each value fits (NULL only where allowed).
fn fixture_values(
    kind: Backend,
    table: &Table,
    column: &Column,
    rows: &TableRows,
) -> Option<Vec<Option<String>>> {
    let unique = table.primary_key.contains(&column.name)
        || table
            .indexes
            .values()
            .any(|i| i.unique && i.columns.iter().any(|part| names(part, &column.name)));
    if unique || !rows.columns.contains(&column.name) || rows.rows.is_empty() {
        return None;
    }
    rows.rows
        .iter()
        .map(|row| {
            let value = canonical_input(column, row.get(&column.name)?).ok()?;
            if value.is_none() && !column.nullable {
                return None;
            }
            Some(value.map(|v| input_value(kind, column, v)))
        })
        .collect()
}

/// The rows of `table` in the newest of `fixtures` that holds it, with that fixture's name.
fn fixture_rows<'a>(fixtures: &'a [Fixture], table: &str) -> Option<(&'a str, &'a TableRows)> {
    fixtures
        .iter()
        .filter_map(|f| {
            let (_, rows) = named(&f.tables, table)?;
            Some((f.version, f.name.as_str(), rows))
        })
        .max_by_key(|(version, _, _)| *version)
        .map(|(_, name, rows)| (name, rows))
}

/// Whether `expression` names `column` as a word of its own.
fn names(expression: &str, column: &str) -> bool {
    let column = column.to_ascii_lowercase();
    expression
        .to_ascii_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| word == column)
}

/// The `'…'` literals of an expression, in order.
fn quoted_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut literal = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    literal.push('\'');
                }
                Some('\'') | None => break,
                Some(c) => literal.push(c),
            }
        }
        out.push(literal);
    }
    out
}

/// Row `i`'s value for a column of type `logical`: distinct for every row.
pub(crate) fn value(logical: &Logical, i: u64) -> String {
    let base = NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    match logical {
        Logical::Uuid => format!("00000000-0000-4000-8000-{i:012x}"),
        Logical::ShortText(Some(n)) => {
            let text = format!("v{i}");
            let n = *n as usize;
            text[text.len().saturating_sub(n.max(1))..].to_owned()
        }
        Logical::ShortText(None) | Logical::LongText | Logical::AnyText | Logical::Other(_) => {
            format!("v{i}")
        }
        Logical::Boolean => (i % 2).to_string(),
        Logical::Timestamp => (base + Days::seconds(i as i64))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Logical::Date => (base + Days::days((i % 3650) as i64))
            .format("%Y-%m-%d")
            .to_string(),
        Logical::Time => {
            let s = i % 86_400;
            format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        }
        Logical::Json => format!("{{\"n\": {i}}}"),
        Logical::SmallInt => (i % 32_000).to_string(),
        Logical::Integer => (i % 2_000_000_000).to_string(),
        Logical::BigInt | Logical::AnyInteger => i.to_string(),
        Logical::Float | Logical::Double | Logical::AnyReal => format!("{i}.5"),
        Logical::Decimal(Some((p, s))) => {
            let whole = 10u64.checked_pow(p.saturating_sub(*s)).unwrap_or(u64::MAX);
            if whole <= 1 {
                "0".to_owned()
            } else {
                (i % whole).to_string()
            }
        }
        Logical::Decimal(None) => i.to_string(),
        Logical::Blob => format!("b{i}"),
    }
}

/// The tables to fill for `touched`: those of them that exist, and every table they refer to,
/// parents first.
pub(crate) fn closure(schema: &Schema, touched: &[String]) -> Vec<String> {
    let mut wanted: Vec<String> = Vec::new();
    let mut pending: Vec<String> = touched
        .iter()
        .filter_map(|t| table_named(schema, t).map(|(name, _)| name.to_owned()))
        .collect();
    while let Some(name) = pending.pop() {
        if wanted.contains(&name) {
            continue;
        }
        if let Some(table) = schema.tables.get(&name) {
            for key in table.foreign_keys.values() {
                if key.ref_table != name && schema.tables.contains_key(&key.ref_table) {
                    pending.push(key.ref_table.clone());
                }
            }
            wanted.push(name);
        }
    }
    parents_first(schema, wanted)
}

/// Whether each key of `t` into a table still pending (itself aside) can be NULL.
fn waits(schema: &Schema, pending: &std::collections::BTreeSet<String>, t: &str) -> Vec<bool> {
    let table = &schema.tables[t];
    table
        .foreign_keys
        .values()
        .filter(|k| k.ref_table != t && pending.contains(&k.ref_table))
        .map(|k| {
            k.columns.iter().all(|c| {
                table
                    .columns
                    .iter()
                    .any(|col| col.name == *c && col.nullable)
            })
        })
        .collect()
}

/// `tables` with every table after those it refers to. Where foreign keys make a cycle, the
/// cycle is broken at a table whose keys into the tables still to fill can all be NULL: it is
/// filled first, with those keys NULL.
fn parents_first(schema: &Schema, tables: Vec<String>) -> Vec<String> {
    let mut pending: std::collections::BTreeSet<String> = tables.into_iter().collect();
    let mut order = Vec::new();
    while !pending.is_empty() {
        let next = pending
            .iter()
            .find(|t| waits(schema, &pending, t).is_empty())
            .or_else(|| {
                pending
                    .iter()
                    .find(|t| waits(schema, &pending, t).iter().all(|nullable| *nullable))
            })
            .or_else(|| pending.iter().next())
            .cloned()
            .unwrap_or_default();
        pending.remove(&next);
        order.push(next);
    }
    order
}

/// The table a migration names (`alters`, `public.alters`, `"Alters"`), as introspection names
/// it.
pub(crate) fn table_named<'a>(schema: &'a Schema, spelled: &str) -> Option<(&'a str, &'a Table)> {
    let bare = spelled.rsplit('.').next().unwrap_or(spelled);
    named(&schema.tables, bare)
}

/// The entry of `map` named `name`, or else one named so in another case.
fn named<'a, V>(map: &'a BTreeMap<String, V>, name: &str) -> Option<(&'a str, &'a V)> {
    map.get_key_value(name)
        .or_else(|| map.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)))
        .map(|(key, value)| (key.as_str(), value))
}

/// How many rows go in one `INSERT` (MySQL, SQLite) or one `COPY` message (PostgreSQL).
const BATCH: u64 = 500;

/// Fills `tables` (parents first, see [`closure`]) with `rows` rows each, scaling the newest of
/// `fixtures` (those at or below the database's version) that holds a table; the row
/// generators of every table filled, by name, for the workload's inserts.
pub(crate) async fn fill(
    session: &mut Session,
    schema: &Schema,
    tables: &[String],
    rows: u64,
    fixtures: &[Fixture],
) -> Result<BTreeMap<String, Rows>, FillError> {
    let kind = session.kind();
    let progress = ProgressBar::new(rows * tables.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{msg:>24} {bar:40} {pos}/{len} rows, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut parents = BTreeMap::new();
    let mut made = BTreeMap::new();
    let enums = enums(session).await.map_err(|e| FillError::Table {
        backend: kind,
        table: tables.first().cloned().unwrap_or_default(),
        reason: format!("cannot read the enum types: {e}"),
    })?;
    for name in tables {
        let table = &schema.tables[name];
        let failed = |reason: String| FillError::Table {
            backend: kind,
            table: name.clone(),
            reason,
        };
        progress.set_message(name.clone());
        let planned = Rows::plan(
            kind,
            name,
            table,
            &parents,
            &enums,
            fixture_rows(fixtures, name),
        )?;
        let plan = match planned.sample.clone() {
            // Each of the fixture's rows once, with the generated keys.
            Some(sample) => match taken(session, planned.clone(), planned.sampled_rows).await {
                Ok(plan) => plan,
                Err(refused) => {
                    let generated = Rows::plan(kind, name, table, &parents, &enums, None)?;
                    let mut plan = taken(session, generated, 1).await.map_err(failed)?;
                    plan.sample = Some(Sample {
                        columns: Vec::new(),
                        refused: Some(refused),
                        ..sample
                    });
                    plan
                }
            },
            None => taken(session, planned, 1).await.map_err(failed)?,
        };
        load(session, &plan, rows, &progress)
            .await
            .map_err(|e| failed(e.to_string()))?;
        for (child, other) in &schema.tables {
            for key in other.foreign_keys.values() {
                // Read once, however many tables refer to the same columns.
                let referred = (name.clone(), key.ref_columns.clone());
                if key.ref_table == *name && child != name && !parents.contains_key(&referred) {
                    let read = session
                        .rows_of(name, &key.ref_columns, rows)
                        .await
                        .map_err(|e| failed(e.to_string()))?;
                    parents.insert(referred, read);
                }
            }
        }
        made.insert(name.clone(), plan);
    }
    progress.finish_and_clear();
    // As a database in service is: vacuumed and analysed. Right after a bulk load PostgreSQL's
    // autovacuum would start on every filled table, and a migration's lock would wait up to
    // `deadlock_timeout` (1 s) for it to yield — the load's doing, not the migration's.
    if kind == Backend::Postgres {
        for name in tables {
            let sql = format!("VACUUM ANALYZE {}", quote(kind, name));
            session.run(&sql).await.map_err(|e| FillError::Table {
                backend: kind,
                table: name.clone(),
                reason: format!("VACUUM ANALYZE after filling: {e}"),
            })?;
        }
    }
    Ok(made)
}

/// How the workload inserts rows into `name`: its plan, with the rows its foreign keys refer
/// to read now (up to `most` of each), taking the values of the newest of `fixtures` that
/// holds the table as the fill did.
pub(crate) async fn rows_for(
    session: &mut Session,
    schema: &Schema,
    name: &str,
    most: u64,
    fixtures: &[Fixture],
) -> Result<Rows, FillError> {
    let kind = session.kind();
    let table = &schema.tables[name];
    let failed = |e: sqlx::Error| FillError::Table {
        backend: kind,
        table: name.to_owned(),
        reason: e.to_string(),
    };
    let enums = enums(session).await.map_err(failed)?;
    let mut parents = BTreeMap::new();
    for key in table.foreign_keys.values() {
        if key.ref_table == name || !schema.tables.contains_key(&key.ref_table) {
            continue;
        }
        let read = session
            .rows_of(&key.ref_table, &key.ref_columns, most)
            .await
            .map_err(failed)?;
        parents.insert((key.ref_table.clone(), key.ref_columns.clone()), read);
    }
    let sample = fixture_rows(fixtures, name);
    let mut rows = Rows::plan(kind, name, table, &parents, &enums, sample)?;
    rows.choose(0);
    Ok(rows)
}

/// `plan` with the first choice (see [`Rows::choose`]) under which the database takes its
/// first `count` rows (at most a batch), or why it took none.
async fn taken(session: &mut Session, plan: Rows, count: u64) -> Result<Rows, String> {
    let mut last = String::new();
    for n in 0..plan.most_choices().max(1) {
        let mut tried = plan.clone();
        tried.choose(n);
        match probe(session, &tried, count.clamp(1, BATCH)).await {
            Ok(()) => return Ok(tried),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Whether the database takes the first `count` rows as planned (rolled back).
async fn probe(session: &mut Session, plan: &Rows, count: u64) -> Result<(), sqlx::Error> {
    session.begin().await?;
    let inserted = session.run(&plan.insert_sql(1, count)).await;
    session.run("ROLLBACK").await?;
    inserted.map(drop)
}

async fn load(
    session: &mut Session,
    plan: &Rows,
    rows: u64,
    progress: &ProgressBar,
) -> Result<(), sqlx::Error> {
    if let Session::Postgres(conn) = session {
        let columns: Vec<String> = plan.columns.iter().map(|c| quote(plan.kind, c)).collect();
        let sql = format!(
            "COPY {} ({}) FROM STDIN WITH (FORMAT csv)",
            quote(plan.kind, &plan.table),
            columns.join(", ")
        );
        let mut copy = conn.copy_in_raw(&sql).await?;
        let mut from = 1;
        while from <= rows {
            let count = (BATCH * 20).min(rows + 1 - from);
            if let Err(e) = copy.send(plan.csv(from, count)).await {
                copy.abort(e.to_string()).await.ok();
                return Err(e);
            }
            progress.inc(count);
            from += count;
        }
        copy.finish().await?;
        return Ok(());
    }
    let sqlite = session.kind() == Backend::Sqlite;
    if sqlite {
        session.run("BEGIN").await?;
    }
    let mut from = 1;
    while from <= rows {
        let count = BATCH.min(rows + 1 - from);
        if let Err(e) = session.run(&plan.insert_sql(from, count)).await {
            if sqlite {
                session.run("ROLLBACK").await.ok();
            }
            return Err(e);
        }
        progress.inc(count);
        from += count;
    }
    if sqlite {
        session.run("COMMIT").await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_that_lists_values_gives_the_choices() {
        assert_eq!(
            quoted_literals("status in ('pending', 'it''s')"),
            ["pending", "it's"]
        );
        assert!(names("(status in ('a'))", "status"));
        assert!(!names("(status_code in ('a'))", "status"));
    }

    #[test]
    fn a_cycle_of_foreign_keys_is_broken_where_a_key_can_be_null() {
        use crate::schema::{ForeignKey, Name};
        let column = |name: &str, nullable| Column {
            name: name.into(),
            native_type: "bigint".into(),
            logical: Logical::BigInt,
            nullable,
            default: None,
        };
        let key = |column: &str, to: &str| ForeignKey {
            name: Name::default(),
            columns: vec![column.into()],
            ref_table: to.into(),
            ref_columns: vec!["id".into()],
            on_delete: String::new(),
            on_update: String::new(),
        };
        let mut schema = Schema::default();
        // Plume's: users.avatar_id (nullable) -> medias, medias.owner_id (NOT NULL) -> users,
        // and comments waits on both.
        for (name, columns, keys) in [
            (
                "users",
                vec![column("id", false), column("avatar_id", true)],
                vec![key("avatar_id", "medias")],
            ),
            (
                "medias",
                vec![column("id", false), column("owner_id", false)],
                vec![key("owner_id", "users")],
            ),
            (
                "comments",
                vec![column("id", false), column("author_id", false)],
                vec![key("author_id", "users")],
            ),
        ] {
            let mut table = Table {
                columns,
                ..Table::default()
            };
            for k in keys {
                table.add_foreign_key(k);
            }
            schema.tables.insert(name.into(), table);
        }
        let order = parents_first(
            &schema,
            vec!["comments".into(), "medias".into(), "users".into()],
        );
        assert_eq!(order, ["users", "comments", "medias"]);
    }

    #[test]
    fn every_row_differs_within_a_short_text() {
        assert_eq!(value(&Logical::ShortText(Some(3)), 12345), "345");
        assert_ne!(value(&Logical::Uuid, 1), value(&Logical::Uuid, 2));
        assert_eq!(value(&Logical::Timestamp, 61), "2024-01-01 00:01:01");
        assert_eq!(value(&Logical::Decimal(Some((4, 2))), 123), "23");
    }
}
