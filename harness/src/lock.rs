//! The lock file: the checksum of every released migration file, like Go's `go.sum`.
//!
//! sqlx stores the SHA-384 of every migration file it applies (`_sqlx_migrations.checksum`) and
//! refuses to migrate a database whose applied file has changed since. A migration file that has
//! been released must therefore never change: a change is a new migration. The lock file
//! (`migrations.lock`, next to the driver folders) makes that checkable without a database. It
//! lists every file of every folder, up and down, with the checksum sqlx computes (SHA-384 of
//! the file's bytes), one line per file.
//!
//! **Released means locked.** `didhub-harness lock` adds the files of new versions (newer than
//! every locked one) and refuses to rewrite a locked entry — a file that changed or
//! disappeared — unless told which version to re-lock (`--update NAME`, for a migration locked
//! on a branch that nobody has applied yet) or `--force`. [`verify`], which `check` runs, fails
//! on a locked file that changed or disappeared, and on a new version that is not newer than the
//! newest locked one: databases already at that version would apply it after the newer ones,
//! fresh databases before them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha384};

use crate::integrity::{self, IntegrityReport};
use crate::migration_file::{FileOnDisk, MigrationFile};
use crate::project::{Project, ProjectError};

/// The lock file's name, in the folder that holds the driver folders.
pub const LOCK_FILE: &str = "migrations.lock";

const HEADER: &str = "\
# Written by `didhub-harness lock`; do not edit by hand.
# Every file listed here is released and must never change: sqlx stores each applied
# migration's SHA-384 and refuses a database whose file changed. Write a new migration instead.
# version folder file sha384-of-the-file's-bytes
";

/// One locked file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub version: i64,
    pub folder: String,
    pub file: String,
    /// SHA-384 of the file's bytes, lower-case hex (what sqlx stores, hex-encoded).
    pub sha384: String,
}

impl Entry {
    /// `folder/file`.
    pub fn display(&self) -> String {
        format!("{}/{}", self.folder, self.file)
    }
}

/// The checksum sqlx records for a migration file, as hex.
pub fn sha384_hex(bytes: &[u8]) -> String {
    Sha384::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The entries of a lock file, sorted by version, folder and file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    pub entries: Vec<Entry>,
}

impl Lock {
    /// Where the lock file of the migrations under `root` lives.
    pub fn path(root: &Path) -> PathBuf {
        root.join(LOCK_FILE)
    }

    /// Reads the lock file under `root`; `None` when there is none.
    pub fn read(root: &Path) -> Result<Option<Lock>, LockError> {
        let path = Lock::path(root);
        match std::fs::read_to_string(&path) {
            Ok(text) => Lock::parse(&text)
                .map(Some)
                .map_err(|line| LockError::Malformed { path, line }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LockError::Io {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Parses a lock file's text; an error names the line.
    pub fn parse(text: &str) -> Result<Lock, BadLine> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |problem: &'static str| BadLine {
                line: n + 1,
                problem,
                text: line.to_owned(),
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [version, folder, file, sha384] = fields[..] else {
                return Err(bad("expected `version folder file sha384`"));
            };
            let version: i64 = version.parse().map_err(|_| bad("not a version"))?;
            if MigrationFile::parse(file).map(|f| f.version) != Some(version) {
                return Err(bad("the file name does not match the version"));
            }
            if sha384.len() != 96 || !sha384.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("not a SHA-384 in hex"));
            }
            entries.push(Entry {
                version,
                folder: folder.to_owned(),
                file: file.to_owned(),
                sha384: sha384.to_ascii_lowercase(),
            });
        }
        entries.sort();
        Ok(Lock { entries })
    }

    pub fn render(&self) -> String {
        let mut text = HEADER.to_owned();
        for e in &self.entries {
            text.push_str(&format!(
                "{:04} {} {} {}\n",
                e.version, e.folder, e.file, e.sha384
            ));
        }
        text
    }

    /// The newest locked version.
    pub fn newest(&self) -> Option<i64> {
        self.entries.iter().map(|e| e.version).max()
    }
}

/// The migration files of `project` as they are now, with their checksums, as lock entries.
pub fn current(project: &Project) -> Result<Vec<Entry>, LockError> {
    entries_of(&project.migration_files()?)
}

/// `files` (a project's, [`Project::migration_files`]) with their checksums, as lock entries.
fn entries_of(files: &[FileOnDisk]) -> Result<Vec<Entry>, LockError> {
    let mut entries = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file.path).map_err(|e| LockError::Io {
            path: file.path.clone(),
            reason: e.to_string(),
        })?;
        entries.push(Entry {
            version: file.migration.version,
            folder: file.folder.clone(),
            file: file.name.clone(),
            sha384: sha384_hex(&bytes),
        });
    }
    entries.sort();
    Ok(entries)
}

/// A released migration file that is not as it was released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockProblem {
    #[error(
        "{file} (version {version}) changed after it was released: {LOCK_FILE} has sha384 {locked}, \
         the file now has {now}. sqlx refuses every database that applied the released file. \
         Put the file back as it was released (git checkout) and make the change in a new \
         migration (just new-migration NAME)"
    )]
    Changed {
        file: String,
        version: i64,
        locked: String,
        now: String,
    },
    #[error(
        "{file} (version {version}) is released ({LOCK_FILE}) but was deleted: databases that \
         applied it need it to revert. Restore it; to undo what it did, write a new migration"
    )]
    Deleted { file: String, version: i64 },
    #[error(
        "{file}: new version {version} is not newer than the newest released version {newest}: \
         databases already at {newest} would apply it after {newest}, new ones before, and end \
         up different. Renumber it to {:04} or later", .newest + 1
    )]
    OutOfOrder {
        file: String,
        version: i64,
        newest: i64,
    },
}

impl LockProblem {
    pub fn version(&self) -> i64 {
        match self {
            LockProblem::Changed { version, .. }
            | LockProblem::Deleted { version, .. }
            | LockProblem::OutOfOrder { version, .. } => *version,
        }
    }
}

/// The files compared with the lock.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LockReport {
    /// How many locked files are as they were locked.
    pub unchanged: usize,
    /// Files of versions newer than every locked one: not released yet.
    pub unreleased: Vec<Entry>,
    pub problems: Vec<LockProblem>,
}

impl LockReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for LockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_ok() {
            for problem in &self.problems {
                writeln!(f, "- {problem}")?;
            }
            return Ok(());
        }
        write!(f, "{} released file(s) unchanged", self.unchanged)?;
        if !self.unreleased.is_empty() {
            let versions: BTreeSet<i64> = self.unreleased.iter().map(|e| e.version).collect();
            let versions: Vec<String> = versions.iter().map(|v| format!("{v:04}")).collect();
            write!(
                f,
                "; not locked yet: version {} (didhub-harness lock records it)",
                versions.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Compares the files as they are now with the lock.
pub fn compare(lock: &Lock, files: &[Entry]) -> LockReport {
    let now: BTreeMap<(&str, &str), &Entry> = files
        .iter()
        .map(|e| ((e.folder.as_str(), e.file.as_str()), e))
        .collect();
    let locked: BTreeSet<(&str, &str)> = lock
        .entries
        .iter()
        .map(|e| (e.folder.as_str(), e.file.as_str()))
        .collect();
    let mut report = LockReport::default();
    for entry in &lock.entries {
        match now.get(&(entry.folder.as_str(), entry.file.as_str())) {
            None => report.problems.push(LockProblem::Deleted {
                file: entry.display(),
                version: entry.version,
            }),
            Some(file) if file.sha384 != entry.sha384 => {
                report.problems.push(LockProblem::Changed {
                    file: entry.display(),
                    version: entry.version,
                    locked: entry.sha384.clone(),
                    now: file.sha384.clone(),
                })
            }
            Some(_) => report.unchanged += 1,
        }
    }
    let newest = lock.newest();
    for file in files {
        if locked.contains(&(file.folder.as_str(), file.file.as_str())) {
            continue;
        }
        match newest {
            Some(newest) if file.version <= newest => {
                report.problems.push(LockProblem::OutOfOrder {
                    file: file.display(),
                    version: file.version,
                    newest,
                })
            }
            _ => report.unreleased.push(file.clone()),
        }
    }
    report
}

/// Compares the migrations of `project` with their lock file; `None` when there is none. A
/// folder that cannot be read is an error even then.
pub fn verify(project: &Project) -> Result<Option<LockReport>, LockError> {
    let files = project.migration_files()?;
    let Some(lock) = Lock::read(&project.root)? else {
        return Ok(None);
    };
    Ok(Some(compare(&lock, &entries_of(&files)?)))
}

/// Which locked versions `lock` may rewrite.
#[derive(Debug, Clone, Default)]
pub struct Relock {
    /// Versions to re-lock as they are now, each as a number (`14`) or a migration
    /// (`0014_add_pronouns`, or diesel's folder `2018-01-14-171611_create_tables`).
    pub update: Vec<String>,
    /// Re-lock everything as it is now.
    pub force: bool,
}

/// What `lock` changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub added: Vec<Entry>,
    pub updated: Vec<Entry>,
    pub removed: Vec<Entry>,
}

impl Written {
    pub fn changes_nothing(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes_nothing() {
            return write!(f, "{} is up to date", self.path.display());
        }
        writeln!(f, "wrote {}:", self.path.display())?;
        for (verb, entries) in [
            ("added", &self.added),
            ("updated", &self.updated),
            ("removed", &self.removed),
        ] {
            for e in entries {
                writeln!(f, "  {verb:<7} {}", e.display())?;
            }
        }
        write!(
            f,
            "commit it with the migration; from now on these files are released"
        )
    }
}

/// A lock file line that is not `version folder file sha384`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}: {text:?}")]
pub struct BadLine {
    pub line: usize,
    pub problem: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    #[error("cannot read {}: {reason}", .path.display())]
    Io { path: PathBuf, reason: String },
    #[error("{}: {line}", .path.display())]
    Malformed {
        path: PathBuf,
        #[source]
        line: BadLine,
    },
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("not locking: the migration folders disagree; fix them first:\n{0}")]
    Integrity(IntegrityReport),
    #[error("--update {0}: no migration has that version or name")]
    UnknownMigration(String),
    #[error(
        "not rewriting released migrations:\n{}\nA file in {LOCK_FILE} is released: it may have been applied somewhere. \
         Only if the migration has never left your branch (nobody applied it), re-lock it with \
         `didhub-harness lock --update NNNN_name`; `--force` re-locks everything",
        .0.iter().map(|p| format!("- {p}")).collect::<Vec<_>>().join("\n")
    )]
    Refused(Vec<LockProblem>),
}

/// Brings the lock file of `project` up to date: adds the files of new versions, and rewrites
/// locked entries only as `relock` allows. The folders must pass [`integrity::check_folders`].
pub fn write(project: &Project, relock: &Relock) -> Result<Written, LockError> {
    let integrity = integrity::check(project);
    if !integrity.is_ok() {
        return Err(LockError::Integrity(integrity));
    }
    let files = current(project)?;
    let lock = Lock::read(&project.root)?.unwrap_or_default();
    let mut allowed = BTreeSet::new();
    for name in &relock.update {
        let version = name.parse::<i64>().ok().or_else(|| {
            files
                .iter()
                .chain(&lock.entries)
                .find(|e| MigrationFile::stem(&e.file) == name.as_str())
                .map(|e| e.version)
        });
        allowed.insert(version.ok_or_else(|| LockError::UnknownMigration(name.clone()))?);
    }
    let refused: Vec<LockProblem> = compare(&lock, &files)
        .problems
        .into_iter()
        .filter(|p| !relock.force && !allowed.contains(&p.version()))
        .collect();
    if !refused.is_empty() {
        return Err(LockError::Refused(refused));
    }
    // Every locked file that may not change is unchanged, so the new lock is the files as they are.
    let key = |e: &Entry| (e.folder.clone(), e.file.clone());
    let old: BTreeMap<_, &Entry> = lock.entries.iter().map(|e| (key(e), e)).collect();
    let new: BTreeMap<_, &Entry> = files.iter().map(|e| (key(e), e)).collect();
    let path = Lock::path(&project.root);
    let written = Written {
        added: files
            .iter()
            .filter(|e| !old.contains_key(&key(e)))
            .cloned()
            .collect(),
        updated: files
            .iter()
            .filter(|e| old.get(&key(e)).is_some_and(|o| o.sha384 != e.sha384))
            .cloned()
            .collect(),
        removed: lock
            .entries
            .iter()
            .filter(|e| !new.contains_key(&key(e)))
            .cloned()
            .collect(),
        path: path.clone(),
    };
    if written.changes_nothing() && path.exists() {
        return Ok(written);
    }
    let text = Lock { entries: files }.render();
    std::fs::write(&path, text).map_err(|e| LockError::Io {
        path,
        reason: format!("cannot write: {e}"),
    })?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRIVER_FOLDERS: [&str; 3] = ["sqlite", "postgres", "mysql"];

    /// A project with one complete migration per version in `versions`.
    fn project(versions: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for folder in DRIVER_FOLDERS {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
        }
        for version in versions {
            add(dir.path(), version);
        }
        dir
    }

    /// The project under `root`, opened as it is now.
    fn open(root: &Path) -> Project {
        Project::open(root).unwrap()
    }

    fn add(root: &Path, version: &str) {
        for folder in DRIVER_FOLDERS {
            for direction in ["up", "down"] {
                let file = root.join(folder).join(format!("{version}.{direction}.sql"));
                std::fs::write(file, format!("-- {folder} {version} {direction}\n")).unwrap();
            }
        }
    }

    #[tokio::test]
    async fn checksums_are_the_ones_sqlx_records() {
        let dir = project(&["0001_users"]);
        std::fs::write(
            dir.path().join("sqlite/0001_users.up.sql"),
            "-- no-transaction\r\nCREATE TABLE \"ü\" (id INTEGER);\n",
        )
        .unwrap();
        let migrator = sqlx::migrate::Migrator::new(dir.path().join("sqlite").as_path())
            .await
            .unwrap();
        let files = current(&open(dir.path())).unwrap();
        assert_eq!(migrator.iter().count(), 2);
        for migration in migrator.iter() {
            let direction = if migration.migration_type.is_down_migration() {
                ".down.sql"
            } else {
                ".up.sql"
            };
            let entry = files
                .iter()
                .find(|e| e.folder == "sqlite" && e.file.ends_with(direction))
                .unwrap();
            let sqlx: String = migration
                .checksum
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(entry.sha384, sqlx, "{}", entry.file);
        }
    }

    #[test]
    fn the_lock_file_round_trips_and_rejects_nonsense() {
        let dir = project(&["0001_users", "0002_systems"]);
        write(&open(dir.path()), &Relock::default()).unwrap();
        let text = std::fs::read_to_string(Lock::path(dir.path())).unwrap();
        let lock = Lock::parse(&text).unwrap();
        assert_eq!(lock.entries.len(), 12);
        assert_eq!(lock.render(), text);
        assert!(text.contains("\n0001 mysql 0001_users.down.sql "), "{text}");
        assert!(
            Lock::parse("0001 sqlite 0002_x.up.sql abc")
                .unwrap_err()
                .to_string()
                .contains("line 1: the file name does not match the version")
        );
        assert_eq!(
            Lock::parse("# released\n0001 sqlite 0001_x.up.sql abc").unwrap_err(),
            BadLine {
                line: 2,
                problem: "not a SHA-384 in hex",
                text: "0001 sqlite 0001_x.up.sql abc".to_owned()
            }
        );
    }

    #[test]
    fn an_edited_released_file_is_named_with_both_checksums() {
        let dir = project(&["0001_users"]);
        write(&open(dir.path()), &Relock::default()).unwrap();
        let file = dir.path().join("postgres/0001_users.up.sql");
        let before = sha384_hex(&std::fs::read(&file).unwrap());
        std::fs::write(&file, "CREATE TABLE users (id UUID);\n").unwrap();
        let report = verify(&open(dir.path())).unwrap().unwrap();
        assert_eq!(
            report.problems,
            [LockProblem::Changed {
                file: "postgres/0001_users.up.sql".into(),
                version: 1,
                locked: before,
                now: sha384_hex(b"CREATE TABLE users (id UUID);\n"),
            }]
        );
        assert!(
            report
                .to_string()
                .contains("make the change in a new migration")
        );
    }

    #[test]
    fn a_deleted_released_file_and_an_inserted_version_are_named() {
        let dir = project(&["0001_users", "0003_alters"]);
        write(&open(dir.path()), &Relock::default()).unwrap();
        std::fs::remove_file(dir.path().join("mysql/0003_alters.down.sql")).unwrap();
        add(dir.path(), "0002_systems");
        let report = verify(&open(dir.path())).unwrap().unwrap();
        let text = report.to_string();
        assert!(
            text.contains("mysql/0003_alters.down.sql (version 3) is released (migrations.lock) but was deleted"),
            "{text}"
        );
        assert!(
            text.contains("sqlite/0002_systems.up.sql: new version 2 is not newer than the newest released version 3")
                && text.contains("Renumber it to 0004 or later"),
            "{text}"
        );
        assert_eq!(report.problems.len(), 7, "{text}");
    }

    #[test]
    fn lock_adds_new_versions_and_refuses_to_rewrite_released_ones() {
        let dir = project(&["0001_users"]);
        let first = write(&open(dir.path()), &Relock::default()).unwrap();
        assert_eq!(first.added.len(), 6);
        assert!(
            write(&open(dir.path()), &Relock::default())
                .unwrap()
                .to_string()
                .ends_with("is up to date")
        );

        add(dir.path(), "0002_systems");
        let report = verify(&open(dir.path())).unwrap().unwrap();
        assert!(report.is_ok());
        assert_eq!(report.unreleased.len(), 6);
        let second = write(&open(dir.path()), &Relock::default()).unwrap();
        assert_eq!(second.added.len(), 6);
        assert!(second.added.iter().all(|e| e.version == 2));

        std::fs::write(dir.path().join("sqlite/0002_systems.up.sql"), "SELECT 2;\n").unwrap();
        let refused = write(&open(dir.path()), &Relock::default()).unwrap_err();
        assert!(
            matches!(&refused, LockError::Refused(p) if p.len() == 1),
            "{refused}"
        );
        assert!(
            refused.to_string().contains("--update NNNN_name"),
            "{refused}"
        );
        assert_eq!(
            write(
                &open(dir.path()),
                &Relock {
                    update: vec!["0007_nope".into()],
                    force: false
                }
            )
            .unwrap_err(),
            LockError::UnknownMigration("0007_nope".into())
        );
        let updated = write(
            &open(dir.path()),
            &Relock {
                update: vec!["0002_systems".into()],
                force: false,
            },
        )
        .unwrap();
        assert_eq!(updated.updated.len(), 1);
        assert!(verify(&open(dir.path())).unwrap().unwrap().is_ok());

        std::fs::write(dir.path().join("sqlite/0001_users.up.sql"), "SELECT 1;\n").unwrap();
        assert!(
            write(
                &open(dir.path()),
                &Relock {
                    update: vec!["2".into()],
                    force: false
                }
            )
            .is_err()
        );
        let forced = write(
            &open(dir.path()),
            &Relock {
                update: vec![],
                force: true,
            },
        )
        .unwrap();
        assert_eq!(forced.updated.len(), 1);
    }

    #[test]
    fn lock_refuses_folders_that_disagree() {
        let dir = project(&["0001_users"]);
        std::fs::remove_file(dir.path().join("mysql/0001_users.down.sql")).unwrap();
        let error = write(&open(dir.path()), &Relock::default()).unwrap_err();
        assert!(error.to_string().contains("no users.down.sql"), "{error}");
        assert!(!Lock::path(dir.path()).exists());
    }

    /// Diesel's files are locked by their path in the driver folder, read back, and re-locked
    /// by their migration's folder name.
    #[test]
    fn diesels_files_are_locked_by_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let write_file = |file: &str, text: &str| {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        for direction in ["up", "down"] {
            write_file(
                &format!("sqlite/2018-01-14-171611_create_tables/{direction}.sql"),
                "SELECT 1;\n",
            );
        }
        write(&open(dir.path()), &Relock::default()).unwrap();
        let lock = Lock::read(dir.path()).unwrap().unwrap();
        let files: Vec<(i64, &str)> = lock
            .entries
            .iter()
            .map(|e| (e.version, e.file.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                (20180114171611, "2018-01-14-171611_create_tables/down.sql"),
                (20180114171611, "2018-01-14-171611_create_tables/up.sql")
            ]
        );
        write_file(
            "sqlite/2018-01-14-171611_create_tables/up.sql",
            "SELECT 2;\n",
        );
        let report = verify(&open(dir.path())).unwrap().unwrap();
        assert!(
            report.to_string().contains(
                "sqlite/2018-01-14-171611_create_tables/up.sql (version 20180114171611) changed"
            ),
            "{report}"
        );
        let relocked = write(
            &open(dir.path()),
            &Relock {
                update: vec!["2018-01-14-171611_create_tables".into()],
                force: false,
            },
        )
        .unwrap();
        assert_eq!(relocked.updated.len(), 1);
    }
}
