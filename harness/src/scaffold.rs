//! `new-migration NAME`: the six files of the next version (up and down in every driver
//! folder), ready to be written, and what to do next.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::lock::{LOCK_FILE, Lock, LockError};
use crate::migration_file::{MigrationFile, Naming};
use crate::project::{Project, ProjectError};
use didhub_migrations::Backend;

/// The files a new migration got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaffolded {
    /// The migrations folder.
    pub root: PathBuf,
    pub version: i64,
    pub name: String,
    pub files: Vec<PathBuf>,
}

impl fmt::Display for Scaffolded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "created version {:04} ({}):", self.version, self.name)?;
        for file in &self.files {
            writeln!(f, "  {}", file.display())?;
        }
        let root = self.root.display();
        write!(
            f,
            "next:\n  \
             1. write the up and the down SQL in each dialect: the down restores exactly the \
             schema and data of version {:04}\n  \
             2. didhub-harness check --migrations {root}   (lint, integrity, the up/down \
             staircase and parity on every backend)\n  \
             3. didhub-harness lock --migrations {root}   (records the files' checksums in \
             {LOCK_FILE}; commit it with the migration: from then on the files are released and \
             never change)",
            self.version - 1
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScaffoldError {
    #[error(
        "{name:?} is not a migration name: {reason} (use lower-case snake_case, e.g. add_alter_colour)"
    )]
    InvalidName { name: String, reason: &'static str },
    #[error("there is already a migration named {name}: version {version:04}; pick another name")]
    Duplicate { name: String, version: i64 },
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot write {}: {reason}", .path.display())]
    Write { path: PathBuf, reason: String },
    /// A folder whose migrations are not named sqlx's way: the next version of diesel's or
    /// refinery's is theirs to name (a timestamp, a number), with their own tool.
    #[error(
        "{folder}/ holds migrations named the way {tool} names them ({example}); new-migration \
         writes sqlx's files only: make the migration with {tool}'s own tool"
    )]
    NotSqlxLayout {
        folder: String,
        tool: &'static str,
        example: String,
    },
}

/// Checks a migration name: lower-case snake_case, starting with a letter, at most 64
/// characters.
pub fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let invalid = |reason| {
        Err(ScaffoldError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 64 {
        return invalid("it must be 1 to 64 characters long");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid("it must start with a lower-case letter");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return invalid("only a-z, 0-9 and _ are allowed");
    }
    if name.ends_with('_') || name.contains("__") {
        return invalid("underscores separate words");
    }
    Ok(())
}

/// Creates `NNNN_name.up.sql` and `NNNN_name.down.sql` in each driver folder under `root`, with
/// the version after the newest one in the folders or the lock file.
pub fn new_migration(root: &Path, name: &str) -> Result<Scaffolded, ScaffoldError> {
    check_name(name)?;
    let project = Project::open(root)?;
    let files = project.migration_files()?;
    if let Some((file, naming)) = files.iter().find_map(|f| {
        MigrationFile::parse_named(&f.name)
            .map(|(_, naming)| (f, naming))
            .filter(|(_, naming)| *naming != Naming::Sqlx)
    }) {
        return Err(ScaffoldError::NotSqlxLayout {
            folder: file.folder.clone(),
            tool: match naming {
                Naming::Diesel => "diesel",
                Naming::Refinery | Naming::Sqlx => "refinery",
            },
            example: file.name.clone(),
        });
    }
    if let Some(existing) = files.iter().find(|f| f.migration.name == name) {
        return Err(ScaffoldError::Duplicate {
            name: name.to_owned(),
            version: existing.migration.version,
        });
    }
    let locked = Lock::read(root)?.and_then(|lock| lock.newest());
    let version = files
        .iter()
        .map(|f| f.migration.version)
        .chain(locked)
        .max()
        .unwrap_or(0)
        + 1;
    let mut created = Vec::new();
    for (kind, folder) in project.layout.folders() {
        for (direction, text) in [("up", up_template(*kind)), ("down", DOWN_TEMPLATE)] {
            let path = root
                .join(folder)
                .join(format!("{version:04}_{name}.{direction}.sql"));
            let text = text
                .replace("{migration}", &format!("{version:04}_{name}"))
                .replace("{previous}", &format!("{:04}", version - 1));
            std::fs::write(&path, text).map_err(|e| ScaffoldError::Write {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            created.push(path);
        }
    }
    Ok(Scaffolded {
        root: root.to_path_buf(),
        version,
        name: name.to_owned(),
        files: created,
    })
}

fn up_template(kind: Backend) -> &'static str {
    match kind {
        Backend::Sqlite => {
            "-- {migration}: what this changes, and why.\n\
             -- SQLite's ALTER TABLE only renames, adds or drops a column; rebuild the table for\n\
             -- anything else (didhub-harness lint, SQ001).\n"
        }
        Backend::Postgres => {
            "-- {migration}: what this changes, and why.\n\
             -- An index on an existing table: CREATE INDEX CONCURRENTLY, in a migration of its own\n\
             -- whose first line is `-- no-transaction` (didhub-harness lint: squawk's\n\
             -- require-concurrent-index-creation).\n"
        }
        Backend::MySql => {
            "-- {migration}: what this changes, and why.\n\
             -- MySQL commits each DDL statement on its own: keep data changes out of DDL files\n\
             -- (didhub-harness lint, MY001).\n"
        }
    }
}

const DOWN_TEMPLATE: &str = "-- Reverts {migration}: restore exactly the schema and data of version {previous},\n\
                             -- undoing the up in reverse order.\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["sqlite", "postgres", "mysql"] {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
        }
        dir
    }

    #[test]
    fn names_are_lower_case_snake_case() {
        check_name("add_alter_colour").unwrap();
        check_name("v2_tokens").unwrap();
        for bad in [
            "",
            "Add",
            "2fa",
            "add-colour",
            "add colour",
            "add__x",
            "add_",
            "ä",
        ] {
            assert!(
                matches!(check_name(bad), Err(ScaffoldError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn the_first_migration_is_version_one_and_the_folders_agree() {
        let dir = project();
        let made = new_migration(dir.path(), "users").unwrap();
        assert_eq!(made.version, 1);
        assert_eq!(made.files.len(), 6);
        let report = crate::integrity::check_folders(dir.path());
        assert!(report.is_ok(), "{report}");
        let up = std::fs::read_to_string(dir.path().join("postgres/0001_users.up.sql")).unwrap();
        assert!(up.starts_with("-- 0001_users: what this changes"), "{up}");
        let down = std::fs::read_to_string(dir.path().join("mysql/0001_users.down.sql")).unwrap();
        assert!(down.contains("schema and data of version 0000"), "{down}");
        // Next steps that work outside this repository: the harness's own commands.
        let next = made.to_string();
        let root = dir.path().display();
        assert!(
            next.contains(&format!("didhub-harness check --migrations {root}"))
                && next.contains(&format!("didhub-harness lock --migrations {root}")),
            "{next}"
        );
        assert!(!next.contains("just "), "{next}");
    }

    #[test]
    fn the_next_version_follows_the_files_and_the_lock() {
        let dir = project();
        new_migration(dir.path(), "users").unwrap();
        assert_eq!(new_migration(dir.path(), "systems").unwrap().version, 2);
        // A locked version whose files are gone still counts: its number is taken.
        std::fs::write(
            dir.path().join(LOCK_FILE),
            format!("0007 sqlite 0007_gone.up.sql {}\n", "0".repeat(96)),
        )
        .unwrap();
        assert_eq!(new_migration(dir.path(), "alters").unwrap().version, 8);
    }

    #[test]
    fn a_duplicate_name_is_refused_and_nothing_is_written() {
        let dir = project();
        new_migration(dir.path(), "users").unwrap();
        assert_eq!(
            new_migration(dir.path(), "users"),
            Err(ScaffoldError::Duplicate {
                name: "users".into(),
                version: 1
            })
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("sqlite"))
                .unwrap()
                .count(),
            2
        );
    }

    #[test]
    fn a_diesel_layout_is_refused_with_what_to_do_instead() {
        let dir = tempfile::tempdir().unwrap();
        let up = dir
            .path()
            .join("postgresql/2018-01-14-171611_create_tables/up.sql");
        std::fs::create_dir_all(up.parent().unwrap()).unwrap();
        std::fs::write(&up, "SELECT 1;").unwrap();
        let refused = new_migration(dir.path(), "users").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "postgresql/ holds migrations named the way diesel names them \
             (2018-01-14-171611_create_tables/up.sql); new-migration writes sqlx's files only: \
             make the migration with diesel's own tool"
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("postgresql"))
                .unwrap()
                .count(),
            1
        );
    }
}
