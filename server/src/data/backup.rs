//! The admin backup: every table as one JSON document, and restoring such a document.
//!
//! The document is backend-independent — a backup taken on SQLite restores on PostgreSQL — and
//! says which schema version it was taken at; it restores only at that version. Restoring
//! replaces all data in one write transaction: the document is checked whole (tables, columns,
//! every value's type and NULL, every row against the API's rules, see `data::rules`) before
//! anything is deleted, and after loading, each table's row count and content digest must equal
//! the document's, or nothing changes. For large deployments the native tools
//! (`docs/operations.md`) are faster; this is the portable, in-band way.

use poem_openapi::Object;
use serde_json::Value;

use super::rules::{self, Refused};
use super::{Digest, Digester, SCAN_BATCH, Scan, TABLES, Table};
use crate::db::{Arg, ArgKind, Db, Id, Timestamp, Tx};

/// The document's format marker, checked on restore.
pub const FORMAT: &str = "didhub-backup/1";

/// A whole database.
#[derive(Debug, Clone, Object)]
pub struct Backup {
    /// Always `didhub-backup/1`.
    pub format: String,
    /// The schema version the data belongs to; a restore needs the same.
    pub schema_version: i64,
    pub created_at: Timestamp,
    /// Every table, parents before children.
    pub tables: Vec<BackupTable>,
}

/// One table: column names, then rows of values in that order (ids, timestamps as strings).
#[derive(Debug, Clone, Object)]
pub struct BackupTable {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Why a document cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("not a DIDHub backup: format is {0:?}, expected {FORMAT:?}")]
    Format(String),
    #[error(
        "the backup is of schema version {backup}, this database is at {current}: restore it \
         into a server at version {backup}"
    )]
    Version { backup: i64, current: i64 },
    #[error("{0}")]
    Shape(String),
    #[error(transparent)]
    Value(#[from] Refused),
    #[error("after loading, {table} holds {loaded} instead of {expected}; nothing was changed")]
    Mismatch {
        table: &'static str,
        expected: Digest,
        loaded: Digest,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Every table, read in one snapshot.
pub async fn dump(db: &Db) -> Result<Backup, sqlx::Error> {
    let schema_version = db.schema_version().await?;
    let mut snapshot = db.begin_read().await?;
    let mut tables = Vec::with_capacity(TABLES.len());
    for &table in TABLES {
        let mut rows = Vec::new();
        let mut scan = Scan::new(table, SCAN_BATCH);
        while let Some(batch) = scan.next(snapshot.conn()).await? {
            rows.extend(
                batch
                    .into_iter()
                    .map(|row| row.into_iter().map(to_json).collect()),
            );
        }
        tables.push(BackupTable {
            name: table.name.to_owned(),
            columns: table.column_names().into_iter().map(String::from).collect(),
            rows,
        });
    }
    snapshot.rollback().await;
    Ok(Backup {
        format: FORMAT.to_owned(),
        schema_version,
        created_at: Timestamp::now(),
        tables,
    })
}

/// How many rows each table received.
#[derive(Debug, Clone)]
pub struct Restored {
    pub tables: Vec<(&'static str, u64)>,
}

/// Replaces all data with the backup's, in `tx` (which the caller commits, after adding its
/// audit entry, or drops).
pub async fn restore(db: &Db, tx: &mut Tx, backup: Backup) -> Result<Restored, RestoreError> {
    let rows = check(db, backup).await?;
    for table in TABLES.iter().rev() {
        tx.conn().execute(table.delete_all()).await?;
    }
    let mut restored = Vec::new();
    for (&table, rows) in TABLES.iter().zip(rows) {
        let mut expected = Digester::of(table);
        expected.add(&rows);
        let expected = expected.finish();
        tx.insert_rows(table.name, &table.column_names(), rows)
            .await?;
        let loaded = Digest::of(table, tx).await?;
        if loaded != expected {
            return Err(RestoreError::Mismatch {
                table: table.name,
                expected,
                loaded,
            });
        }
        restored.push((table.name, loaded.rows));
    }
    Ok(Restored { tables: restored })
}

/// The backup's rows as arguments, table by table in [`TABLES`] order, or what is wrong with it:
/// its shape, a value of the wrong kind or a NULL in a NOT NULL column, or a row that breaks
/// the API's rules (`data::rules`).
async fn check(db: &Db, backup: Backup) -> Result<Vec<Vec<Vec<Arg>>>, RestoreError> {
    if backup.format != FORMAT {
        return Err(RestoreError::Format(backup.format));
    }
    let current = db.schema_version().await?;
    if backup.schema_version != current {
        return Err(RestoreError::Version {
            backup: backup.schema_version,
            current,
        });
    }
    let names: Vec<&str> = backup.tables.iter().map(|t| t.name.as_str()).collect();
    let expected: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    if names != expected {
        return Err(RestoreError::Shape(format!(
            "the backup's tables are {names:?}, expected {expected:?}"
        )));
    }
    let mut all = Vec::with_capacity(TABLES.len());
    for (&table, given) in TABLES.iter().zip(backup.tables) {
        if given.columns != table.column_names() {
            return Err(RestoreError::Shape(format!(
                "{}: the backup's columns are {:?}, expected {:?}",
                table.name,
                given.columns,
                table.column_names()
            )));
        }
        let rows = given
            .rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| from_json_row(table, i, row))
            .collect::<Result<Vec<_>, _>>()?;
        all.push(rows);
    }
    rules::check(&all)?;
    Ok(all)
}

fn to_json(arg: Arg) -> Value {
    match arg {
        Arg::Id(id) => id.map_or(Value::Null, |id| Value::String(id.to_string())),
        Arg::Text(text) => text.map_or(Value::Null, Value::String),
        Arg::Int(n) => Value::from(n),
        Arg::Bool(b) => Value::Bool(b),
        Arg::Time(t) => t.map_or(Value::Null, |t| Value::String(t.to_string())),
        Arg::Json(value) => value,
    }
}

fn from_json_row(table: Table, row: usize, values: Vec<Value>) -> Result<Vec<Arg>, RestoreError> {
    if values.len() != table.columns.len() {
        return Err(RestoreError::Shape(format!(
            "{}, row {row}: {} values for {} columns",
            table.name,
            values.len(),
            table.columns.len()
        )));
    }
    table
        .columns
        .iter()
        .zip(values)
        .map(|(column, value)| {
            let refused = |problem| {
                RestoreError::Value(Refused {
                    table: table.name,
                    row,
                    column: column.name,
                    problem,
                })
            };
            if value.is_null() && !column.nullable {
                return Err(refused(
                    "must not be null (the column is NOT NULL)".to_owned(),
                ));
            }
            from_json(column.kind, value).map_err(refused)
        })
        .collect()
}

/// A value of the backup as the argument its column takes (NULL where the column allows it is
/// checked by the caller).
fn from_json(kind: ArgKind, value: Value) -> Result<Arg, String> {
    let text = |value: Value| match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(format!("expected a string or null, found {other}")),
    };
    Ok(match kind {
        ArgKind::Id => Arg::Id(
            text(value)?
                .map(|s| s.parse::<Id>().map_err(|e| format!("not a UUID: {e}")))
                .transpose()?,
        ),
        ArgKind::Text => Arg::Text(text(value)?),
        ArgKind::Time => Arg::Time(
            text(value)?
                .map(|s| {
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map(|t| Timestamp::from(t.to_utc()))
                        .map_err(|e| format!("not an RFC 3339 timestamp: {e}"))
                })
                .transpose()?,
        ),
        ArgKind::Int => Arg::Int(value.as_i64().ok_or("expected an integer")?),
        ArgKind::Bool => Arg::Bool(value.as_bool().ok_or("expected true or false")?),
        ArgKind::Json => Arg::Json(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_round_trips_through_json() {
        let id = Id::new();
        let at = Timestamp::now();
        for (kind, arg) in [
            (ArgKind::Id, Arg::from(id)),
            (ArgKind::Id, Arg::Id(None)),
            (ArgKind::Text, Arg::from("ünï\tcødé")),
            (ArgKind::Time, Arg::from(at)),
            (ArgKind::Int, Arg::from(-7i64)),
            (ArgKind::Bool, Arg::from(true)),
            (ArgKind::Json, Arg::from(json!({"a": [1, null]}))),
        ] {
            let back = from_json(kind, to_json(arg.clone())).unwrap();
            assert_eq!(format!("{back:?}"), format!("{arg:?}"));
        }
    }

    #[test]
    fn wrong_values_say_what_was_expected() {
        assert!(
            from_json(ArgKind::Id, json!("nope"))
                .unwrap_err()
                .contains("UUID")
        );
        assert!(
            from_json(ArgKind::Bool, json!(1))
                .unwrap_err()
                .contains("true or false")
        );
        assert!(
            from_json(ArgKind::Text, json!(3))
                .unwrap_err()
                .contains("string")
        );
        assert!(
            from_json(ArgKind::Time, json!("yesterday"))
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
