//! A project's migrations: which folder holds each backend's files, and the settings that travel
//! with them (`didhub-harness.toml` in the migrations folder).
//!
//! Every command finds the folders the same way, from the folder it is given and nothing else,
//! so `check` and `check --migrations <the same folder>` give the same verdict:
//! 1. `[folders]` in the settings file, when it has one;
//! 2. else `sqlite/`, `postgres/` (or diesel's `postgresql/`), `mysql/` (DIDHub's layout, and
//!    diesel's), those that exist;
//! 3. else `migrations/` (SQLite), `migrations_postgres/`, `migrations_mysql/` (the layout of
//!    DIDHub's database guide: `src/migrations*`), those that exist.
//!
//! A folder holds sqlx's files (`0001_users.up.sql`), diesel's folders
//! (`2018-01-14-171611_create_tables/up.sql`) or refinery's files (`V1__users.sql`); see
//! [`crate::migration_file`].
//!
//! [`Project::open`] reads all of it once — the settings, the layout, each folder's `.sql` files
//! and their names — and every check (integrity, the lock file, the lint, each backend's
//! [`crate::migrations::MigrationSet`]) takes what it needs from the one [`Project`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::migration_file::{Direction, FileOnDisk, MigrationFile};
pub use crate::settings_file::Version;
use crate::settings_file::{SettingsError, read_toml};
use crate::{lint, parity};
use didhub_migrations::Backend;

/// Why a project's migrations cannot be read as one, named after what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(
        "{}: no migration folders: expected sqlite/, postgres/ (or postgresql/), mysql/, or \
         migrations/, migrations_postgres/, migrations_mysql/, or [folders] in {SETTINGS_FILE}",
        .root.display()
    )]
    NoFolders { root: PathBuf },
    #[error("the project has no {backend} migrations folder")]
    NoFolderFor { backend: Backend },
    #[error("{}: {reason}", .folder.display())]
    UnreadableFolder { folder: PathBuf, reason: String },
    #[error("cannot read {}: {reason}", .path.display())]
    UnreadableFile { path: PathBuf, reason: String },
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
}

/// A `.sql` file of a driver folder, its name parsed: `None` when it is not a migration's name
/// (a stray file, which integrity reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFile {
    pub path: PathBuf,
    /// Its path relative to the driver folder: `0001_users.up.sql`, or in diesel's layout
    /// `2018-01-14-171611_create_tables/up.sql`.
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

impl Folder {
    /// The versions of its migration files (none when it cannot be read).
    fn versions(&self) -> BTreeSet<i64> {
        self.files
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|file| file.migration.as_ref().map(|m| m.version))
            .collect()
    }
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
        let project = Project {
            root: root.to_owned(),
            settings,
            layout,
            folders,
        };
        project.check_settings_versions()?;
        Ok(project)
    }

    /// The settings' entries that name a backend's version (`[[parity.align]]`, `[runner.*]`)
    /// name a backend the project has a folder for, and a version that folder has. A folder
    /// that cannot be read is left to integrity.
    fn check_settings_versions(&self) -> Result<(), SettingsError> {
        let origin = self.root.join(SETTINGS_FILE).display().to_string();
        let check = |section: String, kind: Backend, versions: &[i64]| {
            let Some(folder) = self.folders.iter().find(|f| f.kind == kind) else {
                return Err(SettingsError::NoFolderFor {
                    origin: origin.clone(),
                    section,
                    backend: kind,
                });
            };
            let have = folder.versions();
            if folder.files.is_err() {
                return Ok(());
            }
            match versions.iter().find(|v| !have.contains(v)) {
                Some(version) => Err(SettingsError::NoSuchVersion {
                    origin: origin.clone(),
                    section,
                    version: *version,
                    folder: folder.name.clone(),
                }),
                None => Ok(()),
            }
        };
        for (n, entry) in self.settings.parity_align().iter().enumerate() {
            for (kind, version) in entry {
                check(align_section(n), *kind, &[*version])?;
            }
        }
        for (kind, runner) in &self.settings.runner {
            let versions: Vec<i64> = runner.no_transaction.iter().map(|v| v.0).collect();
            check(format!("[runner.{kind}]"), *kind, &versions)?;
        }
        Ok(())
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

/// The `.sql` files of one folder, by name, parsed; other files (READMEs) are ignored. A
/// subfolder holding an `up.sql` or a `down.sql` is a migration in diesel's layout: its `.sql`
/// files are listed as `<subfolder>/<file>`; other subfolders are ignored.
fn read_folder(dir: &Path) -> Result<Vec<SqlFile>, String> {
    let mut files = Vec::new();
    for (path, name) in sql_files(dir).map_err(|e| e.to_string())? {
        files.push(SqlFile {
            migration: MigrationFile::parse(&name),
            name,
            path,
        });
    }
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let sub = entry.map_err(|e| e.to_string())?.path();
        let Some(folder) = sub.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !sub.is_dir() || !["up.sql", "down.sql"].iter().any(|f| sub.join(f).is_file()) {
            continue;
        }
        let listed = sql_files(&sub).map_err(|e| format!("{}: {e}", sub.display()))?;
        for (path, name) in listed {
            let name = format!("{folder}/{name}");
            files.push(SqlFile {
                migration: MigrationFile::parse(&name),
                name,
                path,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The `.sql` files directly in `dir`: path and file name.
fn sql_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".sql") && path.is_file() {
            files.push((path.clone(), name.to_owned()));
        }
    }
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
    /// What the project's own migration runner does on each backend (`[runner.mysql]`).
    #[serde(default)]
    pub runner: BTreeMap<Backend, Runner>,
    #[serde(default)]
    pub staircase: StaircaseSettings,
    /// `[impact]`: rows, budgets and allowed migrations of `didhub-harness impact`.
    #[serde(default)]
    pub impact: crate::impact::settings::Settings,
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
    /// Checkpoints where the dialects are meant to agree: each backend's version there
    /// (`[[parity.align]]`, for projects whose dialects keep their own histories).
    #[serde(default)]
    pub align: Vec<BTreeMap<Backend, Version>>,
}

/// What a project's own migration runner does on one backend, so that the harness runs its
/// migrations the same way (`[runner.<backend>]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runner {
    /// Statements the runner runs on a migration's connection before each migration, e.g.
    /// `SET FOREIGN_KEY_CHECKS = 0`.
    #[serde(default)]
    pub session: Vec<String>,
    /// The versions the runner applies and reverts outside a transaction (what sqlx's
    /// `-- no-transaction` first line says).
    #[serde(default)]
    pub no_transaction: Vec<Version>,
}

/// No runner settings: migrations run as sqlx runs them.
static NO_RUNNER: Runner = Runner {
    session: Vec::new(),
    no_transaction: Vec::new(),
};

/// `[staircase]`: how strict the staircase is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaircaseSettings {
    #[serde(default)]
    pub column_order: ColumnOrder,
}

/// Whether a column that a down puts back in another place than it was fails the staircase.
/// PostgreSQL and SQLite can only append a column, so a down that re-adds a dropped column
/// puts it last: a project may accept that (`ignore`) or not (`fail`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnOrder {
    #[default]
    Ignore,
    Fail,
}

/// How errors name the `n`th `[[parity.align]]` entry (counted from 1, as a reader counts).
fn align_section(n: usize) -> String {
    format!("[[parity.align]] entry {}", n + 1)
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
        for (n, entry) in settings.parity.align.iter().enumerate() {
            if entry.len() < 2 {
                return Err(SettingsError::AlignTooFew {
                    origin,
                    section: align_section(n),
                    backends: entry.len(),
                });
            }
        }
        for (kind, runner) in &settings.runner {
            if runner
                .session
                .iter()
                .any(|s| s.trim().trim_end_matches(';').trim().is_empty())
            {
                return Err(SettingsError::EmptyStatement {
                    origin,
                    section: format!("[runner.{kind}] session"),
                });
            }
        }
        Ok(settings)
    }

    /// The checkpoints of `[[parity.align]]`: at each, the version of every backend it names
    /// (checked against the folders by [`Project::open`]).
    pub fn parity_align(&self) -> Vec<BTreeMap<Backend, i64>> {
        self.parity
            .align
            .iter()
            .map(|entry| entry.iter().map(|(kind, v)| (*kind, v.0)).collect())
            .collect()
    }

    /// `[staircase] column_order`: `ignore` unless the settings say `fail`.
    pub fn column_order(&self) -> ColumnOrder {
        self.staircase.column_order
    }

    /// What the project's runner does on `kind` (`[runner.<kind>]`; nothing when absent).
    pub fn runner(&self, kind: Backend) -> &Runner {
        self.runner.get(&kind).unwrap_or(&NO_RUNNER)
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

/// The layouts the harness finds by itself, in the order it looks: each backend's folder, the
/// first of its names that exists.
const LAYOUTS: [[(Backend, &[&str]); 3]; 2] = [
    [
        (Backend::Sqlite, &["sqlite"]),
        // diesel names PostgreSQL's folder `postgresql/`.
        (Backend::Postgres, &["postgres", "postgresql"]),
        (Backend::MySql, &["mysql"]),
    ],
    [
        (Backend::Sqlite, &["migrations"]),
        (Backend::Postgres, &["migrations_postgres"]),
        (Backend::MySql, &["migrations_mysql"]),
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
                .filter_map(|(kind, names)| {
                    let name = names.iter().find(|name| root.join(name).is_dir())?;
                    Some((*kind, (*name).to_owned()))
                })
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

    /// A project whose files are `(path under the root, text)`.
    fn files(files: &[(&str, &str)], settings: Option<&str>) -> tempfile::TempDir {
        let dir = with(&[], settings);
        for (file, text) in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    const DIESEL: [(&str, &str); 6] = [
        (
            "sqlite/2018-01-14-171611_create_tables/up.sql",
            "CREATE TABLE t (id INTEGER);",
        ),
        (
            "sqlite/2018-01-14-171611_create_tables/down.sql",
            "DROP TABLE t;",
        ),
        (
            "postgresql/00000000000000_diesel_initial_setup/up.sql",
            "SELECT 1;",
        ),
        (
            "postgresql/00000000000000_diesel_initial_setup/down.sql",
            "SELECT 1;",
        ),
        (
            "postgresql/2018-01-14-171611_create_tables/up.sql",
            "CREATE TABLE t (id INT);",
        ),
        (
            "postgresql/2018-01-14-171611_create_tables/down.sql",
            "DROP TABLE t;",
        ),
    ];

    #[test]
    fn diesels_layout_is_read_as_it_is() {
        let dir = files(&DIESEL, None);
        std::fs::create_dir(dir.path().join("sqlite/not_a_migration")).unwrap();
        let project = Project::open(dir.path()).unwrap();
        assert_eq!(
            project.layout.folders(),
            [
                (Backend::Sqlite, "sqlite".to_owned()),
                (Backend::Postgres, "postgresql".to_owned())
            ]
        );
        let (_, steps) = project.steps(Backend::Postgres).unwrap();
        assert_eq!(
            steps.into_iter().collect::<Vec<_>>(),
            [
                (
                    0,
                    Step {
                        up: Some("00000000000000_diesel_initial_setup/up.sql".into()),
                        down: Some("00000000000000_diesel_initial_setup/down.sql".into()),
                        simple: None
                    }
                ),
                (
                    20180114171611,
                    Step {
                        up: Some("2018-01-14-171611_create_tables/up.sql".into()),
                        down: Some("2018-01-14-171611_create_tables/down.sql".into()),
                        simple: None
                    }
                )
            ]
        );
        let names: Vec<String> = project
            .migration_files()
            .unwrap()
            .iter()
            .map(FileOnDisk::display)
            .collect();
        assert_eq!(names[0], "sqlite/2018-01-14-171611_create_tables/down.sql");
        assert_eq!(names.len(), 6);
    }

    #[test]
    fn a_postgres_folder_comes_before_diesels_postgresql() {
        let dir = with(&["postgres", "postgresql"], None);
        assert_eq!(
            Layout::of(dir.path()).unwrap().folder(Backend::Postgres),
            Some("postgres")
        );
    }

    #[test]
    fn runner_settings_are_read_and_checked() {
        let runner = "[runner.postgres]\nsession = [\"SET lock_timeout = '1s'\"]\n\
                      no_transaction = [\"20180114171611\", 0]\n";
        let project = Project::open(files(&DIESEL, Some(runner)).path()).unwrap();
        let postgres = project.settings.runner(Backend::Postgres);
        assert_eq!(postgres.session, ["SET lock_timeout = '1s'"]);
        assert_eq!(
            postgres.no_transaction,
            [Version(20180114171611), Version(0)]
        );
        assert_eq!(project.settings.runner(Backend::Sqlite), &Runner::default());

        let error =
            |settings: &str| Project::open(files(&DIESEL, Some(settings)).path()).unwrap_err();
        let unknown = error("[runner.postgres]\nsessions = []\n").to_string();
        assert!(unknown.contains("unknown field `sessions`"), "{unknown}");
        let not_digits =
            error("[runner.postgres]\nno_transaction = [\"2018-01-14\"]\n").to_string();
        assert!(
            not_digits.contains("invalid value: string \"2018-01-14\", expected a version"),
            "{not_digits}"
        );
        assert!(matches!(
            error("[runner.postgres]\nno_transaction = [\"20180114171612\"]\n"),
            ProjectError::Settings(SettingsError::NoSuchVersion { version: 20180114171612, folder, .. })
                if folder == "postgresql"
        ));
        assert!(matches!(
            error("[runner.mysql]\nsession = [\"SET FOREIGN_KEY_CHECKS = 0\"]\n"),
            ProjectError::Settings(SettingsError::NoFolderFor {
                backend: Backend::MySql,
                ..
            })
        ));
        assert!(matches!(
            error("[runner.sqlite]\nsession = [\" ; \"]\n"),
            ProjectError::Settings(SettingsError::EmptyStatement { section, .. })
                if section == "[runner.sqlite] session"
        ));
    }

    #[test]
    fn parity_checkpoints_and_column_order_are_read_and_checked() {
        let defaults = Project::open(files(&DIESEL, None).path()).unwrap();
        assert!(defaults.settings.parity_align().is_empty());
        assert_eq!(defaults.settings.column_order(), ColumnOrder::Ignore);

        let settings = "[[parity.align]]\nsqlite = \"20180114171611\"\npostgres = \"20180114171611\"\n\
                        [[parity.align]]\nsqlite = \"20180114171611\"\npostgres = \"0\"\n\
                        [staircase]\ncolumn_order = \"fail\"\n";
        let project = Project::open(files(&DIESEL, Some(settings)).path()).unwrap();
        assert_eq!(
            project.settings.parity_align(),
            [
                BTreeMap::from([
                    (Backend::Sqlite, 20180114171611),
                    (Backend::Postgres, 20180114171611)
                ]),
                BTreeMap::from([(Backend::Sqlite, 20180114171611), (Backend::Postgres, 0)])
            ]
        );
        assert_eq!(project.settings.column_order(), ColumnOrder::Fail);

        let error =
            |settings: &str| Project::open(files(&DIESEL, Some(settings)).path()).unwrap_err();
        let missing = error(
            "[[parity.align]]\nsqlite = \"20180114171611\"\npostgres = \"20180114171611\"\n\
             [[parity.align]]\nsqlite = \"20180114171611\"\npostgres = \"20190101000000\"\n",
        );
        assert!(
            missing.to_string().ends_with(
                "[[parity.align]] entry 2 names version 20190101000000, which postgresql/ does not have"
            ),
            "{missing}"
        );
        let one = error("[[parity.align]]\nsqlite = \"20180114171611\"\n");
        assert!(matches!(
            one,
            ProjectError::Settings(SettingsError::AlignTooFew { backends: 1, .. })
        ));
        let no_folder = error("[[parity.align]]\nsqlite = \"20180114171611\"\nmysql = \"1\"\n");
        assert!(
            no_folder.to_string().ends_with(
                "[[parity.align]] entry 1 names mysql, which has no migrations folder in this project"
            ),
            "{no_folder}"
        );
        let unknown = error("[staircase]\ncolumn_order = \"warn\"\n").to_string();
        assert!(unknown.contains("unknown variant `warn`"), "{unknown}");
        let unknown = error("[staircase]\ncolumns = \"fail\"\n").to_string();
        assert!(unknown.contains("unknown field `columns`"), "{unknown}");
    }
}
