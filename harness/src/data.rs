//! Data fixtures, and the canonical form in which rows are compared.
//!
//! A fixture is a folder `vNNNN/` (the version it is loaded at) of JSON files, one per table,
//! each an array of rows: `fixtures/data/v0004/users.json`. Every row of a file lists the same
//! columns (like a CSV file); a column left out gets its default. An optional
//! `vNNNN/expect/vMMMM/<table>.json` says what a table must hold once the migrations up to MMMM
//! have run on the fixture; it lists only the columns it checks.
//!
//! Values are written the way JSON spells them and converted by the column's logical type
//! ([`crate::schema::Logical`]), so one fixture loads on every dialect: booleans as
//! `true`/`false`, integers as numbers, JSON columns as JSON, UUIDs and timestamps as strings.
//! UUIDs and timestamps must be written in their canonical form (lower-case hyphenated; RFC 3339
//! in UTC with microseconds, `2024-05-01T09:30:00.000000Z`): SQLite stores them as plain text, so
//! that is the only spelling that reads back the same from every backend.
//!
//! Rows read back from a database are rendered in the same canonical form
//! ([`didhub_migrations::canonical`], which the server's table digests use too) — one JSON
//! object per row with the columns sorted by name and every value as text — and a table's rows
//! are sorted, so the same data gives the same [`TableData::hash`] on every backend.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use didhub_migrations::canonical;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::schema::{Column, Logical};

pub use didhub_migrations::canonical::{Row, render};

/// A row as a fixture file writes it.
pub type FileRow = serde_json::Map<String, Value>;

/// The rows of one table file, all listing the same columns.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRows {
    pub file: PathBuf,
    /// The columns every row lists, sorted.
    pub columns: Vec<String>,
    pub rows: Vec<FileRow>,
}

/// One fixture: the rows loaded at `version`, and what later versions must make of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    /// The folder name, `v0004`.
    pub name: String,
    pub version: i64,
    /// Table → rows to load.
    pub tables: BTreeMap<String, TableRows>,
    /// Version → table → the rows that table must hold at that version.
    pub expectations: BTreeMap<i64, BTreeMap<String, TableRows>>,
}

/// A fixture folder or file that cannot be used, whatever the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", .path.display())]
pub struct FixtureError {
    pub path: PathBuf,
    pub reason: String,
}

fn fixture_error(path: &Path, reason: impl Into<String>) -> FixtureError {
    FixtureError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// `v0004` → 4.
fn version_of(name: &str) -> Option<i64> {
    let digits = name.strip_prefix('v')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The sub-folders of `dir`, sorted; files other than directories are ignored.
fn folders(dir: &Path) -> Result<Vec<PathBuf>, FixtureError> {
    let entries = std::fs::read_dir(dir).map_err(|e| fixture_error(dir, e.to_string()))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| fixture_error(dir, e.to_string()))?.path();
        if path.is_dir() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Fixture {
    /// Every fixture under `root` (its `vNNNN` folders), oldest version first.
    pub fn load_all(root: &Path) -> Result<Vec<Fixture>, FixtureError> {
        folders(root)?
            .iter()
            .map(|dir| Fixture::load(dir))
            .collect()
    }

    /// One fixture folder, `…/v0004`.
    pub fn load(dir: &Path) -> Result<Fixture, FixtureError> {
        let name = file_name(dir);
        let version = version_of(&name)
            .ok_or_else(|| fixture_error(dir, "a fixture folder is named vNNNN (its version)"))?;
        let tables = table_files(dir)?;
        if tables.is_empty() {
            return Err(fixture_error(dir, "no <table>.json files"));
        }
        let mut expectations = BTreeMap::new();
        let expect = dir.join("expect");
        if expect.is_dir() {
            for at in folders(&expect)? {
                let later = version_of(&file_name(&at)).ok_or_else(|| {
                    fixture_error(&at, "an expectation folder is named vNNNN (its version)")
                })?;
                if later <= version {
                    return Err(fixture_error(
                        &at,
                        format!("expectations are for versions after the fixture's ({version})"),
                    ));
                }
                expectations.insert(later, table_files(&at)?);
            }
        }
        Ok(Fixture {
            name,
            version,
            tables,
            expectations,
        })
    }

    /// How many rows the fixture loads.
    pub fn row_count(&self) -> usize {
        self.tables.values().map(|t| t.rows.len()).sum()
    }
}

/// The `<table>.json` files of a folder.
fn table_files(dir: &Path) -> Result<BTreeMap<String, TableRows>, FixtureError> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| fixture_error(dir, e.to_string()))?;
    for entry in entries {
        let path = entry.map_err(|e| fixture_error(dir, e.to_string()))?.path();
        let name = file_name(&path);
        if let Some(table) = name.strip_suffix(".json") {
            out.insert(table.to_owned(), read_table(&path)?);
        }
    }
    Ok(out)
}

fn read_table(path: &Path) -> Result<TableRows, FixtureError> {
    let text = std::fs::read_to_string(path).map_err(|e| fixture_error(path, e.to_string()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| fixture_error(path, e.to_string()))?;
    let Value::Array(items) = value else {
        return Err(fixture_error(path, "expected an array of row objects"));
    };
    let mut rows = Vec::new();
    let mut columns: Option<Vec<String>> = None;
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(row) = item else {
            return Err(fixture_error(path, format!("row {i} is not an object")));
        };
        let mut these: Vec<String> = row.keys().cloned().collect();
        these.sort();
        match &columns {
            None => columns = Some(these),
            Some(first) if *first != these => {
                return Err(fixture_error(
                    path,
                    format!(
                        "row {i} lists the columns {these:?}, row 0 {first:?}: every row lists the same columns"
                    ),
                ));
            }
            Some(_) => {}
        }
        rows.push(row);
    }
    Ok(TableRows {
        file: path.to_path_buf(),
        columns: columns.unwrap_or_default(),
        rows,
    })
}

/// A fixture value that does not fit its column, or that would read back differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadValue {
    #[error("expected {0}")]
    Expected(&'static str),
    #[error("expected {expected}: {reason}")]
    Unparsable {
        expected: &'static str,
        reason: String,
    },
    #[error("write the {what} as {canonical}{hint}: SQLite keeps the text as written")]
    NotCanonical {
        what: &'static str,
        canonical: String,
        hint: &'static str,
    },
}

/// A fixture value in canonical form, by the column's logical type; `Err` says what the value
/// should have been.
pub fn canonical_input(column: &Column, value: &Value) -> Result<Option<String>, BadValue> {
    let text = match (&column.logical, value) {
        (_, Value::Null) => return Ok(None),
        (Logical::Boolean, Value::Bool(b)) => b.to_string(),
        (Logical::Boolean, _) => return Err(BadValue::Expected("true or false")),
        (Logical::Integer | Logical::BigInt | Logical::AnyInteger, Value::Number(n))
            if n.is_i64() || n.is_u64() =>
        {
            n.to_string()
        }
        (Logical::Integer | Logical::BigInt | Logical::AnyInteger, _) => {
            return Err(BadValue::Expected("an integer"));
        }
        (Logical::Json, v) => canonical::json(v),
        (Logical::Timestamp, Value::String(s)) => {
            let canonical = DateTime::parse_from_rfc3339(s)
                .map(|t| canonical::timestamp(t.with_timezone(&Utc)))
                .map_err(|e| BadValue::Unparsable {
                    expected: "an RFC 3339 timestamp",
                    reason: e.to_string(),
                })?;
            if canonical != *s {
                return Err(BadValue::NotCanonical {
                    what: "timestamp",
                    canonical,
                    hint: " (UTC, microseconds)",
                });
            }
            canonical
        }
        (Logical::Uuid, Value::String(s)) => {
            let canonical = uuid::Uuid::parse_str(s)
                .map(|u| u.hyphenated().to_string())
                .map_err(|e| BadValue::Unparsable {
                    expected: "a UUID",
                    reason: e.to_string(),
                })?;
            if canonical != *s {
                return Err(BadValue::NotCanonical {
                    what: "UUID",
                    canonical,
                    hint: "",
                });
            }
            canonical
        }
        (_, Value::String(s)) => s.clone(),
        // A type the harness does not map takes numbers as their text.
        (Logical::Other(_), Value::Number(n)) => n.to_string(),
        (_, _) => return Err(BadValue::Expected("a string")),
    };
    Ok(Some(text))
}

/// A value as a backend rendered it (see each backend's `read_expr`), in canonical form.
pub fn canonical_output(column: &Column, text: Option<String>) -> Option<String> {
    let text = text?;
    Some(match column.logical {
        Logical::Boolean => match text.as_str() {
            "1" | "t" | "true" => "true".to_owned(),
            "0" | "f" | "false" => "false".to_owned(),
            _ => text,
        },
        Logical::Json => match serde_json::from_str::<Value>(&text) {
            Ok(v) => canonical::json(&v),
            Err(_) => text,
        },
        _ => text,
    })
}

/// The rows of one table, canonical and sorted, with their content hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableData {
    /// Sorted by their rendering.
    pub rows: Vec<Row>,
    /// SHA-256 (hex) of the rendered rows, one per line.
    pub hash: String,
}

impl TableData {
    pub fn new(rows: Vec<Row>) -> TableData {
        let mut rendered: Vec<(String, Row)> = rows.into_iter().map(|r| (render(&r), r)).collect();
        rendered.sort();
        let mut hasher = Sha256::new();
        for (line, _) in &rendered {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        let mut hash = String::new();
        for byte in hasher.finalize() {
            let _ = write!(hash, "{byte:02x}");
        }
        TableData {
            rows: rendered.into_iter().map(|(_, r)| r).collect(),
            hash,
        }
    }

    pub fn count(&self) -> usize {
        self.rows.len()
    }

    /// The rendered rows, sorted.
    pub fn lines(&self) -> Vec<String> {
        self.rows.iter().map(render).collect()
    }

    /// The rows reduced to `columns`, rendered and sorted.
    pub fn project(&self, columns: &[String]) -> Vec<String> {
        let mut lines: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let projected: Row = columns
                    .iter()
                    .map(|c| (c.clone(), row.get(c).cloned().flatten()))
                    .collect();
                render(&projected)
            })
            .collect();
        lines.sort();
        lines
    }

    /// The first 12 hex digits of the hash, for reports.
    pub fn short_hash(&self) -> &str {
        &self.hash[..self.hash.len().min(12)]
    }
}

/// The difference between two sorted lists of rendered rows, as `missing …` and
/// `unexpected …` lines (at most `limit` of them, then a count of the rest).
pub fn diff_rows(expected: &[String], actual: &[String], limit: usize) -> Vec<String> {
    let mut remaining: BTreeMap<&str, usize> = BTreeMap::new();
    for line in actual {
        *remaining.entry(line).or_default() += 1;
    }
    let mut out = Vec::new();
    for line in expected {
        match remaining.get_mut(line.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(format!("missing    {line}")),
        }
    }
    for (line, n) in remaining {
        out.extend(std::iter::repeat_n(format!("unexpected {line}"), n));
    }
    if out.len() > limit {
        let rest = out.len() - limit;
        out.truncate(limit);
        out.push(format!("… and {rest} more"));
    }
    out
}

/// The fixture's tables in an order that inserts referenced rows first: a table comes after
/// every other fixture table its foreign keys point to (ties and cycles by name).
pub fn load_order<'a>(
    tables: impl IntoIterator<Item = &'a str>,
    references: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut pending: BTreeSet<String> = tables.into_iter().map(str::to_owned).collect();
    let mut order = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .find(|t| {
                references(t)
                    .iter()
                    .all(|r| r == *t || !pending.contains(r))
            })
            .or_else(|| pending.iter().next())
            .cloned()
            .expect("pending is not empty");
        pending.remove(&ready);
        order.push(ready);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column(logical: Logical) -> Column {
        Column {
            name: "c".into(),
            native_type: "x".into(),
            logical,
            nullable: true,
            default: None,
        }
    }

    #[test]
    fn fixture_values_are_converted_by_logical_type() {
        let ok = |l: Logical, v: Value| canonical_input(&column(l), &v).unwrap();
        assert_eq!(ok(Logical::Boolean, json!(true)), Some("true".into()));
        assert_eq!(ok(Logical::AnyInteger, json!(42)), Some("42".into()));
        assert_eq!(ok(Logical::Uuid, json!(null)), None);
        assert_eq!(
            ok(Logical::Json, json!({"b": [1, {"d": 1, "c": 2}], "a": "x"})),
            Some(r#"{"a":"x","b":[1,{"c":2,"d":1}]}"#.into())
        );
        assert_eq!(
            ok(Logical::Timestamp, json!("2024-05-01T09:30:00.123456Z")),
            Some("2024-05-01T09:30:00.123456Z".into())
        );
        assert_eq!(ok(Logical::AnyText, json!("Zoë")), Some("Zoë".into()));
    }

    #[test]
    fn fixture_values_that_would_read_back_differently_are_refused() {
        let err = |l: Logical, v: Value| canonical_input(&column(l), &v).unwrap_err().to_string();
        assert!(
            err(Logical::Timestamp, json!("2024-05-01T11:30:00+02:00"))
                .contains("2024-05-01T09:30:00.000000Z")
        );
        assert!(
            err(Logical::Uuid, json!("0190A6E0-0000-7000-8000-000000000001"))
                .contains("0190a6e0-0000-7000-8000-000000000001")
        );
        assert_eq!(
            canonical_input(&column(Logical::Boolean), &json!(1)),
            Err(BadValue::Expected("true or false"))
        );
        assert_eq!(err(Logical::Integer, json!("1")), "expected an integer");
        assert_eq!(err(Logical::LongText, json!(1)), "expected a string");
    }

    #[test]
    fn database_renderings_become_canonical() {
        let out = |l: Logical, s: &str| canonical_output(&column(l), Some(s.into())).unwrap();
        assert_eq!(out(Logical::Boolean, "1"), "true");
        assert_eq!(out(Logical::Boolean, "f"), "false");
        assert_eq!(
            out(Logical::Json, r#"{"b": 1.50, "a": []}"#),
            r#"{"a":[],"b":1.5}"#
        );
        assert_eq!(canonical_output(&column(Logical::Json), None), None);
    }

    #[test]
    fn the_same_rows_in_any_order_have_the_same_hash() {
        let row = |id: &str, name: Option<&str>| -> Row {
            [
                ("id".to_owned(), Some(id.to_owned())),
                ("name".to_owned(), name.map(str::to_owned)),
            ]
            .into()
        };
        let a = TableData::new(vec![row("1", Some("x")), row("2", None)]);
        let b = TableData::new(vec![row("2", None), row("1", Some("x"))]);
        assert_eq!(a, b);
        assert_eq!(a.count(), 2);
        let c = TableData::new(vec![row("1", Some("x")), row("2", Some("null"))]);
        assert_ne!(a.hash, c.hash, "NULL and the text 'null' differ");
        assert_eq!(
            a.project(&["name".into()]),
            [r#"{"name":"x"}"#, r#"{"name":null}"#]
        );
    }

    #[test]
    fn row_differences_are_listed_once_each() {
        let e = ["a".to_owned(), "a".to_owned(), "b".to_owned()];
        let a = ["a".to_owned(), "c".to_owned()];
        assert_eq!(
            diff_rows(&e, &a, 10),
            ["missing    a", "missing    b", "unexpected c"]
        );
        assert_eq!(diff_rows(&e, &a, 1), ["missing    a", "… and 2 more"]);
    }

    #[test]
    fn referenced_tables_load_first() {
        let refs = |t: &str| match t {
            "alters" => vec!["systems".to_owned()],
            "systems" => vec!["users".to_owned()],
            "users" => vec!["users".to_owned()],
            _ => vec![],
        };
        assert_eq!(
            load_order(["alters", "users", "audit", "systems"], refs),
            ["audit", "users", "systems", "alters"]
        );
    }

    #[test]
    fn fixture_folders_are_read_with_their_expectations() {
        let dir = tempfile::tempdir().unwrap();
        let v2 = dir.path().join("v0002");
        std::fs::create_dir_all(v2.join("expect/v0003")).unwrap();
        std::fs::write(v2.join("notes.json"), r#"[{"id": 1, "body": "x"}]"#).unwrap();
        std::fs::write(v2.join("expect/v0003/notes.json"), r#"[{"id": 1}]"#).unwrap();
        let fixtures = Fixture::load_all(dir.path()).unwrap();
        assert_eq!(fixtures.len(), 1);
        assert_eq!(fixtures[0].version, 2);
        assert_eq!(fixtures[0].tables["notes"].columns, ["body", "id"]);
        assert_eq!(fixtures[0].expectations[&3]["notes"].columns, ["id"]);
        assert_eq!(fixtures[0].row_count(), 1);

        std::fs::write(
            v2.join("notes.json"),
            r#"[{"id": 1}, {"id": 2, "body": "y"}]"#,
        )
        .unwrap();
        let err = Fixture::load_all(dir.path()).unwrap_err();
        assert!(
            err.reason.contains("every row lists the same columns"),
            "{err}"
        );

        std::fs::create_dir(dir.path().join("latest")).unwrap();
        let err = Fixture::load_all(dir.path()).unwrap_err();
        assert!(err.reason.contains("named vNNNN"), "{err}");
    }
}
