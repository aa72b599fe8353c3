//! A migration file's name and what it says, in the conventions the harness reads:
//!
//! - sqlx's: `<version>_<name>.up.sql` and its `.down.sql`, or `<version>_<name>.sql` for an
//!   up-only migration;
//! - diesel's: a folder `<timestamp>_<name>/` holding `up.sql` and `down.sql`, named by its
//!   path relative to the driver folder (`2018-01-14-171611_create_tables/up.sql`), its version
//!   the timestamp's digits (`20180114171611`);
//! - refinery's: `V<version>__<name>.sql`, up-only.
//!
//! And a file of a project's driver folder (listed by
//! [`crate::project::Project::migration_files`]). A leaf: the lint, the lock file and the folder
//! checks all read names through it.

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

/// Whose convention a migration file's name follows; sqlx reads only its own from a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Naming {
    /// `0003_alters.up.sql`, `0003_alters.down.sql`, `0003_alters.sql`.
    Sqlx,
    /// `2018-01-14-171611_create_tables/up.sql` and `…/down.sql`.
    Diesel,
    /// `V3__alters.sql`.
    Refinery,
}

impl MigrationFile {
    /// Parses a migration file's name relative to its driver folder, in any convention the
    /// harness reads (see the module documentation); `None` for anything that is not a
    /// migration file's name.
    pub fn parse(file_name: &str) -> Option<Self> {
        MigrationFile::parse_named(file_name).map(|(file, _)| file)
    }

    /// [`MigrationFile::parse`], with the convention the name follows.
    pub fn parse_named(file_name: &str) -> Option<(Self, Naming)> {
        if let Some((folder, file)) = file_name.split_once('/') {
            return diesel(folder, file).map(|parsed| (parsed, Naming::Diesel));
        }
        if let Some(parsed) = refinery(file_name) {
            return Some((parsed, Naming::Refinery));
        }
        sqlx(file_name).map(|parsed| (parsed, Naming::Sqlx))
    }

    /// What names the migration a file belongs to, without its direction: `0014_add_pronouns`
    /// for `0014_add_pronouns.up.sql`, `2018-01-14-171611_create_tables` for
    /// `2018-01-14-171611_create_tables/up.sql`.
    pub fn stem(file_name: &str) -> &str {
        match file_name.split_once('/') {
            Some((folder, _)) => folder,
            None => file_name.split('.').next().unwrap_or(file_name),
        }
    }
}

/// `0003_alters.up.sql`, `0003_alters.down.sql`, `0003_alters.sql`.
fn sqlx(file_name: &str) -> Option<MigrationFile> {
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

/// `V3__alters.sql` (refinery's versioned migration; its `U` migrations have no order and are
/// not read).
fn refinery(file_name: &str) -> Option<MigrationFile> {
    let (version, name) = file_name
        .strip_prefix('V')?
        .strip_suffix(".sql")?
        .split_once("__")?;
    if name.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(MigrationFile {
        version: version.parse().ok()?,
        name: name.to_owned(),
        direction: Direction::Simple,
    })
}

/// `up.sql` or `down.sql` of diesel's migration folder `folder`, named
/// `<timestamp>_<name>`. Diesel's timestamps are `YYYY-MM-DD-HHMMSS` (17 characters; one in
/// the wild has `_` for a separator, `2024-03-13_170000_sso_userscascade`), and its version
/// is their digits; any other folder name is `<version>_<name>`, the version's `-` removed
/// (diesel's own `00000000000000_diesel_initial_setup` is version 0).
fn diesel(folder: &str, file: &str) -> Option<MigrationFile> {
    let direction = match file {
        "up.sql" => Direction::Up,
        "down.sql" => Direction::Down,
        _ => return None,
    };
    let (version, name) = match diesel_timestamp(folder) {
        Some(version) => (version, &folder[18..]),
        None => {
            let (version, name) = folder.split_once('_')?;
            let digits = version.replace('-', "");
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (digits, name)
        }
    };
    if name.is_empty() {
        return None;
    }
    Some(MigrationFile {
        version: version.parse().ok()?,
        name: name.to_owned(),
        direction,
    })
}

/// The digits of a folder name that starts with `YYYY-MM-DD-HHMMSS_` (any of `-` and `_`
/// between the date's parts and before the time).
fn diesel_timestamp(folder: &str) -> Option<String> {
    let bytes = folder.as_bytes();
    if bytes.len() < 19 || bytes[17] != b'_' {
        return None;
    }
    let separator = |i: usize| matches!(bytes[i], b'-' | b'_');
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    let shaped = digits(0..4)
        && separator(4)
        && digits(5..7)
        && separator(7)
        && digits(8..10)
        && separator(10)
        && digits(11..17);
    shaped.then(|| {
        bytes[..17]
            .iter()
            .filter(|b| b.is_ascii_digit())
            .map(|&b| char::from(b))
            .collect()
    })
}

/// One migration file of a driver folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOnDisk {
    /// The backend whose folder holds it.
    pub kind: Backend,
    /// The driver folder's name (see [`crate::project::Layout`]).
    pub folder: String,
    /// The file's name relative to the driver folder, e.g. `0003_alters.up.sql`, or
    /// `2018-01-14-171611_create_tables/up.sql` in diesel's layout.
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

    fn parsed(name: &str) -> Option<(i64, String, Direction, Naming)> {
        MigrationFile::parse_named(name).map(|(f, naming)| (f.version, f.name, f.direction, naming))
    }

    #[test]
    fn parses_diesels_folders() {
        assert_eq!(
            parsed("2018-01-14-171611_create_tables/up.sql"),
            Some((
                20180114171611,
                "create_tables".into(),
                Direction::Up,
                Naming::Diesel
            ))
        );
        assert_eq!(
            parsed("2018-01-14-171611_create_tables/down.sql").map(|p| p.2),
            Some(Direction::Down)
        );
        // The one timestamp of vaultwarden's with `_` before its time.
        assert_eq!(
            parsed("2024-03-13_170000_sso_userscascade/up.sql").map(|p| (p.0, p.1)),
            Some((20240313170000, "sso_userscascade".into()))
        );
        assert_eq!(
            parsed("00000000000000_diesel_initial_setup/up.sql").map(|p| (p.0, p.1)),
            Some((0, "diesel_initial_setup".into()))
        );
        assert_eq!(
            parsed("20160107082941_create_posts/down.sql").map(|p| (p.0, p.1)),
            Some((20160107082941, "create_posts".into()))
        );
        assert_eq!(parsed("2018-01-14-171611_create_tables/notes.sql"), None);
        assert_eq!(parsed("create_tables/up.sql"), None);
        assert_eq!(parsed("2018-01-14-171611_/up.sql"), None);
        assert_eq!(parsed("2018-01-14-171611_create_tables/up.sql/x"), None);
    }

    #[test]
    fn parses_refinerys_versioned_files() {
        assert_eq!(
            parsed("V3__add_tags.sql"),
            Some((3, "add_tags".into(), Direction::Simple, Naming::Refinery))
        );
        assert_eq!(parsed("U3__add_tags.sql"), None);
        assert_eq!(parsed("V3__.sql"), None);
        assert_eq!(parsed("Vx__add_tags.sql"), None);
        assert_eq!(parsed("0003_alters.sql").map(|p| p.3), Some(Naming::Sqlx));
    }

    #[test]
    fn a_files_stem_names_its_migration() {
        assert_eq!(
            MigrationFile::stem("0014_add_pronouns.up.sql"),
            "0014_add_pronouns"
        );
        assert_eq!(
            MigrationFile::stem("2018-01-14-171611_create_tables/up.sql"),
            "2018-01-14-171611_create_tables"
        );
    }
}
