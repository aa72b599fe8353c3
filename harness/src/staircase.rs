//! The staircase: walk every migration up and down on a real database.
//!
//! For each reversible version N: apply up to N and record the schema S(N); revert to N−1 and
//! require exactly S(N−1); apply N again and require exactly S(N). An up-only version
//! (`NNNN_name.sql`, which sqlx never reverts) and version 0 (which sqlx's `undo` never reaches)
//! are applied and their schema recorded; they have no down to check. Finally revert everything
//! sqlx can revert — down to the newest version it cannot revert, or to nothing — and require
//! exactly the schema recorded there (no table at all).
//!
//! Every failure is reported and the walk goes on ([`Failure`]): a down that fails or restores
//! something else is reported, and the walk continues from a fresh database brought to the
//! version, since the schema its up gave is what later versions see. Only an up that fails ends
//! a walk — every later version applies on top of it — and the versions left are named as
//! unchecked, with why ([`Unchecked`]). A down that puts every column back but not in its place
//! (PostgreSQL and SQLite can only append a column) is noted, not failed, unless the project
//! asks ([`ColumnOrder`]).
//!
//! A migration that fails is replayed on a fresh database, statement by statement, to name the
//! statement's line ([`Failure::MigrationFailed`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use didhub_migrations::{MigrationFailed, excerpt};
use sqlx::migrate::MigrateError;

use crate::HarnessError;
use crate::backend::{Backend, Pool, TestDatabase, why};
use crate::migrations::MigrationSet;
use crate::once_map::OnceMap;
use crate::project::{ColumnOrder, ProjectError};
use crate::report::{Finding, Outcome, Stair, Timeline};
use crate::schema::{Difference, Schema};
use crate::sql;

/// Why a walk or a schema could not be had: the harness could not run it, or (for
/// [`schema_at`]) a migration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StaircaseError {
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error(transparent)]
    Failed(#[from] Failure),
}

/// What a walk found wrong: each is reported, and the walk goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// `reason` names the failing statement's line when a replay found it:
    /// `line 3: INSERT INTO missing (id) VALUES (1): no such table: missing`.
    #[error("{backend}: {file} (version {version}) failed: {reason}")]
    MigrationFailed {
        backend: Backend,
        version: i64,
        file: String,
        /// The failing statement's line, when a replay found it.
        line: Option<usize>,
        reason: String,
    },
    #[error("{backend}: {file} (version {version}{}) does not restore the schema of version {previous}:\n  {}", if *.empty { ", a file without a statement" } else { "" }, Difference::lines(.diff))]
    DownDoesNotRestore {
        backend: Backend,
        version: i64,
        previous: i64,
        file: String,
        /// The down holds no statement (only comments, or nothing).
        empty: bool,
        diff: Vec<Difference>,
    },
    #[error("{backend}: {file} (version {version}) gives a different schema when applied again after its down:\n  {}", Difference::lines(.diff))]
    UpNotRepeatable {
        backend: Backend,
        version: i64,
        file: String,
        diff: Vec<Difference>,
    },
    #[error("{backend}: reverting every migration leaves tables behind: {}", .tables.join(", "))]
    LeftBehind {
        backend: Backend,
        tables: Vec<String>,
    },
    #[error("{backend}: reverting every reversible migration after the version {version} ({file}), which sqlx cannot revert, does not give the schema of version {version} back:\n  {}", Difference::lines(.diff))]
    RevertAllDoesNotRestore {
        backend: Backend,
        version: i64,
        file: String,
        diff: Vec<Difference>,
    },
}

impl Failure {
    /// The version it is about, when it is about one.
    pub fn version(&self) -> Option<i64> {
        match self {
            Failure::MigrationFailed { version, .. }
            | Failure::DownDoesNotRestore { version, .. }
            | Failure::UpNotRepeatable { version, .. }
            | Failure::RevertAllDoesNotRestore { version, .. } => Some(*version),
            Failure::LeftBehind { .. } => None,
        }
    }

    /// The file it names, when it names one.
    pub fn file(&self) -> Option<&str> {
        match self {
            Failure::MigrationFailed { file, .. }
            | Failure::DownDoesNotRestore { file, .. }
            | Failure::UpNotRepeatable { file, .. }
            | Failure::RevertAllDoesNotRestore { file, .. } => Some(file),
            Failure::LeftBehind { .. } => None,
        }
    }

    /// The failure as a report's findings: its backend, version, file, line and kind (as the
    /// rule); one finding for each difference it names, with its table, column or object, and
    /// part (as the aspect).
    pub fn findings(&self) -> Vec<Finding> {
        let (backend, line, diff) = match self {
            Failure::MigrationFailed { backend, line, .. } => (*backend, *line, &[][..]),
            Failure::DownDoesNotRestore { backend, diff, .. }
            | Failure::UpNotRepeatable { backend, diff, .. }
            | Failure::RevertAllDoesNotRestore { backend, diff, .. } => (*backend, None, &diff[..]),
            Failure::LeftBehind { backend, .. } => (*backend, None, &[][..]),
        };
        let finding = Finding {
            backend: Some(backend),
            version: self.version(),
            file: self.file().map(str::to_owned),
            line,
            rule: Some(self.kind().to_owned()),
            message: self.to_string(),
            ..Finding::default()
        };
        if diff.is_empty() {
            return vec![finding];
        }
        let said = self.to_string();
        let header = said.lines().next().unwrap_or_default();
        diff.iter()
            .map(|difference| {
                let column = difference.part == "column";
                Finding {
                    table: Some(difference.table.clone()),
                    column: column.then(|| difference.object.clone()).flatten(),
                    object: (!column).then(|| difference.object.clone()).flatten(),
                    aspect: Some(difference.part.to_owned()),
                    message: format!("{header}\n  {difference}"),
                    ..finding.clone()
                }
            })
            .collect()
    }

    /// `migration failed`, `down does not restore`, …: what kind of failure, for machines.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::MigrationFailed { .. } => "migration failed",
            Failure::DownDoesNotRestore { .. } => "down does not restore",
            Failure::UpNotRepeatable { .. } => "up not repeatable",
            Failure::LeftBehind { .. } => "left behind",
            Failure::RevertAllDoesNotRestore { .. } => "revert all does not restore",
        }
    }
}

/// A down that restored every column of a table, but not their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reordered {
    pub version: i64,
    pub file: String,
    /// `table: a,c,b (was a,b,c)`, one per table.
    pub tables: Vec<String>,
}

/// Versions the walk could not reach, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unchecked {
    /// The versions, oldest first.
    pub versions: Vec<i64>,
    pub why: String,
}

/// What a walk did: the schema after each version it reached, which downs it checked, and
/// everything it found wrong on the way.
#[derive(Debug, Clone)]
pub struct Staircase {
    pub kind: Backend,
    /// `(version, schema)`, version 0 first (the empty database, or the schema of a version 0
    /// migration when the project has one).
    pub steps: Vec<(i64, Schema)>,
    /// Every version of the folder, reached or not.
    pub all_versions: Vec<i64>,
    /// The versions whose down was checked (it restored the schema before, and the up applied
    /// again gave the same schema). The other versions are up-only or cannot be reverted by
    /// sqlx (version 0), or their down failed: see `failures`.
    pub downs_checked: BTreeSet<i64>,
    /// Versions sqlx cannot revert although they are not up-only files: version 0, which
    /// `undo` never reaches (it reverts every version above its target, and 0 is the lowest).
    pub not_revertible: Vec<i64>,
    /// Every failure, in the order found.
    pub failures: Vec<Failure>,
    /// Downs that put columns back in another order (see [`ColumnOrder`]).
    pub reordered: Vec<Reordered>,
    /// What the walk did not check, and why.
    pub unchecked: Vec<Unchecked>,
    /// How long each version's up took, and its down and up again where they ran.
    pub times: BTreeMap<i64, StepTime>,
}

/// The time one version took on the walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepTime {
    pub up: Duration,
    /// The down and the up again, when the version was reverted.
    pub down_and_up: Option<Duration>,
}

impl Staircase {
    /// Every version of the folder with how far it got, its times and why it failed or went
    /// unchecked: the report's staircase.
    pub fn timeline(&self, set: &MigrationSet) -> Timeline {
        let reached: BTreeSet<i64> = self.steps.iter().map(|(v, _)| *v).collect();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let stairs = self
            .all_versions
            .iter()
            .map(|&version| {
                let failures: Vec<String> = self
                    .failures
                    .iter()
                    .filter(|f| f.version() == Some(version))
                    .map(|f| format!("{}: {f}", f.kind()))
                    .collect();
                let unchecked = self
                    .unchecked
                    .iter()
                    .find(|u| u.versions.contains(&version));
                let (outcome, why) = if !failures.is_empty() {
                    (Outcome::Failed, Some(failures.join("\n")))
                } else if self.downs_checked.contains(&version) {
                    (Outcome::Checked, None)
                } else if reached.contains(&version) {
                    (Outcome::UpOnly, None)
                } else {
                    (Outcome::Unchecked, unchecked.map(|u| u.why.clone()))
                };
                let time = self.times.get(&version);
                Stair {
                    version,
                    file: set.up_file(version),
                    outcome,
                    up_ms: time.map(|t| ms(t.up)),
                    down_ms: time.and_then(|t| t.down_and_up).map(ms),
                    why,
                }
            })
            .collect();
        Timeline {
            backend: self.kind,
            stairs,
        }
    }

    /// The versions walked (not 0).
    pub fn versions(&self) -> impl Iterator<Item = i64> + '_ {
        self.steps.iter().map(|(v, _)| *v).filter(|v| *v != 0)
    }

    /// The newest version reached, and its schema.
    pub fn newest(&self) -> (i64, &Schema) {
        let (version, schema) = self.steps.last().expect("version 0 is recorded");
        (*version, schema)
    }

    /// Whether every version was reached.
    pub fn complete(&self) -> bool {
        self.newest().0 == self.all_versions.last().copied().unwrap_or(0)
    }

    /// What was checked, never claiming a down that was not: `4 migrations up, down and up
    /// again`, or `4 migrations: 2 up, down and up again, 2 up only (no down to check)`, or
    /// `2 of 4 migrations walked: 1 up, down and up again, 1 with a failure`.
    pub fn summary(&self) -> String {
        let failed: BTreeSet<i64> = self.failures.iter().filter_map(Failure::version).collect();
        let reached: BTreeSet<i64> = self.steps.iter().map(|(v, _)| *v).collect();
        let (mut checked, mut up_only, mut with_failure, mut walked) = (0, 0, 0, 0);
        for v in &self.all_versions {
            if failed.contains(v) {
                with_failure += 1;
            } else if self.downs_checked.contains(v) {
                checked += 1;
            } else if reached.contains(v) && !self.not_revertible.contains(v) {
                up_only += 1;
            }
            if failed.contains(v) || reached.contains(v) {
                walked += 1;
            }
        }
        let all = self.all_versions.len();
        let not_revertible = self.not_revertible.len();
        if walked == all && checked == all {
            return format!("{all} migrations up, down and up again");
        }
        let mut parts = Vec::new();
        if checked > 0 {
            parts.push(format!("{checked} up, down and up again"));
        }
        if up_only > 0 {
            parts.push(format!("{up_only} up only (no down to check)"));
        }
        if not_revertible > 0 {
            let versions: Vec<String> = self.not_revertible.iter().map(i64::to_string).collect();
            parts.push(format!(
                "{not_revertible} up only: version {} (sqlx cannot revert version 0)",
                versions.join(", ")
            ));
        }
        if with_failure > 0 {
            parts.push(format!("{with_failure} with a failure"));
        }
        let head = if walked == all {
            format!("{all} migrations")
        } else {
            format!("{walked} of {all} migrations walked")
        };
        format!("{head}: {}", parts.join(", "))
    }
}

/// Walks `set` on a fresh database of its backend: every version, every failure reported (see
/// the module documentation). An error means the harness could not run the walk (no server, a
/// database that went away), not that a migration failed.
///
/// A walk depends only on the migrations' text, the files they are read from, the statements
/// the project runs before each, and the server, so within one process a set the same in all of
/// these as one already walked on that backend gets the recorded staircase instead of a second
/// walk (tests check many copies of a migration set that differ in one dialect only). The same
/// text under other file names, or with other run settings, is walked again: its report names
/// its own files, and its settings may change the outcome.
pub async fn walk(set: &MigrationSet, positions: ColumnOrder) -> Result<Staircase, HarnessError> {
    type Key = (Backend, ColumnOrder, Vec<u8>);
    static WALKED: LazyLock<OnceMap<Key, Staircase>> = LazyLock::new(OnceMap::new);
    let (kind, content) = content_key(set);
    WALKED
        .cell((kind, positions, content))
        .get_or_try_init(|| {
            // Boxed, so that callers' futures do not nest the whole walk.
            Box::pin(async {
                let mut walker = Walker::start(set, positions).await?;
                let result = walker.walk().await;
                walker.finish().await;
                result
            })
        })
        .await
        .cloned()
}

/// The backend, everything sqlx knows of each migration, in order (version, kind — up, down,
/// simple —, description, transaction mode and the checksum, SHA-384, of its text), and the
/// set's walk context (file names, run settings, empty files).
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
    key.extend_from_slice(set.walk_context().as_bytes());
    (set.kind, key)
}

/// One walk: the set, the database it is on, and what it found so far.
struct Walker<'s> {
    set: &'s MigrationSet,
    positions: ColumnOrder,
    db: TestDatabase,
    pool: Pool,
    stairs: Staircase,
}

impl<'s> Walker<'s> {
    async fn start(
        set: &'s MigrationSet,
        positions: ColumnOrder,
    ) -> Result<Walker<'s>, HarnessError> {
        let db = TestDatabase::create(set.kind).await?;
        let pool = db.connect().await?;
        let empty = pool.introspect().await;
        let empty = match empty {
            Ok(schema) => schema,
            Err(e) => {
                pool.close().await;
                return Err(e);
            }
        };
        Ok(Walker {
            set,
            positions,
            db,
            pool,
            stairs: Staircase {
                kind: set.kind,
                steps: vec![(0, empty)],
                all_versions: set.versions(),
                downs_checked: BTreeSet::new(),
                not_revertible: Vec::new(),
                failures: Vec::new(),
                reordered: Vec::new(),
                unchecked: Vec::new(),
                times: BTreeMap::new(),
            },
        })
    }

    async fn finish(self) {
        self.pool.close().await;
        // Best effort: a database left behind goes with its server.
        let _ = self.db.discard().await;
    }

    /// A fresh database at `version`, which the walk reached before, for going on after a
    /// failure left the database somewhere else (a down that failed half way on MySQL, which
    /// commits each statement; a down that restored something else).
    async fn reset_to(&mut self, version: i64) -> Result<(), StaircaseError> {
        let db = TestDatabase::create(self.set.kind).await?;
        let pool = db.connect().await?;
        let old_db = std::mem::replace(&mut self.db, db);
        let old_pool = std::mem::replace(&mut self.pool, pool);
        old_pool.close().await;
        let _ = old_db.discard().await;
        if let Err(e) = self.pool.migrate_up(&self.set.migrator, version).await {
            return Err(failed(self.set, Failed::Up(version), e).await.into());
        }
        Ok(())
    }

    fn failure(&mut self, failure: Failure) {
        self.stairs.failures.push(failure);
    }

    async fn walk(&mut self) -> Result<Staircase, HarnessError> {
        let versions = self.set.versions();
        for (i, &version) in versions.iter().enumerate() {
            match self.step(version).await {
                Ok(true) => {}
                Ok(false) => {
                    let rest = versions[i + 1..].to_vec();
                    if !rest.is_empty() {
                        self.stairs.unchecked.push(Unchecked {
                            why: format!(
                                "{} (version {version}) failed, and every later version \
                                 applies on top of it",
                                self.set.up_file(version)
                            ),
                            versions: rest,
                        });
                    }
                    return Ok(self.stairs.clone());
                }
                Err(StaircaseError::Harness(e)) => return Err(e),
                Err(StaircaseError::Failed(f)) => {
                    // The database the walk had reached could not be made again: what is
                    // left cannot be walked.
                    self.failure(f);
                    let rest = versions[i + 1..].to_vec();
                    if !rest.is_empty() {
                        self.stairs.unchecked.push(Unchecked {
                            why: format!(
                                "a fresh database could not be brought back to version {version}"
                            ),
                            versions: rest,
                        });
                    }
                    return Ok(self.stairs.clone());
                }
            }
        }
        self.revert_everything().await?;
        Ok(self.stairs.clone())
    }

    /// Walks one version: up, and for a revertible one down and up again. `Ok(false)` when its
    /// up failed, which ends the walk: every later version builds on it. Any other failure is
    /// recorded and the walk goes on from a fresh database at this version, since the schema
    /// the up gave is what later versions see.
    async fn step(&mut self, version: i64) -> Result<bool, StaircaseError> {
        let set = self.set;
        let (previous, before) = self
            .stairs
            .steps
            .last()
            .cloned()
            .expect("version 0 is recorded");
        let started = Instant::now();
        let applied = self.pool.migrate_up(&set.migrator, version).await;
        let time = self.stairs.times.entry(version).or_default();
        time.up = started.elapsed();
        if let Err(e) = applied {
            let failure = failed(set, Failed::Up(version), e).await;
            self.failure(failure);
            return Ok(false);
        }
        let after = self.pool.introspect().await?;
        if version == 0 {
            // Nothing comes before version 0: its schema is where every revert ends.
            self.stairs.not_revertible.push(0);
            self.stairs.steps[0] = (0, after);
            return Ok(true);
        }
        if !set.can_revert(version) {
            self.stairs.steps.push((version, after));
            return Ok(true);
        }
        let started = Instant::now();
        let checked = self
            .down_and_up_again(version, previous, &before, &after)
            .await?;
        self.stairs.times.entry(version).or_default().down_and_up = Some(started.elapsed());
        if checked {
            self.stairs.downs_checked.insert(version);
        } else {
            // A failed down may have left half of itself (MySQL commits each statement) and a
            // dirty history; a wrong one left another schema: start again from a fresh
            // database at this version.
            self.reset_to(version).await?;
        }
        self.stairs.steps.push((version, after));
        Ok(true)
    }

    /// Reverts `version` to `previous` and applies it again, requiring `before` and then
    /// `after`; whether both held. What did not is recorded.
    async fn down_and_up_again(
        &mut self,
        version: i64,
        previous: i64,
        before: &Schema,
        after: &Schema,
    ) -> Result<bool, StaircaseError> {
        let set = self.set;
        let kind = set.kind;
        if let Err(e) = self.pool.migrate_down(&set.migrator, previous).await {
            let failure = failed(set, Failed::Down(version), e).await;
            self.failure(failure);
            return Ok(false);
        }
        let reverted = self.pool.introspect().await?;
        let diff = before.diff(&reverted);
        let mut restored = diff.is_empty();
        if !restored {
            let file = set.down_file(version);
            if positions_aside(before)
                .diff(&positions_aside(&reverted))
                .is_empty()
            {
                // Every column is back, in another place.
                self.stairs.reordered.push(Reordered {
                    version,
                    file: file.clone(),
                    tables: reordered_tables(before, &reverted),
                });
                restored = self.positions == ColumnOrder::Ignore;
            }
            if !restored {
                self.failure(Failure::DownDoesNotRestore {
                    backend: kind,
                    version,
                    previous,
                    empty: set.empty_files().contains(&file),
                    file,
                    diff,
                });
                return Ok(false);
            }
        }
        if let Err(e) = self.pool.migrate_up(&set.migrator, version).await {
            let failure = failed(set, Failed::UpAgain(version), e).await;
            self.failure(failure);
            return Ok(false);
        }
        let again = self.pool.introspect().await?;
        let diff = after.diff(&again);
        if !diff.is_empty() {
            self.failure(Failure::UpNotRepeatable {
                backend: kind,
                version,
                file: set.up_file(version),
                diff,
            });
            return Ok(false);
        }
        Ok(true)
    }

    /// Reverts everything sqlx can revert — down to the newest version it cannot revert, or to
    /// nothing — and requires exactly the schema recorded there. After a down already failed
    /// on the way up, this would only meet that failure again: it says so instead.
    async fn revert_everything(&mut self) -> Result<(), HarnessError> {
        let set = self.set;
        let kind = set.kind;
        let newest = self.stairs.newest().0;
        let floor = set
            .versions()
            .into_iter()
            .filter(|v| *v <= newest && !set.can_revert(*v))
            .max();
        if newest == floor.unwrap_or(0) {
            return Ok(());
        }
        let failed_downs: BTreeSet<i64> = self
            .stairs
            .failures
            .iter()
            .filter_map(Failure::version)
            .collect();
        if !failed_downs.is_empty() {
            let which = match failed_downs.len() {
                1 => "the down of one version".to_owned(),
                n => format!("the downs of {n} versions"),
            };
            self.stairs.unchecked.push(Unchecked {
                versions: Vec::new(),
                why: format!(
                    "reverting every migration in turn from the newest was not checked: {which} \
                     already failed on the way up (above)"
                ),
            });
            return Ok(());
        }
        // One version at a time, as sqlx's undo does, so that a failure names its version
        // (MySQL's revert does not).
        for version in set.versions().into_iter().rev() {
            if version > newest {
                continue;
            }
            if version <= floor.unwrap_or(0) || !set.can_revert(version) {
                break;
            }
            if let Err(e) = self
                .pool
                .migrate_down(&set.migrator, set.previous(version))
                .await
            {
                let failure = Failed::RevertingEverything { version, newest };
                let failure = failed(set, failure, e).await;
                self.failure(failure);
                return Ok(());
            }
        }
        let left = self.pool.introspect().await?;
        match floor {
            None if !left.is_empty() => self.failure(Failure::LeftBehind {
                backend: kind,
                tables: left.tables.keys().cloned().collect(),
            }),
            None => {}
            Some(floor) => {
                let recorded = self
                    .stairs
                    .steps
                    .iter()
                    .rfind(|(v, _)| *v == floor)
                    .map(|(_, schema)| schema)
                    .expect("the version was walked");
                let diff = recorded.diff(&left);
                if !diff.is_empty() {
                    self.failure(Failure::RevertAllDoesNotRestore {
                        backend: kind,
                        version: floor,
                        file: set.up_file(floor),
                        diff,
                    });
                }
            }
        }
        Ok(())
    }
}

/// `schema` with every table's columns in name order: what is left to compare when a
/// column's position cannot be restored.
fn positions_aside(schema: &Schema) -> Schema {
    let mut schema = schema.clone();
    for table in schema.tables.values_mut() {
        table.columns.sort_by(|a, b| a.name.cmp(&b.name));
    }
    schema
}

/// `table: a,c,b (was a,b,c)` for each table whose columns are in another order.
fn reordered_tables(before: &Schema, after: &Schema) -> Vec<String> {
    let order = |t: &crate::schema::Table| {
        t.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    before
        .tables
        .iter()
        .filter_map(|(name, was)| {
            let now = after.tables.get(name)?;
            (order(was) != order(now))
                .then(|| format!("{name}: {} (was {})", order(now), order(was)))
        })
        .collect()
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
            Err(failed(set, Failed::Up(version), e).await.into())
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
async fn failed(set: &MigrationSet, failed: Failed, error: MigrationFailed) -> Failure {
    let file = failed.file(set);
    let error = match error {
        MigrationFailed::Error { source, .. } => source,
        lock @ MigrationFailed::LockTimeout(_) => {
            return Failure::MigrationFailed {
                backend: set.kind,
                version: failed.version(),
                file,
                line: None,
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
    let mut line = None;
    let reason = if refused {
        match failing_statement(set, failed, &file).await {
            Ok(Some((at, statement))) => {
                line = Some(at);
                statement
            }
            Ok(None) => format!(
                "{error} (replayed on a fresh database statement by statement, every statement \
                 succeeded: the failing statement is not known)"
            ),
            Err(why) => format!("{error} (the failing statement was not looked for: {why})"),
        }
    } else {
        error.to_string()
    };
    Failure::MigrationFailed {
        backend: set.kind,
        version: failed.version(),
        file,
        line,
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

/// The line and `line N: <statement>: <database message>` of the first statement of `file`
/// that fails on a fresh database brought to where it failed; `None` when each one succeeds.
async fn failing_statement(
    set: &MigrationSet,
    failed: Failed,
    file: &str,
) -> Result<Option<(usize, String)>, NotLookedFor> {
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
        // What the project's runner runs before each migration, as the migrator did.
        for setting in set.session() {
            pool.execute(setting).await?;
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
                let found = format!(
                    "line {}: {}: {message}{}",
                    statement.line,
                    excerpt(&statement.text),
                    mysql8_names(set.kind, &statement.text)
                );
                return Ok(Some((statement.line, found)));
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

/// A note for a MySQL statement that names a constraint the way MySQL 8 generates names
/// (`<table>_chk_N`): MariaDB, which the harness runs, names an unnamed CHECK
/// after its column or `CONSTRAINT_N`, so such a statement fails here for a reason that is
/// not in its SQL.
fn mysql8_names(kind: Backend, statement: &str) -> String {
    if kind != Backend::MySql {
        return String::new();
    }
    let lower = statement.to_ascii_lowercase();
    let generated = lower.match_indices("_chk_").any(|(at, marker)| {
        lower[at + marker.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    });
    if generated {
        " (this statement names a CHECK by MySQL 8's generated name `<table>_chk_N`; MariaDB \
         10.11, which this server is, names an unnamed CHECK after its column or `CONSTRAINT_N`: \
         on MySQL 8 the statement may be right)"
            .to_owned()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql8s_generated_check_names_are_pointed_out_on_mysql_only() {
        let drop = "ALTER TABLE users DROP CHECK users_chk_1";
        assert!(mysql8_names(Backend::MySql, drop).contains("MySQL 8"));
        assert_eq!(mysql8_names(Backend::Postgres, drop), "");
        assert_eq!(
            mysql8_names(
                Backend::MySql,
                "ALTER TABLE users DROP CHECK users_chk_name"
            ),
            ""
        );
    }
}
