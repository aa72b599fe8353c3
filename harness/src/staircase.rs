//! The staircase: walk every migration up and down on a real database.
//!
//! For each version N: apply up to N and record the schema S(N); revert to N−1 and require
//! exactly S(N−1); apply N again and require exactly S(N). Finally revert everything and require
//! that no table is left. A failure names the backend, the version, the file and the exact
//! difference.

use std::sync::LazyLock;

use crate::HarnessError;
use crate::backend::{Kind, Pool, TestDatabase};
use crate::migrations::MigrationSet;
use crate::once_map::OnceMap;
use crate::schema::Schema;

#[derive(Debug, thiserror::Error)]
pub enum StaircaseError {
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error("{backend}: {file} (version {version}) failed: {reason}")]
    MigrationFailed {
        backend: Kind,
        version: i64,
        file: String,
        reason: String,
    },
    #[error("{backend}: {file} (version {version}) does not restore the schema of version {previous}:\n  {}", .diff.join("\n  "))]
    DownDoesNotRestore {
        backend: Kind,
        version: i64,
        previous: i64,
        file: String,
        diff: Vec<String>,
    },
    #[error("{backend}: {file} (version {version}) gives a different schema when applied again after its down:\n  {}", .diff.join("\n  "))]
    UpNotRepeatable {
        backend: Kind,
        version: i64,
        file: String,
        diff: Vec<String>,
    },
    #[error("{backend}: reverting every migration leaves tables behind: {}", .tables.join(", "))]
    LeftBehind { backend: Kind, tables: Vec<String> },
}

/// The schema after each version: `(version, schema)`, version 0 first.
#[derive(Debug, Clone)]
pub struct Staircase {
    pub kind: Kind,
    pub steps: Vec<(i64, Schema)>,
}

/// Walks `set` on a fresh database of its backend.
///
/// A walk depends only on the migrations' text and the server, so within one process a set
/// whose files are byte for byte the same as one already walked on that backend gets the
/// recorded staircase instead of a second walk (tests check many copies of a migration set that
/// differ in one dialect only). Failed walks are not recorded: they run again.
pub async fn walk(set: &MigrationSet) -> Result<Staircase, StaircaseError> {
    static WALKED: LazyLock<OnceMap<(Kind, Vec<u8>), Staircase>> = LazyLock::new(OnceMap::new);
    WALKED
        .cell(content_key(set))
        .get_or_try_init(|| {
            // Boxed, so that callers' futures do not nest the whole walk.
            Box::pin(async {
                let db = TestDatabase::create(set.kind).await?;
                let pool = db.connect().await?;
                let result = walk_on(&pool, set).await;
                pool.close().await;
                result
            })
        })
        .await
        .cloned()
}

/// The backend and everything sqlx knows of each migration, in order: version, kind (up,
/// down, simple), description, transaction mode and the checksum (SHA-384) of its text.
fn content_key(set: &MigrationSet) -> (Kind, Vec<u8>) {
    let mut key = Vec::new();
    for m in set.migrator.iter() {
        key.extend_from_slice(&m.version.to_le_bytes());
        key.extend_from_slice(format!("{:?}", m.migration_type).as_bytes());
        key.extend_from_slice(m.description.as_bytes());
        key.push(u8::from(m.no_tx));
        key.extend_from_slice(&m.checksum);
        key.push(0);
    }
    (set.kind, key)
}

async fn walk_on(pool: &Pool, set: &MigrationSet) -> Result<Staircase, StaircaseError> {
    let kind = set.kind;
    let mut steps = vec![(0, pool.introspect().await?)];
    for version in set.versions() {
        let (previous, before) = steps.last().cloned().expect("version 0 is recorded");
        pool.migrate_up(&set.migrator, version).await.map_err(|e| {
            StaircaseError::MigrationFailed {
                backend: kind,
                version,
                file: set.up_file(version),
                reason: e.to_string(),
            }
        })?;
        let after = pool.introspect().await?;

        pool.migrate_down(&set.migrator, previous)
            .await
            .map_err(|e| StaircaseError::MigrationFailed {
                backend: kind,
                version,
                file: set.down_file(version),
                reason: e.to_string(),
            })?;
        let reverted = pool.introspect().await?;
        let diff = before.diff(&reverted);
        if !diff.is_empty() {
            return Err(StaircaseError::DownDoesNotRestore {
                backend: kind,
                version,
                previous,
                file: set.down_file(version),
                diff,
            });
        }

        pool.migrate_up(&set.migrator, version).await.map_err(|e| {
            StaircaseError::MigrationFailed {
                backend: kind,
                version,
                file: set.up_file(version),
                reason: format!("applying it again after its down: {e}"),
            }
        })?;
        let again = pool.introspect().await?;
        let diff = after.diff(&again);
        if !diff.is_empty() {
            return Err(StaircaseError::UpNotRepeatable {
                backend: kind,
                version,
                file: set.up_file(version),
                diff,
            });
        }
        steps.push((version, after));
    }
    if let Some(&(newest, _)) = steps.last()
        && newest > 0
    {
        pool.migrate_down(&set.migrator, 0)
            .await
            .map_err(|e| StaircaseError::MigrationFailed {
                backend: kind,
                version: newest,
                file: set.down_file(newest),
                reason: format!("reverting everything: {e}"),
            })?;
        let left = pool.introspect().await?;
        if !left.is_empty() {
            return Err(StaircaseError::LeftBehind {
                backend: kind,
                tables: left.tables.keys().cloned().collect(),
            });
        }
    }
    Ok(Staircase { kind, steps })
}

/// The schema of a fresh database with `set` applied up to `version` (every migration when
/// `None`; 0 for none).
pub async fn schema_at(set: &MigrationSet, version: Option<i64>) -> Result<Schema, StaircaseError> {
    let versions = set.versions();
    if let Some(v) = version.filter(|v| *v != 0 && !versions.contains(v)) {
        return Err(HarnessError::Migrations {
            dir: set.dir.display().to_string(),
            reason: format!("there is no version {v} (versions: {versions:?})"),
        }
        .into());
    }
    let db = TestDatabase::create(set.kind).await?;
    let pool = db.connect().await?;
    let target = version.unwrap_or(i64::MAX);
    let result = async {
        pool.migrate_up(&set.migrator, target).await.map_err(|e| {
            let failed = match &e {
                sqlx::migrate::MigrateError::ExecuteMigration(_, v) => *v,
                _ => target,
            };
            StaircaseError::MigrationFailed {
                backend: set.kind,
                version: failed,
                file: set.up_file(failed),
                reason: e.to_string(),
            }
        })?;
        Ok(pool.introspect().await?)
    }
    .await;
    pool.close().await;
    result
}
