//! DIDHub's schema as three per-driver migration sets, embedded at compile time.
//!
//! Each backend keeps its own folder (`sqlite/`, `postgres/`, `mysql/`) because the three dialects
//! disagree on types (UUID vs CHAR(36) vs TEXT, BOOLEAN vs TINYINT(1), TIMESTAMPTZ vs DATETIME(6),
//! JSONB vs JSON vs TEXT) and on DDL (MySQL ignores inline REFERENCES, cannot drop an index that a
//! foreign key needs, and commits DDL implicitly). The folders hold the same versions and names,
//! and every migration is reversible (`NNNN_name.up.sql` + `NNNN_name.down.sql`); the crate's tests
//! and the harness hold them to that.
//!
//! [`Backend`] is the one place that knows which backends exist; the server and the harness both
//! pick their migrator through it, and both report a failed migration through
//! [`MigrationFailed`], which names the backend, the version and the file. Before migrating, the
//! server runs [`preflight`]: a database whose migration history disagrees with the files (a
//! migration left dirty half way, an applied file that has changed since, a version from a newer
//! build) is refused with the file, the version and what to do.
//!
//! Both also migrate through one function, [`migrate`], which bounds every lock wait of the
//! migrations by a [`LockTimeout`] on the one connection that runs them: a migration that would
//! queue behind a long transaction (and make every query on its table queue behind it) fails
//! instead, with [`LockTimedOut`] naming the file, the tables it locks, the backend and the
//! setting.
//!
//! [`canonical`] is the one form in which rows are compared whatever backend they came from: the
//! harness's data staircase and the server's table digests both use it.

pub mod canonical;
mod lock_timeout;
pub mod sql;

use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;

use sqlx::migrate::{AppliedMigration, Migrate, MigrateError, Migration, Migrator};
use sqlx::{Acquire, Database, Pool};

pub use lock_timeout::{Direction, LockTimedOut, LockTimeout, LockWaits, Outcome, migrate};
pub use sql::{LockTarget, excerpt};

/// The SQLite migration set (`migrations/sqlite`).
pub static SQLITE: Migrator = sqlx::migrate!("./sqlite");
/// The PostgreSQL migration set (`migrations/postgres`).
pub static POSTGRES: Migrator = sqlx::migrate!("./postgres");
/// The MySQL migration set (`migrations/mysql`), also used for MariaDB.
pub static MYSQL: Migrator = sqlx::migrate!("./mysql");

/// A database backend DIDHub supports: the one name for it across the workspace (the server,
/// the harness, the benchmarks). Written as its [`Backend::name`] (`sqlite`, `postgres`,
/// `mysql`) in settings and on command lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

    /// The backend's short name, which is also its migration folder's name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    /// Picks the backend from a database URL's scheme (`sqlite:`, `postgres:`/`postgresql:`,
    /// `mysql:`/`mariadb:`).
    pub fn from_url(url: &str) -> Result<Self, UnknownScheme> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            _ => Err(UnknownScheme(scheme.to_owned())),
        }
    }

    /// The embedded migrator for this backend.
    pub fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
            Backend::MySql => &MYSQL,
        }
    }

    /// Where this backend's migration files live in the source tree.
    pub fn source_dir(self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(self.name())
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = UnknownBackend;

    /// A backend by its [`Backend::name`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBackend(s.to_owned()))
    }
}

/// A backend name that is none of [`Backend::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend {0:?}: expected sqlite, postgres or mysql")]
pub struct UnknownBackend(pub String);

/// The migrator chosen by a database URL's scheme.
pub fn migrator_for_url(url: &str) -> Result<&'static Migrator, UnknownScheme> {
    Backend::from_url(url).map(Backend::migrator)
}

/// A database URL whose scheme names no supported backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported database URL scheme {0:?}: expected sqlite:, postgres: or mysql:")]
pub struct UnknownScheme(pub String);

/// The file a migration was read from, e.g. `0003_alters.up.sql`.
///
/// sqlx keeps the version and a description with underscores turned into spaces; the naming
/// convention (`NNNN_name.{up,down}.sql`) makes the file name recoverable from those.
pub fn file_name(migration: &Migration) -> String {
    let direction = if migration.migration_type.is_down_migration() {
        "down"
    } else {
        "up"
    };
    format!(
        "{:04}_{}.{direction}.sql",
        migration.version,
        migration.description.replace(' ', "_")
    )
}

/// A migration run that failed, with enough context to find the broken file.
#[derive(Debug, thiserror::Error)]
pub enum MigrationFailed {
    /// A statement waited for a lock longer than the lock timeout: see [`LockTimedOut`].
    #[error(transparent)]
    LockTimeout(#[from] LockTimedOut),
    /// Anything else, as sqlx reports it.
    #[error("{backend}: {}: {source}", location(.file, *.version))]
    Error {
        backend: Backend,
        /// The version whose file failed, when the failure is tied to one.
        version: Option<i64>,
        /// That version's file name in the direction that was being run.
        file: Option<String>,
        #[source]
        source: MigrateError,
    },
}

impl MigrationFailed {
    fn error(
        backend: Backend,
        migrator: &Migrator,
        direction: Direction,
        source: MigrateError,
    ) -> Self {
        let version = match &source {
            MigrateError::ExecuteMigration(_, v)
            | MigrateError::VersionMissing(v)
            | MigrateError::VersionMismatch(v)
            | MigrateError::VersionNotPresent(v)
            | MigrateError::VersionTooOld(v, _)
            | MigrateError::VersionTooNew(v, _)
            | MigrateError::Dirty(v) => Some(*v),
            _ => None,
        };
        let down = matches!(direction, Direction::Down(_));
        let file = version.and_then(|v| {
            migrator
                .iter()
                .find(|m| m.version == v && m.migration_type.is_down_migration() == down)
                .map(file_name)
        });
        MigrationFailed::Error {
            backend,
            version,
            file,
            source,
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            MigrationFailed::LockTimeout(e) => e.backend,
            MigrationFailed::Error { backend, .. } => *backend,
        }
    }

    /// The version whose file failed, when the failure is tied to one.
    pub fn version(&self) -> Option<i64> {
        match self {
            MigrationFailed::LockTimeout(e) => e.version,
            MigrationFailed::Error { version, .. } => *version,
        }
    }

    /// That version's file name in the direction that was being run.
    pub fn file(&self) -> Option<&str> {
        match self {
            MigrationFailed::LockTimeout(e) => e.file.as_deref(),
            MigrationFailed::Error { file, .. } => file.as_deref(),
        }
    }
}

fn location(file: &Option<String>, version: Option<i64>) -> String {
    match (file, version) {
        (Some(file), Some(v)) => format!("migration {file} (version {v})"),
        (None, Some(v)) => format!("migration version {v}"),
        _ => "migrating".to_owned(),
    }
}

/// Applies this backend's migrations up to and including `target` (all when `None`), every
/// lock wait bounded by `timeout` (see [`migrate`]).
pub async fn migrate_up<DB>(
    pool: &Pool<DB>,
    target: Option<i64>,
    timeout: LockTimeout,
) -> Result<(), MigrationFailed>
where
    DB: Database,
    DB::Connection: LockWaits,
{
    let migrator = <DB::Connection as LockWaits>::BACKEND.migrator();
    let direction = Direction::Up(target.unwrap_or(i64::MAX));
    lock_timeout::migrate(migrator, pool, direction, timeout).await
}

/// Reverts this backend's applied migrations newer than `target` (0 reverts everything), every
/// lock wait bounded by `timeout`.
pub async fn migrate_down<DB>(
    pool: &Pool<DB>,
    target: i64,
    timeout: LockTimeout,
) -> Result<(), MigrationFailed>
where
    DB: Database,
    DB::Connection: LockWaits,
{
    let migrator = <DB::Connection as LockWaits>::BACKEND.migrator();
    lock_timeout::migrate(migrator, pool, Direction::Down(target), timeout).await
}

/// How the database's migration history (`_sqlx_migrations`) disagrees with the migration files.
/// Each says which version and file, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryProblem {
    #[error(
        "{backend}: migration {file} (version {version}) failed part way and is recorded as dirty \
         (_sqlx_migrations.success = false). {} Repair by hand: undo the statements of {file} \
         that did apply ({down} reverses each of them) until the schema is as it was before \
         version {version}, then delete the record with \
         `DELETE FROM _sqlx_migrations WHERE version = {version};` and start again: the \
         migration then runs again from its first statement",
        dirty_cause(*.backend)
    )]
    Dirty {
        backend: Backend,
        version: i64,
        file: String,
        down: String,
    },
    #[error(
        "{backend}: migration {file} (version {version}) was applied from a different file: the \
         database recorded sha384 {applied}, this build's file has {expected}. A released \
         migration was edited after it ran here. Put the file back as it was released \
         (migrations.lock has its checksum) and make the change in a new migration, or run the \
         build whose file this database applied"
    )]
    ChecksumMismatch {
        backend: Backend,
        version: i64,
        file: String,
        applied: String,
        expected: String,
    },
    #[error(
        "{backend}: the database has migration version {version} applied, which this build does \
         not know: a newer build (or another migration set) migrated it. Run that build, or \
         revert version {version} with that build's down migrations before starting this one"
    )]
    UnknownVersion { backend: Backend, version: i64 },
}

fn dirty_cause(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => {
            "MySQL commits every DDL statement on its own, so the statements before the one that \
             failed are applied and the rest are not."
        }
        Backend::Sqlite | Backend::Postgres => {
            "Migrations run in a transaction here, so only one that opts out \
             (`-- no-transaction`) can be left like this: partly applied."
        }
    }
}

/// Why [`preflight`] refuses to migrate a database.
#[derive(Debug, thiserror::Error)]
pub enum PreflightFailed {
    #[error("{backend}: cannot read the migration history (_sqlx_migrations): {source}")]
    Unreadable {
        backend: Backend,
        #[source]
        source: MigrateError,
    },
    #[error(
        "{backend}: the database's migration history does not match this build's migrations; \
         refusing to migrate it:\n{}",
        .problems.iter().map(|p| format!("- {p}")).collect::<Vec<_>>().join("\n")
    )]
    Disagrees {
        backend: Backend,
        problems: Vec<HistoryProblem>,
    },
}

/// Checks, before migrating, that the database's applied migrations are the ones this backend's
/// embedded migrations describe: no migration that failed part way (dirty), no applied file
/// whose checksum differs from the embedded one, no applied version the files do not know.
/// sqlx refuses all three too, but with a bare version number; this says which file and what to
/// do. The server calls it at startup, before [`migrate_up`].
pub async fn preflight<'a, A>(backend: Backend, conn: A) -> Result<(), PreflightFailed>
where
    A: Acquire<'a>,
    <A::Connection as Deref>::Target: Migrate,
{
    check_history(backend, backend.migrator(), conn).await
}

/// [`preflight`] against any migrator of the same naming convention (`NNNN_name.{up,down}.sql`).
pub async fn check_history<'a, A>(
    backend: Backend,
    migrator: &Migrator,
    conn: A,
) -> Result<(), PreflightFailed>
where
    A: Acquire<'a>,
    <A::Connection as Deref>::Target: Migrate,
{
    let unreadable = |source: MigrateError| PreflightFailed::Unreadable { backend, source };
    let mut conn = conn
        .acquire()
        .await
        .map_err(|e| unreadable(MigrateError::Execute(e)))?;
    // The same lock the migrator takes: another process's migration in progress is not dirty.
    if migrator.locking {
        conn.lock().await.map_err(unreadable)?;
    }
    let history = read_history(&mut *conn, &migrator.table_name).await;
    if migrator.locking {
        conn.unlock().await.map_err(unreadable)?;
    }
    let (dirty, applied) = history.map_err(unreadable)?;

    let file = |version: i64, down: bool| {
        migrator
            .iter()
            .find(|m| m.version == version && m.migration_type.is_down_migration() == down)
            .map(file_name)
            .unwrap_or_else(|| format!("(no file for version {version})"))
    };
    let mut problems = Vec::new();
    if let Some(version) = dirty {
        problems.push(HistoryProblem::Dirty {
            backend,
            version,
            file: file(version, false),
            down: file(version, true),
        });
    }
    for applied in applied.iter().filter(|a| Some(a.version) != dirty) {
        let embedded = migrator
            .iter()
            .find(|m| m.version == applied.version && !m.migration_type.is_down_migration());
        match embedded {
            None if !migrator.ignore_missing => problems.push(HistoryProblem::UnknownVersion {
                backend,
                version: applied.version,
            }),
            Some(m) if m.checksum != applied.checksum => {
                problems.push(HistoryProblem::ChecksumMismatch {
                    backend,
                    version: applied.version,
                    file: file_name(m),
                    applied: hex(&applied.checksum),
                    expected: hex(&m.checksum),
                })
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PreflightFailed::Disagrees { backend, problems })
    }
}

async fn read_history<C: Migrate + ?Sized>(
    conn: &mut C,
    table: &str,
) -> Result<(Option<i64>, Vec<AppliedMigration>), MigrateError> {
    conn.ensure_migrations_table(table).await?;
    let dirty = conn.dirty_version(table).await?;
    Ok((dirty, conn.list_applied_migrations(table).await?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_from_their_names() {
        for backend in Backend::ALL {
            assert_eq!(backend.name().parse::<Backend>(), Ok(backend));
        }
        assert_eq!(
            "oracle".parse::<Backend>(),
            Err(UnknownBackend("oracle".into()))
        );
    }

    #[test]
    fn url_schemes_pick_their_backend() {
        assert_eq!(
            Backend::from_url("sqlite://data/x.sqlite"),
            Ok(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db"),
            Ok(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("postgres://h/db"), Ok(Backend::Postgres));
        assert_eq!(Backend::from_url("mysql://h/db"), Ok(Backend::MySql));
        assert_eq!(Backend::from_url("mariadb://h/db"), Ok(Backend::MySql));
        assert_eq!(
            Backend::from_url("oracle://h/db"),
            Err(UnknownScheme("oracle".into()))
        );
        assert_eq!(
            Backend::from_url("no-scheme"),
            Err(UnknownScheme("".into()))
        );
    }

    #[test]
    fn migration_file_names_are_recovered_from_version_and_description() {
        let names: Vec<String> = SQLITE.iter().take(2).map(file_name).collect();
        assert!(names.contains(&"0001_users.up.sql".to_owned()), "{names:?}");
        assert!(
            names.contains(&"0001_users.down.sql".to_owned()),
            "{names:?}"
        );
        let perf = SQLITE.iter().find(|m| m.version == 5).unwrap();
        assert!(file_name(perf).starts_with("0005_performance_indexes."));
    }
}
