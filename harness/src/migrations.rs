//! A project's migration folders, read at run time (any project, not only DIDHub).
//!
//! [`MigrationSet`] is what the staircase, parity, `snapshot` and the data staircase know of a
//! backend's folder: which versions there are, which file applies each, and whether it can be
//! reverted. It takes its steps from the [`Project`], read once, whose file names the lint and
//! the lock file read too.
//!
//! Its sqlx [`Migrator`] runs the migrations the way the project's own runner does:
//! - it is built from the files the [`Project`] listed, one migration per file, in any layout
//!   (sqlx cannot read diesel's or refinery's, and reading sqlx's a second time would be the
//!   folder read twice), each checksummed by sqlx ([`Migration::new`]), so a database the harness
//!   migrates is one `sqlx migrate run` takes as its own;
//! - the settings' `[runner.<backend>]` adds what that runner does around each migration
//!   (statements on its connection first, no transaction for some versions);
//! - a file without a statement (only comments, as diesel writes a down that has nothing to
//!   undo) applies as nothing on every backend, as diesel applies it, where MySQL would refuse
//!   it as an empty query.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::HarnessError;
use crate::migration_file::{MigrationFile, Naming};
use crate::project::{Project, ProjectError, Runner, Step};
use crate::sql;
use didhub_migrations::Backend;

/// One backend's migrations: the sqlx migrator and the file name of each step.
pub struct MigrationSet {
    pub kind: Backend,
    pub dir: PathBuf,
    pub migrator: Migrator,
    steps: BTreeMap<i64, Step>,
    /// The statements the project's runner runs before each migration.
    session: Vec<String>,
    /// The files without a statement.
    empty: BTreeSet<String>,
}

impl MigrationSet {
    /// What a walk of this set depends on besides the migrations' text: the files each version
    /// is named by in reports, the statements the runner runs first, and which files are empty.
    pub(crate) fn walk_context(&self) -> String {
        format!("{:?}\n{:?}\n{:?}", self.steps, self.session, self.empty)
    }

    /// Reads `kind`'s folder under the migrations folder `root` (see [`Project`]).
    pub async fn load(root: &Path, kind: Backend) -> Result<MigrationSet, HarnessError> {
        let project = Project::open(root).map_err(|problem| HarnessError::Migrations {
            dir: root.display().to_string(),
            problem,
        })?;
        MigrationSet::of(&project, kind).await
    }

    /// `kind`'s folder of `project`, built from its files and run as the settings' runner runs
    /// it (see the module documentation).
    pub async fn of(project: &Project, kind: Backend) -> Result<MigrationSet, HarnessError> {
        let (folder, steps) = project
            .steps(kind)
            .map_err(|problem| HarnessError::Migrations {
                dir: project.root.display().to_string(),
                problem,
            })?;
        let dir = folder.dir.clone();
        let read = from_files(&dir, &steps).map_err(|problem| HarnessError::Migrations {
            dir: dir.display().to_string(),
            problem,
        })?;
        let runner = project.settings.runner(kind);
        let mut empty = BTreeSet::new();
        let migrations = read
            .into_iter()
            .map(|migration| {
                let no_statement = has_no_statement(migration.sql.as_str(), kind);
                if no_statement && let Some(file) = file_of(&steps, &migration) {
                    empty.insert(file);
                }
                as_the_runner_runs(migration, runner, no_statement, kind)
            })
            .collect();
        Ok(MigrationSet {
            kind,
            dir,
            // What `Migrator::new` makes of the migrations it read: the same defaults, sorted.
            migrator: Migrator::with_migrations(migrations),
            steps,
            session: runner.session.clone(),
            empty,
        })
    }

    /// The versions, oldest first.
    pub fn versions(&self) -> Vec<i64> {
        self.steps.keys().copied().collect()
    }

    /// Whether `version` is up-only (`NNNN_name.sql`): applied, never reverted.
    pub fn is_up_only(&self, version: i64) -> bool {
        self.steps.get(&version).is_some_and(Step::up_only)
    }

    /// Whether sqlx can revert `version` alone: it is reversible, and there is a version below
    /// it to revert to. sqlx's `undo(target)` reverts the versions above `target`, and reverting
    /// to the version before the first is reverting to 0, so a first version at or below 0
    /// (diesel's `00000000000000_diesel_initial_setup`) is never reverted.
    pub fn can_revert(&self, version: i64) -> bool {
        self.steps.contains_key(&version)
            && !self.is_up_only(version)
            && self.previous(version) < version
    }

    /// The newest up-only version at or below `version`, if any: what reverting everything
    /// stops at, since sqlx's `undo` never reverts an up-only migration.
    pub fn up_only_floor(&self, version: i64) -> Option<i64> {
        self.steps
            .range(..=version)
            .rev()
            .find(|(_, s)| s.up_only())
            .map(|(v, _)| *v)
    }

    /// The version before `version` (0 for the first).
    pub fn previous(&self, version: i64) -> i64 {
        self.steps
            .range(..version)
            .next_back()
            .map_or(0, |(v, _)| *v)
    }

    /// The file that applies `version`: its `.up.sql`, or its `.sql` when it is up-only (in
    /// diesel's layout `<folder>/up.sql`), relative to [`MigrationSet::dir`].
    pub fn up_file(&self, version: i64) -> String {
        self.steps
            .get(&version)
            .and_then(|s| s.simple.as_ref().or(s.up.as_ref()))
            .cloned()
            .unwrap_or_else(|| format!("version {version}"))
    }

    pub fn down_file(&self, version: i64) -> String {
        self.steps
            .get(&version)
            .and_then(|s| s.down.clone())
            .unwrap_or_else(|| format!("(no down file for version {version})"))
    }

    /// The path of a file of this backend's folder.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The statements the project's runner runs on a migration's connection before each
    /// migration (`[runner.<backend>] session`), in order; the migrator runs them at the head
    /// of each migration already, and a replay of a file statement by statement runs them
    /// first.
    pub fn session(&self) -> &[String] {
        &self.session
    }

    /// The files (as [`MigrationSet::up_file`] names them) that hold no statement, only
    /// comments or nothing: they apply as nothing.
    pub fn empty_files(&self) -> Vec<String> {
        self.empty.iter().cloned().collect()
    }
}

/// The migrations of a folder, from the project's files: each up, down and up-only file one
/// migration, of the kind its name says, described as sqlx describes its own (the name with
/// spaces for underscores). Whether one runs outside a transaction is what its tool reads: a
/// sqlx file's first line `-- no-transaction`, as sqlx reads it; diesel's `metadata.toml` beside
/// the file saying `run_in_transaction = false`; never for refinery's (the runner's settings can
/// say so for any).
fn from_files(dir: &Path, steps: &BTreeMap<i64, Step>) -> Result<Vec<Migration>, ProjectError> {
    let mut migrations = Vec::new();
    for (version, step) in steps {
        let files = [
            (&step.simple, MigrationType::Simple),
            (&step.up, MigrationType::ReversibleUp),
            (&step.down, MigrationType::ReversibleDown),
        ];
        for (file, migration_type) in files {
            let Some(file) = file else {
                continue;
            };
            let path = dir.join(file);
            let text =
                std::fs::read_to_string(&path).map_err(|e| ProjectError::UnreadableFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            // Every step's file is one whose name parsed ([`Project::steps`]).
            let Some((parsed, naming)) = MigrationFile::parse_named(file) else {
                continue;
            };
            let no_tx = match naming {
                Naming::Sqlx => text.starts_with("-- no-transaction"),
                Naming::Diesel => !diesel_runs_in_transaction(&path)?,
                Naming::Refinery => false,
            };
            migrations.push(Migration::new(
                *version,
                parsed.name.replace('_', " ").into(),
                migration_type,
                AssertSqlSafe(text).into_sql_str(),
                no_tx,
            ));
        }
    }
    Ok(migrations)
}

/// Whether diesel runs its migration file at `path` (`<folder>/up.sql`) in a transaction:
/// unless the `metadata.toml` of its migration's folder says `run_in_transaction = false`.
fn diesel_runs_in_transaction(path: &Path) -> Result<bool, ProjectError> {
    /// What the harness reads of diesel's `metadata.toml` (diesel may add other keys).
    #[derive(serde::Deserialize)]
    struct Metadata {
        run_in_transaction: Option<bool>,
    }
    let metadata = path.with_file_name("metadata.toml");
    if !metadata.is_file() {
        return Ok(true);
    }
    let unreadable = |reason: String| ProjectError::UnreadableFile {
        path: metadata.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&metadata).map_err(|e| unreadable(e.to_string()))?;
    let read: Metadata = toml::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    Ok(read.run_in_transaction.unwrap_or(true))
}

/// The file a migration was read from.
fn file_of(steps: &BTreeMap<i64, Step>, migration: &Migration) -> Option<String> {
    let step = steps.get(&migration.version)?;
    match migration.migration_type {
        MigrationType::Simple => step.simple.clone(),
        MigrationType::ReversibleUp => step.up.clone(),
        MigrationType::ReversibleDown => step.down.clone(),
    }
}

/// Whether `sql` holds no statement: only whitespace and comments (MySQL's `/*! … */` is not a
/// comment there but SQL it runs). A text the splitter cannot read is taken to hold one.
fn has_no_statement(sql: &str, kind: Backend) -> bool {
    sql::split(sql, kind).is_ok_and(|script| {
        script.statements.is_empty()
            && !(kind == Backend::MySql && script.comments.iter().any(|c| c.text.starts_with('!')))
    })
}

/// `migration` as the project's runner runs it on `kind`: unchanged when the runner does
/// nothing more than sqlx and it is not an empty file MySQL would refuse.
///
/// The runner's session statements come first in the migration's SQL. That is the same as
/// running them on the connection before the migration: sqlx runs one migration's SQL as one
/// script on the one connection that holds the migration lock, so they run on that connection
/// right before the file's first statement (inside the migration's transaction, where there
/// is one: SQLite ignores `PRAGMA foreign_keys` there, so a version that needs it runs outside
/// a transaction, `no_transaction`). A file with no statement keeps only them; on MySQL, which
/// refuses a script with no statement ("Query was empty"), one with nothing else to run is
/// `DO 0`, which evaluates 0 and changes nothing. The checksum is the one of the SQL that runs,
/// so two sets that run different SQL are never taken for one.
fn as_the_runner_runs(
    migration: Migration,
    runner: &Runner,
    no_statement: bool,
    kind: Backend,
) -> Migration {
    let outside_transaction = runner
        .no_transaction
        .iter()
        .any(|v| v.0 == migration.version);
    let refused_as_empty = no_statement && kind == Backend::MySql;
    if runner.session.is_empty() && !outside_transaction && !refused_as_empty {
        return migration;
    }
    let mut sql: String = runner
        .session
        .iter()
        .map(|statement| format!("{};\n", statement.trim().trim_end_matches(';').trim_end()))
        .collect();
    if !no_statement {
        sql.push_str(migration.sql.as_str());
    } else if sql.is_empty() {
        sql.push_str(match kind {
            Backend::MySql => "DO 0",
            Backend::Sqlite | Backend::Postgres => migration.sql.as_str(),
        });
    }
    Migration::new(
        migration.version,
        migration.description,
        migration.migration_type,
        AssertSqlSafe(sql).into_sql_str(),
        migration.no_tx || outside_transaction,
    )
}

#[cfg(test)]
mod tests {
    use sqlx::migrate::Migrate;
    use sqlx::{Connection, SqliteConnection};

    use super::*;

    /// What sqlx knows of each migration: version, description, kind, checksum, transaction
    /// and text.
    fn as_sqlx_knows(
        migrator: &Migrator,
    ) -> Vec<(i64, String, MigrationType, Vec<u8>, bool, String)> {
        migrator
            .iter()
            .map(|m| {
                let text = m.sql.as_str().to_owned();
                let description = m.description.to_string();
                (
                    m.version,
                    description,
                    m.migration_type,
                    m.checksum.to_vec(),
                    m.no_tx,
                    text,
                )
            })
            .collect()
    }

    /// The harness builds its migrator from the files it listed, not from sqlx's reading of the
    /// folder: what it applies must be what `sqlx migrate run` takes as applied (sqlx refuses a
    /// database whose `_sqlx_migrations` holds another checksum for a version).
    #[tokio::test]
    async fn what_the_harness_applies_sqlx_takes_as_applied() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("sqlite");
        std::fs::create_dir(&folder).unwrap();
        for (file, sql) in [
            (
                "0001_users.up.sql",
                "-- no-transaction\r\nCREATE TABLE \"ü\" (id INTEGER);\n",
            ),
            ("0001_users.down.sql", "DROP TABLE \"ü\";\n"),
            ("0002_audit_log.sql", "CREATE TABLE audit_log (at TEXT);\n"),
        ] {
            std::fs::write(folder.join(file), sql).unwrap();
        }
        let project = Project::open(dir.path()).unwrap();
        let harness = MigrationSet::of(&project, Backend::Sqlite)
            .await
            .unwrap()
            .migrator;
        let sqlx = Migrator::new(folder.as_path()).await.unwrap();
        assert_eq!(as_sqlx_knows(&harness), as_sqlx_knows(&sqlx));

        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        harness.run(&mut connection).await.unwrap();
        // sqlx's own migrator holds every applied version's checksum to its file, then finds
        // nothing left to apply.
        sqlx.run(&mut connection).await.unwrap();
        let applied: Vec<(i64, Vec<u8>)> = connection
            .list_applied_migrations(&sqlx.table_name)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.version, a.checksum.into_owned()))
            .collect();
        let read_by_sqlx: Vec<(i64, Vec<u8>)> = sqlx
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| (m.version, m.checksum.to_vec()))
            .collect();
        assert_eq!(applied, read_by_sqlx);
    }
}
