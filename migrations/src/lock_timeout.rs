//! Migrations under a lock timeout.
//!
//! A migration run at startup on a busy database waits for its table's lock — an `ALTER TABLE`
//! waits behind any open transaction that has read the table — and on PostgreSQL and MySQL every
//! query on that table then queues behind the waiting migration: an outage with no error and no
//! end. So every migration here runs with a bound on lock waits, set on the one connection that
//! runs them and put back as it was afterwards:
//!
//! | backend | setting | what it bounds |
//! | --- | --- | --- |
//! | PostgreSQL | `lock_timeout` | every lock wait (55P03 `lock_not_available`) |
//! | MySQL, MariaDB | `lock_wait_timeout`, `innodb_lock_wait_timeout` (whole seconds) | metadata locks, which DDL waits for; row locks (both 1205 `ER_LOCK_WAIT_TIMEOUT`) |
//! | SQLite | the busy timeout | the wait for the database's write lock (`SQLITE_BUSY`, "database is locked") |
//!
//! A migration that gives up fails with [`LockTimedOut`], which names the file, the tables its
//! statements lock (the database's message names none: see [`crate::sql`]), the backend,
//! the setting, what became of the migration and what to do.
//!
//! sqlx's migration lock (an advisory lock that keeps two processes from migrating one database
//! at once) is taken before the bound is set: a second server still waits for the first one's
//! migrations, however long they take, and every wait inside them is bounded.

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Duration;

use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::mysql::MySqlDatabaseError;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Database, MySqlConnection, PgConnection, Pool, SqliteConnection};

use crate::sql::{self, LockTarget};
use crate::{Backend, MigrationFailed, file_name};

/// How long one statement of a migration may wait for a lock, and the setting that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTimeout {
    limit: Duration,
    setting: Option<&'static str>,
}

impl LockTimeout {
    /// What the server and the harness use unless told otherwise.
    pub const DEFAULT: Duration = Duration::from_secs(5);

    /// Waits of at most `limit`. MySQL counts whole seconds: it waits `limit` rounded up.
    pub const fn new(limit: Duration) -> LockTimeout {
        LockTimeout {
            limit,
            setting: None,
        }
    }

    /// Names the setting that configures it (`database.migration_lock_timeout`), which the
    /// error then tells to raise.
    pub const fn set_by(self, setting: &'static str) -> LockTimeout {
        LockTimeout {
            setting: Some(setting),
            ..self
        }
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    fn millis(&self) -> u128 {
        self.limit.as_millis().max(1)
    }

    fn seconds(&self) -> u64 {
        self.limit.as_secs() + u64::from(self.limit.subsec_nanos() > 0)
    }
}

impl Default for LockTimeout {
    fn default() -> Self {
        LockTimeout::new(LockTimeout::DEFAULT)
    }
}

/// Which way to migrate, and to which version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Apply every migration up to and including the version (`i64::MAX` for all).
    Up(i64),
    /// Revert every applied migration newer than the version (0 for all).
    Down(i64),
}

impl Direction {
    fn is_down(self) -> bool {
        matches!(self, Direction::Down(_))
    }
}

/// What each backend answers about bounding lock waits, implemented for the three sqlx
/// connections. The policy — when to set it, what to report — is [`migrate`]'s.
pub trait LockWaits: Migrate + Send + Sized + private::Sealed {
    const BACKEND: Backend;

    /// The statement that bounds every lock wait of the session by `timeout`.
    fn bound(timeout: &LockTimeout) -> String;

    /// The statement that gives the session back its current bound, read now.
    fn current_bound(&mut self) -> impl Future<Output = Result<String, sqlx::Error>> + Send;

    /// Whether `error` is this backend giving up a lock wait.
    fn gave_up(error: &sqlx::Error) -> bool;

    /// Runs SQL as is.
    fn run_sql(&mut self, sql: String) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

mod private {
    pub trait Sealed {}
    impl Sealed for sqlx::SqliteConnection {}
    impl Sealed for sqlx::PgConnection {}
    impl Sealed for sqlx::MySqlConnection {}
}

/// `run_sql`, the same on every driver.
macro_rules! same_on_every_driver {
    () => {
        async fn run_sql(&mut self, sql: String) -> Result<(), sqlx::Error> {
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut *self)
                .await
                .map(drop)
        }
    };
}

impl LockWaits for PgConnection {
    const BACKEND: Backend = Backend::Postgres;

    fn bound(timeout: &LockTimeout) -> String {
        format!("SET lock_timeout = {}", timeout.millis())
    }

    async fn current_bound(&mut self) -> Result<String, sqlx::Error> {
        let value: String = sqlx::query_scalar("SELECT current_setting('lock_timeout')")
            .fetch_one(&mut *self)
            .await?;
        Ok(format!(
            "SET lock_timeout = '{}'",
            value.replace('\'', "''")
        ))
    }

    /// SQLSTATE 55P03, `lock_not_available`.
    fn gave_up(error: &sqlx::Error) -> bool {
        error
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code == "55P03")
    }

    same_on_every_driver!();
}

impl LockWaits for MySqlConnection {
    const BACKEND: Backend = Backend::MySql;

    fn bound(timeout: &LockTimeout) -> String {
        let seconds = timeout.seconds().max(1);
        format!("SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}")
    }

    async fn current_bound(&mut self) -> Result<String, sqlx::Error> {
        let (metadata, rows): (i64, i64) = sqlx::query_as(
            "SELECT CAST(@@SESSION.lock_wait_timeout AS SIGNED), \
             CAST(@@SESSION.innodb_lock_wait_timeout AS SIGNED)",
        )
        .fetch_one(&mut *self)
        .await?;
        Ok(format!(
            "SET SESSION lock_wait_timeout = {metadata}, innodb_lock_wait_timeout = {rows}"
        ))
    }

    /// ER_LOCK_WAIT_TIMEOUT (1205), for a metadata lock and a row lock alike, on MySQL and
    /// MariaDB.
    fn gave_up(error: &sqlx::Error) -> bool {
        error
            .as_database_error()
            .and_then(|e| e.try_downcast_ref::<MySqlDatabaseError>())
            .is_some_and(|e| e.number() == 1205)
    }

    same_on_every_driver!();
}

impl LockWaits for SqliteConnection {
    const BACKEND: Backend = Backend::Sqlite;

    fn bound(timeout: &LockTimeout) -> String {
        format!("PRAGMA busy_timeout = {}", timeout.millis())
    }

    async fn current_bound(&mut self) -> Result<String, sqlx::Error> {
        let millis: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *self)
            .await?;
        Ok(format!("PRAGMA busy_timeout = {millis}"))
    }

    /// SQLITE_BUSY (5) and its extended codes: the busy timeout passed, or a snapshot that
    /// cannot be upgraded to write.
    fn gave_up(error: &sqlx::Error) -> bool {
        const BUSY: i32 = 5;
        error
            .as_database_error()
            .and_then(|e| e.code())
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == BUSY)
    }

    same_on_every_driver!();
}

/// Migrates with every lock wait bounded by `timeout`, on one connection of `pool`: takes sqlx's
/// migration lock (waiting for another process's migrations as long as they take), sets the
/// bound, runs `migrator`, then gives the connection its own bound back and releases the lock.
/// A connection whose bound cannot be put back is closed, never returned to the pool (so is one
/// abandoned half way, when the future is dropped).
///
/// A migration that waits longer than `timeout` for a lock fails with
/// [`MigrationFailed::LockTimeout`]; every other failure is [`MigrationFailed::Error`], as
/// sqlx reports it.
pub async fn migrate<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
    direction: Direction,
    timeout: LockTimeout,
) -> Result<(), MigrationFailed>
where
    DB: Database,
    DB::Connection: LockWaits,
{
    let backend = <DB::Connection as LockWaits>::BACKEND;
    let failed = |e: MigrateError| MigrationFailed::error(backend, migrator, direction, e);
    let mut session = Session(Some(pool.acquire().await.map_err(|e| failed(e.into()))?));
    let conn: &mut DB::Connection = session.conn();
    if migrator.locking {
        conn.lock().await.map_err(failed)?;
    }
    let result = bounded(conn, migrator, direction, timeout).await;
    let restored = match &result {
        Ok(restore) | Err((Some(restore), _)) => conn.run_sql(restore.clone()).await.is_ok(),
        Err((None, _)) => false,
    };
    let unlocked = !migrator.locking || conn.unlock().await.is_ok();
    if restored && unlocked {
        session.release();
    }
    result.map(drop).map_err(|(_, e)| e)
}

/// The part of [`migrate`] under the bound: returns the statement that removes it (when it was
/// read) with the outcome.
async fn bounded<C: LockWaits>(
    conn: &mut C,
    migrator: &Migrator,
    direction: Direction,
    timeout: LockTimeout,
) -> Result<String, (Option<String>, MigrationFailed)> {
    let backend = C::BACKEND;
    let failed = |e: sqlx::Error| MigrationFailed::error(backend, migrator, direction, e.into());
    let restore = conn.current_bound().await.map_err(|e| (None, failed(e)))?;
    let give_back = |e| (Some(restore.clone()), e);
    conn.run_sql(C::bound(&timeout))
        .await
        .map_err(|e| give_back(failed(e)))?;
    // The lock is held already: sqlx must not wait for it again under the bound.
    let unlocked = Migrator {
        migrations: Cow::Owned(migrator.migrations.to_vec()),
        locking: false,
        ignore_missing: migrator.ignore_missing,
        no_tx: migrator.no_tx,
        table_name: migrator.table_name.clone(),
        create_schemas: migrator.create_schemas.clone(),
    };
    let migrated = match direction {
        Direction::Up(to) => unlocked.run_direct(Some(to), conn, false).await,
        Direction::Down(to) => undo(&unlocked, conn, to).await,
    };
    match migrated {
        Ok(()) => Ok(restore),
        Err(e) => Err(give_back(
            explain(conn, migrator, direction, timeout, e).await,
        )),
    }
}

/// sqlx's `Migrator::undo` on a connection, as `Migrator::run_direct` is its `run_to`: `undo`
/// takes an `Acquire`, and the compiler cannot prove its future `Send` for a connection
/// borrowed here ("implementation of `Acquire` is not general enough"). The migration lock is
/// the caller's.
async fn undo<C: Migrate>(
    migrator: &Migrator,
    conn: &mut C,
    target: i64,
) -> Result<(), MigrateError> {
    let table = &migrator.table_name;
    conn.ensure_migrations_table(table).await?;
    if let Some(version) = conn.dirty_version(table).await? {
        return Err(MigrateError::Dirty(version));
    }
    let applied: HashSet<i64> = conn
        .list_applied_migrations(table)
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    if !migrator.ignore_missing
        && let Some(missing) = applied.iter().find(|v| !migrator.version_exists(**v))
    {
        return Err(MigrateError::VersionMissing(*missing));
    }
    for migration in migrator
        .iter()
        .rev()
        .filter(|m| m.migration_type.is_down_migration())
        .filter(|m| applied.contains(&m.version) && m.version > target)
    {
        conn.revert(table, migration).await?;
    }
    Ok(())
}

/// The connection that runs the migrations: it goes back to the pool only when released, and
/// is closed otherwise.
struct Session<DB: Database>(Option<PoolConnection<DB>>);

impl<DB: Database> Session<DB> {
    fn conn(&mut self) -> &mut DB::Connection {
        self.0
            .as_mut()
            .expect("the session's connection is held until it ends")
    }

    fn release(mut self) {
        drop(self.0.take());
    }
}

impl<DB: Database> Drop for Session<DB> {
    fn drop(&mut self) {
        if let Some(mut conn) = self.0.take() {
            conn.close_on_drop();
        }
    }
}

/// The error for a failed migration: [`LockTimedOut`] when the database gave up a lock wait.
async fn explain<C: LockWaits>(
    conn: &mut C,
    migrator: &Migrator,
    direction: Direction,
    timeout: LockTimeout,
    error: MigrateError,
) -> MigrationFailed {
    let backend = C::BACKEND;
    let (reported, source) = match error {
        MigrateError::ExecuteMigration(e, version) if C::gave_up(&e) => (Some(version), e),
        MigrateError::Execute(e) if C::gave_up(&e) => (None, e),
        other => return MigrationFailed::error(backend, migrator, direction, other),
    };
    // On MySQL a migration that ran DDL is recorded before it runs (success = false): that
    // record says which one it was where sqlx does not (a revert), and whether it is dirty.
    let dirty = match backend {
        Backend::MySql => conn
            .dirty_version(&migrator.table_name)
            .await
            .ok()
            .flatten(),
        Backend::Sqlite | Backend::Postgres => None,
    };
    let version = reported.or(dirty.filter(|_| direction.is_down()));
    let migration = version.and_then(|v| {
        migrator
            .iter()
            .find(|m| m.version == v && m.migration_type.is_down_migration() == direction.is_down())
    });
    let Some(migration) = migration else {
        // Not a migration's own statement: sqlx's bookkeeping in its history table.
        return LockTimedOut {
            backend,
            version,
            file: None,
            targets: vec![LockTarget {
                table: migrator.table_name.to_string(),
                statements: Vec::new(),
            }],
            timeout,
            outcome: Outcome::NotStarted,
            source,
        }
        .into();
    };
    // A file sqlparser cannot split names no statements; the message then says less.
    let statements = sql::split(migration.sql.as_str(), backend)
        .map(|script| script.statements)
        .unwrap_or_default();
    let outcome = match backend {
        Backend::MySql if dirty != Some(migration.version) => Outcome::RolledBack,
        // One statement that waited for its lock changed nothing: the record sqlx left is
        // the only trace, and without it starting again simply runs the migration again.
        Backend::MySql
            if reported.is_some()
                && statements.len() == 1
                && conn
                    .run_sql(format!(
                        "DELETE FROM {} WHERE version = {} AND success = FALSE",
                        migrator.table_name, migration.version
                    ))
                    .await
                    .is_ok() =>
        {
            Outcome::Unrecorded
        }
        Backend::MySql => Outcome::Dirty,
        Backend::Sqlite | Backend::Postgres if migration.no_tx => Outcome::OutsideTransaction,
        Backend::Sqlite | Backend::Postgres => Outcome::RolledBack,
    };
    LockTimedOut {
        backend,
        version: Some(migration.version),
        file: Some(file_name(migration)),
        targets: sql::lock_targets(&statements, backend),
        timeout,
        outcome,
        source,
    }
    .into()
}

/// What became of a migration that gave up waiting for a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It had not started: the wait was in sqlx's bookkeeping.
    NotStarted,
    /// Its transaction was rolled back: nothing of it is applied.
    RolledBack,
    /// MySQL: its one statement never started, and the record sqlx had made of it was removed.
    Unrecorded,
    /// MySQL: statements before the one that waited may have committed; it is recorded as
    /// dirty.
    Dirty,
    /// It runs outside a transaction (`-- no-transaction`): statements before the one that
    /// waited stay applied.
    OutsideTransaction,
}

/// A migration that waited for a lock longer than the lock timeout, and gave up.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct LockTimedOut {
    pub backend: Backend,
    pub version: Option<i64>,
    /// The file that waited; `None` when the wait was in sqlx's bookkeeping.
    pub file: Option<String>,
    /// The tables the file's statements lock: one of them is held by someone else.
    pub targets: Vec<LockTarget>,
    pub timeout: LockTimeout,
    pub outcome: Outcome,
    #[source]
    pub source: sqlx::Error,
}

impl LockTimedOut {
    /// The tables waited for, as the file names them.
    pub fn tables(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.table.as_str()).collect()
    }

    fn describe(&self) -> String {
        let what = match (&self.file, self.version) {
            (Some(file), Some(v)) => format!("migration {file} (version {v})"),
            _ => "the migrator".to_owned(),
        };
        format!("{}: {what} {}", self.backend, self.reason())
    }

    /// The message without the backend and the file, for a caller that names them itself:
    /// `gave up waiting for a lock after 5s …`.
    pub fn reason(&self) -> String {
        let limit = self.timeout.limit;
        let setting = self
            .timeout
            .setting
            .map(|s| format!(" ({s} = {limit:?})"))
            .unwrap_or_default();
        let holder = match self.backend {
            Backend::Postgres => "another session (pg_locks and pg_stat_activity show which)",
            Backend::MySql => {
                "another connection (SHOW PROCESSLIST shows which; \
                 performance_schema.metadata_locks which lock)"
            }
            Backend::Sqlite => {
                "another connection: SQLite locks the whole file for writing, and a write \
                 transaction elsewhere holds it"
            }
        };
        let waits = self.waits();
        let outcome = match self.outcome {
            Outcome::NotStarted => "No migration was applied.".to_owned(),
            Outcome::RolledBack => "It was rolled back: nothing of it is applied.".to_owned(),
            Outcome::Unrecorded => "Nothing of it is applied (its one statement never ran), \
                 and the record sqlx had made of it is removed."
                .to_owned(),
            Outcome::Dirty => format!(
                "MySQL commits each DDL statement on its own: any statements of {} before the \
                 one that waited are applied, and it is recorded as dirty; starting again \
                 refuses it and says how to repair it.",
                self.file.as_deref().unwrap_or("the migration")
            ),
            Outcome::OutsideTransaction => "It runs outside a transaction (-- no-transaction): \
                 the statements before the one that waited stay applied. A PostgreSQL CREATE \
                 INDEX CONCURRENTLY that gave up leaves an invalid index: drop it before trying \
                 again."
                .to_owned(),
        };
        let raise = self
            .timeout
            .setting
            .map(|s| format!(", or raise {s} to wait longer"))
            .unwrap_or_default();
        let said = self
            .source
            .as_database_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_else(|| self.source.to_string());
        format!(
            "gave up waiting for a lock after {limit:?}{setting}: {waits}, held by {holder}. \
             {outcome} Try again once that lock is released{raise}. (The database said: {said})"
        )
    }

    fn waits(&self) -> String {
        let target = |t: &LockTarget| {
            let lines: Vec<String> = t
                .statements
                .iter()
                .map(|(line, text)| format!("line {line}: {text}"))
                .collect();
            if lines.is_empty() {
                t.table.clone()
            } else {
                format!("{} ({})", t.table, lines.join("; "))
            }
        };
        match self.targets.as_slice() {
            [] => "it waited for a table its statements name".to_owned(),
            [one] => format!("it waited for {}", target(one)),
            several => format!(
                "it waited for one of {}",
                several.iter().map(target).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}
