//! A project's migrations: which folder holds each backend's files, and the settings that travel
//! with them (`didhub-harness.toml` in the migrations folder).
//!
//! Every command finds the folders the same way, from the folder it is given and nothing else,
//! so `check` and `check --migrations <the same folder>` give the same verdict:
//! 1. `[folders]` in the settings file, when it has one;
//! 2. else `sqlite/`, `postgres/`, `mysql/` (DIDHub's layout), those that exist;
//! 3. else `migrations/` (SQLite), `migrations_postgres/`, `migrations_mysql/` (the layout of
//!    DIDHub's database guide: `src/migrations*`), those that exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{lint, parity};
use didhub_migrations::Backend;

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
    pub fn load(root: &Path) -> Result<Settings, String> {
        let path = root.join(SETTINGS_FILE);
        if !path.exists() {
            return Ok(Settings::default());
        }
        let settings: Settings = crate::read_toml(&path)?;
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
    pub fn lint_policy(&self, root: &Path, allow: Option<&Path>) -> Result<lint::Policy, String> {
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
    pub fn of(root: &Path) -> Result<Layout, String> {
        if let Some(folders) = Settings::load(root)?.folders {
            if folders.is_empty() {
                return Err(format!(
                    "{}: [folders] names no folder",
                    root.join(SETTINGS_FILE).display()
                ));
            }
            return Ok(Layout {
                folders: folders.into_iter().collect(),
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
        Err(format!(
            "{}: no migration folders: expected sqlite/, postgres/, mysql/, or migrations/, \
             migrations_postgres/, migrations_mysql/, or [folders] in {SETTINGS_FILE}",
            root.display()
        ))
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
        let error = Layout::of(empty.path()).unwrap_err();
        assert!(error.contains("no migration folders"), "{error}");
        assert!(error.contains(SETTINGS_FILE), "{error}");
    }

    #[test]
    fn settings_are_checked_when_read() {
        let unknown = with(&["sqlite"], Some("[parity]\nname = true\n"));
        let error = Settings::load(unknown.path()).unwrap_err();
        assert!(error.contains("unknown field"), "{error}");
        let no_reason = with(
            &["sqlite"],
            Some("[[parity.allow]]\nsubject = \"t.c\"\naspect = \"type\"\nreason = \" \"\n"),
        );
        let error = Settings::load(no_reason.path()).unwrap_err();
        assert!(error.contains("gives no reason"), "{error}");
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
