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

use didhub_migrations::canonical;
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

/// What a table holds, in brief: its row count and a SHA-256 over its rows, each in the
/// canonical, backend-independent form ([`canonical`]) and taken in sorted order. Equal data
/// gives equal digests on every backend.
#[derive(Debug, Clone)]
pub struct Digester {
    /// The columns in name order (the canonical line's), each with its place in a row.
    columns: Vec<(&'static str, usize)>,
    rows: Vec<[u8; 32]>,
    /// The line being hashed, reused from row to row.
    line: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    pub sha256: [u8; 32],
}

impl Digester {
    /// A digester of `table`'s rows.
    pub fn of(table: Table) -> Digester {
        Digester::new(table.column_names())
    }

    /// A digester of rows of these columns, in this order.
    pub fn new(columns: Vec<&'static str>) -> Digester {
        let mut columns: Vec<(&'static str, usize)> = columns
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c, i))
            .collect();
        columns.sort_unstable();
        Digester {
            columns,
            rows: Vec::new(),
            line: String::new(),
        }
    }

    pub fn add(&mut self, rows: &[Vec<Arg>]) {
        for row in rows {
            let texts: Vec<Option<String>> = row.iter().map(canonical_text).collect();
            let cells = self
                .columns
                .iter()
                .filter_map(|&(column, i)| Some((column, texts.get(i)?.as_deref())));
            self.line.clear();
            canonical::write_row(cells, &mut self.line);
            self.rows.push(Sha256::digest(self.line.as_bytes()).into());
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
        let mut digester = Digester::of(table);
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

/// One value as canonical text ([`canonical`]); `None` is NULL.
fn canonical_text(arg: &Arg) -> Option<String> {
    match arg {
        Arg::Id(id) => id.map(|id| id.to_string()),
        Arg::Text(text) => text.clone(),
        Arg::Int(n) => Some(n.to_string()),
        Arg::Bool(b) => Some(canonical::boolean(*b)),
        Arg::Time(t) => t.map(|t| t.to_string()),
        Arg::Json(value) => Some(canonical::json(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::args;
    use serde_json::json;

    fn digest(rows: &[Vec<Arg>]) -> Digest {
        let mut digester = Digester::new(vec!["a", "b"]);
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
    fn a_digested_row_is_the_canonical_row_form() {
        let mut digester = Digester::new(vec!["b", "a", "c"]);
        digester.add(&[args![json!({"y": 1, "x": [true]}), true, None::<String>]]);
        let row: canonical::Row = [
            ("a".to_owned(), Some("true".to_owned())),
            ("b".to_owned(), Some(r#"{"x":[true],"y":1}"#.to_owned())),
            ("c".to_owned(), None),
        ]
        .into();
        let line: [u8; 32] = Sha256::digest(canonical::render(&row).as_bytes()).into();
        assert_eq!(digester.rows, [line]);
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
