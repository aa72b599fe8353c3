//! A fresh test database of its own: an empty one, or one with a migration set applied, copied
//! from a template migrated once per process.

use std::sync::LazyLock;

use sqlx::migrate::Migrator;

use super::server::{as_admin, authority, create_database, create_empty_database};
use super::{Backend, Dedicated, Pool, mysql, postgres, server};
use crate::HarnessError;
use crate::once_map::OnceMap;

/// A fresh, empty database of its own. A SQLite database is a file in a temporary directory that
/// goes away with this value.
#[derive(Debug)]
pub struct TestDatabase {
    pub kind: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A database at `url` on a server (PostgreSQL or MySQL).
    fn on_server(kind: Backend, url: String) -> TestDatabase {
        TestDatabase {
            kind,
            url,
            _dir: None,
        }
    }

    /// This database's URL through pgbouncer in transaction pooling ([`super::pgbouncer::shared`],
    /// in front of the shared PostgreSQL server); `None` for a database elsewhere (on a server
    /// of a test's own, which it pauses and stops).
    pub async fn through_pgbouncer(&self) -> Result<Option<String>, HarnessError> {
        if self.kind != Backend::Postgres {
            return Err(HarnessError::Start {
                backend: self.kind,
                reason: "pgbouncer stands in front of PostgreSQL only".into(),
            });
        }
        let shared = server(Backend::Postgres).await?;
        if authority(&shared.admin_url) != authority(&self.url) {
            return Ok(None);
        }
        Ok(Some(super::pgbouncer::shared().await?.url_for(&self.url)))
    }

    pub async fn create(kind: Backend) -> Result<TestDatabase, HarnessError> {
        match kind {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().map_err(|e| HarnessError::Start {
                    backend: kind,
                    reason: format!("cannot create a temporary directory: {e}"),
                })?;
                let url = format!("sqlite://{}/test.sqlite", dir.path().display());
                Ok(TestDatabase {
                    kind,
                    url,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres | Backend::MySql => {
                let url = create_empty_database(server(kind).await?).await?;
                Ok(TestDatabase::on_server(kind, url))
            }
        }
    }

    /// A fresh database with `migrator` applied.
    async fn create_migrated(
        kind: Backend,
        template: &str,
        migrator: &Migrator,
    ) -> Result<TestDatabase, HarnessError> {
        let db = TestDatabase::create(kind).await?;
        let pool = db.connect().await?;
        let migrated = crate::timings::timed(
            "migration",
            kind.name(),
            pool.migrate_up(migrator, i64::MAX),
        )
        .await;
        pool.close().await;
        migrated.map_err(|e| HarnessError::Template {
            backend: kind,
            template: template.to_owned(),
            reason: format!("the migrations failed: {e}"),
        })?;
        Ok(db)
    }

    /// A fresh database with `migrator` already applied, copied from a template database
    /// migrated once per process: PostgreSQL clones it (`CREATE DATABASE … TEMPLATE …
    /// STRATEGY FILE_COPY`), SQLite copies its file, MySQL (which has no templates) replays its
    /// tables and copies their rows ([`mysql::Blueprint`]). `template` names the migration set;
    /// use one name per migrator.
    pub async fn migrated(
        kind: Backend,
        template: &str,
        migrator: &Migrator,
    ) -> Result<TestDatabase, HarnessError> {
        // Boxed: the future nests deep enough to overflow the compiler's layout query depth in
        // callers that nest it further.
        crate::timings::timed(
            "fresh migrated database",
            kind.name(),
            Box::pin(TestDatabase::from_template(kind, template, migrator)),
        )
        .await
    }

    async fn from_template(
        kind: Backend,
        template: &str,
        migrator: &Migrator,
    ) -> Result<TestDatabase, HarnessError> {
        static TEMPLATES: LazyLock<OnceMap<(Backend, String), Template>> =
            LazyLock::new(OnceMap::new);
        let source = TEMPLATES.cell((kind, template.to_owned()));
        let source = source
            .get_or_try_init(|| Template::make(kind, template, migrator))
            .await?;
        match (kind, &source.blueprint) {
            (Backend::Sqlite, _) => {
                let copy = TestDatabase::create(kind).await?;
                let from = source.db.url.trim_start_matches("sqlite://");
                let to = copy.url.trim_start_matches("sqlite://");
                std::fs::copy(from, to).map_err(|e| HarnessError::Template {
                    backend: kind,
                    template: template.to_owned(),
                    reason: format!("cannot copy the template's file: {e}"),
                })?;
                Ok(copy)
            }
            (Backend::Postgres, _) => {
                let name = source.db.name();
                let url = create_database(server(kind).await?, |new| {
                    postgres::create_database_sql(new, Some(name))
                })
                .await?;
                Ok(TestDatabase::on_server(kind, url))
            }
            (Backend::MySql, Some(blueprint)) => {
                let url =
                    create_database(server(kind).await?, |new| blueprint.copy_sql(new)).await?;
                Ok(TestDatabase::on_server(kind, url))
            }
            (Backend::MySql, None) => TestDatabase::create_migrated(kind, template, migrator).await,
        }
    }

    /// Removes the database from its server now (a SQLite file goes with its directory), for
    /// callers that make many: otherwise they last as long as the server.
    pub async fn discard(self) -> Result<(), HarnessError> {
        let name = self.name();
        let sql = match self.kind {
            Backend::Sqlite => return Ok(()),
            Backend::Postgres => format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
            Backend::MySql => format!("DROP DATABASE `{name}`"),
        };
        as_admin(server(self.kind).await?, &sql).await
    }

    /// The database's name on its server (the URL's path).
    fn name(&self) -> &str {
        let path = self.url.rsplit('/').next().unwrap_or_default();
        path.split('?').next().unwrap_or_default()
    }

    /// One connection (see [`Pool::connect_one`]).
    pub async fn connect(&self) -> Result<Pool, HarnessError> {
        Pool::connect_one(self.kind, &self.url)
            .await
            .map_err(|e| HarnessError::database(self.kind, e))
    }
}

/// A migrated database that fresh ones are copied from, one per (backend, migration set), made
/// on first use.
struct Template {
    db: TestDatabase,
    /// MySQL, which has no template databases: the tables to copy (`None` when the database
    /// holds objects a copy would miss, and each database is migrated instead).
    blueprint: Option<mysql::Blueprint>,
}

impl Template {
    async fn make(
        kind: Backend,
        name: &str,
        migrator: &Migrator,
    ) -> Result<Template, HarnessError> {
        let db = TestDatabase::create_migrated(kind, name, migrator).await?;
        let blueprint = match kind {
            Backend::Sqlite | Backend::Postgres => None,
            Backend::MySql => {
                let pool = db.connect().await?;
                let blueprint = match &pool {
                    Pool::MySql(p) => mysql::blueprint(p).await,
                    Pool::Sqlite(_) | Pool::Postgres(_) => Ok(None),
                };
                pool.close().await;
                blueprint.map_err(|e| HarnessError::database(kind, e))?
            }
        };
        Ok(Template { db, blueprint })
    }
}

impl Dedicated {
    /// A fresh, empty database on this server.
    pub async fn database(&self) -> Result<TestDatabase, HarnessError> {
        let url = create_empty_database(&self.server).await?;
        Ok(TestDatabase::on_server(self.server.kind, url))
    }
}
