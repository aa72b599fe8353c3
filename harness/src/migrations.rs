//! A project's migration folders, read at run time (any project, not only DIDHub).
//!
//! [`MigrationSet`] is what the staircase, parity, `snapshot` and the data staircase know of a
//! backend's folder: which versions there are, which file applies each, and whether it can be
//! reverted. It takes its steps from the [`Project`], read once, whose file names the lint and
//! the lock file read too, and checks that sqlx's migrator sees the same migrations of the same
//! kinds, so what the harness walks is what sqlx runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sqlx::migrate::{MigrationType, Migrator};

use crate::HarnessError;
use crate::project::{Project, ProjectError, Step};
use didhub_migrations::Backend;

/// One backend's migrations: the sqlx migrator and the file name of each step.
pub struct MigrationSet {
    pub kind: Backend,
    pub dir: PathBuf,
    pub migrator: Migrator,
    steps: BTreeMap<i64, Step>,
}

impl MigrationSet {
    /// Reads `kind`'s folder under the migrations folder `root` (see [`Project`]).
    pub async fn load(root: &Path, kind: Backend) -> Result<MigrationSet, HarnessError> {
        let project = Project::open(root).map_err(|problem| HarnessError::Migrations {
            dir: root.display().to_string(),
            problem,
        })?;
        MigrationSet::of(&project, kind).await
    }

    /// `kind`'s folder of `project`, as sqlx reads it; its file names and sqlx must agree.
    pub async fn of(project: &Project, kind: Backend) -> Result<MigrationSet, HarnessError> {
        let (folder, steps) = project
            .steps(kind)
            .map_err(|problem| HarnessError::Migrations {
                dir: project.root.display().to_string(),
                problem,
            })?;
        let dir = folder.dir.clone();
        let error = |problem: ProjectError| HarnessError::Migrations {
            dir: dir.display().to_string(),
            problem,
        };
        let migrator = Migrator::new(dir.as_path())
            .await
            .map_err(|e| error(ProjectError::Sqlx(e.to_string())))?;
        agree_with_sqlx(&steps, &migrator).map_err(error)?;
        Ok(MigrationSet {
            kind,
            dir,
            migrator,
            steps,
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

    /// The file that applies `version`: its `.up.sql`, or its `.sql` when it is up-only.
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
}

/// Whether sqlx's migrator sees the same versions, each of the same kind, as the file names
/// say: an up-only step is sqlx's `Simple`, a reversible one its `ReversibleUp` (with, unless
/// integrity reports it missing, its `ReversibleDown`).
fn agree_with_sqlx(steps: &BTreeMap<i64, Step>, migrator: &Migrator) -> Result<(), ProjectError> {
    let mut seen: BTreeMap<i64, Vec<MigrationType>> = BTreeMap::new();
    for m in migrator.iter() {
        seen.entry(m.version).or_default().push(m.migration_type);
    }
    for (version, step) in steps {
        let types = seen.remove(version).unwrap_or_default();
        let agrees = if step.up_only() {
            types == [MigrationType::Simple]
        } else {
            types.contains(&MigrationType::ReversibleUp)
                || (step.up.is_none() && types.contains(&MigrationType::ReversibleDown))
        };
        if !agrees {
            return Err(ProjectError::SqlxDisagrees {
                version: *version,
                names_say: if step.up_only() {
                    "up-only"
                } else {
                    "reversible"
                },
                sqlx_reads: format!("{types:?}"),
            });
        }
    }
    if let Some((version, types)) = seen.into_iter().next() {
        return Err(ProjectError::SqlxOnly {
            version,
            sqlx_reads: format!("{types:?}"),
        });
    }
    Ok(())
}
