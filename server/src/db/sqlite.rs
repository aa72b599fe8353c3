//! SQLite: a file, WAL, a busy timeout, and `BEGIN IMMEDIATE` for writes, one writer at a time.
//!
//! In WAL mode readers never block the writer, and a write transaction that starts with
//! `BEGIN IMMEDIATE` takes the write lock up front: a second writer then waits on the busy
//! timeout instead of failing with "database is locked" when its read lock cannot be upgraded.
//! SQLite's busy handler waits by sleeping (up to 100 ms at a time) while holding a pooled
//! connection, so under contention writers sleep past the moment the lock frees and crowd
//! readers out of the pool. Writers of one process therefore first queue in [`Writers`], in
//! order, without a connection; the busy timeout remains for other processes on the same file.
//!
//! SQLite copies the write-ahead log back into the database file (a checkpoint) by itself, inside
//! the COMMIT that crosses 1000 pages of log: that one writer then waits for the copy, and every
//! writer queued behind it. Here no connection checkpoints on commit; [`checkpoints`] does it in
//! the background instead, once a second while there are new writes, without blocking writers.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::error::DatabaseError as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteError, SqliteJournalMode, SqlitePool, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::held::{Held, exchange};
use super::{ConnectError, Dialect, pool_options};
use crate::config::PoolConfig;
use didhub_migrations::Backend;

/// The queue of this process's writers (first come, first served), and how long a writer waits
/// for its turn.
#[derive(Clone, Debug)]
pub struct Writers {
    queue: Arc<Mutex<()>>,
    patience: Duration,
}

/// A writer's turn: held for the life of its transaction.
#[derive(Debug)]
pub struct Turn {
    _guard: OwnedMutexGuard<()>,
}

impl Writers {
    /// Writers who wait up to `patience` (the pool's `acquire_timeout`) for their turn.
    pub(super) fn new(patience: Duration) -> Writers {
        Writers {
            queue: Arc::default(),
            patience,
        }
    }

    /// Waits for this writer's turn, as long as `patience`; then fails as a pool timeout would
    /// (503 to an HTTP client).
    pub(super) async fn wait(&self) -> Result<Turn, sqlx::Error> {
        tokio::time::timeout(self.patience, self.queue.clone().lock_owned())
            .await
            .map(|guard| Turn { _guard: guard })
            .map_err(|_| sqlx::Error::PoolTimedOut)
    }
}

impl Dialect for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    /// Deferred: the snapshot is taken at the first read, and WAL keeps it while writers go on.
    const BEGIN_READ: &'static str = "BEGIN";
    const EXPLAIN: &'static str = "EXPLAIN QUERY PLAN ";

    fn plan_text(rows: Vec<SqliteRow>) -> Result<String, sqlx::Error> {
        let details: Result<Vec<String>, _> = rows.iter().map(|r| r.try_get("detail")).collect();
        Ok(details?.join("\n"))
    }
}

/// `SQLITE_BUSY` or `SQLITE_LOCKED` (any extended code): another process kept the write lock
/// past the busy timeout.
pub(super) fn unavailable(err: &dyn sqlx::error::DatabaseError) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    err.try_downcast_ref::<SqliteError>()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, BUSY | LOCKED))
}

pub(super) async fn connect(url: &str, pool: &PoolConfig) -> Result<SqlitePool, ConnectError> {
    let error = |source| ConnectError::Connect {
        backend: Backend::Sqlite,
        source,
    };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(error)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(pool.acquire_timeout)
        .foreign_keys(true)
        // Checkpoints are [`checkpoints`]' work.
        .pragma("wal_autocheckpoint", "0");
    if let Some(dir) = options
        .get_filename()
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| ConnectError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
    }
    pool_options(pool)
        .connect_with(options)
        .await
        .map_err(error)
}

/// How often [`checkpoints`] copies new writes from the write-ahead log into the database file.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Checkpoints the write-ahead log every [`CHECKPOINT_EVERY`] when `writes` (the handle's write
/// counter) has moved or the last checkpoint could not copy everything, and once at the start;
/// passive, so that readers and writers go on. Ends when the last handle is gone or the pool is
/// closed.
pub(super) async fn checkpoints(pool: SqlitePool, writes: Weak<AtomicU64>, limit: Duration) {
    let mut done = None;
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(now) = writes.upgrade().map(|w| w.load(Ordering::SeqCst)) else {
            return;
        };
        if done == Some(now) {
            continue;
        }
        // (busy, frames in the log, frames copied into the database file)
        let checkpoint = async {
            let held = &mut Held::acquire(&pool).await?;
            exchange!(held, |conn| {
                sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(conn)
                    .await
            })
        };
        match super::within(limit, checkpoint).await {
            Ok((_, log, copied)) if copied >= log => done = Some(now),
            // A reader still needs part of the log: the rest at the next tick.
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => tracing::warn!(%err, "cannot checkpoint the write-ahead log"),
        }
    }
}
