//! DIDHub's data as a whole, whatever the backend: the tables in dependency order with the kind
//! of each column ([`TABLES`]), reading a table in key order and in batches ([`Scan`]), and a
//! content digest per table that is the same on every backend for the same data ([`Digest`]).
//! `db copy` ([`copy`]) and the admin backup ([`backup`]) are built on these.
//!
//! The registry states what the migrations at head create; a test compares it with the
//! introspected schema on every backend, so a migration that adds a table or a column fails
//! until the registry knows it (and with it, copying and backups).

pub mod backup;
pub mod copy;
mod rules;

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::db::{Arg, ArgKind, Conn, Stmt, Tx};

/// A column, the kind of value it holds, and whether it may hold NULL.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: ArgKind,
    pub nullable: bool,
}

/// `true` for a column written `name: Kind | null`.
macro_rules! nullable {
    () => {
        false
    };
    (null) => {
        true
    };
}

/// A table: name, primary key, columns in order.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub columns: &'static [Column],
}

macro_rules! tables {
    ($($table:ident [$($key:ident),+] {
        $($column:ident: $kind:ident $(| $null:ident)?),+ $(,)?
    })*) => {
        /// Every table of the schema at head, each after the tables its foreign keys point to.
        pub const TABLES: &[Table] = &[$(Table {
            name: stringify!($table),
            key: &[$(stringify!($key)),+],
            columns: &[$(Column {
                name: stringify!($column),
                kind: ArgKind::$kind,
                nullable: nullable!($($null)?),
            }),+],
        }),*];
    };
}

tables! {
    users [id] {
        id: Id, username: Text, email: Text | null, password_hash: Text, is_admin: Bool,
        is_system: Bool, is_approved: Bool, must_change_password: Bool, avatar: Text | null,
        created_at: Time, updated_at: Time, last_login_at: Time | null,
        display_name: Text | null,
    }
    systems [id] {
        id: Id, user_id: Id, name: Text, description: Text | null, created_at: Time,
        updated_at: Time,
    }
    alters [id] {
        id: Id, system_id: Id, name: Text, pronouns: Text | null, description: Text | null,
        age: Text | null, gender: Text | null, birthday: Text | null, species: Text | null,
        alter_type: Text | null, interests: Json, is_host: Bool, is_dormant: Bool,
        created_at: Time, updated_at: Time,
    }
    audit_logs [id] {
        id: Id, user_id: Id | null, action: Text, entity_type: Text | null,
        entity_id: Text | null, ip: Text | null, metadata: Json, created_at: Time,
    }
    alter_groups [id] {
        id: Id, system_id: Id, name: Text, description: Text | null, created_at: Time,
        updated_at: Time,
    }
    alter_group_members [group_id, alter_id] {
        group_id: Id, alter_id: Id, is_leader: Bool, created_at: Time,
    }
    subsystems [id] {
        id: Id, system_id: Id, name: Text, description: Text | null, created_at: Time,
        updated_at: Time,
    }
    subsystem_members [subsystem_id, alter_id] {
        subsystem_id: Id, alter_id: Id, is_leader: Bool, created_at: Time,
    }
    alter_relationships [alter_id, related_alter_id, relationship_type] {
        alter_id: Id, related_alter_id: Id, relationship_type: Text, created_at: Time,
    }
    settings [name] {
        name: Text, value: Json, updated_at: Time,
    }
    system_requests [id] {
        id: Id, user_id: Id, status: Text, note: Text | null, decided_by: Id | null,
        decided_at: Time | null, created_at: Time,
    }
    password_reset_tokens [id] {
        id: Id, user_id: Id, token_hash: Text, expires_at: Time, used_at: Time | null,
        created_at: Time,
    }
}

impl Table {
    pub fn column_names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }

    fn kinds(&self) -> Vec<ArgKind> {
        self.columns.iter().map(|c| c.kind).collect()
    }

    /// The key's values in a row of this table.
    fn key_of(&self, row: &[Arg]) -> Vec<Arg> {
        self.key
            .iter()
            .map(|k| {
                let i = self.columns.iter().position(|c| c.name == *k);
                row[i.expect("a key column is a column")].clone()
            })
            .collect()
    }

    /// `SELECT COUNT(*) FROM table`.
    pub fn count(&self) -> Stmt {
        let mut stmt = Stmt::new("SELECT COUNT(*) FROM ");
        stmt.push(self.name);
        stmt
    }

    /// `DELETE FROM table`.
    pub fn delete_all(&self) -> Stmt {
        let mut stmt = Stmt::new("DELETE FROM ");
        stmt.push(self.name);
        stmt
    }

    /// Up to `limit` rows after the key `after`, in key order. A composite key is compared as a
    /// row value, `(a, b) > (?, ?)`, which all three backends understand.
    fn page(&self, after: Option<Vec<Arg>>, limit: usize) -> Stmt {
        let mut stmt = Stmt::new("SELECT ");
        push_list(&mut stmt, &self.column_names());
        stmt.push(" FROM ").push(self.name);
        if let Some(after) = after {
            stmt.push(" WHERE (");
            push_list(&mut stmt, self.key);
            stmt.push(") > (");
            for (i, value) in after.into_iter().enumerate() {
                stmt.push_bind(if i == 0 { "?" } else { ", ?" }, value);
            }
            stmt.push(")");
        }
        stmt.push(" ORDER BY ");
        push_list(&mut stmt, self.key);
        stmt.push_bind(" LIMIT ?", limit as i64);
        stmt
    }
}

/// `a, b, c`.
fn push_list(stmt: &mut Stmt, names: &[&'static str]) {
    for (i, name) in names.iter().enumerate() {
        stmt.push(if i == 0 { "" } else { ", " }).push(name);
    }
}

/// Reads a table in key order, `batch` rows at a time (keyset paging, so each batch is an index
/// range, however deep into the table).
pub struct Scan {
    table: Table,
    batch: usize,
    after: Option<Vec<Arg>>,
    done: bool,
}

impl Scan {
    pub fn new(table: Table, batch: usize) -> Scan {
        Scan {
            table,
            batch,
            after: None,
            done: false,
        }
    }

    /// The next batch; `None` at the end.
    pub async fn next(&mut self, conn: Conn<'_>) -> Result<Option<Vec<Vec<Arg>>>, sqlx::Error> {
        if self.done {
            return Ok(None);
        }
        let stmt = self.table.page(self.after.take(), self.batch);
        let rows = conn.fetch_args(stmt, &self.table.kinds()).await?;
        self.done = rows.len() < self.batch;
        self.after = rows.last().map(|row| self.table.key_of(row));
        Ok((!rows.is_empty()).then_some(rows))
    }
}

/// What a table holds, in brief: its row count and a SHA-256 over its rows, each rendered in a
/// canonical, backend-independent form and taken in sorted order. Equal data gives equal digests
/// on every backend.
#[derive(Debug, Default, Clone)]
pub struct Digester {
    rows: Vec<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    pub sha256: [u8; 32],
}

impl Digester {
    pub fn add(&mut self, rows: &[Vec<Arg>]) {
        let mut text = String::new();
        for row in rows {
            text.clear();
            for arg in row {
                canonical(arg, &mut text);
                text.push('\u{1f}');
            }
            self.rows.push(Sha256::digest(text.as_bytes()).into());
        }
    }

    pub fn finish(mut self) -> Digest {
        self.rows.sort_unstable();
        let mut hasher = Sha256::new();
        for row in &self.rows {
            hasher.update(row);
        }
        Digest {
            rows: self.rows.len() as u64,
            sha256: hasher.finalize().into(),
        }
    }
}

impl Digest {
    /// The digest of a whole table, read in one pass.
    pub async fn of(table: Table, tx: &mut Tx) -> Result<Digest, sqlx::Error> {
        let mut digester = Digester::default();
        let mut scan = Scan::new(table, SCAN_BATCH);
        while let Some(rows) = scan.next(tx.conn()).await? {
            digester.add(&rows);
        }
        Ok(digester.finish())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rows, sha256 ", self.rows)?;
        for byte in &self.sha256[..8] {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Rows per batch when scanning a table.
pub const SCAN_BATCH: usize = 5_000;

/// One value, rendered the same whichever backend it came from: type tag, then text.
fn canonical(arg: &Arg, out: &mut String) {
    use std::fmt::Write as _;
    match arg {
        Arg::Id(None) | Arg::Text(None) | Arg::Time(None) => out.push('N'),
        Arg::Id(Some(id)) => write!(out, "U{id}").expect("writing to a String"),
        Arg::Text(Some(text)) => write!(out, "S{}:{text}", text.len()).expect("writing"),
        Arg::Int(n) => write!(out, "I{n}").expect("writing to a String"),
        Arg::Bool(b) => out.push(if *b { 'T' } else { 'F' }),
        Arg::Time(Some(t)) => write!(out, "D{t}").expect("writing to a String"),
        Arg::Json(value) => {
            out.push('J');
            canonical_json(value, out);
        }
    }
}

/// JSON with object keys sorted at every level (PostgreSQL's JSONB and MySQL reorder keys;
/// SQLite keeps the text as written).
fn canonical_json(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::args;
    use serde_json::json;

    fn digest(rows: &[Vec<Arg>]) -> Digest {
        let mut digester = Digester::default();
        digester.add(rows);
        digester.finish()
    }

    #[test]
    fn digests_ignore_row_order_and_json_key_order() {
        let a = digest(&[
            args![1i64, json!({"a": 1, "b": [true, {"y": 2, "x": 1}]})],
            args![2i64, "two"],
        ]);
        let b = digest(&[
            args![2i64, "two"],
            args![1i64, json!({"b": [true, {"x": 1, "y": 2}], "a": 1})],
        ]);
        assert_eq!(a, b);
    }

    #[test]
    fn digests_tell_values_apart() {
        let base = digest(&[args!["ab", "c"]]);
        assert_ne!(base, digest(&[args!["a", "bc"]]), "text boundaries");
        assert_ne!(base, digest(&[args!["ab", None::<String>]]), "NULL");
        assert_ne!(
            digest(&[args![true]]),
            digest(&[args![1i64]]),
            "booleans are not integers"
        );
        assert_eq!(base.rows, 1);
    }
}
