//! The three backends behind one small surface.
//!
//! A backend answers four questions — how to get a server, how to make a fresh empty database on
//! it, how to connect, and what schema a database has (plus its version and EXPLAIN, later) —
//! and says how it spells reading and writing a value as text ([`DataSql`], for the data
//! staircase).
//! Each lives in its own module with the same shape: [`sqlite`], [`postgres`], [`mysql`].
//!
//! PostgreSQL and MySQL servers start in containers (testcontainers) once per process and are
//! shared; every caller gets its own database on them. `DIDHUB_TEST_POSTGRES_URL` /
//! `DIDHUB_TEST_MYSQL_URL` point a backend at a running server instead (an admin URL; the harness
//! creates databases there). A backend that cannot start is an error that says why — never a
//! silent skip.

//!
//! The rooms: [`server`] (the servers: shared containers, dedicated ones, external URLs),
//! [`database`] (a fresh test database, copied from a migrated template), [`pool`] (a
//! connection to one, and what the harness asks of it, dispatched to the dialect),
//! [`pgbouncer`] (the pooler in front of a PostgreSQL server).

mod database;
pub mod mysql;
pub mod pgbouncer;
mod pool;
pub mod postgres;
mod server;
pub mod sqlite;

use didhub_migrations::{LockTimeout, MigrationFailed};

use crate::plans::{Plan, PlanError};
use crate::schema::Column;

pub use database::TestDatabase;
pub(crate) use pool::input_value;
pub use pool::{Pool, Shape};
pub(crate) use server::ServerSpec;
pub use server::{Dedicated, Server, dedicated, server};

/// How long a statement of a migration the harness applies may wait for a lock. Nothing but
/// the test itself uses a test database, so a wait means a test holds a lock it forgot: it
/// fails after this instead of hanging.
pub const MIGRATION_LOCK_TIMEOUT: LockTimeout = LockTimeout::new(LockTimeout::DEFAULT);

/// Why a migration failed, for a message that names the backend and the file itself: sqlx's
/// words, or a lock timeout's (what waited for what, and what to do).
pub(crate) fn why(failed: &MigrationFailed) -> String {
    match failed {
        MigrationFailed::Error { source, .. } => source.to_string(),
        MigrationFailed::LockTimeout(lock) => lock.reason(),
    }
}

pub use didhub_migrations::Backend;

/// How a backend spells the data staircase's reads and writes. Values travel as text in the
/// canonical form of [`crate::data`]; each backend renders a column as text and casts a text
/// parameter back to the column's type.
pub(super) struct DataSql {
    /// Quotes an identifier.
    quote: fn(&str) -> String,
    /// The expression that reads a column as text.
    read: fn(&Column) -> String,
    /// The placeholder (1-based position) that writes a text parameter into a column.
    write: fn(usize, &Column) -> String,
}

/// An identifier quoted as `kind` quotes one.
pub(crate) fn quote(kind: Backend, name: &str) -> String {
    (data_sql(kind).quote)(name)
}

/// How `backend` spells the data staircase's reads and writes.
fn data_sql(backend: Backend) -> &'static DataSql {
    match backend {
        Backend::Sqlite => &sqlite::DATA_SQL,
        Backend::Postgres => &postgres::DATA_SQL,
        Backend::MySql => &mysql::DATA_SQL,
    }
}

/// The `--db` choice of the command-line tools: one backend or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Selection {
    Sqlite,
    Postgres,
    Mysql,
    All,
}

impl Selection {
    pub fn backends(self) -> Vec<Backend> {
        match self {
            Selection::Sqlite => vec![Backend::Sqlite],
            Selection::Postgres => vec![Backend::Postgres],
            Selection::Mysql => vec![Backend::MySql],
            Selection::All => Backend::ALL.to_vec(),
        }
    }
}

/// Reads what `kind` answered to `EXPLAIN` ([`crate::plans::explain_sql`]; SQLite's `detail`
/// lines joined by newlines) into a [`Plan`], each dialect in its own module.
pub fn parse_plan(kind: Backend, output: &str) -> Result<Plan, PlanError> {
    match kind {
        Backend::Sqlite => sqlite::parse_plan(output),
        Backend::Postgres => postgres::parse_plan(output),
        Backend::MySql => mysql::parse_plan(output),
    }
}
