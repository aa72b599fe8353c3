//! SQLite: a temporary file per database, introspection through `sqlite_schema` and the
//! `pragma_*` table functions.
//!
//! The pragmas know neither constraint names nor check expressions, so those come from the
//! `CREATE TABLE` text SQLite keeps: split at top-level commas, a segment is either a table
//! constraint (`CONSTRAINT name …`, or an unnamed `CHECK (…)`, keyed `(<expression>)#check`) or
//! a column definition, whose `CHECK (…)` is keyed `<column>#check`. A column checked with
//! `json_valid(col)` reads as JSON, one checked with `col IN (0, 1)` as boolean: that is how
//! SQLite spells those types.

use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

use super::DataSql;
use crate::schema::{Column, ForeignKey, Index, Logical, Schema, Table, normalise_default};

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

pub(super) async fn connect(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true);
    SqlitePool::connect_with(options).await
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

/// `expr` with each run of whitespace made one space, none inside parentheses' edges.
fn squeeze(expr: &str) -> String {
    expr.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("( ", "(")
        .replace(" )", ")")
}

/// The parenthesised expression that follows `CHECK` in a segment.
fn check_expression(segment: &str) -> Option<String> {
    let upper = segment.to_ascii_uppercase();
    let at = upper.find("CHECK")?;
    let rest = &segment[at + 5..];
    let open = rest.find('(')?;
    let mut depth = 0;
    for (i, c) in rest[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(rest[open + 1..open + i].trim().to_owned());
                }
            }
            _ => {}
        }
    }
    None
}

/// What the stored `CREATE TABLE` text says that the pragmas do not.
#[derive(Debug, Default, PartialEq)]
struct Constraints {
    /// Foreign-key columns → constraint name.
    fk_names: Vec<(Vec<String>, String)>,
    /// Check key (name, `<column>#check`, or `(<expression>)#check` for an unnamed table-level
    /// check) → expression.
    checks: Vec<(String, String)>,
}

fn constraints(create_sql: &str) -> Constraints {
    let mut fk_names = Vec::new();
    let mut checks = Vec::new();
    for segment in segments(create_sql) {
        let words: Vec<&str> = segment.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("CONSTRAINT"))
        {
            let name = words.get(1).copied().unwrap_or_default().to_owned();
            let kind = words
                .get(2)
                .map(|w| w.to_ascii_uppercase())
                .unwrap_or_default();
            if kind == "FOREIGN" {
                let cols = segment
                    .split_once('(')
                    .and_then(|(_, r)| r.split_once(')'))
                    .map(|(c, _)| c.split(',').map(|c| c.trim().to_owned()).collect())
                    .unwrap_or_default();
                fk_names.push((cols, name));
            } else if kind == "CHECK"
                && let Some(expr) = check_expression(&segment)
            {
                checks.push((name, expr));
            }
        } else if words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .is_some_and(|w| w == "CHECK" || w.starts_with("CHECK("))
        {
            // An unnamed table-level check: keyed by its expression, so that two of them are two
            // entries (keyed `CHECK#check` alike, only the last one survived).
            if let Some(expr) = check_expression(&segment) {
                checks.push((format!("({})#check", squeeze(&expr)), expr));
            }
        } else if let (Some(column), Some(expr)) = (words.first(), check_expression(&segment)) {
            checks.push((format!("{column}#check"), expr));
        }
    }
    Constraints { fk_names, checks }
}

fn logical(native: &str, check: Option<&str>, column: &str) -> Logical {
    let check = check
        .unwrap_or_default()
        .replace(' ', "")
        .to_ascii_lowercase();
    match native {
        "text" if check == format!("json_valid({column})") => Logical::Json,
        "text" => Logical::AnyText,
        "integer" if check == format!("{column}in(0,1)") => Logical::Boolean,
        "integer" => Logical::AnyInteger,
        other => Logical::Other(other.to_owned()),
    }
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
            let check = checks
                .iter()
                .find(|(key, _)| *key == format!("{column}#check"))
                .map(|(_, e)| e.as_str());
            let logical = logical(&native, check, &column);
            let position: i64 = row.get("pk");
            if position > 0 {
                pk.push((position, column.clone()));
            }
            let default: Option<String> = row.get("dflt_value");
            table.columns.push(Column {
                name: column,
                default: normalise_default(default.as_deref(), &logical),
                native_type: native,
                logical,
                nullable: row.get::<i64, _>("not_null") == 0,
            });
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, c)| c).collect();
        table.checks = checks.into_iter().collect();

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
                name: String::new(),
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
            fk.name = fk_names
                .iter()
                .find(|(cols, _)| *cols == fk.columns)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| format!("{name}({})", fk.columns.join(",")));
            table.foreign_keys.insert(fk.name.clone(), fk);
        }

        let indexes: Vec<(String, bool, String)> =
            sqlx::query_as("SELECT name, \"unique\", origin FROM pragma_index_list(?)")
                .bind(&name)
                .fetch_all(pool)
                .await?;
        for (index, unique, origin) in indexes {
            if origin == "pk" {
                continue;
            }
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT COALESCE(name, '(expression)') \
                 || CASE WHEN coll = 'BINARY' THEN '' ELSE ' COLLATE ' || coll END \
                 || CASE WHEN \"desc\" THEN ' DESC' ELSE '' END \
                 FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno",
            )
            .bind(&index)
            .fetch_all(pool)
            .await?;
            table.indexes.insert(index, Index { columns, unique });
        }
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_table_checks_are_each_kept_by_their_expression() {
        let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, checked_at TEXT, a INTEGER, b INTEGER,\n \
                   CHECK (a > 0),\n CHECK(b  >  0 ))";
        assert_eq!(
            constraints(sql).checks,
            [
                ("(a > 0)#check".to_owned(), "a > 0".to_owned()),
                ("(b > 0)#check".to_owned(), "b  >  0".to_owned()),
            ]
        );
    }

    #[test]
    fn constraints_are_read_from_the_create_text() {
        let sql = "CREATE TABLE t (\n id TEXT NOT NULL,\n flag INTEGER NOT NULL DEFAULT 0 CHECK (flag IN (0, 1)),\n \
                   doc TEXT NOT NULL CHECK (json_valid(doc)),\n status TEXT DEFAULT 'a,b',\n \
                   CONSTRAINT pk_t PRIMARY KEY (id),\n CONSTRAINT fk_t_u FOREIGN KEY (id, doc) REFERENCES u (a, b) ON DELETE CASCADE,\n \
                   CONSTRAINT ck_t_status CHECK (status IN ('a', 'b'))\n)";
        let Constraints {
            fk_names: fks,
            checks,
        } = constraints(sql);
        assert_eq!(
            fks,
            [(vec!["id".to_owned(), "doc".to_owned()], "fk_t_u".to_owned())]
        );
        assert_eq!(
            checks,
            [
                ("flag#check".to_owned(), "flag IN (0, 1)".to_owned()),
                ("doc#check".to_owned(), "json_valid(doc)".to_owned()),
                ("ck_t_status".to_owned(), "status IN ('a', 'b')".to_owned()),
            ]
        );
        assert_eq!(
            logical("integer", Some("flag IN (0, 1)"), "flag"),
            Logical::Boolean
        );
        assert_eq!(
            logical("text", Some("json_valid(doc)"), "doc"),
            Logical::Json
        );
        assert_eq!(logical("text", None, "x"), Logical::AnyText);
    }
}
