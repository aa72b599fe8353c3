//! `didhub-server db copy --from URL --to URL`: moves a deployment from one database to another
//! (SQLite → PostgreSQL when it outgrows one file, most often).
//!
//! The target is migrated to head and must be empty (unless told to empty it first); the source
//! must already be at head, so that both have the same tables. The source is read in one
//! read-only transaction — one snapshot, even if the server keeps writing — table by table in
//! dependency order and in key-ordered batches; each batch is written in its own transaction
//! (COPY on PostgreSQL). At the end every table's row count and content digest must be equal on
//! both sides.

use std::time::{Duration, Instant};

use didhub_migrations::Backend;

use super::{Digest, Digester, SCAN_BATCH, Scan, TABLES, Table};
use crate::config::DatabaseConfig;
use crate::db::{Db, MigrateError};
use crate::progress::Progress;

/// What went wrong, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the source ({backend}) is at schema version {version}, but this server's migrations end \
         at {head}: start didhub-server on the source once to migrate it, then copy"
    )]
    SourceNotAtHead {
        backend: Backend,
        version: i64,
        head: i64,
    },
    #[error(
        "the target ({backend}) already holds data ({holding}); copy into an empty database, or \
         pass --overwrite to delete the target's data first"
    )]
    TargetNotEmpty { backend: Backend, holding: String },
    #[error("migrating the target: {0}")]
    Migrate(#[from] MigrateError),
    #[error("copying {table} from {from} to {to}: {source}")]
    Table {
        table: &'static str,
        from: Backend,
        to: Backend,
        #[source]
        source: sqlx::Error,
    },
    #[error("{during}: {source}")]
    Database {
        during: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "verification failed: {table} holds {source_digest} in the source but {target_digest} in \
         the target"
    )]
    Mismatch {
        table: &'static str,
        source_digest: Digest,
        target_digest: Digest,
    },
}

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Delete the target's rows first instead of refusing a non-empty target.
    pub overwrite: bool,
    /// Rows read, and written in one transaction, at a time.
    pub batch: usize,
    /// Rows copied of those the source holds.
    pub progress: Progress,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            overwrite: false,
            batch: SCAN_BATCH,
            progress: Progress::none(),
        }
    }
}

/// One table copied.
#[derive(Debug, Clone)]
pub struct TableCopied {
    pub table: &'static str,
    pub digest: Digest,
    pub elapsed: Duration,
}

/// The whole copy, verified.
#[derive(Debug, Clone)]
pub struct Copied {
    pub tables: Vec<TableCopied>,
    pub elapsed: Duration,
}

impl Copied {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.digest.rows).sum()
    }

    pub fn rows_per_second(&self) -> f64 {
        self.rows() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Connects to both databases by URL and copies (see [`copy`]).
pub async fn copy_urls(from: &str, to: &str, options: CopyOptions) -> anyhow::Result<Copied> {
    use anyhow::Context as _;
    let connect = |url: &str, which: &'static str| {
        let url = url.to_owned();
        async move {
            let config = DatabaseConfig::from_url(&url).with_context(|| format!("--{which}"))?;
            Db::connect(&config)
                .await
                .with_context(|| format!("connecting to the {which} database"))
        }
    };
    let from = connect(from, "from").await?;
    let to = connect(to, "to").await?;
    let copied = copy(&from, &to, options).await;
    from.close().await;
    to.close().await;
    Ok(copied?)
}

/// Copies every row of `from` into `to`, then verifies the copy.
pub async fn copy(from: &Db, to: &Db, options: CopyOptions) -> Result<Copied, CopyError> {
    let started = Instant::now();
    let database = |during| move |source| CopyError::Database { during, source };
    let head = from
        .backend()
        .migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let version = from
        .schema_version()
        .await
        .map_err(database("reading the source's schema version"))?;
    if version != head {
        return Err(CopyError::SourceNotAtHead {
            backend: from.backend(),
            version,
            head,
        });
    }
    to.migrate().await?;
    prepare_target(to, &options).await?;

    let mut snapshot = from
        .begin_read()
        .await
        .map_err(database("opening a snapshot of the source"))?;
    let progress = &options.progress;
    // A scan of every table: only for someone who counts.
    if progress.counts() {
        for table in TABLES {
            let rows = snapshot.conn().fetch_int(table.count()).await;
            let rows = rows.map_err(database("counting the source's rows"))?;
            progress.expect(u64::try_from(rows).unwrap_or(0));
        }
    }
    let mut tables = Vec::with_capacity(TABLES.len());
    for &table in TABLES {
        progress.working_on(table.name);
        let table_started = Instant::now();
        let failed = |source| CopyError::Table {
            table: table.name,
            from: from.backend(),
            to: to.backend(),
            source,
        };
        let mut digester = Digester::of(table);
        let mut scan = Scan::new(table, options.batch.max(1));
        while let Some(rows) = scan.next(snapshot.conn()).await.map_err(failed)? {
            digester.add(&rows);
            to.insert_rows_counted(table.name, &table.column_names(), rows, progress)
                .await
                .map_err(failed)?;
        }
        tables.push(TableCopied {
            table: table.name,
            digest: digester.finish(),
            elapsed: table_started.elapsed(),
        });
        tracing::info!(
            table = table.name,
            rows = tables.last().map(|t| t.digest.rows),
            "copied"
        );
    }
    snapshot.rollback().await;
    progress.done();

    let mut check = to
        .begin_read()
        .await
        .map_err(database("opening a snapshot of the target"))?;
    for copied in &tables {
        let table = table(copied.table);
        let target_digest = Digest::of(table, &mut check)
            .await
            .map_err(database("verifying the target"))?;
        if target_digest != copied.digest {
            return Err(CopyError::Mismatch {
                table: copied.table,
                source_digest: copied.digest.clone(),
                target_digest,
            });
        }
    }
    check.rollback().await;
    Ok(Copied {
        tables,
        elapsed: started.elapsed(),
    })
}

fn table(name: &str) -> Table {
    *TABLES
        .iter()
        .find(|t| t.name == name)
        .expect("copied tables come from TABLES")
}

/// Refuses a target that holds data, or deletes it (children first) with `overwrite`.
async fn prepare_target(to: &Db, options: &CopyOptions) -> Result<(), CopyError> {
    let failed = |source| CopyError::Database {
        during: "preparing the target",
        source,
    };
    let mut holding = Vec::new();
    for table in TABLES {
        let rows = to.conn().fetch_int(table.count()).await.map_err(failed)?;
        if rows > 0 {
            holding.push(format!("{}: {rows} rows", table.name));
        }
    }
    if holding.is_empty() {
        return Ok(());
    }
    if !options.overwrite {
        return Err(CopyError::TargetNotEmpty {
            backend: to.backend(),
            holding: holding.join(", "),
        });
    }
    let mut tx = to.begin_write().await.map_err(failed)?;
    for table in TABLES.iter().rev() {
        tx.conn()
            .execute(table.delete_all())
            .await
            .map_err(failed)?;
    }
    tx.commit().await.map_err(failed)
}
