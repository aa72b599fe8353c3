//! Running statements: [`Conn`], a pool or an open transaction's connection, each call
//! dispatched to the native driver and bounded by the query timeout.

use std::time::Duration;

use sqlx::{MySql, MySqlPool, PgPool, Postgres, Sqlite, SqlitePool};

use super::dialect::Dialect;
use super::error::is_unavailable;
use super::held::{Held, exchange};
use super::replicas::{Replica, Replicas};
use super::stmt::{Arg, ArgKind, Part, Record, Stmt, decode_args};
use super::writes::{Counted, Writes};

/// Something statements can run on: a pool, or the connection of an open transaction.
/// Get one with [`super::Db::conn`] or [`super::Tx::conn`].
pub struct Conn<'a> {
    pub(super) target: Target<'a>,
    pub(super) query_timeout: Duration,
    /// On the pool, the counter [`Conn::execute`] advances ([`super::Db::writes`]).
    pub(super) writes: Option<&'a Writes>,
    /// On the pool, the replicas that may serve its reads ([`super::replicas`]).
    pub(super) replicas: Option<&'a Replicas>,
    /// Behind a transaction pooler ([`crate::config::Pooler::Transaction`]): statements are
    /// sent unnamed, and on the pool each in a transaction of its own.
    pub(super) pooled: bool,
}

pub(super) enum Target<'a> {
    SqlitePool(&'a SqlitePool),
    SqliteTx(&'a mut Held<Sqlite>),
    PostgresPool(&'a PgPool),
    PostgresTx(&'a mut Held<Postgres>),
    MySqlPool(&'a MySqlPool),
    MySqlTx(&'a mut Held<MySql>),
}

/// Runs `$body` with `$exec` bound to the native connection, `$DB` naming its sqlx database and
/// `$named` saying whether statements are named (prepared once per connection and kept),
/// within the connection's `query_timeout`, as one exchange on a [`Held`] connection: on the
/// pool, one taken for `$body` alone.
///
/// Behind a transaction pooler, sqlx's unnamed statement is parsed in one exchange and bound
/// and executed in the next; between the two the pooler may hand the client another server
/// connection, where the statement is not. Inside a transaction the pooler keeps the one server
/// connection, so a statement on the pool is sent between BEGIN and COMMIT there.
macro_rules! dispatch {
    ($conn:expr, |$exec:ident, $DB:ident, $named:ident| $body:expr) => {{
        let Conn {
            target,
            query_timeout,
            pooled,
            ..
        } = $conn;
        let $named = !pooled;
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
                Target::PostgresPool(pool) if pooled => {
                    type $DB = Postgres;
                    let mut held = Held::acquire(pool).await?;
                    held.begin("BEGIN").await?;
                    let result = exchange!(&mut held, |$exec| $body);
                    // A statement the database refused ends its transaction by ROLLBACK on a
                    // connection that stays usable; one cut off closes the connection.
                    let end = held
                        .end(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })
                        .await;
                    result.and_then(|r| end.map(|()| r))
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
pub(super) async fn within<T>(
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
        super::record::statement(<$DB as Dialect>::BACKEND, &sql.0);
        (
            sql,
            stmt.arguments_for::<$DB>().map_err(sqlx::Error::Encode)?,
        )
    }};
}

/// Runs `$call` (a method of `$c`, a [`Conn`], on `$s`, a [`Stmt`]) on the caller's replica when
/// the statement only reads and one is fit ([`Conn::on_replica`]), on the primary otherwise, and
/// on the primary again when the replica fails it as unavailable.
macro_rules! read {
    ($conn:expr, $stmt:expr, |$c:ident, $s:ident| $call:expr) => {{
        let conn = $conn;
        let stmt = $stmt;
        match conn.on_replica(&stmt) {
            Some((replica, $c)) => {
                let $s = stmt.clone();
                match $call.await {
                    Err(e) if is_unavailable(&e) => {
                        replica.failed();
                        let ($c, $s) = (conn, stmt);
                        $call.await
                    }
                    answered => answered,
                }
            }
            None => {
                let ($c, $s) = (conn, stmt);
                $call.await
            }
        }
    }};
}

impl<'a> Conn<'a> {
    /// All rows.
    pub async fn fetch_all<T: Record>(self, stmt: Stmt) -> Result<Vec<T>, sqlx::Error> {
        read!(self, stmt, |c, s| c.fetch_all_here(s))
    }

    /// At most one row.
    pub async fn fetch_optional<T: Record>(self, stmt: Stmt) -> Result<Option<T>, sqlx::Error> {
        read!(self, stmt, |c, s| c.fetch_optional_here(s))
    }

    /// All rows, each as one [`Arg`] per column, read as `kinds` says.
    pub async fn fetch_args(
        self,
        stmt: Stmt,
        kinds: &[ArgKind],
    ) -> Result<Vec<Vec<Arg>>, sqlx::Error> {
        read!(self, stmt, |c, s| c.fetch_args_here(s, kinds))
    }

    /// A single integer, such as `COUNT(*)`.
    pub async fn fetch_int(self, stmt: Stmt) -> Result<i64, sqlx::Error> {
        read!(self, stmt, |c, s| c.fetch_int_here(s))
    }

    /// The same statements on the caller's replica, when `stmt` only reads and one is fit.
    fn on_replica(&self, stmt: &Stmt) -> Option<(&'a Replica, Conn<'a>)> {
        let replicas = self.replicas?;
        if !matches!(self.target, Target::PostgresPool(_)) || !stmt.is_read() {
            return None;
        }
        // Chosen here, for reads alone: a write on the pool asks nothing of the replicas.
        let replica = replicas.choose(self.writes.and_then(Writes::last_by_caller))?;
        let conn = Conn {
            target: Target::PostgresPool(&replica.pool),
            query_timeout: self.query_timeout,
            writes: None,
            replicas: None,
            pooled: self.pooled,
        };
        Some((replica, conn))
    }
}

/// The reads where they run: the connection's own target.
impl Conn<'_> {
    async fn fetch_all_here<T: Record>(self, stmt: Stmt) -> Result<Vec<T>, sqlx::Error> {
        dispatch!(self, |e, DB, named| {
            let (sql, args) = prepare!(stmt, DB);
            sqlx::query_as_with::<DB, T, _>(sql, args)
                .persistent(named)
                .fetch_all(e)
                .await
        })
    }

    async fn fetch_optional_here<T: Record>(self, stmt: Stmt) -> Result<Option<T>, sqlx::Error> {
        dispatch!(self, |e, DB, named| {
            let (sql, args) = prepare!(stmt, DB);
            let row =
                DB::first_row(e, sqlx::query_with::<DB, _>(sql, args).persistent(named)).await?;
            row.as_ref().map(T::from_row).transpose()
        })
    }

    async fn fetch_args_here(
        self,
        stmt: Stmt,
        kinds: &[ArgKind],
    ) -> Result<Vec<Vec<Arg>>, sqlx::Error> {
        dispatch!(self, |e, DB, named| {
            let (sql, args) = prepare!(stmt, DB);
            let rows = sqlx::query_with::<DB, _>(sql, args)
                .persistent(named)
                .fetch_all(e)
                .await?;
            rows.iter().map(|row| decode_args(row, kinds)).collect()
        })
    }

    async fn fetch_int_here(self, stmt: Stmt) -> Result<i64, sqlx::Error> {
        dispatch!(self, |e, DB, named| {
            let (sql, args) = prepare!(stmt, DB);
            sqlx::query_scalar_with::<DB, i64, _>(sql, args)
                .persistent(named)
                .fetch_one(e)
                .await
        })
    }

    /// The backend's plan for a statement, as [`Dialect::plan_text`] gives it (read it with
    /// `didhub_harness::backend::parse_plan`).
    pub async fn explain(self, stmt: Stmt) -> Result<String, sqlx::Error> {
        dispatch!(self, |e, DB, named| {
            let mut explained = stmt;
            explained
                .parts
                .insert(0, Part::Sql(<DB as Dialect>::EXPLAIN));
            let (sql, args) = prepare!(explained, DB);
            let rows = sqlx::query_with::<DB, _>(sql, args)
                .persistent(named)
                .fetch_all(e)
                .await?;
            <DB as Dialect>::plan_text(rows)
        })
    }

    /// Runs a statement and returns how many rows it affected.
    pub async fn execute(self, stmt: Stmt) -> Result<u64, sqlx::Error> {
        let _counted = self.writes.map(Counted);
        dispatch!(self, |e, DB, named| {
            let (sql, args) = prepare!(stmt, DB);
            Ok(sqlx::query_with::<DB, _>(sql, args)
                .persistent(named)
                .execute(e)
                .await?
                .rows_affected())
        })
    }
}
