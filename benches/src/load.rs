//! A database on one backend, loaded with generated data and analysed.

use anyhow::Context;
use didhub_harness::TestDatabase;
use didhub_migrations::Backend;
use didhub_server::config::Config;
use didhub_server::db::Db;
use didhub_server::generate::{self, Generated, Size};
use didhub_server::progress::Progress;

/// A backend with data loaded and analysed.
pub struct Loaded {
    pub backend: Backend,
    /// A pool of one connection: schema changes, ANALYZE and EXPLAIN all see the same schema.
    pub db: Db,
    pub data: Generated,
    database: TestDatabase,
}

/// Loads `alters` generated alters (and their users, systems and audit entries) into a fresh
/// database and analyses it.
pub async fn load(backend: Backend, alters: usize) -> anyhow::Result<Loaded> {
    let kind = backend;
    let database = TestDatabase::migrated(kind, "didhub", backend.migrator()).await?;
    let db = connect(&database.url, 1).await?;
    let size = Size { alters, seed: 7 };
    let data = generate::generate(&db, size, &Progress::on_terminal())
        .await
        .context("generating data")?;
    generate::analyze(&db).await?;
    Ok(Loaded {
        backend,
        db,
        data,
        database,
    })
}

impl Loaded {
    /// The loaded database's URL.
    pub fn url(&self) -> &str {
        &self.database.url
    }

    /// Another pool on the loaded database, of at most `max_connections`.
    pub async fn pool(&self, max_connections: u32) -> anyhow::Result<Db> {
        connect(&self.database.url, max_connections).await
    }

    /// Drops indexes, given as `(table, index)`, refreshes the statistics and reconnects, so that
    /// later queries cannot use them. On MySQL a foreign key needs an index on its columns, so
    /// the foreign keys an index backs are dropped first.
    pub async fn drop_indexes(&mut self, indexes: &[(&str, &str)]) -> anyhow::Result<()> {
        let pool = self.database.connect().await?;
        let schema = pool.introspect().await?;
        for &(table, index) in indexes {
            let columns = &schema
                .tables
                .get(table)
                .and_then(|t| t.index_named(index))
                .with_context(|| format!("{}: no index {index} on {table}", self.backend))?
                .columns;
            let sql = match self.backend {
                Backend::Sqlite | Backend::Postgres => vec![format!("DROP INDEX {index}")],
                Backend::MySql => schema.tables[table]
                    .foreign_keys
                    .values()
                    .filter(|fk| &fk.columns == columns)
                    .filter_map(|fk| fk.name.text.as_deref())
                    .map(|fk| format!("ALTER TABLE {table} DROP FOREIGN KEY {fk}"))
                    .chain([format!("DROP INDEX {index} ON {table}")])
                    .collect(),
            };
            for statement in sql {
                pool.execute(&statement).await?;
            }
        }
        pool.close().await;
        // A fresh connection cannot hold a plan or schema cached from before the change.
        self.db.close().await;
        self.db = connect(&self.database.url, 1).await?;
        generate::analyze(&self.db).await?;
        Ok(())
    }
}

/// The server's own pool, configured as the server would be from `DIDHUB_DB`.
async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
    let url = format!("{url}?max_connections={max_connections}");
    let config = Config::from_sources(None, |k| (k == "DIDHUB_DB").then(|| url.clone()))?;
    Ok(Db::connect(&config.database).await?)
}
