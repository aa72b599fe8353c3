//! Connections that go back to the pool only in a known state.
//!
//! sqlx pings every connection on its way back to the pool: one more round trip per query, to
//! catch a connection abandoned in the middle of an exchange (a call cut off at the query
//! timeout, a request whose client went away) or of a transaction, and to send the rollback a
//! dropped transaction queued. The server's pools do not (`test_on_release(false)`, our patch of
//! sqlx, vendor/README.md). Instead every connection the server takes is [`Held`]: it goes back
//! to the pool only when every exchange on it ended cleanly and no transaction is open on it,
//! and is closed otherwise, which ends whatever was left open (the database rolls back the
//! transaction of a connection that closes).

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Database, Executor, Pool};

use super::error::is_unavailable;
use crate::config::PoolConfig;

/// A connection taken from the pool; closed when dropped in the middle of an exchange, after one
/// that did not end cleanly, or with a transaction open.
pub(super) struct Held<DB: Database> {
    conn: PoolConnection<DB>,
    /// Whether every exchange on the connection ended cleanly, leaving nothing for the next
    /// one to read.
    clean: bool,
    /// Whether a transaction is open on it.
    open: bool,
}

impl<DB: Database> Held<DB> {
    pub(super) async fn acquire(pool: &Pool<DB>) -> Result<Self, sqlx::Error> {
        Ok(Held {
            conn: pool.acquire().await?,
            clean: true,
            open: false,
        })
    }

    /// An exchange begins: until [`Held::finish`], the connection is not clean.
    pub(super) fn start(&mut self) {
        self.clean = false;
    }

    /// The exchange that gave `result` ended. It ended cleanly when it succeeded or the database
    /// answered with an error of the request's making (a constraint violation) or the driver
    /// refused it before sending (an argument it cannot encode) — not when the connection failed
    /// under it (the database is unavailable), nor after an error that can leave part of the
    /// answer unread (a row that cannot be decoded).
    pub(super) fn finish<T>(&mut self, result: &Result<T, sqlx::Error>) {
        self.clean = match result {
            Ok(_) => true,
            Err(err @ sqlx::Error::Database(_)) => !is_unavailable(err),
            Err(sqlx::Error::RowNotFound | sqlx::Error::Encode(_)) => true,
            Err(_) => false,
        };
    }

    /// Opens a transaction with `statement`.
    pub(super) async fn begin(&mut self, statement: &'static str) -> Result<(), sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        self.run(statement).await?;
        self.open = true;
        Ok(())
    }

    /// Ends the transaction with `statement` (COMMIT or ROLLBACK). Nothing is sent after an
    /// exchange in it that did not end cleanly: the connection is closed instead, which rolls
    /// the transaction back. A COMMIT that fails leaves the transaction open for all we know
    /// (SQLite keeps it after SQLITE_FULL, for one), so that closes the connection too.
    pub(super) async fn end(&mut self, statement: &'static str) -> Result<(), sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        if !self.clean {
            return Err(sqlx::Error::Io(std::io::Error::other(
                "the transaction was cut off by a statement that did not finish; it is rolled back",
            )));
        }
        self.run(statement).await?;
        self.open = false;
        Ok(())
    }

    async fn run(&mut self, statement: &'static str) -> Result<(), sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        self.start();
        let result = sqlx::raw_sql(statement).execute(&mut *self.conn).await;
        self.finish(&result);
        result.map(drop)
    }
}

/// `$body` with `$exec` bound to the connection of `$held` (a `&mut Held`), as one exchange.
macro_rules! exchange {
    ($held:expr, |$exec:ident| $body:expr) => {{
        let held = $held;
        held.start();
        let result = async {
            let $exec = &mut **held;
            $body
        }
        .await;
        held.finish(&result);
        result
    }};
}
pub(super) use exchange;

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
        if !self.clean || self.open {
            self.conn.close_on_drop();
        }
    }
}

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
pub(super) fn pool_options<DB: Database>(pool: &PoolConfig) -> PoolOptions<DB> {
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
