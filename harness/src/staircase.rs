//! The staircase: walk every migration up and down on a real database.
//!
//! For each reversible version N: apply up to N and record the schema S(N); revert to N−1 and
//! require exactly S(N−1); apply N again and require exactly S(N). An up-only version
//! (`NNNN_name.sql`, which sqlx never reverts) is applied and its schema recorded; it has no
//! down to check. Finally revert everything sqlx can revert — down to the newest up-only version,
//! or to 0 when there is none — and require exactly the schema recorded there (no table at 0).
//! A failure names the backend, the version, the file and the exact difference.
//!
//! A migration that fails is replayed on a fresh database, statement by statement, to name the
//! statement's line ([`StaircaseError::MigrationFailed`]).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use didhub_migrations::{MigrationFailed, excerpt};
use sqlx::migrate::MigrateError;

use crate::HarnessError;
use crate::backend::{Backend, Pool, TestDatabase, why};
use crate::migrations::MigrationSet;
use crate::once_map::OnceMap;
use crate::project::ProjectError;
use crate::schema::Schema;
use crate::sql;

#[derive(Debug, thiserror::Error)]
pub enum StaircaseError {
    #[error(transparent)]
    Harness(#[from] HarnessError),
    /// `reason` names the failing statement's line when a replay found it:
    /// `line 3: INSERT INTO missing (id) VALUES (1): no such table: missing`.
    #[error("{backend}: {file} (version {version}) failed: {reason}")]
    MigrationFailed {
        backend: Backend,
        version: i64,
        file: String,
        reason: String,
    },
    #[error("{backend}: {file} (version {version}) does not restore the schema of version {previous}:\n  {}", .diff.join("\n  "))]
    DownDoesNotRestore {
        backend: Backend,
        version: i64,
        previous: i64,
        file: String,
        diff: Vec<String>,
    },
    #[error("{backend}: {file} (version {version}) gives a different schema when applied again after its down:\n  {}", .diff.join("\n  "))]
    UpNotRepeatable {
        backend: Backend,
        version: i64,
        file: String,
        diff: Vec<String>,
    },
    #[error("{backend}: reverting every migration leaves tables behind: {}", .tables.join(", "))]
    LeftBehind {
        backend: Backend,
        tables: Vec<String>,
    },
    #[error("{backend}: reverting every reversible migration after the up-only version {version} ({file}) does not give the schema of version {version} back:\n  {}", .diff.join("\n  "))]
    RevertAllDoesNotRestore {
        backend: Backend,
        version: i64,
        file: String,
        diff: Vec<String>,
    },
}

/// The schema after each version, and which downs were checked.
#[derive(Debug, Clone)]
pub struct Staircase {
    pub kind: Backend,
    /// `(version, schema)`, version 0 first.
    pub steps: Vec<(i64, Schema)>,
    /// The versions whose down was checked (it restored the schema before, and the up applied
    /// again gave the same schema). The other versions are up-only: applied and recorded, with
    /// no down to check.
    pub downs_checked: BTreeSet<i64>,
}

impl Staircase {
    /// The versions walked (not 0).
    pub fn versions(&self) -> impl Iterator<Item = i64> + '_ {
        self.steps.iter().map(|(v, _)| *v).filter(|v| *v != 0)
    }

    /// What was checked, never claiming a down that was not: `4 migrations up, down and up
    /// again`, or `4 migrations: 2 up, down and up again, 2 up only (no down to check)`.
    pub fn summary(&self) -> String {
        let all = self.versions().count();
        let reversible = self.downs_checked.len();
        let up_only = all - reversible;
        if up_only == 0 {
            return format!("{all} migrations up, down and up again");
        }
        let mut parts = Vec::new();
        if reversible > 0 {
            parts.push(format!("{reversible} up, down and up again"));
        }
        parts.push(format!("{up_only} up only (no down to check)"));
        format!("{all} migrations: {}", parts.join(", "))
    }
}

/// Walks `set` on a fresh database of its backend.
///
/// A walk depends only on the migrations' text and the server, so within one process a set
/// whose files are byte for byte the same as one already walked on that backend gets the
/// recorded staircase instead of a second walk (tests check many copies of a migration set that
/// differ in one dialect only). Failed walks are not recorded: they run again.
pub async fn walk(set: &MigrationSet) -> Result<Staircase, StaircaseError> {
    static WALKED: LazyLock<OnceMap<(Backend, Vec<u8>), Staircase>> = LazyLock::new(OnceMap::new);
    WALKED
        .cell(content_key(set))
        .get_or_try_init(|| {
            // Boxed, so that callers' futures do not nest the whole walk.
            Box::pin(async {
                let db = TestDatabase::create(set.kind).await?;
                let pool = db.connect().await?;
                let result = walk_on(&pool, set).await;
                pool.close().await;
                result
            })
        })
        .await
        .cloned()
}

/// The backend and everything sqlx knows of each migration, in order: version, kind (up,
/// down, simple), description, transaction mode and the checksum (SHA-384) of its text.
fn content_key(set: &MigrationSet) -> (Backend, Vec<u8>) {
    let mut key = Vec::new();
    for m in set.migrator.iter() {
        key.extend_from_slice(&m.version.to_le_bytes());
        key.extend_from_slice(format!("{:?}", m.migration_type).as_bytes());
        key.extend_from_slice(m.description.as_bytes());
        key.push(u8::from(m.no_tx));
        key.extend_from_slice(&m.checksum);
        key.push(0);
    }
    (set.kind, key)
}

async fn walk_on(pool: &Pool, set: &MigrationSet) -> Result<Staircase, StaircaseError> {
    let kind = set.kind;
    let mut steps = vec![(0, pool.introspect().await?)];
    let mut downs_checked = BTreeSet::new();
    for version in set.versions() {
        let (previous, before) = steps.last().cloned().expect("version 0 is recorded");
        if let Err(e) = pool.migrate_up(&set.migrator, version).await {
            return Err(failed(set, Failed::Up(version), e).await);
        }
        let after = pool.introspect().await?;
        if set.is_up_only(version) {
            steps.push((version, after));
            continue;
        }

        if let Err(e) = pool.migrate_down(&set.migrator, previous).await {
            return Err(failed(set, Failed::Down(version), e).await);
        }
        let reverted = pool.introspect().await?;
        let diff = before.diff(&reverted);
        if !diff.is_empty() {
            return Err(StaircaseError::DownDoesNotRestore {
                backend: kind,
                version,
                previous,
                file: set.down_file(version),
                diff,
            });
        }

        if let Err(e) = pool.migrate_up(&set.migrator, version).await {
            return Err(failed(set, Failed::UpAgain(version), e).await);
        }
        let again = pool.introspect().await?;
        let diff = after.diff(&again);
        if !diff.is_empty() {
            return Err(StaircaseError::UpNotRepeatable {
                backend: kind,
                version,
                file: set.up_file(version),
                diff,
            });
        }
        downs_checked.insert(version);
        steps.push((version, after));
    }
    // sqlx's undo skips up-only migrations, and reverting the reversible ones below one would
    // not give any recorded schema: revert down to the newest up-only version.
    let newest = steps.last().map_or(0, |(v, _)| *v);
    let floor = set.up_only_floor(newest);
    if newest > floor.unwrap_or(0) {
        // One version at a time, as sqlx's undo does, so that a failure names its version
        // (MySQL's revert does not).
        for version in set.versions().into_iter().rev() {
            if version <= floor.unwrap_or(0) {
                break;
            }
            if let Err(e) = pool
                .migrate_down(&set.migrator, set.previous(version))
                .await
            {
                let failure = Failed::RevertingEverything { version, newest };
                return Err(failed(set, failure, e).await);
            }
        }
        let left = pool.introspect().await?;
        match floor {
            None if !left.is_empty() => {
                return Err(StaircaseError::LeftBehind {
                    backend: kind,
                    tables: left.tables.keys().cloned().collect(),
                });
            }
            None => {}
            Some(floor) => {
                let recorded = steps
                    .iter()
                    .rfind(|(v, _)| *v == floor)
                    .map(|(_, schema)| schema)
                    .expect("the up-only version was walked");
                let diff = recorded.diff(&left);
                if !diff.is_empty() {
                    return Err(StaircaseError::RevertAllDoesNotRestore {
                        backend: kind,
                        version: floor,
                        file: set.up_file(floor),
                        diff,
                    });
                }
            }
        }
    }
    Ok(Staircase {
        kind,
        steps,
        downs_checked,
    })
}

/// The schema of a fresh database with `set` applied up to `version` (every migration when
/// `None`; 0 for none).
pub async fn schema_at(set: &MigrationSet, version: Option<i64>) -> Result<Schema, StaircaseError> {
    let versions = set.versions();
    if let Some(v) = version.filter(|v| *v != 0 && !versions.contains(v)) {
        return Err(HarnessError::Migrations {
            dir: set.dir.display().to_string(),
            problem: ProjectError::NoVersion {
                version: v,
                versions,
            },
        }
        .into());
    }
    let db = TestDatabase::create(set.kind).await?;
    let pool = db.connect().await?;
    let target = version.unwrap_or(i64::MAX);
    let migrated = pool.migrate_up(&set.migrator, target).await;
    let result = match migrated {
        Ok(()) => pool.introspect().await.map_err(StaircaseError::from),
        Err(e) => {
            let version = match &e {
                MigrationFailed::Error {
                    source: MigrateError::ExecuteMigration(_, v),
                    ..
                } => *v,
                MigrationFailed::LockTimeout(lock) => lock.version.unwrap_or(target),
                MigrationFailed::Error { .. } => target,
            };
            Err(failed(set, Failed::Up(version), e).await)
        }
    };
    pool.close().await;
    result
}

/// Which file failed, on the way to which state.
#[derive(Debug, Clone, Copy)]
enum Failed {
    /// Applying the version's up (or up-only) file, from the version before.
    Up(i64),
    /// Applying its up again after its down.
    UpAgain(i64),
    /// Its down, from the version itself.
    Down(i64),
    /// Its down, reverting everything from `newest`.
    RevertingEverything { version: i64, newest: i64 },
}

/// One move of a replay.
#[derive(Debug, Clone, Copy)]
enum Move {
    Up(i64),
    Down(i64),
}

impl Failed {
    fn version(self) -> i64 {
        match self {
            Failed::Up(v) | Failed::UpAgain(v) | Failed::Down(v) => v,
            Failed::RevertingEverything { version, .. } => version,
        }
    }

    /// The file that failed.
    fn file(self, set: &MigrationSet) -> String {
        match self {
            Failed::Up(v) | Failed::UpAgain(v) => set.up_file(v),
            Failed::Down(v) | Failed::RevertingEverything { version: v, .. } => set.down_file(v),
        }
    }

    /// What the walk was doing, when that is not simply applying the file.
    fn doing(self) -> &'static str {
        match self {
            Failed::Up(_) | Failed::Down(_) => "",
            Failed::UpAgain(_) => "applying it again after its down: ",
            Failed::RevertingEverything { .. } => "reverting everything: ",
        }
    }

    /// The moves that bring a fresh database to where the file failed, as the walk did.
    fn replay(self, set: &MigrationSet) -> Vec<Move> {
        match self {
            Failed::Up(v) => vec![Move::Up(set.previous(v))],
            Failed::UpAgain(v) => vec![Move::Up(v), Move::Down(set.previous(v))],
            Failed::Down(v) => vec![Move::Up(v)],
            Failed::RevertingEverything { version, newest } => {
                vec![Move::Up(newest), Move::Down(version)]
            }
        }
    }
}

/// The error for a migration file that failed: every failure site goes through here. When the
/// database refused a statement, the file is replayed on a fresh database, statement by
/// statement, from where it failed, and the first statement that fails is named by its line,
/// its text and the database's message. A replay that finds none says so. A lock wait that
/// gave up is reported as it is: a replay on a fresh database would wait for nothing.
async fn failed(set: &MigrationSet, failed: Failed, error: MigrationFailed) -> StaircaseError {
    let file = failed.file(set);
    let error = match error {
        MigrationFailed::Error { source, .. } => source,
        lock @ MigrationFailed::LockTimeout(_) => {
            return StaircaseError::MigrationFailed {
                backend: set.kind,
                version: failed.version(),
                file,
                reason: format!("{}{}", failed.doing(), why(&lock)),
            };
        }
    };
    // The database refused the file's SQL (MySQL's revert reports it without the version).
    let refused = match &error {
        MigrateError::ExecuteMigration(..) => true,
        MigrateError::Execute(e) => e.as_database_error().is_some(),
        _ => false,
    };
    let reason = if refused {
        match failing_statement(set, failed, &file).await {
            Ok(Some(statement)) => statement,
            Ok(None) => format!(
                "{error} (replayed on a fresh database statement by statement, every statement \
                 succeeded: the failing statement is not known)"
            ),
            Err(why) => format!("{error} (the failing statement was not looked for: {why})"),
        }
    } else {
        error.to_string()
    };
    StaircaseError::MigrationFailed {
        backend: set.kind,
        version: failed.version(),
        file,
        reason: format!("{}{reason}", failed.doing()),
    }
}

/// Why the statement of a file that failed was not looked for.
#[derive(Debug, thiserror::Error)]
enum NotLookedFor {
    #[error("cannot read {}: {reason}", .path.display())]
    Unreadable {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Unterminated(#[from] sql::Unterminated),
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error("the replay did not get to where {file} failed: {why}")]
    Replay { file: String, why: String },
}

/// `line N: <statement>: <database message>` for the first statement of `file` that fails on
/// a fresh database brought to where it failed; `None` when each one succeeds.
async fn failing_statement(
    set: &MigrationSet,
    failed: Failed,
    file: &str,
) -> Result<Option<String>, NotLookedFor> {
    let path = set.dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| NotLookedFor::Unreadable {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let statements = sql::split(&text, set.kind)?.statements;
    let db = TestDatabase::create(set.kind).await?;
    let pool = db.connect().await?;
    let found = async {
        for step in failed.replay(set) {
            let moved = match step {
                Move::Up(v) => pool.migrate_up(&set.migrator, v).await,
                Move::Down(v) => pool.migrate_down(&set.migrator, v).await,
            };
            moved.map_err(|e| NotLookedFor::Replay {
                file: file.to_owned(),
                why: why(&e),
            })?;
        }
        for statement in &statements {
            if let Err(e) = pool.execute(&statement.text).await {
                let message = match &e {
                    HarnessError::Database { source, .. } => match source.as_database_error() {
                        Some(db) => db.message().to_owned(),
                        None => source.to_string(),
                    },
                    other => other.to_string(),
                };
                return Ok(Some(format!(
                    "line {}: {}: {message}",
                    statement.line,
                    excerpt(&statement.text)
                )));
            }
        }
        Ok(None)
    }
    .await;
    pool.close().await;
    // Best effort: a database left behind goes with its server.
    let _ = db.discard().await;
    found
}
