//! A project's migration folders, read at run time (any project, not only DIDHub).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sqlx::migrate::Migrator;

use crate::HarnessError;
use crate::backend::Kind;
use crate::integrity::{Direction, MigrationFile};

/// One backend's migrations: the sqlx migrator and the file name of each step.
pub struct MigrationSet {
    pub kind: Kind,
    pub dir: PathBuf,
    pub migrator: Migrator,
    /// version → (up file, down file)
    files: BTreeMap<i64, (String, Option<String>)>,
}

impl MigrationSet {
    /// Reads `root/<backend>/`.
    pub async fn load(root: &Path, kind: Kind) -> Result<MigrationSet, HarnessError> {
        let dir = root.join(kind.name());
        let error = |reason: String| HarnessError::Migrations {
            dir: dir.display().to_string(),
            reason,
        };
        let migrator = Migrator::new(dir.as_path())
            .await
            .map_err(|e| error(e.to_string()))?;
        let mut files: BTreeMap<i64, (String, Option<String>)> = BTreeMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| error(e.to_string()))?;
        for entry in entries {
            let name = entry.map_err(|e| error(e.to_string()))?.file_name();
            let name = name.to_string_lossy().into_owned();
            if let Some(parsed) = MigrationFile::parse(&name) {
                let slot = files.entry(parsed.version).or_default();
                match parsed.direction {
                    Direction::Up => slot.0 = name,
                    Direction::Down => slot.1 = Some(name),
                }
            }
        }
        Ok(MigrationSet {
            kind,
            dir,
            migrator,
            files,
        })
    }

    /// The versions, oldest first.
    pub fn versions(&self) -> Vec<i64> {
        self.files.keys().copied().collect()
    }

    pub fn up_file(&self, version: i64) -> String {
        self.files
            .get(&version)
            .map(|f| f.0.clone())
            .unwrap_or_else(|| format!("version {version}"))
    }

    pub fn down_file(&self, version: i64) -> String {
        self.files
            .get(&version)
            .and_then(|f| f.1.clone())
            .unwrap_or_else(|| format!("(no down file for version {version})"))
    }
}
