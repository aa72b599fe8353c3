//! SQLite: a file, WAL, a busy timeout, and `BEGIN IMMEDIATE` for writes.
//!
//! In WAL mode readers never block the writer, and a write transaction that starts with
//! `BEGIN IMMEDIATE` takes the write lock up front: a second writer then waits on the busy
//! timeout instead of failing with "database is locked" when its read lock cannot be upgraded.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite};

use super::{ConnectError, Dialect, pool_options};
use crate::config::PoolConfig;
use didhub_migrations::Backend;

/// How long a writer waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl Dialect for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const EXPLAIN: &'static str = "EXPLAIN QUERY PLAN ";

    fn plan_text(rows: Vec<SqliteRow>) -> Result<String, sqlx::Error> {
        let details: Result<Vec<String>, _> = rows.iter().map(|r| r.try_get("detail")).collect();
        Ok(details?.join("\n"))
    }
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
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
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
