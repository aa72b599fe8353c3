//! A project's migration folders, read at run time (any project, not only DIDHub).
//!
//! [`MigrationSet`] is what the staircase, parity, `snapshot` and the data staircase know of a
//! backend's folder: which versions there are, which file applies each, and whether it can be
//! reverted. It reads file names with [`MigrationFile::parse`], as the lint and the lock file
//! do, and checks that sqlx's migrator sees the same migrations of the same kinds, so what the
//! harness walks is what sqlx runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sqlx::migrate::{MigrationType, Migrator};

use crate::HarnessError;
use crate::migration_file::{Direction, MigrationFile};
use crate::project::Layout;
use didhub_migrations::Backend;

/// The files of one version of a folder: `up` and `down`, or `simple` alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Step {
    /// `NNNN_name.up.sql`.
    up: Option<String>,
    /// `NNNN_name.down.sql`.
    down: Option<String>,
    /// `NNNN_name.sql`, up-only: sqlx applies it and never reverts it.
    simple: Option<String>,
}

impl Step {
    fn up_only(&self) -> bool {
        self.simple.is_some()
    }
}

/// One backend's migrations: the sqlx migrator and the file name of each step.
pub struct MigrationSet {
    pub kind: Backend,
    pub dir: PathBuf,
    pub migrator: Migrator,
    steps: BTreeMap<i64, Step>,
}

impl MigrationSet {
    /// Reads `kind`'s folder under the migrations folder `root` (see [`Layout`]).
    pub async fn load(root: &Path, kind: Backend) -> Result<MigrationSet, HarnessError> {
        let folder = Layout::of(root)
            .and_then(|layout| {
                layout
                    .folder(kind)
                    .map(|f| root.join(f))
                    .ok_or_else(|| format!("the project has no {kind} migrations folder"))
            })
            .map_err(|reason| HarnessError::Migrations {
                dir: root.display().to_string(),
                reason,
            })?;
        let dir = folder;
        let error = |reason: String| HarnessError::Migrations {
            dir: dir.display().to_string(),
            reason,
        };
        let migrator = Migrator::new(dir.as_path())
            .await
            .map_err(|e| error(e.to_string()))?;
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| error(e.to_string()))? {
            let name = entry.map_err(|e| error(e.to_string()))?.file_name();
            names.push(name.to_string_lossy().into_owned());
        }
        let steps = steps(names).map_err(&error)?;
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

/// The steps of a folder, from its file names; other files are not migrations. A version that
/// is both up-only and reversible is an error naming both files.
fn steps(names: Vec<String>) -> Result<BTreeMap<i64, Step>, String> {
    let mut steps: BTreeMap<i64, Step> = BTreeMap::new();
    let mut names: Vec<(MigrationFile, String)> = names
        .into_iter()
        .filter_map(|name| Some((MigrationFile::parse(&name)?, name)))
        .collect();
    names.sort();
    for (parsed, name) in names {
        let step = steps.entry(parsed.version).or_default();
        let slot = match parsed.direction {
            Direction::Up => &mut step.up,
            Direction::Down => &mut step.down,
            Direction::Simple => &mut step.simple,
        };
        if let Some(first) = slot.replace(name.clone()) {
            return Err(format!(
                "version {} appears twice: {first} and {name}",
                parsed.version
            ));
        }
    }
    for (version, step) in &steps {
        if let (Some(simple), Some(reversible)) =
            (&step.simple, step.up.as_ref().or(step.down.as_ref()))
        {
            return Err(format!(
                "version {version} is both up-only ({simple}) and reversible ({reversible})"
            ));
        }
    }
    Ok(steps)
}

/// Whether sqlx's migrator sees the same versions, each of the same kind, as the file names
/// say: an up-only step is sqlx's `Simple`, a reversible one its `ReversibleUp` (with, unless
/// integrity reports it missing, its `ReversibleDown`).
fn agree_with_sqlx(steps: &BTreeMap<i64, Step>, migrator: &Migrator) -> Result<(), String> {
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
            return Err(format!(
                "version {version}: the file names say {}, sqlx reads {types:?}",
                if step.up_only() {
                    "up-only"
                } else {
                    "reversible"
                }
            ));
        }
    }
    if let Some((version, types)) = seen.into_iter().next() {
        return Err(format!(
            "version {version}: sqlx reads {types:?} from a file the harness does not take for a migration"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn up_only_and_reversible_steps_are_told_apart() {
        let steps = steps(names(&[
            "0002_b.down.sql",
            "0001_a.sql",
            "README.md",
            "0002_b.up.sql",
        ]))
        .unwrap();
        assert_eq!(
            steps.into_iter().collect::<Vec<_>>(),
            [
                (
                    1,
                    Step {
                        up: None,
                        down: None,
                        simple: Some("0001_a.sql".into())
                    }
                ),
                (
                    2,
                    Step {
                        up: Some("0002_b.up.sql".into()),
                        down: Some("0002_b.down.sql".into()),
                        simple: None
                    }
                )
            ]
        );
    }

    #[test]
    fn a_version_that_is_both_names_both_files() {
        let error = steps(names(&["0001_a.sql", "0001_a.down.sql"])).unwrap_err();
        assert_eq!(
            error,
            "version 1 is both up-only (0001_a.sql) and reversible (0001_a.down.sql)"
        );
        let error = steps(names(&["0001_a.up.sql", "0001_a.sql"])).unwrap_err();
        assert_eq!(
            error,
            "version 1 is both up-only (0001_a.sql) and reversible (0001_a.up.sql)"
        );
    }
}
