//! A project's migrations: which folder holds each backend's files, and the settings that travel
//! with them (`didhub-harness.toml` in the migrations folder).
//!
//! Every command finds the folders the same way, from the folder it is given and nothing else,
//! so `check` and `check --migrations <the same folder>` give the same verdict:
//! 1. `[folders]` in the settings file, when it has one;
//! 2. else `sqlite/`, `postgres/`, `mysql/` (DIDHub's layout), those that exist;
//! 3. else `migrations/` (SQLite), `migrations_postgres/`, `migrations_mysql/` (the layout of
//!    DIDHub's database guide: `src/migrations*`), those that exist.
//!
//! [`Project::open`] reads all of it once — the settings, the layout, each folder's `.sql` files
//! and their names — and every check (integrity, the lock file, the lint, each backend's
//! [`crate::migrations::MigrationSet`]) takes what it needs from the one [`Project`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::migration_file::{Direction, FileOnDisk, MigrationFile};
use crate::settings_file::{SettingsError, read_toml};
use crate::{lint, parity};
use didhub_migrations::Backend;

/// Why a project's migrations cannot be read as one, named after what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(
        "{}: no migration folders: expected sqlite/, postgres/, mysql/, or migrations/, \
         migrations_postgres/, migrations_mysql/, or [folders] in {SETTINGS_FILE}",
        .root.display()
    )]
    NoFolders { root: PathBuf },
    #[error("the project has no {backend} migrations folder")]
    NoFolderFor { backend: Backend },
    #[error("{}: {reason}", .folder.display())]
    UnreadableFolder { folder: PathBuf, reason: String },
    #[error("version {version} appears twice: {first} and {second}")]
    VersionTwice {
        version: i64,
        first: String,
        second: String,
    },
    #[error("version {version} is both up-only ({simple}) and reversible ({reversible})")]
    UpOnlyAndReversible {
        version: i64,
        simple: String,
        reversible: String,
    },
    #[error("there is no version {version} (versions: {versions:?})")]
    NoVersion { version: i64, versions: Vec<i64> },
    /// sqlx's own reading of the folder failed.
    #[error("{0}")]
    Sqlx(String),
    #[error("version {version}: the file names say {names_say}, sqlx reads {sqlx_reads}")]
    SqlxDisagrees {
        version: i64,
        names_say: &'static str,
        sqlx_reads: String,
    },
    #[error(
        "version {version}: sqlx reads {sqlx_reads} from a file the harness does not take for a \
         migration"
    )]
    SqlxOnly { version: i64, sqlx_reads: String },
}

/// A `.sql` file of a driver folder, its name parsed: `None` when it is not a migration's name
/// (a stray file, which integrity reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFile {
    pub path: PathBuf,
    pub name: String,
    pub migration: Option<MigrationFile>,
}

/// One backend's driver folder as it was read.
#[derive(Debug, Clone)]
pub struct Folder {
    pub kind: Backend,
    /// Its name under the migrations folder.
    pub name: String,
    pub dir: PathBuf,
    /// Its `.sql` files by name, or why the folder cannot be read.
    pub files: Result<Vec<SqlFile>, String>,
}

/// A project's migrations folder, read once (see the module documentation).
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub settings: Settings,
    pub layout: Layout,
    /// The layout's folders, in its order.
    pub folders: Vec<Folder>,
}

impl Project {
    /// Reads the migrations folder `root`: its settings, layout and driver folders. A folder
    /// that cannot be read is kept as such (integrity names it); settings that cannot be used,
    /// or no driver folder at all, are errors.
    pub fn open(root: &Path) -> Result<Project, ProjectError> {
        let settings = Settings::load(root)?;
        let layout = Layout::with(root, &settings)?;
        let folders = layout
            .folders()
            .iter()
            .map(|(kind, name)| {
                let dir = root.join(name);
                Folder {
                    kind: *kind,
                    name: name.clone(),
                    files: read_folder(&dir),
                    dir,
                }
            })
            .collect();
        Ok(Project {
            root: root.to_owned(),
            settings,
            layout,
            folders,
        })
    }

    /// Every migration file of every folder, by folder, then name; stray files are left to
    /// integrity. A folder that cannot be read is an error.
    pub fn migration_files(&self) -> Result<Vec<FileOnDisk>, ProjectError> {
        let mut all = Vec::new();
        for folder in &self.folders {
            for file in readable(folder)? {
                if let Some(migration) = &file.migration {
                    all.push(FileOnDisk {
                        kind: folder.kind,
                        folder: folder.name.clone(),
                        name: file.name.clone(),
                        path: file.path.clone(),
                        migration: migration.clone(),
                    });
                }
            }
        }
        Ok(all)
    }

    /// `kind`'s folder and its steps, version by version, from its file names.
    pub fn steps(&self, kind: Backend) -> Result<(&Folder, BTreeMap<i64, Step>), ProjectError> {
        let folder = self
            .folders
            .iter()
            .find(|f| f.kind == kind)
            .ok_or(ProjectError::NoFolderFor { backend: kind })?;
        let mut steps: BTreeMap<i64, Step> = BTreeMap::new();
        for file in readable(folder)? {
            let Some(parsed) = &file.migration else {
                continue;
            };
            let step = steps.entry(parsed.version).or_default();
            let slot = match parsed.direction {
                Direction::Up => &mut step.up,
                Direction::Down => &mut step.down,
                Direction::Simple => &mut step.simple,
            };
            if let Some(first) = slot.replace(file.name.clone()) {
                return Err(ProjectError::VersionTwice {
                    version: parsed.version,
                    first,
                    second: file.name.clone(),
                });
            }
        }
        for (version, step) in &steps {
            if let (Some(simple), Some(reversible)) =
                (&step.simple, step.up.as_ref().or(step.down.as_ref()))
            {
                return Err(ProjectError::UpOnlyAndReversible {
                    version: *version,
                    simple: simple.clone(),
                    reversible: reversible.clone(),
                });
            }
        }
        Ok((folder, steps))
    }
}

/// The files of one version of a folder: `up` and `down`, or `simple` alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// `NNNN_name.up.sql`.
    pub up: Option<String>,
    /// `NNNN_name.down.sql`.
    pub down: Option<String>,
    /// `NNNN_name.sql`, up-only: sqlx applies it and never reverts it.
    pub simple: Option<String>,
}

impl Step {
    pub fn up_only(&self) -> bool {
        self.simple.is_some()
    }
}

/// A folder's files, or the error of one that cannot be read.
fn readable(folder: &Folder) -> Result<&[SqlFile], ProjectError> {
    folder
        .files
        .as_deref()
        .map_err(|reason| ProjectError::UnreadableFolder {
            folder: folder.dir.clone(),
            reason: reason.clone(),
        })
}

/// The `.sql` files of one folder, by name, parsed; other files (READMEs) are ignored.
fn read_folder(dir: &Path) -> Result<Vec<SqlFile>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".sql") {
            files.push(SqlFile {
                migration: MigrationFile::parse(name),
                name: name.to_owned(),
                path,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The settings file's name, in the migrations folder.
pub const SETTINGS_FILE: &str = "didhub-harness.toml";

/// What `didhub-harness.toml` may say; every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The data fixtures folder (`vNNNN/<table>.json`), relative to the migrations folder.
    pub fixtures: Option<PathBuf>,
    /// Each backend's folder, relative to the migrations folder.
    pub folders: Option<BTreeMap<Backend, String>>,
    #[serde(default)]
    pub parity: ParitySettings,
    #[serde(default)]
    pub lint: lint::Settings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParitySettings {
    /// Constraint and index names must agree across dialects.
    #[serde(default)]
    pub names: bool,
    #[serde(default)]
    pub sqlite_types: parity::SqliteTypes,
    /// Differences that are intended, each with its reason.
    #[serde(default)]
    pub allow: Vec<parity::Allowed>,
}

impl Settings {
    /// The settings of the migrations folder `root`: its `didhub-harness.toml`, or the defaults
    /// when it has none.
    pub fn load(root: &Path) -> Result<Settings, SettingsError> {
        let path = root.join(SETTINGS_FILE);
        if !path.exists() {
            return Ok(Settings::default());
        }
        let settings: Settings = read_toml(&path)?;
        let origin = path.display().to_string();
        parity::AllowList::of(&settings.parity.allow, &origin)?;
        settings.lint.policy(&origin)?;
        Ok(settings)
    }

    pub fn parity_rules(&self) -> parity::Rules {
        parity::Rules {
            names: self.parity.names,
            sqlite_types: self.parity.sqlite_types,
        }
    }

    /// The lint policy of the migrations folder `root` these settings belong to, with the
    /// allow-list of the file `allow` instead of theirs when given.
    pub fn lint_policy(
        &self,
        root: &Path,
        allow: Option<&Path>,
    ) -> Result<lint::Policy, SettingsError> {
        let mut policy = self
            .lint
            .policy(&root.join(SETTINGS_FILE).display().to_string())?;
        if let Some(path) = allow {
            policy.allow = lint::AllowList::load(path)?;
        }
        Ok(policy)
    }

    pub fn parity_allow(&self) -> parity::AllowList {
        parity::AllowList {
            allow: self.parity.allow.clone(),
        }
    }
}

/// The layouts the harness finds by itself, in the order it looks.
const LAYOUTS: [[(Backend, &str); 3]; 2] = [
    [
        (Backend::Sqlite, "sqlite"),
        (Backend::Postgres, "postgres"),
        (Backend::MySql, "mysql"),
    ],
    [
        (Backend::Sqlite, "migrations"),
        (Backend::Postgres, "migrations_postgres"),
        (Backend::MySql, "migrations_mysql"),
    ],
];

/// Which folder under the migrations folder holds each backend's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Backend and folder name, in backend order.
    folders: Vec<(Backend, String)>,
}

impl Layout {
    /// The layout of the migrations folder `root` (see the module documentation).
    pub fn of(root: &Path) -> Result<Layout, ProjectError> {
        Layout::with(root, &Settings::load(root)?)
    }

    /// The layout of the migrations folder `root`, whose settings are `settings`.
    fn with(root: &Path, settings: &Settings) -> Result<Layout, ProjectError> {
        if let Some(folders) = &settings.folders {
            if folders.is_empty() {
                return Err(SettingsError::NoFolders {
                    origin: root.join(SETTINGS_FILE).display().to_string(),
                }
                .into());
            }
            return Ok(Layout {
                folders: folders.clone().into_iter().collect(),
            });
        }
        for layout in LAYOUTS {
            let folders: Vec<(Backend, String)> = layout
                .iter()
                .filter(|(_, name)| root.join(name).is_dir())
                .map(|(kind, name)| (*kind, (*name).to_owned()))
                .collect();
            if !folders.is_empty() {
                return Ok(Layout { folders });
            }
        }
        Err(ProjectError::NoFolders {
            root: root.to_owned(),
        })
    }

    /// Backend and folder name of every folder the project has.
    pub fn folders(&self) -> &[(Backend, String)] {
        &self.folders
    }

    /// The backends the project has migrations for.
    pub fn backends(&self) -> Vec<Backend> {
        self.folders.iter().map(|(kind, _)| *kind).collect()
    }

    /// The folder of `kind`'s migrations, if the project has one.
    pub fn folder(&self, kind: Backend) -> Option<&str> {
        self.folders
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, name)| name.as_str())
    }

    /// The backend whose folder is `name`.
    pub fn kind_of(&self, name: &str) -> Option<Backend> {
        self.folders
            .iter()
            .find(|(_, n)| n == name)
            .map(|(kind, _)| *kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(folders: &[&str], settings: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for folder in folders {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        }
        if let Some(text) = settings {
            std::fs::write(dir.path().join(SETTINGS_FILE), text).unwrap();
        }
        dir
    }

    /// A project whose only folder, `sqlite/`, holds empty `files`.
    fn sqlite_project(files: &[&str]) -> (tempfile::TempDir, Project) {
        let dir = with(&["sqlite"], None);
        for file in files {
            std::fs::write(dir.path().join("sqlite").join(file), "").unwrap();
        }
        let project = Project::open(dir.path()).unwrap();
        (dir, project)
    }

    #[test]
    fn up_only_and_reversible_steps_are_told_apart() {
        let (_dir, project) = sqlite_project(&[
            "0002_b.down.sql",
            "0001_a.sql",
            "README.md",
            "0002_b.up.sql",
        ]);
        let (folder, steps) = project.steps(Backend::Sqlite).unwrap();
        assert_eq!(folder.name, "sqlite");
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
        assert_eq!(
            project.steps(Backend::MySql).unwrap_err(),
            ProjectError::NoFolderFor {
                backend: Backend::MySql
            }
        );
    }

    #[test]
    fn a_version_that_is_both_names_both_files() {
        let (_dir, project) = sqlite_project(&["0001_a.sql", "0001_a.down.sql"]);
        assert_eq!(
            project.steps(Backend::Sqlite).unwrap_err().to_string(),
            "version 1 is both up-only (0001_a.sql) and reversible (0001_a.down.sql)"
        );
        let (_dir, project) = sqlite_project(&["0001_a.up.sql", "0001_a.sql"]);
        assert_eq!(
            project.steps(Backend::Sqlite).unwrap_err().to_string(),
            "version 1 is both up-only (0001_a.sql) and reversible (0001_a.up.sql)"
        );
    }

    fn names(root: &Path) -> Vec<(Backend, String)> {
        Layout::of(root).unwrap().folders().to_vec()
    }

    #[test]
    fn didhubs_layout_and_the_guides_are_found() {
        let didhub = with(&["sqlite", "postgres", "mysql"], None);
        assert_eq!(
            names(didhub.path()),
            [
                (Backend::Sqlite, "sqlite".to_owned()),
                (Backend::Postgres, "postgres".to_owned()),
                (Backend::MySql, "mysql".to_owned())
            ]
        );
        let guide = with(
            &["migrations", "migrations_postgres", "migrations_mysql"],
            None,
        );
        assert_eq!(
            names(guide.path()),
            [
                (Backend::Sqlite, "migrations".to_owned()),
                (Backend::Postgres, "migrations_postgres".to_owned()),
                (Backend::MySql, "migrations_mysql".to_owned())
            ]
        );
        let two = with(&["migrations", "migrations_postgres"], None);
        assert_eq!(
            Layout::of(two.path()).unwrap().backends(),
            [Backend::Sqlite, Backend::Postgres]
        );
    }

    #[test]
    fn the_settings_file_names_any_other_folders() {
        let dir = with(
            &["lite", "pg"],
            Some("[folders]\nsqlite = \"lite\"\npostgres = \"pg\"\n"),
        );
        let layout = Layout::of(dir.path()).unwrap();
        assert_eq!(layout.folder(Backend::Postgres), Some("pg"));
        assert_eq!(layout.kind_of("lite"), Some(Backend::Sqlite));
        assert_eq!(layout.folder(Backend::MySql), None);
    }

    #[test]
    fn a_folder_without_migration_folders_says_what_it_looked_for() {
        let empty = with(&[], None);
        let error = Layout::of(empty.path()).unwrap_err().to_string();
        assert!(error.contains("no migration folders"), "{error}");
        assert!(error.contains(SETTINGS_FILE), "{error}");
    }

    #[test]
    fn settings_are_checked_when_read() {
        let unknown = with(&["sqlite"], Some("[parity]\nname = true\n"));
        let error = Settings::load(unknown.path()).unwrap_err().to_string();
        assert!(error.contains("unknown field"), "{error}");
        let no_reason = with(
            &["sqlite"],
            Some("[[parity.allow]]\nsubject = \"t.c\"\naspect = \"type\"\nreason = \" \"\n"),
        );
        let error = Settings::load(no_reason.path()).unwrap_err();
        assert!(
            matches!(&error, SettingsError::NoReason { entry, .. } if entry.contains("t.c type")),
            "{error}"
        );
        let rules = with(
            &["sqlite"],
            Some("[parity]\nnames = true\nsqlite_types = \"declared\"\n"),
        );
        let settings = Settings::load(rules.path()).unwrap();
        assert!(settings.parity_rules().names);
        assert_eq!(
            settings.parity_rules().sqlite_types,
            parity::SqliteTypes::Declared
        );
    }
}
