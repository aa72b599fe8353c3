//! Static checks on a project's migration folders, before any database is involved.
//!
//! A project keeps one folder per driver. Every folder must hold the same migrations — same
//! versions with the same names, of the same kind. The file-name convention is sqlx's, and so
//! are the two kinds of migration it runs, which a folder may mix:
//!
//! - reversible: `<version>_<name>.up.sql` with its `<version>_<name>.down.sql`;
//! - simple (up-only): `<version>_<name>.sql`, which `Migrator::run` applies like an up and
//!   `Migrator::undo` never reverts.
//!
//! Diesel's folders (`<timestamp>_<name>/up.sql` with its `down.sql`) are reversible
//! migrations, and refinery's `V<version>__<name>.sql` up-only ones, checked alike.
//!
//! [`crate::migration_file::MigrationFile::parse`] is the one reader of these names, and
//! [`Project::open`] the one reader of a project's folders: integrity, the lint, the lock file
//! and [`crate::migrations::MigrationSet`] all take them from its [`Project`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::migration_file::Direction;
use crate::project::Project;

/// Something wrong with the folders, named so that the fix is obvious.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityProblem {
    #[error("{folder}: folder is missing or unreadable: {reason}")]
    UnreadableFolder { folder: PathBuf, reason: String },
    #[error(
        "{file}: not a migration file name (expected NNNN_name.up.sql / .down.sql, or \
         NNNN_name.sql for an up-only migration; in diesel's layout \
         YYYY-MM-DD-HHMMSS_name/up.sql and down.sql)"
    )]
    StrayFile { file: PathBuf },
    #[error(
        "{folder}: version {version} is both up-only ({simple}) and reversible ({reversible}): \
         keep one or the other"
    )]
    UpOnlyAndReversible {
        folder: String,
        version: i64,
        simple: String,
        reversible: String,
    },
    #[error(
        "version {version} ({name}) is up-only in {up_only_in} but reversible in {reversible_in}: \
         every folder must have the same kind of migration"
    )]
    KindMismatch {
        version: i64,
        name: String,
        up_only_in: String,
        reversible_in: String,
    },
    #[error("{folder}: version {version} ({name}) has an up migration but no {expected}")]
    MissingDown {
        folder: String,
        version: i64,
        name: String,
        /// The down file it lacks, named as its up is.
        expected: String,
    },
    #[error("{folder}: version {version} ({name}) has a down migration but no up")]
    MissingUp {
        folder: String,
        version: i64,
        name: String,
    },
    #[error("{folder}: version {version} appears with two names: {first} and {second}")]
    DuplicateVersion {
        folder: String,
        version: i64,
        first: String,
        second: String,
    },
    #[error("version {version} is {name:?} in {folder} but {other_name:?} in {other_folder}")]
    NameMismatch {
        version: i64,
        folder: String,
        name: String,
        other_folder: String,
        other_name: String,
    },
    #[error("version {version} ({name}) exists in {present_in} but not in {missing_in}")]
    VersionMissing {
        version: i64,
        name: String,
        present_in: String,
        missing_in: String,
    },
}

/// All the problems found; empty means the folders agree.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IntegrityReport {
    /// version → name, as agreed by the folders (from the first folder that has it).
    pub versions: BTreeMap<i64, String>,
    /// The versions that are up-only (`NNNN_name.sql`) in the first folder that has them; the
    /// others are reversible.
    pub up_only: BTreeSet<i64>,
    pub problems: Vec<IntegrityProblem>,
}

impl IntegrityReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for IntegrityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            let (all, up_only) = (self.versions.len(), self.up_only.len());
            return if up_only == 0 {
                write!(
                    f,
                    "{all} migrations, identical in every folder, all reversible"
                )
            } else {
                write!(
                    f,
                    "{all} migrations, identical in every folder: {} reversible, {up_only} up-only",
                    all - up_only
                )
            };
        }
        for problem in &self.problems {
            writeln!(f, "- {problem}")?;
        }
        Ok(())
    }
}

/// The down file an up lacks, as a message names it: `users.down.sql` for the sqlx file
/// `0001_users.up.sql` (the name, as these messages have always said it),
/// `2018-01-14-171611_create_tables/down.sql` for diesel's `…/up.sql`.
fn down_of(up: &str, name: &str) -> String {
    match up.strip_suffix("/up.sql") {
        Some(folder) => format!("{folder}/down.sql"),
        None => format!("{name}.down.sql"),
    }
}

/// One folder's versions: version → (name, whether it is up-only).
type FolderVersions = BTreeMap<i64, (String, bool)>;

/// Checks the driver folders under `root` (see [`crate::project::Layout`]): [`check`] of the
/// project read there, or the reason it cannot be read.
pub fn check_folders(root: &Path) -> IntegrityReport {
    match Project::open(root) {
        Ok(project) => check(&project),
        Err(error) => IntegrityReport {
            problems: vec![IntegrityProblem::UnreadableFolder {
                folder: root.to_path_buf(),
                reason: error.to_string(),
            }],
            ..IntegrityReport::default()
        },
    }
}

/// Checks the driver folders of `project`.
pub fn check(project: &Project) -> IntegrityReport {
    let mut report = IntegrityReport::default();
    let mut per_folder: Vec<(&str, FolderVersions)> = Vec::new();
    for folder_read in &project.folders {
        let folder = folder_read.name.as_str();
        let files = match &folder_read.files {
            Ok(files) => files,
            Err(reason) => {
                report.problems.push(IntegrityProblem::UnreadableFolder {
                    folder: folder_read.dir.clone(),
                    reason: reason.clone(),
                });
                continue;
            }
        };
        let mut ups = BTreeMap::new();
        let mut downs = BTreeMap::new();
        let mut simples = BTreeMap::new();
        // (version, direction) → the file's name as it is on disk, for messages.
        let mut on_disk = BTreeMap::new();
        for sql in files {
            let Some(file) = sql.migration.clone() else {
                report.problems.push(IntegrityProblem::StrayFile {
                    file: sql.path.clone(),
                });
                continue;
            };
            on_disk
                .entry((file.version, file.direction))
                .or_insert_with(|| sql.name.clone());
            let side = match file.direction {
                Direction::Up => &mut ups,
                Direction::Down => &mut downs,
                Direction::Simple => &mut simples,
            };
            if let Some(first) = side.insert(file.version, file.name.clone()) {
                report.problems.push(IntegrityProblem::DuplicateVersion {
                    folder: folder.to_owned(),
                    version: file.version,
                    first,
                    second: file.name,
                });
            }
        }
        for version in simples.keys() {
            let reversible = [Direction::Up, Direction::Down]
                .into_iter()
                .find_map(|direction| on_disk.get(&(*version, direction)));
            if let Some(reversible) = reversible {
                report.problems.push(IntegrityProblem::UpOnlyAndReversible {
                    folder: folder.to_owned(),
                    version: *version,
                    simple: on_disk[&(*version, Direction::Simple)].clone(),
                    reversible: reversible.clone(),
                });
            }
        }
        for (version, name) in &ups {
            if downs.get(version) != Some(name) {
                let up = &on_disk[&(*version, Direction::Up)];
                report.problems.push(IntegrityProblem::MissingDown {
                    folder: folder.to_owned(),
                    version: *version,
                    name: name.clone(),
                    expected: down_of(up, name),
                });
            }
        }
        for (version, name) in &downs {
            if ups.get(version) != Some(name) {
                report.problems.push(IntegrityProblem::MissingUp {
                    folder: folder.to_owned(),
                    version: *version,
                    name: name.clone(),
                });
            }
        }
        let mut versions: FolderVersions = ups
            .into_iter()
            .map(|(v, name)| (v, (name, false)))
            .collect();
        for (version, name) in simples {
            // A version that is both is reported above; count it once, as reversible.
            versions.entry(version).or_insert((name, true));
        }
        per_folder.push((folder, versions));
    }

    for (i, (folder, versions)) in per_folder.iter().enumerate() {
        for (version, (name, up_only)) in versions {
            if !report.versions.contains_key(version) {
                report.versions.insert(*version, name.clone());
                if *up_only {
                    report.up_only.insert(*version);
                }
            }
            for (j, (other_folder, other_versions)) in per_folder.iter().enumerate() {
                let Some((other_name, other_up_only)) = other_versions.get(version) else {
                    report.problems.push(IntegrityProblem::VersionMissing {
                        version: *version,
                        name: name.clone(),
                        present_in: folder.to_string(),
                        missing_in: other_folder.to_string(),
                    });
                    continue;
                };
                // Report each mismatching pair once, in folder order.
                if i >= j {
                    continue;
                }
                if other_name != name {
                    report.problems.push(IntegrityProblem::NameMismatch {
                        version: *version,
                        folder: folder.to_string(),
                        name: name.clone(),
                        other_folder: other_folder.to_string(),
                        other_name: other_name.clone(),
                    });
                }
                if other_up_only != up_only {
                    let (up_only_in, reversible_in) = if *up_only {
                        (folder, other_folder)
                    } else {
                        (other_folder, folder)
                    };
                    report.problems.push(IntegrityProblem::KindMismatch {
                        version: *version,
                        name: name.clone(),
                        up_only_in: up_only_in.to_string(),
                        reversible_in: reversible_in.to_string(),
                    });
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DIDHub's layout.
    const DRIVER_FOLDERS: [&str; 3] = ["sqlite", "postgres", "mysql"];

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for folder in DRIVER_FOLDERS {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
        }
        for (folder, file) in files {
            std::fs::write(dir.path().join(folder).join(file), "SELECT 1;").unwrap();
        }
        dir
    }

    fn complete(version: &str) -> Vec<(&'static str, String)> {
        DRIVER_FOLDERS
            .iter()
            .flat_map(|f| {
                [
                    (*f, format!("{version}.up.sql")),
                    (*f, format!("{version}.down.sql")),
                ]
            })
            .collect()
    }

    fn build(files: Vec<(&'static str, String)>) -> tempfile::TempDir {
        let borrowed: Vec<(&str, &str)> = files.iter().map(|(f, n)| (*f, n.as_str())).collect();
        project(&borrowed)
    }

    /// `NNNN_name.sql` in every folder.
    fn up_only(version: &str) -> Vec<(&'static str, String)> {
        DRIVER_FOLDERS
            .iter()
            .map(|f| (*f, format!("{version}.sql")))
            .collect()
    }

    #[test]
    fn up_only_folders_pass_and_say_so() {
        let mut files = up_only("0001_users");
        files.extend(up_only("0002_systems"));
        let report = check_folders(build(files).path());
        assert!(report.is_ok(), "{report}");
        assert_eq!(
            report.to_string(),
            "2 migrations, identical in every folder: 0 reversible, 2 up-only"
        );
    }

    #[test]
    fn mixed_folders_pass_and_count_each_kind() {
        let mut files = up_only("0001_users");
        files.extend(complete("0002_systems"));
        files.extend(complete("0003_alters"));
        let report = check_folders(build(files).path());
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.up_only, BTreeSet::from([1]));
        assert_eq!(
            report.to_string(),
            "3 migrations, identical in every folder: 2 reversible, 1 up-only"
        );
        let report = check_folders(build(complete("0001_users")).path());
        assert_eq!(
            report.to_string(),
            "1 migrations, identical in every folder, all reversible"
        );
    }

    #[test]
    fn an_up_only_file_beside_a_reversible_pair_of_its_version_names_both() {
        let mut files = up_only("0001_users");
        files.extend(complete("0002_systems"));
        files.push(("postgres", "0002_systems.sql".into()));
        let report = check_folders(build(files).path());
        assert_eq!(
            report.problems,
            vec![IntegrityProblem::UpOnlyAndReversible {
                folder: "postgres".into(),
                version: 2,
                simple: "0002_systems.sql".into(),
                reversible: "0002_systems.up.sql".into(),
            }],
            "{report}"
        );
        assert!(
            report.to_string().contains(
                "postgres: version 2 is both up-only (0002_systems.sql) and reversible \
                 (0002_systems.up.sql)"
            ),
            "{report}"
        );
    }

    #[test]
    fn a_down_without_its_up_beside_an_up_only_file_is_still_named() {
        let mut files = up_only("0001_users");
        files.push(("sqlite", "0001_users.down.sql".into()));
        let report = check_folders(build(files).path());
        assert!(
            report.problems.contains(&IntegrityProblem::MissingUp {
                folder: "sqlite".into(),
                version: 1,
                name: "users".into()
            }),
            "{report}"
        );
        assert!(
            report
                .to_string()
                .contains("both up-only (0001_users.sql) and reversible (0001_users.down.sql)"),
            "{report}"
        );
    }

    #[test]
    fn a_missing_down_file_is_named_in_a_mixed_set() {
        let mut files = up_only("0001_users");
        files.extend(complete("0002_systems"));
        files.retain(|(f, n)| !(*f == "sqlite" && n == "0002_systems.down.sql"));
        let report = check_folders(build(files).path());
        assert_eq!(
            report.problems,
            vec![IntegrityProblem::MissingDown {
                folder: "sqlite".into(),
                version: 2,
                name: "systems".into(),
                expected: "systems.down.sql".into()
            }]
        );
    }

    #[test]
    fn a_version_up_only_in_one_folder_and_reversible_in_another_is_named() {
        let mut files = complete("0001_users");
        files.retain(|(f, _)| *f != "mysql");
        files.push(("mysql", "0001_users.sql".into()));
        let report = check_folders(build(files).path());
        assert_eq!(report.problems.len(), 2, "{report}");
        assert!(
            report.to_string().contains(
                "version 1 (users) is up-only in mysql but reversible in sqlite: every folder \
                 must have the same kind of migration"
            ),
            "{report}"
        );
    }

    #[test]
    fn agreeing_folders_pass() {
        let mut files = complete("0001_users");
        files.extend(complete("0002_systems"));
        let report = check_folders(build(files).path());
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.versions.len(), 2);
    }

    #[test]
    fn a_missing_down_file_is_named() {
        let mut files = complete("0001_users");
        files.retain(|(f, n)| !(*f == "mysql" && n.ends_with("down.sql")));
        let report = check_folders(build(files).path());
        assert_eq!(
            report.problems,
            vec![IntegrityProblem::MissingDown {
                folder: "mysql".into(),
                version: 1,
                name: "users".into(),
                expected: "users.down.sql".into()
            }]
        );
    }

    #[test]
    fn a_version_missing_from_one_folder_is_named() {
        let mut files = complete("0001_users");
        files.extend(complete("0002_systems"));
        files.retain(|(f, n)| !(*f == "postgres" && n.starts_with("0002")));
        let report = check_folders(build(files).path());
        assert_eq!(report.problems.len(), 2, "{report}");
        assert!(report.problems.iter().all(|p| matches!(
            p,
            IntegrityProblem::VersionMissing { version: 2, missing_in, .. } if missing_in == "postgres"
        )));
    }

    #[test]
    fn a_renamed_migration_in_one_folder_is_a_mismatch() {
        let mut files = complete("0001_users");
        for file in files.iter_mut().filter(|(f, _)| *f == "sqlite") {
            file.1 = file.1.replace("users", "accounts");
        }
        let report = check_folders(build(files).path());
        assert_eq!(report.problems.len(), 2, "{report}");
        assert!(
            report
                .to_string()
                .contains(r#"version 1 is "accounts" in sqlite but "users" in postgres"#)
        );
    }

    /// A folder the settings file names must be there (without `[folders]`, the layout is the
    /// folders that exist).
    #[test]
    fn stray_sql_files_and_missing_folders_are_reported() {
        let dir = build(complete("0001_users"));
        std::fs::write(dir.path().join("sqlite/notes.sql"), "").unwrap();
        std::fs::remove_dir_all(dir.path().join("mysql")).unwrap();
        std::fs::write(
            dir.path().join(crate::project::SETTINGS_FILE),
            "[folders]\nsqlite = \"sqlite\"\npostgres = \"postgres\"\nmysql = \"mysql\"\n",
        )
        .unwrap();
        let report = check_folders(dir.path());
        let text = report.to_string();
        assert!(
            text.contains("notes.sql: not a migration file name"),
            "{text}"
        );
        assert!(text.contains("mysql: folder is missing"), "{text}");
    }

    /// Diesel's folders: a reversible migration each, compared with the other dialects' by
    /// version and name like sqlx's files; a missing down and a stray file are named by their
    /// path in the folder.
    #[test]
    fn diesels_folders_are_checked_like_sqlx_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str| {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "SELECT 1;").unwrap();
        };
        for folder in ["sqlite", "postgresql"] {
            write(&format!(
                "{folder}/00000000000000_diesel_initial_setup/up.sql"
            ));
            write(&format!(
                "{folder}/00000000000000_diesel_initial_setup/down.sql"
            ));
            write(&format!("{folder}/2018-01-14-171611_create_tables/up.sql"));
        }
        write("sqlite/2018-01-14-171611_create_tables/down.sql");
        write("postgresql/2018-01-14-171611_create_tables/notes.sql");
        let report = check_folders(dir.path());
        assert_eq!(
            report.versions.keys().copied().collect::<Vec<_>>(),
            [0, 20180114171611]
        );
        let text = report.to_string();
        assert!(
            text.contains(
                "postgresql: version 20180114171611 (create_tables) has an up migration but no \
                 2018-01-14-171611_create_tables/down.sql"
            ),
            "{text}"
        );
        assert!(
            text.contains("2018-01-14-171611_create_tables/notes.sql: not a migration file name"),
            "{text}"
        );
        assert_eq!(report.problems.len(), 2, "{text}");
    }
}
