//! Transactions: [`Tx`], one connection held from BEGIN to COMMIT or ROLLBACK.

use std::sync::Arc;
use std::time::Duration;

use didhub_migrations::Backend;
use sqlx::{MySql, Postgres, Sqlite};

use super::conn::{Conn, Target, within};
use super::held::Held;
use super::stmt::{Arg, Stmt};
use super::writes::{Counted, Writes};
use super::{postgres, sqlite};

/// An open transaction. Dropped without [`Tx::commit`] or [`Tx::rollback`] (a request cut off,
/// an early return), its connection is closed, which rolls it back.
pub struct Tx {
    pub(super) inner: TxInner,
    pub(super) query_timeout: Duration,
    /// The counter a write transaction's commit advances ([`super::Db::writes`]).
    pub(super) writes: Option<Arc<Writes>>,
    /// Behind a transaction pooler: statements unnamed ([`Conn::pooled`]).
    pub(super) pooled: bool,
}

pub(super) enum TxInner {
    /// On SQLite a write transaction holds the writers' turn until it ends.
    Sqlite(Held<Sqlite>, Option<sqlite::Turn>),
    Postgres(Held<Postgres>),
    MySql(Held<MySql>),
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
            replicas: None,
            pooled: self.pooled,
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

/// Rows per multi-row INSERT in [`Tx::insert_rows`]: 400 rows of a wide table stay far below the
/// backends' limits on bound parameters (32766 on SQLite, 65535 on MySQL).
pub const INSERT_BATCH: usize = 400;
