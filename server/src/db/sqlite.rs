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
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::error::DatabaseError as _;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteError, SqliteJournalMode,
    SqlitePool, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::dialect::Dialect;
use super::error::ConnectError;
use super::held::{Held, exchange};
use super::writes::Writes;
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

    /// On the caller's thread when the connection's worker thread is idle, which it is between
    /// calls: handing the statement to sqlx's worker thread and the row back cost two thread
    /// wake-ups, several times what SQLite takes to find a row by key (docs/benchmarks.md).
    fn first_row<'c>(
        conn: &'c mut SqliteConnection,
        query: Query<'c, Sqlite, SqliteArguments>,
    ) -> impl Future<Output = Result<Option<SqliteRow>, sqlx::Error>> + Send + 'c {
        conn.fetch_optional_here(query)
    }

    /// `SQLITE_BUSY` or `SQLITE_LOCKED` (any extended code): another process kept the write lock
    /// past the busy timeout.
    fn unavailable(err: &dyn sqlx::error::DatabaseError) -> bool {
        const BUSY: i32 = 5;
        const LOCKED: i32 = 6;
        err.try_downcast_ref::<SqliteError>()
            .and_then(|e| e.code())
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, BUSY | LOCKED))
    }
}

/// The connection options of `url`: WAL, `synchronous=NORMAL`, a busy timeout of
/// `acquire_timeout`; the file's directory is made when missing.
pub(super) fn options(url: &str, pool: &PoolConfig) -> Result<SqliteConnectOptions, ConnectError> {
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
    Ok(options)
}

/// How often [`checkpoints`] copies new writes from the write-ahead log into the database file.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Checkpoints the write-ahead log every [`CHECKPOINT_EVERY`] when `writes` (the handle's write
/// counter) has moved or the last checkpoint could not copy everything, and once at the start;
/// passive, so that readers and writers go on. Ends when the last handle is gone or the pool is
/// closed.
pub(super) async fn checkpoints(pool: SqlitePool, writes: Weak<Writes>, limit: Duration) {
    let mut done = None;
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(now) = writes.upgrade().map(|w| w.count()) else {
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
        match super::conn::within(limit, checkpoint).await {
            Ok((_, log, copied)) if copied >= log => done = Some(now),
            // A reader still needs part of the log: the rest at the next tick.
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => tracing::warn!(%err, "cannot checkpoint the write-ahead log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::{Pin, pin};
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use sqlx::Connection;
    use sqlx::sqlite::SqliteLockingMode;

    use super::*;
    use crate::config::DatabaseConfig;
    use crate::db::{Db, Stmt};

    /// Polls `call` once: whether it answered without waiting for another thread.
    fn poll_once<F: Future>(call: Pin<&mut F>) -> Poll<F::Output> {
        call.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Runs `call` and counts the statements sqlx ran meanwhile on this thread: it logs each
    /// statement (target `sqlx::query`) on the thread that ran it, and only this thread's log
    /// is listened to here, not the connections' worker threads'.
    fn statements_here<T>(call: impl FnOnce() -> T) -> (T, usize) {
        #[derive(Clone, Default)]
        struct Log(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Log {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let out = tracing::subscriber::with_default(subscriber, call);
        let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
        (out, text.matches("sqlx::query").count())
    }

    /// Runs `call` to its end, counting the statements sqlx ran on this thread during its first
    /// poll, which is where a read on the caller's thread runs.
    async fn counting_here<F: Future>(mut call: Pin<&mut F>) -> (F::Output, usize) {
        let (first, here) = statements_here(|| poll_once(call.as_mut()));
        let out = match first {
            Poll::Ready(out) => out,
            Poll::Pending => call.await,
        };
        (out, here)
    }

    fn int(row: Result<Option<SqliteRow>, sqlx::Error>) -> i64 {
        row.unwrap().expect("a row").get(0)
    }

    /// A read by key through the store is answered in the call itself, on the caller's thread,
    /// rather than handed to the connection's worker thread and waited for. (The worker thread
    /// may still hold the connection for a moment after its last answer, or the checkpoint task
    /// hold it: a read that finds it so is finished and tried again, a few times at most.)
    #[tokio::test]
    async fn a_read_by_key_is_answered_on_the_callers_thread() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?max_connections=1",
            dir.path().join("db").display()
        );
        let db = Db::connect(&DatabaseConfig::from_url(&url).unwrap())
            .await
            .unwrap();
        for _ in 0..20 {
            db.conn().fetch_int(Stmt::new("SELECT 1")).await.unwrap();
            let read = pin!(
                db.conn()
                    .fetch_optional::<(i64,)>(Stmt::new("SELECT ?").bind(7i64))
            );
            let (row, here) = counting_here(read).await;
            assert_eq!(row.unwrap(), Some((7,)));
            if here > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("every read ran on the connection's worker thread");
    }

    /// A connection of its own on a new database file (not `sqlite::memory:`, whose shared
    /// cache keeps every read on the worker thread).
    async fn connect(dir: &tempfile::TempDir) -> SqliteConnection {
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("db"))
            .create_if_missing(true);
        SqliteConnection::connect_with(&options).await.unwrap()
    }

    /// A statement sent to the worker thread and not yet run (its caller went away before the
    /// answer, or a transaction was dropped and its rollback queued) runs before a read on the
    /// caller's thread would overtake it.
    #[tokio::test]
    async fn a_read_goes_behind_a_statement_sent_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&dir).await;
        sqlx::raw_sql("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        let count = "SELECT COUNT(*) FROM t";
        for n in 1..=20 {
            {
                let insert = pin!(sqlx::query("INSERT INTO t VALUES (1)").execute(&mut conn));
                // Sent to the worker; dropped before its answer.
                let _ = poll_once(insert);
            }
            let read = Sqlite::first_row(&mut conn, sqlx::query(count)).await;
            assert_eq!(int(read), n, "the read overtook the insert sent before it");
        }
        for _ in 0..20 {
            let mut tx = conn.begin().await.unwrap();
            sqlx::query("INSERT INTO t VALUES (2)")
                .execute(&mut *tx)
                .await
                .unwrap();
            // Dropped: its ROLLBACK is queued for the worker, not awaited.
            drop(tx);
            let read = Sqlite::first_row(&mut conn, sqlx::query(count)).await;
            assert_eq!(
                int(read),
                20,
                "the read overtook a dropped transaction's rollback"
            );
        }
    }

    /// On a connection with a shared cache, where SQLite waits for a locked table without a
    /// time limit, reads stay on the worker thread.
    #[tokio::test]
    async fn a_read_on_a_shared_cache_is_left_to_the_worker_thread() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        // Twenty reads, each after a pause in which the worker thread lets go of the connection.
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let read = pin!(Sqlite::first_row(&mut conn, sqlx::query("SELECT 3")));
            let (row, here) = counting_here(read).await;
            assert_eq!(int(row), 3);
            assert_eq!(here, 0, "the read ran on the caller's thread");
        }
    }

    /// The connection's busy timeout, as SQLite reports it.
    async fn busy_timeout_ms(conn: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(conn)
            .await
            .unwrap()
    }

    /// A read that finds the database locked by another connection is not left to wait for the
    /// lock on the caller's thread (which would hold up every task of that thread for up to the
    /// busy timeout); the connection's worker thread waits instead, and reads once it is free,
    /// with the statement's arguments.
    #[tokio::test]
    async fn a_read_that_finds_the_database_locked_waits_on_the_worker_thread() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("db"))
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(60));
        let mut reader = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::raw_sql("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (5)")
            .execute(&mut reader)
            .await
            .unwrap();
        let by_key = || sqlx::query("SELECT x FROM t WHERE x = ?").bind(5);
        // Unlocked, the read is answered on the caller's thread (once the worker thread has let
        // go of the connection after its last answer).
        let mut answered_here = false;
        for _ in 0..20 {
            let unlocked = pin!(Sqlite::first_row(&mut reader, by_key()));
            let (row, here) = counting_here(unlocked).await;
            assert_eq!(int(row), 5);
            if here > 0 {
                answered_here = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(answered_here, "every read ran on the worker thread");
        // The read on the caller's thread turned the busy timeout off while it ran (the patch's
        // `unsafe` calls), and set it back to the connection's own afterwards.
        assert_eq!(busy_timeout_ms(&mut reader).await, 60_000);

        // Another connection, on a thread of its own, locks the whole database until told to
        // let go, or for two seconds at most.
        let (locked, is_locked) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let owner = options.clone().locking_mode(SqliteLockingMode::Exclusive);
        let locker = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut owner = SqliteConnection::connect_with(&owner).await.unwrap();
                sqlx::raw_sql("BEGIN EXCLUSIVE")
                    .execute(&mut owner)
                    .await
                    .unwrap();
                locked.send(()).unwrap();
                let _ = released.recv_timeout(Duration::from_secs(2));
                sqlx::raw_sql("COMMIT").execute(&mut owner).await.unwrap();
            })
        });
        is_locked.recv().unwrap();

        {
            let mut read = pin!(Sqlite::first_row(&mut reader, by_key()));
            let first = poll_once(read.as_mut());
            let _ = release.send(());
            assert!(
                first.is_pending(),
                "the read waited for the lock on the caller's thread"
            );
            assert_eq!(int(read.await), 5);
        }
        locker.join().unwrap();
        assert_eq!(busy_timeout_ms(&mut reader).await, 60_000);
    }
}
