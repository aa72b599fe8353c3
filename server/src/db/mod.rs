//! Database access on any of the three backends, written once.
//!
//! sqlx's `AnyPool` cannot carry UUIDs, timestamps or JSON, so the server holds the backend's
//! native pool ([`Db`]) and every query is a [`Stmt`]: SQL with `?` placeholders plus typed
//! arguments ([`Arg`]). Executing a statement dispatches to the native driver, where the
//! placeholders are rewritten for the dialect and the arguments encoded with the dialect's types
//! ([`types`]). The queries themselves (in `crate::store`) are written once; where a concept
//! must be spelled differently for an index to serve it, a [`Spelling`] holds the three spellings
//! side by side.
//!
//! What differs per backend lives in one module each — [`sqlite`], [`postgres`], [`mysql`] — behind
//! the small [`Dialect`] trait: how to connect, how to spell placeholders, and how a write
//! transaction begins (`BEGIN IMMEDIATE` on SQLite, so concurrent writers never fail with
//! "database is locked" when a read lock would need upgrading; they also queue in the process,
//! see [`sqlite::Writers`]). A request's change goes through [`Db::write`], which on SQLite
//! commits the writes waiting at the same moment together ([`group`]).

mod group;
mod held;
mod mysql;
mod postgres;
mod sqlite;
pub mod types;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use didhub_migrations::{Backend, LockTimeout, MigrationFailed, PreflightFailed};
use sqlx::error::BoxDynError;
use sqlx::mysql::MySqlRow;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgRow;
use sqlx::query::Query;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::{
    Arguments, AssertSqlSafe, Database, Encode, Executor, FromRow, MySql, MySqlPool, PgPool,
    Postgres, Sqlite, SqlitePool, Type,
};

pub use group::{Write, Written};
pub use types::{Id, Timestamp};

use held::{Held, exchange};

use crate::config::{DatabaseConfig, PoolConfig};
use crate::progress::Progress;

/// What a backend module answers.
trait Dialect: Database {
    const BACKEND: Backend;

    /// The statement that opens a transaction that will write.
    const BEGIN_WRITE: &'static str = "BEGIN";

    /// The statement that opens a read-only transaction whose reads all see one snapshot.
    const BEGIN_READ: &'static str;

    /// What turns a query into a request for its plan.
    const EXPLAIN: &'static str;

    /// Rewrites `?` placeholders into the dialect's own form.
    fn placeholders(sql: &str) -> Cow<'_, str> {
        Cow::Borrowed(sql)
    }

    /// The plan as text: the JSON document (PostgreSQL, MySQL) or the plan lines (SQLite).
    fn plan_text(rows: Vec<Self::Row>) -> Result<String, sqlx::Error>;

    /// The first row `query` answers: what [`Conn::fetch_optional`] sends its statements,
    /// which find rows by key, through.
    fn first_row<'c>(
        conn: &'c mut Self::Connection,
        query: Query<'c, Self, Self::Arguments>,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + 'c;
}

/// A connection pool on one backend, and how long a database call may go unanswered.
///
/// Every call — a statement, BEGIN, COMMIT — is bounded by `query_timeout` (BEGIN also by the
/// time to get a connection, `acquire_timeout`). A database that stops answering (paused, cut off
/// by the network) then makes requests fail as unavailable (503) instead of hanging; the
/// abandoned connection is closed rather than reused ([`held`]), and an abandoned transaction
/// never commits.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    limits: Limits,
    /// Writes committed through this handle (and its clones) so far: see [`Db::writes`].
    writes: Arc<AtomicU64>,
    /// On SQLite, where [`Db::write`] queues its writes to be committed in groups.
    group: Option<group::Queue>,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool, sqlite::Writers),
    Postgres(PgPool),
    MySql(MySqlPool),
}

#[derive(Clone, Copy, Debug)]
struct Limits {
    acquire: Duration,
    query: Duration,
    /// How long a migration's statement may wait for a lock.
    migration_lock: LockTimeout,
}

/// An open transaction. Dropped without [`Tx::commit`] or [`Tx::rollback`] (a request cut off,
/// an early return), its connection is closed, which rolls it back.
pub struct Tx {
    inner: TxInner,
    query_timeout: Duration,
    /// The counter a write transaction's commit advances ([`Db::writes`]).
    writes: Option<Arc<AtomicU64>>,
}

enum TxInner {
    /// On SQLite a write transaction holds the writers' turn until it ends.
    Sqlite(Held<Sqlite>, Option<sqlite::Turn>),
    Postgres(Held<Postgres>),
    MySql(Held<MySql>),
}

/// Whether `err` means the database cannot serve right now — it does not answer, is shutting
/// down or restarting, speaks garbage, has no connection left, or kept a lock past the timeout —
/// rather than that
/// the request or the server is wrong. The API answers these with 503; each backend module knows
/// its own codes.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        // What a half-open port answers while a server stops or starts (a proxy that accepts and
        // hangs up: "unexpected response from SSLRequest").
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            sqlite::unavailable(db.as_ref())
                || postgres::unavailable(db.as_ref())
                || mysql::unavailable(db.as_ref())
        }
        _ => false,
    }
}

/// The setting that bounds a migration's lock waits, as a migration that gave up names it.
pub const MIGRATION_LOCK_TIMEOUT: &str = "database.migration_lock_timeout";

/// Why [`Db::migrate`] could not bring the schema up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    History(#[from] PreflightFailed),
    #[error(transparent)]
    Migration(#[from] MigrationFailed),
}

/// Failing to get a usable database at startup.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    UnknownScheme(#[from] didhub_migrations::UnknownScheme),
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        backend: Backend,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot connect to the {backend} database: no answer within {0:?} (connect_timeout)", .after)]
    Timeout { backend: Backend, after: Duration },
    #[error("cannot prepare the database directory {path}: {source}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A row type every backend can decode.
pub trait Record:
    for<'r> FromRow<'r, SqliteRow>
    + for<'r> FromRow<'r, PgRow>
    + for<'r> FromRow<'r, MySqlRow>
    + Send
    + Unpin
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow>
        + for<'r> FromRow<'r, PgRow>
        + for<'r> FromRow<'r, MySqlRow>
        + Send
        + Unpin
{
}

/// A statement argument. Nullable variants keep their type, because PostgreSQL needs to know
/// that a NULL is a UUID or a timestamp.
#[derive(Debug, Clone)]
pub enum Arg {
    Id(Option<Id>),
    Text(Option<String>),
    Int(i64),
    Bool(bool),
    Time(Option<Timestamp>),
    Json(serde_json::Value),
}

/// The kind of value a column holds: how to read it when a row's shape is known only at run
/// time ([`Conn::fetch_args`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Id,
    Text,
    Int,
    Bool,
    Time,
    Json,
}

/// A row of arguments: `args![id, name, true]`.
#[macro_export]
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::db::Arg::from($value)),*]
    };
}
/// Also here, beside [`Arg`]: the crate's own modules take it from `db`.
pub use crate::args;

macro_rules! arg_from {
    ($($t:ty => $variant:ident($conv:expr)),* $(,)?) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Self {
                Arg::$variant($conv(v))
            }
        }
    )*};
}

arg_from! {
    Id => Id(Some),
    Option<Id> => Id(|v| v),
    String => Text(Some),
    &str => Text(|v: &str| Some(v.to_owned())),
    Option<String> => Text(|v| v),
    i64 => Int(|v| v),
    bool => Bool(|v| v),
    Timestamp => Time(Some),
    Option<Timestamp> => Time(|v| v),
    serde_json::Value => Json(|v| v),
}

/// SQL with `?` placeholders and its arguments.
///
/// SQL text only ever comes from `&'static str` fragments, so user input can reach the database
/// only as a bound argument.
#[derive(Debug, Clone, Default)]
pub struct Stmt {
    parts: Vec<Part>,
    args: Vec<Arg>,
}

/// One concept that the backends spell differently, such as a case-insensitive match that an
/// index can serve. Each spelling is a fragment with the same placeholders.
#[derive(Debug, Clone, Copy)]
pub struct Spelling {
    pub sqlite: &'static str,
    pub postgres: &'static str,
    pub mysql: &'static str,
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Sql(&'static str),
    Spelled(Spelling),
}

impl Stmt {
    pub fn new(sql: &'static str) -> Self {
        Stmt {
            parts: vec![Part::Sql(sql)],
            args: Vec::new(),
        }
    }

    /// Binds the next `?`.
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Appends a fragment of SQL.
    pub fn push(&mut self, fragment: &'static str) -> &mut Self {
        self.parts.push(Part::Sql(fragment));
        self
    }

    /// Appends a fragment containing one `?` and binds it.
    pub fn push_bind(&mut self, fragment: &'static str, value: impl Into<Arg>) -> &mut Self {
        debug_assert_eq!(fragment.matches('?').count(), 1, "{fragment}");
        self.parts.push(Part::Sql(fragment));
        self.args.push(value.into());
        self
    }

    /// Appends a fragment each backend spells its own way, each spelling with one `?`, and
    /// binds it.
    pub fn push_bind_spelled(&mut self, spelling: Spelling, value: impl Into<Arg>) -> &mut Self {
        for fragment in [spelling.sqlite, spelling.postgres, spelling.mysql] {
            debug_assert_eq!(fragment.matches('?').count(), 1, "{fragment}");
        }
        self.parts.push(Part::Spelled(spelling));
        self.args.push(value.into());
        self
    }

    /// Appends a fragment without placeholders that each backend spells its own way (an
    /// upsert's conflict clause, say).
    pub fn push_spelled(&mut self, spelling: Spelling) -> &mut Self {
        for fragment in [spelling.sqlite, spelling.postgres, spelling.mysql] {
            debug_assert!(!fragment.contains('?'), "{fragment}");
        }
        self.parts.push(Part::Spelled(spelling));
        self
    }

    /// Appends another statement's SQL and arguments (a shared filter, say).
    pub fn append(&mut self, other: Stmt) -> &mut Self {
        self.parts.extend(other.parts);
        self.args.extend(other.args);
        self
    }

    /// The SQL as `backend` is sent it, before placeholders are rewritten.
    pub fn text(&self, backend: Backend) -> String {
        self.parts
            .iter()
            .map(|part| match (part, backend) {
                (Part::Sql(sql), _) => *sql,
                (Part::Spelled(s), Backend::Sqlite) => s.sqlite,
                (Part::Spelled(s), Backend::Postgres) => s.postgres,
                (Part::Spelled(s), Backend::MySql) => s.mysql,
            })
            .collect()
    }

    fn sql_for<DB: Dialect>(&self) -> AssertSqlSafe<String> {
        AssertSqlSafe(DB::placeholders(&self.text(DB::BACKEND)).into_owned())
    }

    fn arguments_for<DB>(self) -> Result<DB::Arguments, BoxDynError>
    where
        DB: Database,
        Option<Id>: for<'e> Encode<'e, DB> + Type<DB>,
        Option<String>: for<'e> Encode<'e, DB> + Type<DB>,
        i64: for<'e> Encode<'e, DB> + Type<DB>,
        bool: for<'e> Encode<'e, DB> + Type<DB>,
        Option<Timestamp>: for<'e> Encode<'e, DB> + Type<DB>,
        Json<serde_json::Value>: for<'e> Encode<'e, DB> + Type<DB>,
    {
        let mut arguments = DB::Arguments::default();
        for arg in self.args {
            match arg {
                Arg::Id(v) => arguments.add(v)?,
                Arg::Text(v) => arguments.add(v)?,
                Arg::Int(v) => arguments.add(v)?,
                Arg::Bool(v) => arguments.add(v)?,
                Arg::Time(v) => arguments.add(v)?,
                Arg::Json(v) => arguments.add(Json(v))?,
            }
        }
        Ok(arguments)
    }
}

/// Something statements can run on: a pool, or the connection of an open transaction.
/// Get one with [`Db::conn`] or [`Tx::conn`].
pub struct Conn<'a> {
    target: Target<'a>,
    query_timeout: Duration,
    /// On the pool, the counter [`Conn::execute`] advances ([`Db::writes`]).
    writes: Option<&'a AtomicU64>,
}

enum Target<'a> {
    SqlitePool(&'a SqlitePool),
    SqliteTx(&'a mut Held<Sqlite>),
    PostgresPool(&'a PgPool),
    PostgresTx(&'a mut Held<Postgres>),
    MySqlPool(&'a MySqlPool),
    MySqlTx(&'a mut Held<MySql>),
}

/// Runs `$body` with `$exec` bound to the native connection and `$DB` naming its sqlx database,
/// within the connection's `query_timeout`, as one exchange on a [`Held`] connection: on the
/// pool, one taken for `$body` alone.
macro_rules! dispatch {
    ($conn:expr, |$exec:ident, $DB:ident| $body:expr) => {{
        let Conn {
            target,
            query_timeout,
            ..
        } = $conn;
        within(query_timeout, async move {
            match target {
                Target::SqlitePool(pool) => {
                    type $DB = Sqlite;
                    exchange!(&mut Held::acquire(pool).await?, |$exec| $body)
                }
                Target::SqliteTx(held) => {
                    type $DB = Sqlite;
                    exchange!(held, |$exec| $body)
                }
                Target::PostgresPool(pool) => {
                    type $DB = Postgres;
                    exchange!(&mut Held::acquire(pool).await?, |$exec| $body)
                }
                Target::PostgresTx(held) => {
                    type $DB = Postgres;
                    exchange!(held, |$exec| $body)
                }
                Target::MySqlPool(pool) => {
                    type $DB = MySql;
                    exchange!(&mut Held::acquire(pool).await?, |$exec| $body)
                }
                Target::MySqlTx(held) => {
                    type $DB = MySql;
                    exchange!(held, |$exec| $body)
                }
            }
        })
        .await
    }};
}

/// Runs one database call, or fails as unavailable when the database does not answer within
/// `limit`. The connection of a call abandoned here is closed ([`Held`]), and its transaction
/// with it.
async fn within<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(no_answer(limit)))
}

/// The error for a database that did not answer in time: an I/O timeout, which the API answers
/// with 503.
fn no_answer(limit: Duration) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("the database did not answer within {limit:?}"),
    ))
}

/// Prepares a statement for one dialect: `(sql, arguments)`, ready for sqlx's `*_with` functions.
macro_rules! prepare {
    ($stmt:expr, $DB:ty) => {{
        let stmt = $stmt;
        let sql = stmt.sql_for::<$DB>();
        (
            sql,
            stmt.arguments_for::<$DB>().map_err(sqlx::Error::Encode)?,
        )
    }};
}

impl Conn<'_> {
    /// All rows.
    pub async fn fetch_all<T: Record>(self, stmt: Stmt) -> Result<Vec<T>, sqlx::Error> {
        dispatch!(self, |e, DB| {
            let (sql, args) = prepare!(stmt, DB);
            sqlx::query_as_with::<DB, T, _>(sql, args)
                .fetch_all(e)
                .await
        })
    }

    /// At most one row.
    pub async fn fetch_optional<T: Record>(self, stmt: Stmt) -> Result<Option<T>, sqlx::Error> {
        dispatch!(self, |e, DB| {
            let (sql, args) = prepare!(stmt, DB);
            let row = DB::first_row(e, sqlx::query_with::<DB, _>(sql, args)).await?;
            row.as_ref().map(T::from_row).transpose()
        })
    }

    /// All rows, each as one [`Arg`] per column, read as `kinds` says.
    pub async fn fetch_args(
        self,
        stmt: Stmt,
        kinds: &[ArgKind],
    ) -> Result<Vec<Vec<Arg>>, sqlx::Error> {
        dispatch!(self, |e, DB| {
            let (sql, args) = prepare!(stmt, DB);
            let rows = sqlx::query_with::<DB, _>(sql, args).fetch_all(e).await?;
            rows.iter().map(|row| decode_args(row, kinds)).collect()
        })
    }

    /// A single integer, such as `COUNT(*)`.
    pub async fn fetch_int(self, stmt: Stmt) -> Result<i64, sqlx::Error> {
        dispatch!(self, |e, DB| {
            let (sql, args) = prepare!(stmt, DB);
            sqlx::query_scalar_with::<DB, i64, _>(sql, args)
                .fetch_one(e)
                .await
        })
    }

    /// The backend's plan for a statement, as [`Dialect::plan_text`] gives it (read it with
    /// `didhub_harness::backend::parse_plan`).
    pub async fn explain(self, stmt: Stmt) -> Result<String, sqlx::Error> {
        dispatch!(self, |e, DB| {
            let mut explained = stmt;
            explained
                .parts
                .insert(0, Part::Sql(<DB as Dialect>::EXPLAIN));
            let (sql, args) = prepare!(explained, DB);
            let rows = sqlx::query_with::<DB, _>(sql, args).fetch_all(e).await?;
            <DB as Dialect>::plan_text(rows)
        })
    }

    /// Runs a statement and returns how many rows it affected.
    pub async fn execute(self, stmt: Stmt) -> Result<u64, sqlx::Error> {
        let _counted = self.writes.map(Counted);
        dispatch!(self, |e, DB| {
            let (sql, args) = prepare!(stmt, DB);
            Ok(sqlx::query_with::<DB, _>(sql, args)
                .execute(e)
                .await?
                .rows_affected())
        })
    }
}

impl Db {
    /// Connects with the configured pool settings, creating the SQLite file (and its directory)
    /// when missing. The first connection must succeed within `connect_timeout`.
    pub async fn connect(config: &DatabaseConfig) -> Result<Db, ConnectError> {
        let backend = config.backend;
        let connecting = async {
            Ok(match backend {
                Backend::Sqlite => Pool::Sqlite(
                    sqlite::connect(&config.url, &config.pool).await?,
                    sqlite::Writers::new(config.pool.acquire_timeout),
                ),
                Backend::Postgres => {
                    Pool::Postgres(postgres::connect(&config.url, &config.pool).await?)
                }
                Backend::MySql => Pool::MySql(mysql::connect(&config.url, &config.pool).await?),
            })
        };
        match tokio::time::timeout(config.pool.connect_timeout, connecting).await {
            Ok(result) => result.map(|pool| {
                let mut db = Db {
                    pool,
                    writes: Arc::default(),
                    limits: Limits {
                        acquire: config.pool.acquire_timeout,
                        query: config.pool.query_timeout,
                        migration_lock: LockTimeout::new(config.pool.migration_lock_timeout)
                            .set_by(MIGRATION_LOCK_TIMEOUT),
                    },
                    group: None,
                };
                if let Pool::Sqlite(pool, _) = &db.pool {
                    let writes = Arc::downgrade(&db.writes);
                    tokio::spawn(sqlite::checkpoints(pool.clone(), writes, db.limits.query));
                    db.group = Some(group::Queue::start(db.clone()));
                }
                db
            }),
            Err(_) => Err(ConnectError::Timeout {
                backend,
                after: config.pool.connect_timeout,
            }),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(..) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
            Pool::MySql(_) => Backend::MySql,
        }
    }

    /// Applies every pending migration of this backend, after refusing a database whose
    /// migration history disagrees with this build's migrations (a dirty row, a changed
    /// checksum, an unknown version: see [`didhub_migrations::preflight`]). Every lock wait of
    /// the migrations is bounded by `migration_lock_timeout`, on the one connection that runs
    /// them ([`didhub_migrations::migrate`]): a migration that cannot get its lock fails,
    /// naming its file and tables, instead of making every query on its table wait behind it.
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        let backend = self.backend();
        let timeout = self.limits.migration_lock;
        match &self.pool {
            Pool::Sqlite(p, _) => {
                didhub_migrations::preflight(backend, p).await?;
                didhub_migrations::migrate_up(p, None, timeout).await?
            }
            Pool::Postgres(p) => {
                didhub_migrations::preflight(backend, p).await?;
                didhub_migrations::migrate_up(p, None, timeout).await?
            }
            Pool::MySql(p) => {
                didhub_migrations::preflight(backend, p).await?;
                didhub_migrations::migrate_up(p, None, timeout).await?
            }
        }
        Ok(())
    }

    /// Inserts many rows into `table`, fast, in transactions of up to [`ROWS_PER_TX`] rows (see
    /// [`Tx::insert_rows`]). Returns how many rows were inserted.
    pub async fn insert_rows(
        &self,
        table: &'static str,
        columns: &[&'static str],
        rows: Vec<Vec<Arg>>,
    ) -> Result<u64, sqlx::Error> {
        self.insert_rows_counted(table, columns, rows, &Progress::none())
            .await
    }

    /// [`Db::insert_rows`], `progress` advanced by each transaction's rows once committed.
    pub async fn insert_rows_counted(
        &self,
        table: &'static str,
        columns: &[&'static str],
        rows: Vec<Vec<Arg>>,
        progress: &Progress,
    ) -> Result<u64, sqlx::Error> {
        let mut inserted = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut tx = self.begin_write().await?;
            let chunk: Vec<Vec<Arg>> = rows.by_ref().take(ROWS_PER_TX).collect();
            let count = chunk.len() as u64;
            inserted += tx.insert_rows(table, columns, chunk).await?;
            tx.commit().await?;
            progress.advance(count);
        }
        Ok(inserted)
    }

    /// The newest applied migration version (0 when none).
    pub async fn schema_version(&self) -> Result<i64, sqlx::Error> {
        self.conn()
            .fetch_int(Stmt::new(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE",
            ))
            .await
    }

    /// Runs `write` in a write transaction and commits it: the way a request changes data.
    ///
    /// On SQLite the writes waiting at the same moment are committed together (see [`group`]),
    /// so `write` may run more than once and must touch nothing but its transaction; its answer
    /// comes after the COMMIT that made it durable. Elsewhere it runs once, in a transaction of
    /// its own.
    pub async fn write<F, T, E>(&self, write: F) -> Result<T, E>
    where
        F: Write<T, E>,
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
    {
        if let Some(queue) = &self.group {
            return queue.write(write).await;
        }
        let mut tx = self.begin_write().await?;
        match write(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                tx.rollback().await;
                Err(err)
            }
        }
    }

    /// Opens a transaction for writing.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        let inner = match &self.pool {
            Pool::Sqlite(p, writers) => {
                let turn = writers.wait().await?;
                TxInner::Sqlite(self.begin(p, Sqlite::BEGIN_WRITE).await?, Some(turn))
            }
            Pool::Postgres(p) => TxInner::Postgres(self.begin(p, Postgres::BEGIN_WRITE).await?),
            Pool::MySql(p) => TxInner::MySql(self.begin(p, MySql::BEGIN_WRITE).await?),
        };
        Ok(self.tx(inner, Some(self.writes.clone())))
    }

    /// Opens a read-only transaction: every read in it sees the same snapshot of the data.
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        let inner = match &self.pool {
            Pool::Sqlite(p, _) => TxInner::Sqlite(self.begin(p, Sqlite::BEGIN_READ).await?, None),
            Pool::Postgres(p) => TxInner::Postgres(self.begin(p, Postgres::BEGIN_READ).await?),
            Pool::MySql(p) => TxInner::MySql(self.begin(p, MySql::BEGIN_READ).await?),
        };
        Ok(self.tx(inner, None))
    }

    /// A connection from the pool and `statement` on it, within the time to get a connection
    /// plus `query_timeout`.
    async fn begin<DB: Database>(
        &self,
        pool: &sqlx::Pool<DB>,
        statement: &'static str,
    ) -> Result<Held<DB>, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        within(self.limits.acquire + self.limits.query, async {
            let mut held = Held::acquire(pool).await?;
            held.begin(statement).await?;
            Ok(held)
        })
        .await
    }

    fn tx(&self, inner: TxInner, writes: Option<Arc<AtomicU64>>) -> Tx {
        Tx {
            inner,
            query_timeout: self.limits.query,
            writes,
        }
    }

    /// How many writes this handle (with its clones) has committed or attempted: write
    /// transactions' commits and statements executed on the pool. It only grows; what was read
    /// while it stood still is still what the database holds, unless another process wrote.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Takes a connection from the pool and gives it back: what every statement on the pool
    /// pays before it runs (the pool benchmark measures it).
    pub async fn acquire_and_release(&self) -> Result<(), sqlx::Error> {
        match &self.pool {
            Pool::Sqlite(p, _) => drop(p.acquire().await?),
            Pool::Postgres(p) => drop(p.acquire().await?),
            Pool::MySql(p) => drop(p.acquire().await?),
        }
        Ok(())
    }

    /// How many connections sit idle in the pool: back from their last use, which ended.
    pub fn idle_connections(&self) -> usize {
        match &self.pool {
            Pool::Sqlite(p, _) => p.num_idle(),
            Pool::Postgres(p) => p.num_idle(),
            Pool::MySql(p) => p.num_idle(),
        }
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p, _) => p.close().await,
            Pool::Postgres(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }

    /// Statements on the pool.
    pub fn conn(&self) -> Conn<'_> {
        let target = match &self.pool {
            Pool::Sqlite(p, _) => Target::SqlitePool(p),
            Pool::Postgres(p) => Target::PostgresPool(p),
            Pool::MySql(p) => Target::MySqlPool(p),
        };
        Conn {
            target,
            query_timeout: self.limits.query,
            writes: Some(&self.writes),
        }
    }
}

impl Tx {
    /// Inserts many rows into `table`, each one value per column of `columns`. PostgreSQL takes
    /// them through `COPY … FROM STDIN`; SQLite and MySQL in multi-row INSERTs of
    /// [`INSERT_BATCH`] rows. Returns how many rows were inserted.
    pub async fn insert_rows(
        &mut self,
        table: &'static str,
        columns: &[&'static str],
        rows: Vec<Vec<Arg>>,
    ) -> Result<u64, sqlx::Error> {
        if let TxInner::Postgres(held) = &mut self.inner {
            held.start();
            let result = within(
                self.query_timeout,
                postgres::copy_in(held, table, columns, rows),
            )
            .await;
            // After a failed COPY, what the database still owes is not counted by sqlx: the
            // connection stays unclean, to be closed.
            if result.is_ok() {
                held.finish(&result);
            }
            return result;
        }
        let mut inserted = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut stmt = Stmt::new("INSERT INTO ");
            stmt.push(table).push(" (");
            for (i, column) in columns.iter().enumerate() {
                stmt.push(if i == 0 { "" } else { ", " }).push(column);
            }
            stmt.push(") VALUES ");
            for (i, row) in rows.by_ref().take(INSERT_BATCH).enumerate() {
                stmt.push(if i == 0 { "(" } else { ", (" });
                for j in 0..row.len() {
                    stmt.push(if j == 0 { "?" } else { ", ?" });
                }
                stmt.push(")");
                stmt.args.extend(row);
            }
            inserted += self.conn().execute(stmt).await?;
        }
        Ok(inserted)
    }

    /// The backend the transaction runs on.
    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(..) => Backend::Sqlite,
            TxInner::Postgres(_) => Backend::Postgres,
            TxInner::MySql(_) => Backend::MySql,
        }
    }

    /// Statements inside the transaction.
    pub fn conn(&mut self) -> Conn<'_> {
        let target = match &mut self.inner {
            TxInner::Sqlite(held, _) => Target::SqliteTx(held),
            TxInner::Postgres(held) => Target::PostgresTx(held),
            TxInner::MySql(held) => Target::MySqlTx(held),
        };
        Conn {
            target,
            query_timeout: self.query_timeout,
            writes: None,
        }
    }

    /// Commits, within `query_timeout`. A commit that times out has an unknown outcome on the
    /// server side — it is atomic either way — and the caller gets 503.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let writes = self.writes.clone();
        let _counted = writes.as_deref().map(Counted);
        self.end("COMMIT").await
    }

    /// Rolls back, within `query_timeout`: what a transaction that must not commit, or a read
    /// snapshot that is done, ends with. A rollback that fails closes the connection instead,
    /// which rolls back too.
    pub async fn rollback(self) {
        // Nothing is lost either way, so there is nothing to answer.
        let _ = self.end("ROLLBACK").await;
    }

    /// `statement` ends the transaction; its connection goes back to the pool if it did.
    async fn end(self, statement: &'static str) -> Result<(), sqlx::Error> {
        let limit = self.query_timeout;
        match self.inner {
            TxInner::Sqlite(mut held, _turn) => within(limit, held.end(statement)).await,
            TxInner::Postgres(mut held) => within(limit, held.end(statement)).await,
            TxInner::MySql(mut held) => within(limit, held.end(statement)).await,
        }
    }
}

/// Advances the write counter when dropped: after the write's answer, whatever it was (a commit
/// that timed out may have happened), or when the call is abandoned.
struct Counted<'a>(&'a AtomicU64);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// One row's columns as `kinds` says.
fn decode_args<R: sqlx::Row>(row: &R, kinds: &[ArgKind]) -> Result<Vec<Arg>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    Option<Id>: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Option<Timestamp>: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Json<serde_json::Value>: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
{
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            Ok(match kind {
                ArgKind::Id => Arg::Id(row.try_get(i)?),
                ArgKind::Text => Arg::Text(row.try_get(i)?),
                ArgKind::Int => Arg::Int(row.try_get(i)?),
                ArgKind::Bool => Arg::Bool(row.try_get(i)?),
                ArgKind::Time => Arg::Time(row.try_get(i)?),
                ArgKind::Json => Arg::Json(row.try_get::<Json<serde_json::Value>, _>(i)?.0),
            })
        })
        .collect()
}

/// Rows per multi-row INSERT in [`Tx::insert_rows`]: 400 rows of a wide table stay far below the
/// backends' limits on bound parameters (32766 on SQLite, 65535 on MySQL).
pub const INSERT_BATCH: usize = 400;

/// Rows per transaction in [`Db::insert_rows`].
pub const ROWS_PER_TX: usize = 10_000;

/// How long a pooled connection may sit unused before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long a connection lives before it is replaced.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The pool's settings. A connection is not pinged before every use (sqlx's
/// `test_before_acquire`) nor after (`test_on_release`), one more round trip per query each: it
/// goes back to the pool only after an answered exchange and is closed otherwise ([`Held`]), so
/// only a connection that sat idle for longer than `check_idle_after` — long enough for the
/// database to have restarted or a firewall to have dropped it — is pinged before it is handed
/// out.
fn pool_options<DB: Database>(pool: &PoolConfig) -> PoolOptions<DB> {
    let check_idle_after = pool.check_idle_after;
    PoolOptions::new()
        .max_connections(pool.max_connections)
        .min_connections(pool.min_connections)
        .acquire_timeout(pool.acquire_timeout)
        .idle_timeout(IDLE_TIMEOUT)
        .max_lifetime(MAX_LIFETIME)
        .test_before_acquire(false)
        .test_on_release(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= check_idle_after {
                    // An error closes this connection; the pool then hands out another.
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_placeholders_outside_string_literals() {
        assert_eq!(
            Postgres::placeholders("SELECT '?', a FROM t WHERE b = ? AND c LIKE ? ESCAPE '\\'"),
            "SELECT '?', a FROM t WHERE b = $1 AND c LIKE $2 ESCAPE '\\'"
        );
        assert_eq!(Sqlite::placeholders("a = ?"), "a = ?");
        assert_eq!(MySql::placeholders("a = ?"), "a = ?");
    }

    #[test]
    fn push_bind_keeps_sql_and_arguments_in_step() {
        let mut stmt = Stmt::new("SELECT 1 FROM t WHERE 1 = 1");
        stmt.push_bind(" AND a = ?", "x")
            .push_bind(" AND b = ?", 3i64);
        assert_eq!(
            stmt.text(Backend::Postgres),
            "SELECT 1 FROM t WHERE 1 = 1 AND a = ? AND b = ?"
        );
        assert_eq!(stmt.args.len(), 2);
    }

    #[test]
    fn a_spelled_fragment_is_sent_in_each_backends_spelling() {
        let mut stmt = Stmt::new("SELECT 1 FROM t WHERE 1 = 1");
        stmt.push_bind_spelled(
            Spelling {
                sqlite: " AND a LIKE ?",
                postgres: " AND lower(a) LIKE lower(?)",
                mysql: " AND a LIKE ? COLLATE utf8mb4_unicode_ci",
            },
            "x%",
        )
        .push_bind(" AND b = ?", 3i64);
        assert_eq!(
            stmt.sql_for::<Postgres>().0,
            "SELECT 1 FROM t WHERE 1 = 1 AND lower(a) LIKE lower($1) AND b = $2"
        );
        assert_eq!(
            stmt.sql_for::<Sqlite>().0,
            "SELECT 1 FROM t WHERE 1 = 1 AND a LIKE ? AND b = ?"
        );
        assert_eq!(
            stmt.sql_for::<MySql>().0,
            "SELECT 1 FROM t WHERE 1 = 1 AND a LIKE ? COLLATE utf8mb4_unicode_ci AND b = ?"
        );
        assert_eq!(stmt.args.len(), 2);
    }
}
