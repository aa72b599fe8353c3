//! SQLite: a temporary file per database, introspection through `sqlite_schema` and the
//! `pragma_*` table functions.
//!
//! The pragmas know neither constraint names nor check expressions, so those come from the
//! `CREATE TABLE` text SQLite keeps: split at top-level commas, a segment is either a table
//! constraint (`CONSTRAINT name …`, or an unnamed `CHECK (…)`) or a column definition, with its
//! own `CHECK (…)` and `CONSTRAINT name`; expression index parts and partial indexes' `WHERE`
//! come from the `CREATE INDEX` text. Types are read from the declared type as sqlx reads them
//! (`BOOLEAN`, `DATETIME`, `REAL`, `BLOB`, …); a column checked with `json_valid(col)` reads as
//! JSON, one checked with `col IN (0, 1)` as boolean: that is how SQLite spells those types.

use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

use super::DataSql;
use crate::expression;
use crate::plans::{Access, Plan, PlanError};
use crate::schema::{
    Column, ForeignKey, Index, Logical, Name, ROWID, Schema, Table, normalise_default,
};
use didhub_migrations::Backend;

pub(super) const DATA_SQL: DataSql = DataSql {
    quote,
    read: read_expr,
    write: write_expr,
};

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Any value as text: SQLite keeps UUIDs and timestamps as text already.
fn read_expr(column: &Column) -> String {
    format!("CAST({} AS TEXT)", quote(&column.name))
}

/// Integers (booleans among them) are cast, so that a text parameter is stored as an integer
/// before the column's CHECK sees it.
fn write_expr(_position: usize, column: &Column) -> String {
    if column.native_type == "integer" {
        "CAST(? AS INTEGER)".to_owned()
    } else {
        "?".to_owned()
    }
}

pub(super) async fn connect(
    url: &str,
    pool: sqlx::pool::PoolOptions<sqlx::Sqlite>,
) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true);
    pool.connect_with(options).await
}

/// The body of `CREATE TABLE t (…)` split at top-level commas.
fn segments(create_sql: &str) -> Vec<String> {
    let Some(start) = create_sql.find('(') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    let mut in_literal = false;
    for c in create_sql[start + 1..].chars() {
        match c {
            '\'' => in_literal = !in_literal,
            '(' if !in_literal => depth += 1,
            ')' if !in_literal && depth == 0 => break,
            ')' if !in_literal => depth -= 1,
            ',' if !in_literal && depth == 0 => {
                out.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// The parenthesised expression that follows the keyword `CHECK` in a segment (not a word that
/// merely starts with it, as a column `checked_at`).
fn check_expression(segment: &str) -> Option<String> {
    let upper = segment.to_ascii_uppercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let at = upper
        .match_indices("CHECK")
        .map(|(i, _)| i)
        .find(|&i| !word(upper[..i].chars().next_back()) && !word(upper[i + 5..].chars().next()))?;
    let rest = &segment[at + 5..];
    let open = rest.find('(')?;
    if !rest[..open].trim().is_empty() {
        return None;
    }
    parenthesised(rest, open).map(|(inner, _)| inner.trim().to_owned())
}

/// What the stored `CREATE TABLE` text says that the pragmas do not.
#[derive(Debug, Default, PartialEq)]
struct Constraints {
    /// Foreign-key columns → constraint name.
    fk_names: Vec<(Vec<String>, String)>,
    /// Every check: its name, if it has one, and its expression as written.
    checks: Vec<(Option<String>, String)>,
}

fn unquote(word: &str) -> String {
    word.trim_matches(|c| matches!(c, '"' | '`' | '[' | ']'))
        .to_owned()
}

/// The name after `CONSTRAINT` when it is followed by `keyword` (`CHECK`, `REFERENCES`).
fn constraint_name(words: &[&str], keyword: &str) -> Option<String> {
    words.windows(3).find_map(|w| {
        (w[0].eq_ignore_ascii_case("CONSTRAINT") && w[2].to_ascii_uppercase().starts_with(keyword))
            .then(|| unquote(w[1]))
    })
}

fn constraints(create_sql: &str) -> Constraints {
    let mut fk_names = Vec::new();
    let mut checks = Vec::new();
    for segment in segments(create_sql) {
        let words: Vec<&str> = segment.split_whitespace().collect();
        let first = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        if first == "CONSTRAINT" {
            let name = unquote(words.get(1).copied().unwrap_or_default());
            let kind = words
                .get(2)
                .map(|w| w.to_ascii_uppercase())
                .unwrap_or_default();
            if kind == "FOREIGN" {
                let cols = segment
                    .split_once('(')
                    .and_then(|(_, r)| r.split_once(')'))
                    .map(|(c, _)| c.split(',').map(|c| unquote(c.trim())).collect())
                    .unwrap_or_default();
                fk_names.push((cols, name));
            } else if kind.starts_with("CHECK")
                && let Some(expr) = check_expression(&segment)
            {
                checks.push((Some(name), expr));
            }
        } else if first == "CHECK" || first.starts_with("CHECK(") {
            if let Some(expr) = check_expression(&segment) {
                checks.push((None, expr));
            }
        } else if !["PRIMARY", "UNIQUE", "FOREIGN"].contains(&first.as_str())
            && let Some(column) = words.first()
        {
            if let Some(expr) = check_expression(&segment) {
                checks.push((constraint_name(&words, "CHECK"), expr));
            }
            if let Some(name) = constraint_name(&words, "REFERENCES") {
                fk_names.push((vec![unquote(column)], name));
            }
        }
    }
    Constraints { fk_names, checks }
}

/// The logical type of a declared type, as sqlx reads SQLite's declared types.
fn logical(native: &str) -> Logical {
    let base = native.split('(').next().unwrap_or_default().trim();
    let length = || {
        native
            .split_once('(')
            .and_then(|(_, n)| n.trim_end_matches(')').trim().parse().ok())
    };
    match base {
        "integer" | "int" => Logical::AnyInteger,
        "bigint" | "int8" => Logical::BigInt,
        "smallint" | "tinyint" | "int2" => Logical::SmallInt,
        "boolean" | "bool" => Logical::Boolean,
        "text" | "clob" => Logical::AnyText,
        // `CHAR(36)` is a uuid in every dialect (see `Logical::Uuid`).
        "char" | "character" if length() == Some(36) => Logical::Uuid,
        "varchar" | "character varying" | "char" | "character" | "nvarchar" | "nchar" => {
            Logical::ShortText(length())
        }
        "uuid" => Logical::Uuid,
        "datetime" | "timestamp" | "timestamptz" | "timestamp with time zone" => Logical::Timestamp,
        "date" => Logical::Date,
        "time" => Logical::Time,
        "real" | "double" | "double precision" | "float" => Logical::AnyReal,
        "numeric" | "decimal" => Logical::decimal(native),
        "blob" => Logical::Blob,
        "json" | "jsonb" => Logical::Json,
        other => Logical::Other(other.to_owned()),
    }
}

/// The parenthesised text starting at `open` (a `(`), and what follows it.
fn parenthesised(text: &str, open: usize) -> Option<(&str, &str)> {
    let mut depth = 0;
    let mut in_literal = false;
    for (i, c) in text[open..].char_indices() {
        match c {
            '\'' => in_literal = !in_literal,
            '(' if !in_literal => depth += 1,
            ')' if !in_literal => {
                depth -= 1;
                if depth == 0 {
                    return Some((&text[open + 1..open + i], &text[open + i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// A `CREATE INDEX` text's key parts as written (without `COLLATE`, `ASC`, `DESC`, which the
/// pragmas report) and its `WHERE` predicate.
fn index_parts(create_sql: &str) -> (Vec<String>, Option<String>) {
    let upper = create_sql.to_ascii_uppercase();
    let Some(open) = upper
        .find(" ON ")
        .and_then(|on| create_sql[on..].find('(').map(|p| on + p))
    else {
        return (Vec::new(), None);
    };
    let Some((list, rest)) = parenthesised(create_sql, open) else {
        return (Vec::new(), None);
    };
    let parts = segments(&format!("({list})"))
        .into_iter()
        .map(|part| {
            let mut words: Vec<&str> = part.split_whitespace().collect();
            loop {
                let n = words.len();
                if n >= 1 && ["ASC", "DESC"].contains(&words[n - 1].to_ascii_uppercase().as_str()) {
                    words.pop();
                } else if n >= 2 && words[n - 2].eq_ignore_ascii_case("COLLATE") {
                    words.truncate(n - 2);
                } else {
                    break;
                }
            }
            words.join(" ")
        })
        .collect();
    let rest = rest.trim();
    let predicate = rest
        .get(..5)
        .filter(|w| w.eq_ignore_ascii_case("WHERE"))
        .map(|_| expression::normalise(&rest[5..], Backend::Sqlite));
    (parts, predicate)
}

pub(super) async fn introspect(pool: &SqlitePool) -> Result<Schema, sqlx::Error> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    let mut schema = Schema::default();
    for (name, create_sql) in tables {
        let Constraints { fk_names, checks } = constraints(&create_sql);
        let mut table = Table::default();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for row in sqlx::query(
            "SELECT name, lower(type) AS ty, \"notnull\" AS not_null, dflt_value, pk \
             FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?
        {
            let column: String = row.get("name");
            let native: String = row.get("ty");
            let logical = logical(&native);
            let position: i64 = row.get("pk");
            if position > 0 {
                pk.push((position, column.clone()));
            }
            let default: Option<String> = row.get("dflt_value");
            table.columns.push(Column {
                name: column,
                default: normalise_default(default.as_deref(), &logical, Backend::Sqlite),
                native_type: native,
                logical,
                nullable: row.get::<i64, _>("not_null") == 0,
            });
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, c)| c).collect();
        // `INTEGER PRIMARY KEY` is the rowid: never NULL, numbered by SQLite.
        if let [key] = table.primary_key.as_slice()
            && let Some(column) = table.columns.iter_mut().find(|c| &c.name == key)
            && column.native_type == "integer"
        {
            column.nullable = false;
            column.default = Some(ROWID.to_owned());
        }
        for (check_name, expression) in checks {
            let name = match check_name {
                Some(given) => Name::given(given),
                None => Name::generated(None),
            };
            table.add_check(name, &expression, Backend::Sqlite);
        }

        let mut fks: std::collections::BTreeMap<i64, ForeignKey> = Default::default();
        for row in sqlx::query(
            "SELECT id, \"table\" AS ref_table, \"from\" AS col, \"to\" AS ref_col, on_update, on_delete \
             FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?
        {
            let fk = fks.entry(row.get("id")).or_insert_with(|| ForeignKey {
                name: Name::generated(None),
                columns: Vec::new(),
                ref_table: row.get("ref_table"),
                ref_columns: Vec::new(),
                on_delete: row.get("on_delete"),
                on_update: row.get("on_update"),
            });
            fk.columns.push(row.get("col"));
            fk.ref_columns.push(row.get("ref_col"));
        }
        for (_, mut fk) in fks {
            if let Some((_, given)) = fk_names.iter().find(|(cols, _)| *cols == fk.columns) {
                fk.name = Name::given(given.clone());
            }
            table.add_foreign_key(fk);
        }

        let indexes: Vec<(String, bool, String, Option<String>)> = sqlx::query_as(
            "SELECT l.name, l.\"unique\", l.origin, s.sql FROM pragma_index_list(?) l \
             LEFT JOIN sqlite_schema s ON s.type = 'index' AND s.name = l.name",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?;
        for (index, unique, origin, create_sql) in indexes {
            if origin == "pk" {
                continue;
            }
            let (written, predicate) = create_sql.as_deref().map(index_parts).unwrap_or_default();
            let parts: Vec<(Option<String>, String, bool)> = sqlx::query_as(
                "SELECT name, coll, \"desc\" FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno",
            )
            .bind(&index)
            .fetch_all(pool)
            .await?;
            let columns = parts
                .into_iter()
                .enumerate()
                .map(|(i, (column, collation, desc))| {
                    let mut part = column.unwrap_or_else(|| match written.get(i) {
                        Some(text) => expression::normalise(text, Backend::Sqlite),
                        None => "(expression)".to_owned(),
                    });
                    if collation != "BINARY" {
                        part.push_str(&format!(" COLLATE {collation}"));
                    }
                    if desc {
                        part.push_str(" DESC");
                    }
                    part
                })
                .collect();
            table.add_index(Index {
                // A UNIQUE constraint's index is named by SQLite (`sqlite_autoindex_t_1`).
                name: if origin == "u" {
                    Name::generated(Some(index))
                } else {
                    Name::given(index)
                },
                columns,
                unique,
                predicate,
                implicit: false,
            });
        }
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

/// What EXPLAIN QUERY PLAN answers for `explain`, as the text [`crate::plans`] reads: each
/// step's `detail`, a line each.
pub(super) async fn plan_text(
    pool: &SqlitePool,
    explain: sqlx::AssertSqlSafe<String>,
) -> Result<String, sqlx::Error> {
    let rows = sqlx::query(explain).fetch_all(pool).await?;
    let details: Vec<String> = rows.iter().map(|r| r.get("detail")).collect();
    Ok(details.join("\n"))
}

/// Reads SQLite's `EXPLAIN QUERY PLAN` (its `detail` lines, joined by newlines) into a [`Plan`].
pub(super) fn parse_plan(output: &str) -> Result<Plan, PlanError> {
    let accesses = output
        .lines()
        .filter_map(|l| sqlite_line(l.trim()))
        .collect();
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

/// A result column's type as `compat` compares it: the name the database gives.
pub(super) fn result_type(ty: &sqlx::sqlite::SqliteTypeInfo) -> String {
    sqlx::TypeInfo::name(ty).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_table_checks_are_each_kept() {
        let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, checked_at TEXT, a INTEGER, b INTEGER,\n \
                   CHECK (a > 0),\n CHECK(b  >  0 ))";
        assert_eq!(
            constraints(sql).checks,
            [(None, "a > 0".to_owned()), (None, "b  >  0".to_owned())]
        );
    }

    #[test]
    fn constraints_are_read_from_the_create_text() {
        let sql = "CREATE TABLE t (\n id TEXT NOT NULL,\n flag INTEGER NOT NULL DEFAULT 0 CHECK (flag IN (0, 1)),\n \
                   doc TEXT NOT NULL CONSTRAINT ck_doc CHECK (json_valid(doc)),\n status TEXT DEFAULT 'a,b',\n \
                   owner TEXT CONSTRAINT fk_owner REFERENCES u (id),\n \
                   CONSTRAINT pk_t PRIMARY KEY (id),\n CONSTRAINT fk_t_u FOREIGN KEY (id, doc) REFERENCES u (a, b) ON DELETE CASCADE,\n \
                   CONSTRAINT ck_t_status CHECK (status IN ('a', 'b'))\n)";
        let Constraints {
            fk_names: fks,
            checks,
        } = constraints(sql);
        assert_eq!(
            fks,
            [
                (vec!["owner".to_owned()], "fk_owner".to_owned()),
                (vec!["id".to_owned(), "doc".to_owned()], "fk_t_u".to_owned())
            ]
        );
        assert_eq!(
            checks,
            [
                (None, "flag IN (0, 1)".to_owned()),
                (Some("ck_doc".to_owned()), "json_valid(doc)".to_owned()),
                (
                    Some("ck_t_status".to_owned()),
                    "status IN ('a', 'b')".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn declared_types_read_as_sqlx_reads_them() {
        assert_eq!(logical("integer"), Logical::AnyInteger);
        assert_eq!(logical("boolean"), Logical::Boolean);
        assert_eq!(logical("varchar(64)"), Logical::ShortText(Some(64)));
        assert_eq!(logical("datetime"), Logical::Timestamp);
        assert_eq!(logical("real"), Logical::AnyReal);
        assert_eq!(logical("decimal(10, 2)"), Logical::Decimal(Some((10, 2))));
        assert_eq!(logical("blob"), Logical::Blob);
        assert_eq!(logical("text"), Logical::AnyText);
    }

    #[test]
    fn expression_index_parts_and_predicates_come_from_the_create_text() {
        assert_eq!(
            index_parts(
                "CREATE INDEX ix ON t (lower(name) COLLATE NOCASE DESC, b) WHERE deleted_at IS NULL"
            ),
            (
                vec!["lower(name)".to_owned(), "b".to_owned()],
                Some("deleted_at is null".to_owned())
            )
        );
        assert_eq!(
            index_parts("CREATE UNIQUE INDEX \"ix\" ON \"t\" (\"a\")"),
            (vec!["\"a\"".to_owned()], None)
        );
    }

    #[test]
    fn sqlite_lines_name_the_index_or_a_scan() {
        let plan = parse_plan("SEARCH alters USING INDEX idx_alters_system_id (system_id=?)\nUSE TEMP B-TREE FOR ORDER BY\nSCAN users",
        )
        .unwrap();
        assert!(plan.uses_index("alters", "idx_alters_system_id"));
        assert!(plan.on("users").all(Access::is_full_scan));
        assert_eq!(plan.accesses.len(), 2);
    }
}
