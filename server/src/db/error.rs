//! The errors of connecting and migrating, and which errors mean the database is unavailable.

use std::time::Duration;

use didhub_migrations::{Backend, MigrationFailed, PreflightFailed};
use sqlx::{MySql, Postgres, Sqlite};

use super::dialect::Dialect;

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
            Sqlite::unavailable(db.as_ref())
                || Postgres::unavailable(db.as_ref())
                || MySql::unavailable(db.as_ref())
        }
        _ => false,
    }
}

/// Why [`super::Db::migrate`] could not bring the schema up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    History(#[from] PreflightFailed),
    #[error(transparent)]
    Migration(#[from] MigrationFailed),
    /// `database.pooler` is `transaction` and no `database.migration_url` is set.
    #[error(
        "migrations cannot run through a transaction pooler (database.pooler = \"transaction\"): \
         the migration lock is a session's advisory lock, which the pooler gives up after each \
         statement, so two servers starting at once could both migrate; set \
         database.migration_url (DIDHUB_MIGRATION_DB) to a direct URL of the PostgreSQL server, \
         used only to migrate"
    )]
    ThroughPooler,
    /// The direct connection of `database.migration_url` could not be made.
    #[error("database.migration_url: {0}")]
    MigrationUrl(#[source] Box<ConnectError>),
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
