//! The traffic a migration meets: on connections of their own, point reads by key, inserts and
//! updates against each table the migration touches, every operation timed.
//!
//! Each table gets a reader and a writer (inserts and updates in turn), each pausing
//! [`PAUSE`] between operations, so the machine is busy but not saturated and a blocked
//! operation starts within a few milliseconds of the lock that blocks it. An update writes a
//! column onto itself (`SET c = c`), which takes every lock a real update takes whatever the
//! column's type. Tasks stop when [`Running::stop`] is called, and are aborted if it is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use didhub_migrations::LockWaits;
use serde::Serialize;
use tokio::task::JoinSet;

use super::fill::Rows;
use super::session::{self, Session, literal};
use crate::backend::quote;
use crate::backend::{Backend, Pool};
use crate::schema::Table;

/// The pause between two operations of one task.
pub const PAUSE: Duration = Duration::from_millis(2);

/// Reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Read,
    Write,
}

/// One timed operation.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub kind: Kind,
    /// When it started, from the run's start.
    pub started: Duration,
    pub took: Duration,
    /// The database's refusal, if it refused for another reason than giving up a lock wait
    /// (an operation that waited until it gave up is timed like any other).
    pub error: Option<String>,
}

impl Op {
    pub fn ended(&self) -> Duration {
        self.started + self.took
    }
}

/// What the workload does to one table.
pub(crate) struct Target {
    /// The `WHERE` condition that finds each of some rows by key (none without a key).
    keys: Vec<String>,
    /// How inserts fill a row (none when a foreign key refers to a table without rows).
    rows: Option<Rows>,
    /// `SELECT <key> FROM t WHERE `: the key, not `*`, since sqlx's SQLite row reader
    /// panics when a table's columns change under a statement it prepared (`SELECT *`).
    read: String,
    /// The next row number an insert takes.
    next: AtomicU64,
    /// `UPDATE t SET c = c WHERE ` (none without a key).
    update: Option<String>,
}

impl Target {
    /// The workload on `name`: its keys are read now (up to `most` rows), inserts continue its
    /// generated rows after row `after`.
    pub(crate) async fn of(
        session: &mut Session,
        name: &str,
        table: &Table,
        rows: Option<Rows>,
        after: u64,
        most: u64,
    ) -> Result<Target, sqlx::Error> {
        let kind = session.kind();
        let key = key_columns(table);
        let mut keys = Vec::new();
        if !key.is_empty() {
            for row in session.rows_of(name, &key, most).await? {
                let parts: Vec<String> = key
                    .iter()
                    .zip(row)
                    .map(|(column, value)| match value {
                        Some(v) => format!("{} = {}", quote(kind, column), literal(kind, &v)),
                        None => format!("{} IS NULL", quote(kind, column)),
                    })
                    .collect();
                keys.push(parts.join(" AND "));
            }
        }
        let updated = table
            .columns
            .iter()
            .map(|c| &c.name)
            .find(|c| !key.contains(c))
            .or(key.first());
        let update = match (key.is_empty(), updated) {
            (false, Some(column)) => Some(format!(
                "UPDATE {} SET {c} = {c} WHERE ",
                quote(kind, name),
                c = quote(kind, column)
            )),
            _ => None,
        };
        let selected: Vec<String> = match key.is_empty() {
            true => vec!["1".to_owned()],
            false => key.iter().map(|c| quote(kind, c)).collect(),
        };
        let read = format!("SELECT {} FROM {}", selected.join(", "), quote(kind, name));
        Ok(Target {
            keys,
            rows,
            read,
            next: AtomicU64::new(after + 1),
            update,
        })
    }
}

/// The columns that find one row: the primary key, else the first unique index of plain
/// columns.
fn key_columns(table: &Table) -> Vec<String> {
    if !table.primary_key.is_empty() {
        return table.primary_key.clone();
    }
    table
        .indexes
        .values()
        .filter(|ix| ix.unique && ix.predicate.is_none())
        .find(|ix| {
            ix.columns
                .iter()
                .all(|c| table.columns.iter().any(|col| col.name == *c))
        })
        .map(|ix| ix.columns.clone())
        .unwrap_or_default()
}

/// A workload running until stopped.
pub(crate) struct Running {
    stop: Arc<AtomicBool>,
    tasks: JoinSet<Vec<Op>>,
}

/// Starts the reader and the writer of every target, on `pool` (which should hold two
/// connections a target), times counted from `start`.
pub(crate) fn start(pool: &Pool, targets: &[Arc<Target>], start: Instant) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for (n, target) in targets.iter().enumerate() {
        for kind in [Kind::Read, Kind::Write] {
            let (pool, target, stop) = (pool.clone(), target.clone(), stop.clone());
            let seed = 0x9e37_79b9_7f4a_7c15_u64 ^ ((n as u64) << 8 | kind as u64);
            tasks.spawn(run(pool, target, kind, stop, start, seed));
        }
    }
    Running { stop, tasks }
}

impl Running {
    /// Stops every task after its current operation; every operation they timed.
    pub(crate) async fn stop(mut self) -> Vec<Op> {
        self.stop.store(true, Ordering::SeqCst);
        let mut ops = Vec::new();
        while let Some(done) = self.tasks.join_next().await {
            if let Ok(mut done) = done {
                ops.append(&mut done);
            }
        }
        ops.sort_by_key(|op| op.started);
        ops
    }
}

async fn run(
    pool: Pool,
    target: Arc<Target>,
    kind: Kind,
    stop: Arc<AtomicBool>,
    start: Instant,
    mut seed: u64,
) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut insert = true;
    while !stop.load(Ordering::SeqCst) {
        // xorshift: a different key each time, the same sequence each run.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let key =
            (!target.keys.is_empty()).then(|| &target.keys[seed as usize % target.keys.len()]);
        let sql = match (kind, key) {
            (Kind::Read, Some(key)) => format!("{} WHERE {key}", target.read),
            (Kind::Read, None) => format!("{} LIMIT 1", target.read),
            (Kind::Write, key) => {
                let update = key.zip(target.update.as_deref());
                let rows = target.rows.as_ref().filter(|_| insert || update.is_none());
                match (rows, update) {
                    (Some(rows), _) => {
                        let i = target.next.fetch_add(1, Ordering::SeqCst);
                        rows.insert_sql(i, 1)
                    }
                    (None, Some((key, update))) => format!("{update}{key}"),
                    // Neither rows to insert nor a key to update by: no writes.
                    (None, None) => break,
                }
            }
        };
        insert = !insert;
        let started = start.elapsed();
        let result = session::run(&pool, &sql).await;
        let backend = pool.kind();
        ops.push(Op {
            kind,
            started,
            took: start.elapsed().saturating_sub(started),
            error: result
                .err()
                .filter(|e| !gave_up(backend, e))
                .map(|e| e.to_string()),
        });
        tokio::time::sleep(PAUSE).await;
    }
    ops
}

/// Whether a refusal is a lock wait given up (the operation was blocked, not wrong), as the
/// migrations' lock bound reads it.
fn gave_up(kind: Backend, error: &sqlx::Error) -> bool {
    match kind {
        Backend::Sqlite => <sqlx::SqliteConnection as LockWaits>::gave_up(error),
        Backend::Postgres => <sqlx::PgConnection as LockWaits>::gave_up(error),
        Backend::MySql => <sqlx::MySqlConnection as LockWaits>::gave_up(error),
    }
}
