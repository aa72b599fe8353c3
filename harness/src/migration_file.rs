//! A migration file's name and what it says (sqlx's convention): `<version>_<name>.up.sql` and
//! its `.down.sql`, or `<version>_<name>.sql` for an up-only migration; and a file of a project's
//! driver folder (listed by [`crate::project::Project::migration_files`]). A leaf: the lint, the lock
//! file and the folder checks all read names through it.

use std::path::PathBuf;

use didhub_migrations::Backend;

/// One migration file name, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MigrationFile {
    pub version: i64,
    pub name: String,
    pub direction: Direction,
}

/// What a migration file does: the two halves of a reversible migration, or a simple one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// `NNNN_name.up.sql`, reverted by its `.down.sql`.
    Up,
    /// `NNNN_name.down.sql`.
    Down,
    /// `NNNN_name.sql`: applied like an up, never reverted (sqlx's "simple" migration).
    Simple,
}

impl Direction {
    /// Whether the file moves the schema forward (an up or a simple migration).
    pub fn is_up(self) -> bool {
        self != Direction::Down
    }
}

impl MigrationFile {
    /// Parses `0003_alters.up.sql`, `0003_alters.down.sql` and `0003_alters.sql`; `None` for
    /// anything that is not a migration file name.
    pub fn parse(file_name: &str) -> Option<Self> {
        let (stem, direction) = if let Some(stem) = file_name.strip_suffix(".up.sql") {
            (stem, Direction::Up)
        } else if let Some(stem) = file_name.strip_suffix(".down.sql") {
            (stem, Direction::Down)
        } else if let Some(stem) = file_name.strip_suffix(".sql") {
            (stem, Direction::Simple)
        } else {
            return None;
        };
        let (version, name) = stem.split_once('_')?;
        Some(MigrationFile {
            version: version.parse().ok()?,
            name: name.to_owned(),
            direction,
        })
    }
}

/// One migration file of a driver folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOnDisk {
    /// The backend whose folder holds it.
    pub kind: Backend,
    /// The driver folder's name (see [`crate::project::Layout`]).
    pub folder: String,
    /// The file name, e.g. `0003_alters.up.sql`.
    pub name: String,
    pub path: PathBuf,
    pub migration: MigrationFile,
}

impl FileOnDisk {
    /// `folder/name`, how the lock file and the lint name a file.
    pub fn display(&self) -> String {
        format!("{}/{}", self.folder, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reversible_and_simple_file_names() {
        assert_eq!(
            MigrationFile::parse("0003_alters.up.sql"),
            Some(MigrationFile {
                version: 3,
                name: "alters".into(),
                direction: Direction::Up
            })
        );
        assert_eq!(
            MigrationFile::parse("0005_perf_indexes.down.sql").map(|f| f.name),
            Some("perf_indexes".into())
        );
        assert_eq!(
            MigrationFile::parse("0003_alters.sql"),
            Some(MigrationFile {
                version: 3,
                name: "alters".into(),
                direction: Direction::Simple
            })
        );
        assert_eq!(MigrationFile::parse("x_alters.up.sql"), None);
        assert_eq!(MigrationFile::parse("x_alters.sql"), None);
        assert_eq!(MigrationFile::parse("notes.sql"), None);
        assert_eq!(MigrationFile::parse("0003_alters.up.txt"), None);
    }
}
