//! The DIDHub migration harness.
//!
//! It works on any sqlx project that keeps one migration folder per driver (`sqlite/`,
//! `postgres/`, `mysql/`), so it knows nothing about DIDHub's schema: it reads folders, starts
//! databases and compares what they report.
//!
//! - [`integrity`]: the folders hold the same versions and names; every version is reversible
//!   (an up and its down) or up-only, alike in every folder.
//! - [`lock`]: released migration files never change (a lock file of their sqlx checksums).
//! - [`lint`]: per dialect, statements that lock or rewrite big tables, lose data, are not
//!   atomic or do not exist in the dialect, found in the SQL text ([`sql`] splits it).
//! - [`backend`]: SQLite files and PostgreSQL/MySQL containers (testcontainers), a fresh
//!   database per caller, and introspection into one normalised [`schema::Schema`].
//! - [`staircase`]: every migration applies, its down restores the previous schema exactly, and
//!   applying it again gives the same schema; at the end nothing is left.
//! - [`data_staircase`]: data fixtures ([`data`]) loaded at version N survive every migration up
//!   to the newest and back, row for row; a down that loses or changes data is named.
//! - [`parity`]: at every version the dialects' schemas, mapped to logical types, agree, except
//!   where a checked-in allow-list says why.
//! - [`plans`]: EXPLAIN on every backend, read into one shape (which index, how many rows).
//! - [`check`]: all of the above, as the CLI's `didhub-harness check` runs it; [`report`] keeps
//!   what it found entry by entry and prints it as text, JSON or JUnit XML.
//! - [`impact`]: what each migration does to a database under load — the locks each statement
//!   takes, the tables it rewrites, how long reads and writes wait — against budgets.
//! - [`scaffold`]: the files of a new migration (`didhub-harness new-migration NAME`).
//!
//! Policy — ordering, up/down, comparison — is written once; the backends only answer
//! questions.

pub mod allow;
pub mod backend;
pub mod check;
pub mod compat;
pub mod data;
pub mod data_staircase;
pub mod expression;
pub mod html;
pub mod images;
pub mod impact;
pub mod integrity;
pub mod lint;
pub mod lock;
pub mod migration_file;
pub mod migrations;
mod once_map;
pub mod parity;
pub mod plans;
pub mod project;
pub mod replica;
pub mod report;
pub mod scaffold;
pub mod schema;
pub mod settings_file;
pub mod staircase;
/// The workspace's one SQL reader, kept beside the migrations it reads first.
pub use didhub_migrations::sql;
pub mod timings;

pub use backend::{Backend, Pool, TestDatabase};

#[cfg(feature = "rstest")]
mod matrix;
#[cfg(feature = "rstest")]
pub use matrix::{backends, servers};
#[cfg(feature = "rstest")]
pub use rstest_reuse;

/// What can go wrong, with the backend (and where it applies the migration) named.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    #[error("{backend}: the Docker daemon is not reachable ({reason}); start dockerd, or point DIDHUB_TEST_{}_URL at a running server", .backend.name().to_uppercase())]
    NoDocker { backend: Backend, reason: String },
    #[error("{backend}: cannot start: {reason}")]
    Start { backend: Backend, reason: String },
    #[error("{backend}: `{command}` failed: {reason}")]
    Docker {
        backend: Backend,
        command: String,
        reason: String,
    },
    #[error("{backend}: cannot make a {template} database: {reason}")]
    Template {
        backend: Backend,
        template: String,
        reason: String,
    },
    #[error("{backend}: cannot read the plan: {error}")]
    Plan {
        backend: Backend,
        #[source]
        error: plans::PlanError,
    },
    #[error("{0}: there is no server to start for this backend")]
    NoServer(Backend),
    #[error("{backend}: database error: {source}")]
    Database {
        backend: Backend,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot read migrations in {dir}: {problem}")]
    Migrations {
        dir: String,
        #[source]
        problem: project::ProjectError,
    },
}

impl HarnessError {
    pub fn database(backend: Backend, source: sqlx::Error) -> Self {
        HarnessError::Database { backend, source }
    }

    /// Whether the harness could not check at all — no Docker daemon, a server that does not
    /// start or went away — rather than found something (the CLI exits 2, not 1). A migration the
    /// database refuses is not one of these: the staircase reports it as
    /// `StaircaseError::MigrationFailed`. `Migrations` is not either: it is a folder whose
    /// files make no migration set (a version twice, a file that cannot be read), which
    /// integrity reports too.
    pub fn cannot_check(&self) -> bool {
        match self {
            HarnessError::NoDocker { .. }
            | HarnessError::Start { .. }
            | HarnessError::Docker { .. }
            | HarnessError::Template { .. }
            | HarnessError::Plan { .. }
            | HarnessError::NoServer(_)
            | HarnessError::Database { .. } => true,
            HarnessError::Migrations { .. } => false,
        }
    }
}
