//! One connection of its own on any backend, for what must happen on one session in turn (the
//! migration, whose locks are read on it), and the raw SQL the impact run sends everywhere.

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, MySql, Postgres, Row, Sqlite};

use crate::backend::{Backend, Pool, quote};

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

impl Session {
    /// Starts a transaction, as the backend spells it.
    pub(crate) async fn begin(&mut self) -> Result<(), sqlx::Error> {
        let begin = match self.kind() {
            Backend::MySql => "START TRANSACTION",
            Backend::Sqlite | Backend::Postgres => "BEGIN",
        };
        self.run(begin).await.map(drop)
    }

    /// Up to `most` rows of `columns` of `table`, each value as text.
    pub(crate) async fn rows_of(
        &mut self,
        table: &str,
        columns: &[String],
        most: u64,
    ) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        let kind = self.kind();
        let columns: Vec<String> = columns.iter().map(|c| quote(kind, c)).collect();
        let sql = format!(
            "SELECT {} FROM {} LIMIT {most}",
            columns.join(", "),
            quote(kind, table)
        );
        self.texts(&sql).await
    }
}

/// Runs one statement on a connection of `pool`, as executing on the pool does; the rows it
/// changed.
pub(crate) async fn run(pool: &Pool, sql: &str) -> Result<u64, sqlx::Error> {
    Session::of(pool).await?.run(sql).await
}

/// Every row a query returns on a connection of `pool`, as [`Session::texts`].
pub(crate) async fn texts(pool: &Pool, sql: &str) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
    Session::of(pool).await?.texts(sql).await
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
