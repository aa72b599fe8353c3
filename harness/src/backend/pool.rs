//! A connection pool on a test database, and what the harness asks of it (its schema, its
//! plans, its rows, migrations up and down), each dispatched to the dialect that answers.

use didhub_migrations::{Direction, LockTimeout, MigrationFailed};
use sqlx::migrate::Migrator;
use sqlx::{MySqlPool, PgPool, SqlitePool};

use super::{Backend, MIGRATION_LOCK_TIMEOUT, data_sql, mysql, sqlite};
use crate::HarnessError;
use crate::plans::{self, Plan};
use crate::schema::{Column, Logical, Schema, Table};

/// Runs `$body` once for whichever backend `$pool` is, with `$p` its sqlx pool and `$dialect`
/// its module (`sqlite`, `postgres`, `mysql`): the one place a question meets the three arms.
macro_rules! dispatch {
    ($pool:expr, |$p:ident, $dialect:ident| $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => {
                #[allow(unused_imports)]
                use super::sqlite as $dialect;
                $body
            }
            Pool::Postgres($p) => {
                #[allow(unused_imports)]
                use super::postgres as $dialect;
                $body
            }
            Pool::MySql($p) => {
                #[allow(unused_imports)]
                use super::mysql as $dialect;
                $body
            }
        }
    };
}

/// What a database says of a prepared statement: its parameters' types and its result columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Each parameter's type, or `?` for each where the backend says only how many there are.
    pub parameters: Vec<String>,
    /// Each result column's name and type.
    pub columns: Vec<(String, String)>,
}

/// A connection pool on a test database.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

impl Pool {
    /// A pool of up to 10 connections (sqlx's default).
    pub async fn connect(kind: Backend, url: &str) -> Result<Pool, sqlx::Error> {
        Self::open(kind, url, 10).await
    }

    /// One connection, as sqlx runs a migration file: what a test database is used for (migrate,
    /// introspect, replay statements) happens in turn, never at once, and a statement must see
    /// what the one before it did to the session (a `SET`) and, on SQLite, to the schema (a
    /// second SQLite connection can prepare a statement against the schema as it was before
    /// another changed it: `duplicate column name` for a column just dropped).
    pub async fn connect_one(kind: Backend, url: &str) -> Result<Pool, sqlx::Error> {
        Self::open(kind, url, 1).await
    }

    /// A pool of up to `max` connections.
    pub async fn connect_many(kind: Backend, url: &str, max: u32) -> Result<Pool, sqlx::Error> {
        Self::open(kind, url, max).await
    }

    async fn open(kind: Backend, url: &str, max: u32) -> Result<Pool, sqlx::Error> {
        fn options<DB: sqlx::Database>(max: u32) -> sqlx::pool::PoolOptions<DB> {
            sqlx::pool::PoolOptions::new().max_connections(max)
        }
        Ok(match kind {
            Backend::Sqlite => Pool::Sqlite(sqlite::connect(url, options(max)).await?),
            Backend::Postgres => Pool::Postgres(options(max).connect(url).await?),
            Backend::MySql => Pool::MySql(options(max).connect(url).await?),
        })
    }

    /// What the database says of `sql` prepared, not run (PostgreSQL's Parse/Describe, MySQL's
    /// `COM_STMT_PREPARE`, SQLite's `sqlite3_prepare`, through sqlx's `prepare`); the
    /// database's own words when it refuses the statement. sqlx's `describe` is not used: on
    /// SQLite it also interprets the statement's EXPLAIN program, which on a recursive CTE runs
    /// for minutes.
    pub async fn describe(&self, sql: &str) -> Result<Shape, String> {
        use sqlx::{Column, Either, Executor, SqlSafeStr, Statement, TypeInfo};
        let said = |e: sqlx::Error| match e {
            sqlx::Error::Database(db) => db.message().to_owned(),
            e => e.to_string(),
        };
        dispatch!(self, |p, d| {
            // The application's own statement, prepared and never run.
            let statement = sqlx::AssertSqlSafe(sql.to_owned()).into_sql_str();
            let prepared = p.prepare(statement).await.map_err(said)?;
            let parameters = match prepared.parameters() {
                Some(Either::Left(types)) => types.iter().map(|t| t.name().to_owned()).collect(),
                Some(Either::Right(n)) => vec!["?".to_owned(); n],
                None => Vec::new(),
            };
            let columns = prepared
                .columns()
                .iter()
                .map(|c| (c.name().to_owned(), d::result_type(c.type_info())))
                .collect();
            Ok(Shape {
                parameters,
                columns,
            })
        })
    }

    /// PostgreSQL: how far this primary's write-ahead log goes, in bytes from its start.
    pub async fn wal_position(&self) -> Result<i64, HarnessError> {
        self.fetch_int("SELECT CAST(pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS BIGINT)")
            .await
    }

    /// PostgreSQL: how far this standby has replayed its primary's write-ahead log.
    pub async fn replayed_position(&self) -> Result<i64, HarnessError> {
        self.fetch_int("SELECT CAST(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') AS BIGINT)")
            .await
    }

    async fn fetch_int(&self, sql: &'static str) -> Result<i64, HarnessError> {
        let result = dispatch!(self, |p, _d| sqlx::query_scalar(sql).fetch_one(p).await);
        result.map_err(|e| HarnessError::database(self.kind(), e))
    }

    /// The single text value a query returns.
    pub(super) async fn fetch_text(&self, sql: &'static str) -> Result<String, HarnessError> {
        let result = dispatch!(self, |p, _d| sqlx::query_scalar(sql).fetch_one(p).await);
        result.map_err(|e| HarnessError::database(self.kind(), e))
    }

    pub fn kind(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
            Pool::MySql(_) => Backend::MySql,
        }
    }

    /// The database's schema, normalised.
    pub async fn introspect(&self) -> Result<Schema, HarnessError> {
        let result = dispatch!(self, |p, dialect| dialect::introspect(p).await);
        result.map_err(|e| HarnessError::database(self.kind(), e))
    }

    /// Applies migrations up to and including `target`, each lock wait bounded by
    /// [`MIGRATION_LOCK_TIMEOUT`].
    pub async fn migrate_up(
        &self,
        migrator: &Migrator,
        target: i64,
    ) -> Result<(), MigrationFailed> {
        self.migrate(migrator, Direction::Up(target), MIGRATION_LOCK_TIMEOUT)
            .await
    }

    /// Reverts migrations newer than `target`, each lock wait bounded by
    /// [`MIGRATION_LOCK_TIMEOUT`].
    pub async fn migrate_down(
        &self,
        migrator: &Migrator,
        target: i64,
    ) -> Result<(), MigrationFailed> {
        self.migrate(migrator, Direction::Down(target), MIGRATION_LOCK_TIMEOUT)
            .await
    }

    /// Migrates as the server does ([`didhub_migrations::migrate`]): on one connection, every
    /// lock wait bounded by `timeout`, which is put back afterwards.
    pub async fn migrate(
        &self,
        migrator: &Migrator,
        direction: Direction,
        timeout: LockTimeout,
    ) -> Result<(), MigrationFailed> {
        dispatch!(self, |p, _d| {
            didhub_migrations::migrate(migrator, p, direction, timeout).await
        })
    }

    /// The plan of a query (literal SQL, no parameters).
    pub async fn explain(&self, sql: &str) -> Result<Plan, HarnessError> {
        let kind = self.kind();
        let explain = sqlx::AssertSqlSafe(plans::explain_sql(kind, sql));
        let output = dispatch!(self, |p, dialect| dialect::plan_text(p, explain).await)
            .map_err(|e| HarnessError::database(kind, e))?;
        super::parse_plan(kind, &output).map_err(|error| HarnessError::Plan {
            backend: kind,
            error,
        })
    }

    /// Runs SQL text as is (several statements allowed).
    pub async fn execute(&self, sql: &str) -> Result<(), HarnessError> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let result = dispatch!(self, |p, _d| sqlx::raw_sql(sql).execute(p).await.map(drop));
        result.map_err(|e| HarnessError::database(self.kind(), e))
    }

    /// Every row of `table`, each value as text in the backend's spelling (see
    /// [`crate::data::canonical_output`]), columns in the table's order.
    pub async fn read_rows(
        &self,
        name: &str,
        table: &Table,
    ) -> Result<Vec<Vec<Option<String>>>, HarnessError> {
        let kind = self.kind();
        let spell = data_sql(kind);
        let columns: Vec<String> = table.columns.iter().map(spell.read).collect();
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {}",
            columns.join(", "),
            (spell.quote)(name)
        ));
        let rows = dispatch!(self, |p, _d| sqlx::query(sql)
            .fetch_all(p)
            .await
            .and_then(texts));
        rows.map_err(|e| HarnessError::database(kind, e))
    }

    /// Inserts one row; `values` are canonical (see [`crate::data`]), one per column.
    pub async fn insert_row(
        &self,
        name: &str,
        columns: &[&Column],
        values: Vec<Option<String>>,
    ) -> Result<(), HarnessError> {
        let kind = self.kind();
        let spell = data_sql(kind);
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO {} ({}) VALUES ({})",
            (spell.quote)(name),
            columns
                .iter()
                .map(|c| (spell.quote)(&c.name))
                .collect::<Vec<_>>()
                .join(", "),
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| (spell.write)(i + 1, c))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let values: Vec<Option<String>> = columns
            .iter()
            .zip(values)
            .map(|(column, value)| value.map(|v| input_value(kind, column, v)))
            .collect();
        let result = dispatch!(self, |p, _d| {
            bind_all(sqlx::query(sql), values)
                .execute(p)
                .await
                .map(drop)
        });
        result.map_err(|e| HarnessError::database(kind, e))
    }

    pub async fn close(&self) {
        dispatch!(self, |p, _d| p.close().await)
    }
}

/// A canonical value as the backend takes it for its column. Booleans are 1 and 0 everywhere
/// (PostgreSQL's boolean input reads those too); only MySQL spells timestamps its own way.
pub(crate) fn input_value(kind: Backend, column: &Column, canonical: String) -> String {
    match (&column.logical, canonical.as_str()) {
        (Logical::Boolean, "true") => "1".to_owned(),
        (Logical::Boolean, "false") => "0".to_owned(),
        (Logical::Timestamp, t) if kind == Backend::MySql => mysql::datetime_input(t),
        _ => canonical,
    }
}

fn bind_all<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    values: Vec<Option<String>>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for value in values {
        query = query.bind(value);
    }
    query
}

/// Every value of every row as text (NULL as `None`).
fn texts<R>(rows: Vec<R>) -> Result<Vec<Vec<Option<String>>>, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|row| (0..row.len()).map(|i| row.try_get(i)).collect())
        .collect()
}
