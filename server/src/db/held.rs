//! Connections that go back to the pool only in a known state.
//!
//! sqlx pings every connection on its way back to the pool: one more round trip per query, to
//! catch a connection abandoned in the middle of an exchange (a call cut off at the query
//! timeout, a request whose client went away) or of a transaction, and to send the rollback a
//! dropped transaction queued. The server's pools do not (`test_on_release(false)`, our patch of
//! sqlx, vendor/README.md). Instead every connection the server takes is [`Held`]: it goes back
//! to the pool only once its last exchange has ended — a statement answered, a transaction
//! committed or rolled back — and is closed otherwise, which ends whatever was left open on it
//! (the database rolls back the transaction of a connection that closes).

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, Pool};

use super::is_unavailable;

/// A connection taken from the pool, closed when dropped unless [`Held::settle`] found its last
/// exchange ended.
pub(super) struct Held<DB: Database> {
    conn: PoolConnection<DB>,
    /// Whether the connection may go back to the pool as it is.
    settled: bool,
}

impl<DB: Database> Held<DB> {
    /// Takes a connection, unsettled until an exchange on it ends.
    pub(super) async fn acquire(pool: &Pool<DB>) -> Result<Self, sqlx::Error> {
        Ok(Held {
            conn: pool.acquire().await?,
            settled: false,
        })
    }

    /// Marks the exchange that gave `result` as the connection's last: it ended unless the
    /// connection failed under it (an error that means the database is unavailable, such as a
    /// broken socket). An answered error — a constraint violation, a failed COMMIT, which ends
    /// its transaction — leaves the connection usable.
    pub(super) fn settle<T>(&mut self, result: &Result<T, sqlx::Error>) {
        self.settled = match result {
            Ok(_) => true,
            Err(err) => !is_unavailable(err),
        };
    }

    /// Runs a statement without arguments (BEGIN, COMMIT, ROLLBACK).
    pub(super) async fn run(&mut self, statement: &'static str) -> Result<(), sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        sqlx::raw_sql(statement).execute(&mut *self.conn).await?;
        Ok(())
    }
}

impl<DB: Database> Deref for Held<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.conn
    }
}

impl<DB: Database> DerefMut for Held<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }
}

impl<DB: Database> Drop for Held<DB> {
    fn drop(&mut self) {
        if !self.settled {
            self.conn.close_on_drop();
        }
    }
}
