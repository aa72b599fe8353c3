//! One connection of its own on any backend, for what must happen on one session in turn (the
//! migration, whose locks are read on it), and the raw SQL the impact run sends everywhere.

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, MySql, Postgres, Row, Sqlite};

use crate::backend::{Backend, Pool};

/// One connection, held until dropped.
pub(crate) enum Session {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
    MySql(PoolConnection<MySql>),
}

/// Runs `$body` with `$c` the executor of whichever backend `$on` is.
macro_rules! on_each {
    ($on:expr, |$c:ident| $body:expr) => {
        match $on {
            Session::Sqlite($c) => $body,
            Session::Postgres($c) => $body,
            Session::MySql($c) => $body,
        }
    };
}

impl Session {
    /// A connection of `pool`'s own.
    pub(crate) async fn of(pool: &Pool) -> Result<Session, sqlx::Error> {
        Ok(match pool {
            Pool::Sqlite(p) => Session::Sqlite(p.acquire().await?),
            Pool::Postgres(p) => Session::Postgres(p.acquire().await?),
            Pool::MySql(p) => Session::MySql(p.acquire().await?),
        })
    }

    pub(crate) fn kind(&self) -> Backend {
        match self {
            Session::Sqlite(_) => Backend::Sqlite,
            Session::Postgres(_) => Backend::Postgres,
            Session::MySql(_) => Backend::MySql,
        }
    }

    /// Runs one statement as is; the rows it changed.
    pub(crate) async fn run(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        on_each!(self, |c| sqlx::raw_sql(sql)
            .execute(&mut **c)
            .await
            .map(|done| done.rows_affected()))
    }

    /// Every row a query returns, each value as the text the backend sends (NULL as `None`).
    pub(crate) async fn texts(
        &mut self,
        sql: &str,
    ) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        on_each!(self, |c| {
            let rows = sqlx::raw_sql(sql).fetch_all(&mut **c).await?;
            rows.iter().map(row_texts).collect()
        })
    }
}

/// Runs one statement on any connection of `pool`; the rows it changed.
pub(crate) async fn run(pool: &Pool, sql: &str) -> Result<u64, sqlx::Error> {
    let sql = AssertSqlSafe(sql.to_owned());
    match pool {
        Pool::Sqlite(p) => sqlx::raw_sql(sql)
            .execute(p)
            .await
            .map(|d| d.rows_affected()),
        Pool::Postgres(p) => sqlx::raw_sql(sql)
            .execute(p)
            .await
            .map(|d| d.rows_affected()),
        Pool::MySql(p) => sqlx::raw_sql(sql)
            .execute(p)
            .await
            .map(|d| d.rows_affected()),
    }
}

/// Every row a query returns on any connection of `pool`, as [`Session::texts`].
pub(crate) async fn texts(pool: &Pool, sql: &str) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
    let sql = AssertSqlSafe(sql.to_owned());
    match pool {
        Pool::Sqlite(p) => sqlx::raw_sql(sql)
            .fetch_all(p)
            .await?
            .iter()
            .map(row_texts)
            .collect(),
        Pool::Postgres(p) => sqlx::raw_sql(sql)
            .fetch_all(p)
            .await?
            .iter()
            .map(row_texts)
            .collect(),
        Pool::MySql(p) => sqlx::raw_sql(sql)
            .fetch_all(p)
            .await?
            .iter()
            .map(row_texts)
            .collect(),
    }
}

/// A row's values as text. Unchecked: the text protocols (PostgreSQL's simple query, MySQL's
/// text protocol) send every value as text, and SQLite converts any value to it.
fn row_texts<R>(row: &R) -> Result<Vec<Option<String>>, sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database>,
{
    (0..row.len()).map(|i| row.try_get_unchecked(i)).collect()
}

/// A text as a SQL string literal, as `kind` reads one (MySQL reads backslashes as escapes).
pub(crate) fn literal(kind: Backend, text: &str) -> String {
    let mut quoted = text.replace('\'', "''");
    if kind == Backend::MySql {
        quoted = quoted.replace('\\', "\\\\");
    }
    format!("'{quoted}'")
}

/// An identifier quoted as `kind` quotes one.
pub(crate) fn ident(kind: Backend, name: &str) -> String {
    match kind {
        Backend::MySql => format!("`{}`", name.replace('`', "``")),
        Backend::Sqlite | Backend::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}
