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
//! the small [`dialect::Dialect`] trait: how to spell placeholders, which errors mean the
//! database is unavailable, and how a write transaction begins (`BEGIN IMMEDIATE` on SQLite, so
//! concurrent writers never fail with "database is locked" when a read lock would need
//! upgrading; they also queue in the process, see [`sqlite::Writers`]). A request's change goes
//! through [`Db::write`], which on SQLite commits the writes waiting at the same moment together
//! ([`group`]).
//!
//! One concept a file, each importing only those below it: [`stmt`] (statements and their
//! arguments), [`writes`] (what was written, and by which caller), [`replicas`] (which
//! PostgreSQL replica may serve a read), [`conn`] (running statements on a pool, a replica or a
//! transaction, within the query timeout), [`tx`] (transactions), [`pool`] (the [`Db`] handle)
//! and [`error`]. Their public names are
//! used from here, `crate::db::Stmt` and so on.

mod conn;
mod dialect;
mod error;
mod failover;
mod group;
mod held;
mod mysql;
mod pool;
mod postgres;
pub mod record;
pub mod replicas;
mod sqlite;
mod stmt;
mod tx;
pub mod types;
mod writes;

pub use conn::Conn;
pub use error::{ConnectError, MigrateError, is_unavailable};
pub use group::{Write, Written};
pub use pool::{Db, MIGRATION_LOCK_TIMEOUT, ROWS_PER_TX};
pub use stmt::{Arg, ArgKind, Record, Spelling, Stmt};
pub use tx::{INSERT_BATCH, Tx};
pub use types::{Id, Timestamp};

/// Also here, beside [`Arg`]: the crate's own modules take it from `db`.
pub use crate::args;
