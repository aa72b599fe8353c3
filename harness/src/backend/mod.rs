//! The three backends behind one small surface.
//!
//! A backend answers four questions — how to get a server, how to make a fresh empty database on
//! it, how to connect, and what schema a database has (plus its version and EXPLAIN, later) —
//! and says how it spells reading and writing a value as text ([`DataSql`], for the data
//! staircase).
//! Each lives in its own module with the same shape: [`sqlite`], [`postgres`], [`mysql`].
//!
//! PostgreSQL and MySQL servers start in containers (testcontainers) once per process and are
//! shared; every caller gets its own database on them. `DIDHUB_TEST_POSTGRES_URL` /
//! `DIDHUB_TEST_MYSQL_URL` point a backend at a running server instead (an admin URL; the harness
//! creates databases there). A backend that cannot start is an error that says why — never a
//! silent skip.

pub mod mysql;
pub mod postgres;
pub mod sqlite;

use std::sync::LazyLock;
use std::time::Duration;

use didhub_migrations::{Direction, LockTimeout, MigrationFailed};
use sqlx::migrate::Migrator;
use sqlx::{MySqlPool, PgPool, SqlitePool};
use tokio::sync::OnceCell;

use crate::HarnessError;
use crate::images::{self, ImageChoice, Owner, ServerImage};
use crate::once_map::OnceMap;
use crate::plans::{self, Plan};
use crate::schema::{Column, Logical, Schema, Table};

/// How long a statement of a migration the harness applies may wait for a lock. Nothing but
/// the test itself uses a test database, so a wait means a test holds a lock it forgot: it
/// fails after this instead of hanging.
pub const MIGRATION_LOCK_TIMEOUT: LockTimeout = LockTimeout::new(LockTimeout::DEFAULT);

/// Why a migration failed, for a message that names the backend and the file itself: sqlx's
/// words, or a lock timeout's (what waited for what, and what to do).
pub(crate) fn why(failed: &MigrationFailed) -> String {
    match failed {
        MigrationFailed::Error { source, .. } => source.to_string(),
        MigrationFailed::LockTimeout(lock) => lock.reason(),
    }
}

pub use didhub_migrations::Backend;

/// How a backend spells the data staircase's reads and writes. Values travel as text in the
/// canonical form of [`crate::data`]; each backend renders a column as text and casts a text
/// parameter back to the column's type.
pub(super) struct DataSql {
    /// Quotes an identifier.
    quote: fn(&str) -> String,
    /// The expression that reads a column as text.
    read: fn(&Column) -> String,
    /// The placeholder (1-based position) that writes a text parameter into a column.
    write: fn(usize, &Column) -> String,
}

/// How `backend` spells the data staircase's reads and writes.
fn data_sql(backend: Backend) -> &'static DataSql {
    match backend {
        Backend::Sqlite => &sqlite::DATA_SQL,
        Backend::Postgres => &postgres::DATA_SQL,
        Backend::MySql => &mysql::DATA_SQL,
    }
}

/// The `--db` choice of the command-line tools: one backend or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Selection {
    Sqlite,
    Postgres,
    Mysql,
    All,
}

impl Selection {
    pub fn backends(self) -> Vec<Backend> {
        match self {
            Selection::Sqlite => vec![Backend::Sqlite],
            Selection::Postgres => vec![Backend::Postgres],
            Selection::Mysql => vec![Backend::MySql],
            Selection::All => Backend::ALL.to_vec(),
        }
    }
}

/// A running server the harness can create databases on.
#[derive(Debug, Clone)]
pub struct Server {
    pub kind: Backend,
    /// Connects as an administrator to the server's default database.
    pub admin_url: String,
    /// What the server says it is (`PostgreSQL 15.18 …`, `10.11.18-MariaDB…`).
    pub version: String,
    /// Where it came from: a container image, or an external URL.
    pub origin: String,
    /// The container's id, when the harness started it.
    pub container: Option<String>,
}

impl Server {
    /// Runs a command inside the server's container (`docker exec -i`), feeding it `stdin`, and
    /// returns its standard output; a failure carries its standard error. Used to run the
    /// server's own tools (`pg_dump`, `mysqldump`, …), whose versions match the server.
    pub async fn exec(&self, command: &[&str], stdin: Vec<u8>) -> Result<Vec<u8>, HarnessError> {
        let container = self.container_id()?;
        let args = ["exec", "-i", container]
            .iter()
            .chain(command)
            .map(|s| s.to_string())
            .collect();
        images::docker(self.kind, args, stdin).await
    }

    fn container_id(&self) -> Result<&str, HarnessError> {
        self.container
            .as_deref()
            .ok_or_else(|| HarnessError::Start {
                backend: self.kind,
                reason: format!(
                    "the {} server comes from {}, not a harness container",
                    self.kind, self.origin
                ),
            })
    }
}

/// A container backend's server of one's own, for tests that pause, stop and restart it while
/// the shared server goes on serving every other test. Its data lives in the container rather
/// than on a tmpfs, and its host port is fixed, so a stop and start keeps both the data and the
/// URLs. It is removed when the process ends.
#[derive(Debug)]
pub struct Dedicated {
    pub server: Server,
}

/// Starts a [`Dedicated`] server (always a container: `DIDHUB_TEST_*_URL` does not apply).
pub async fn dedicated(kind: Backend) -> Result<Dedicated, HarnessError> {
    let spec = match kind {
        Backend::Sqlite => return Err(HarnessError::NoServer(kind)),
        Backend::Postgres => postgres::spec(),
        Backend::MySql => mysql::spec(),
    };
    let server = start_container(kind, spec, Placement::Dedicated).await?;
    Ok(Dedicated { server })
}

impl Dedicated {
    /// A fresh, empty database on this server.
    pub async fn database(&self) -> Result<TestDatabase, HarnessError> {
        let url = create_empty_database(&self.server).await?;
        Ok(TestDatabase::on_server(self.server.kind, url))
    }

    /// Freezes the server's processes: connections stay open and nothing answers.
    pub async fn pause(&self) -> Result<(), HarnessError> {
        // The cgroup freezer gives up ("unable to freeze") when a process appears while it
        // works (a `docker exec`, or the server forking a backend): try again.
        let mut attempts = 0;
        loop {
            match self.docker("pause").await {
                Err(HarnessError::Start { reason, .. })
                    if reason.contains("unable to freeze") && attempts < 10 =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    pub async fn unpause(&self) -> Result<(), HarnessError> {
        self.docker("unpause").await
    }

    /// Stops the server: open connections are closed and new ones refused.
    pub async fn stop(&self) -> Result<(), HarnessError> {
        self.docker("stop").await
    }

    /// Starts a stopped server again and waits until it takes connections.
    pub async fn start(&self) -> Result<(), HarnessError> {
        self.docker("start").await?;
        let pool = images::retry(Duration::from_secs(60), || {
            Pool::connect(self.server.kind, &self.server.admin_url)
        })
        .await
        .map_err(|e| HarnessError::database(self.server.kind, e))?;
        pool.close().await;
        Ok(())
    }

    async fn docker(&self, verb: &str) -> Result<(), HarnessError> {
        let id = self.server.container_id()?;
        images::docker(self.server.kind, vec![verb.into(), id.into()], Vec::new()).await?;
        Ok(())
    }
}

static POSTGRES: OnceCell<Server> = OnceCell::const_new();
static MYSQL: OnceCell<Server> = OnceCell::const_new();

/// The shared server for a container backend, started on first use.
/// The first start prints the server's version and how long it took to be ready, so nobody
/// mistakes MariaDB for MySQL.
pub async fn server(kind: Backend) -> Result<&'static Server, HarnessError> {
    let (cell, spec): (_, fn() -> ServerSpec) = match kind {
        Backend::Sqlite => return Err(HarnessError::NoServer(kind)),
        Backend::Postgres => (&POSTGRES, postgres::spec),
        Backend::MySql => (&MYSQL, mysql::spec),
    };
    cell.get_or_try_init(|| async {
        let started = std::time::Instant::now();
        let spec = spec();
        let server = match std::env::var(spec.url_variable) {
            Ok(url) if !url.trim().is_empty() => {
                connect_server(kind, &spec, url, spec.url_variable.to_owned(), None).await?
            }
            _ => {
                let owner = images::session(kind)?.map_or(Owner::Process, Owner::Session);
                start_container(kind, spec, Placement::Shared(owner)).await?
            }
        };
        crate::timings::record("server start", kind.name(), started.elapsed());
        eprintln!(
            "harness: {kind} is {} ({}), ready in {:.1} s",
            server.version,
            server.origin,
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    })
    .await
}

/// What a container backend answers about its server.
pub(super) struct ServerSpec {
    /// Names an already-running server to use instead of a container.
    url_variable: &'static str,
    choice: &'static ImageChoice,
    image: fn(String, String) -> ServerImage,
    /// Server arguments that trade durability for speed (no fsync, no binary log): a shared
    /// test server's data lives on a tmpfs anyway.
    fast: &'static [&'static str],
    /// The administrator URL for the server's address.
    admin_url: fn(&images::Address) -> String,
    version_sql: &'static str,
}

/// How a container is placed: shared by every test of its owner, the process or the test session
/// (data on tmpfs, durability off, any free port), or dedicated to one test that stops and starts
/// it (data in the container, durable, a fixed port).
enum Placement {
    Shared(Owner),
    Dedicated,
}

/// Starts the server's container.
async fn start_container(
    kind: Backend,
    spec: ServerSpec,
    placement: Placement,
) -> Result<Server, HarnessError> {
    let (name, tag) = spec.choice.resolve(kind)?;
    let origin = format!("container {name}:{tag}");
    let mut image = (spec.image)(name, tag);
    let (host_port, owner) = match placement {
        Placement::Shared(owner) => {
            image.cmd.extend(spec.fast.iter().map(|s| s.to_string()));
            (None, owner)
        }
        Placement::Dedicated => {
            image.data.clear();
            (Some(images::free_port(kind)?), Owner::Process)
        }
    };
    let (address, container) = images::start(kind, image, spec.choice, host_port, owner).await?;
    let origin = format!("{origin} at {}:{}", address.host, address.port);
    connect_server(
        kind,
        &spec,
        (spec.admin_url)(&address),
        origin,
        Some(container),
    )
    .await
}

/// Waits until the server takes connections and asks its version.
async fn connect_server(
    kind: Backend,
    spec: &ServerSpec,
    admin_url: String,
    origin: String,
    container: Option<String>,
) -> Result<Server, HarnessError> {
    // A container is started without waiting for anything: this is where it becomes ready.
    let pool = images::retry(Duration::from_secs(120), || Pool::connect(kind, &admin_url))
        .await
        .map_err(|e| HarnessError::Start {
            backend: kind,
            reason: format!("no connection to {origin}: {e}"),
        })?;
    let version = pool.fetch_text(spec.version_sql).await;
    pool.close().await;
    Ok(Server {
        kind,
        admin_url,
        version: version?,
        origin,
        container,
    })
}

/// Creates a database on the server with the SQL `create` gives for its name, and returns its
/// URL.
async fn create_database(
    server: &Server,
    create: impl Fn(&str) -> String,
) -> Result<String, HarnessError> {
    let name = next_database_name();
    as_admin(server, &create(&name)).await?;
    Ok(with_database(&server.admin_url, &name))
}

/// Runs SQL on the server as its administrator, over a connection of its own.
async fn as_admin(server: &Server, sql: &str) -> Result<(), HarnessError> {
    let pool = Pool::connect(server.kind, &server.admin_url)
        .await
        .map_err(|e| HarnessError::database(server.kind, e))?;
    // A PostgreSQL template whose last connection has only just closed can still count as
    // "being accessed by other users" (55006) for a moment; any other failure is final.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let done = loop {
        match pool.execute(sql).await {
            Err(HarnessError::Database { source, .. })
                if source.as_database_error().and_then(|e| e.code()).as_deref()
                    == Some("55006")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => break other,
        }
    };
    pool.close().await;
    done
}

/// Creates an empty database on the server.
async fn create_empty_database(server: &Server) -> Result<String, HarnessError> {
    create_database(server, |name| match server.kind {
        Backend::Postgres => postgres::create_database_sql(name, None),
        Backend::Sqlite | Backend::MySql => mysql::create_database_sql(name),
    })
    .await
}

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
        migrated.map_err(|e| HarnessError::Start {
            backend: kind,
            reason: format!("cannot migrate a {template} database: {e}"),
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
                std::fs::copy(from, to).map_err(|e| HarnessError::Start {
                    backend: kind,
                    reason: format!("cannot copy the {template} template: {e}"),
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

/// A connection pool on a test database.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

impl Pool {
    /// A pool of up to 10 connections (sqlx's default).
    pub async fn connect(kind: Backend, url: &str) -> Result<Pool, sqlx::Error> {
        Self::open(kind, url, 10).await
    }

    /// One connection, as sqlx runs a migration file: what a test database is used for (migrate,
    /// introspect, replay statements) happens in turn, never at once, and a statement must see
    /// what the one before it did to the session (a `SET`) and, on SQLite, to the schema (a
    /// second SQLite connection can prepare a statement against the schema as it was before
    /// another changed it: `duplicate column name` for a column just dropped).
    pub async fn connect_one(kind: Backend, url: &str) -> Result<Pool, sqlx::Error> {
        Self::open(kind, url, 1).await
    }

    async fn open(kind: Backend, url: &str, max: u32) -> Result<Pool, sqlx::Error> {
        fn options<DB: sqlx::Database>(max: u32) -> sqlx::pool::PoolOptions<DB> {
            sqlx::pool::PoolOptions::new().max_connections(max)
        }
        Ok(match kind {
            Backend::Sqlite => Pool::Sqlite(sqlite::connect(url, options(max)).await?),
            Backend::Postgres => Pool::Postgres(options(max).connect(url).await?),
            Backend::MySql => Pool::MySql(options(max).connect(url).await?),
        })
    }

    /// The single text value a query returns.
    async fn fetch_text(&self, sql: &'static str) -> Result<String, HarnessError> {
        let result = match self {
            Pool::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
            Pool::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await,
            Pool::MySql(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        };
        result.map_err(|e| HarnessError::database(self.kind(), e))
    }

    pub fn kind(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
            Pool::MySql(_) => Backend::MySql,
        }
    }

    /// The database's schema, normalised.
    pub async fn introspect(&self) -> Result<Schema, HarnessError> {
        let result = match self {
            Pool::Sqlite(p) => sqlite::introspect(p).await,
            Pool::Postgres(p) => postgres::introspect(p).await,
            Pool::MySql(p) => mysql::introspect(p).await,
        };
        result.map_err(|e| HarnessError::database(self.kind(), e))
    }

    /// Applies migrations up to and including `target`, each lock wait bounded by
    /// [`MIGRATION_LOCK_TIMEOUT`].
    pub async fn migrate_up(
        &self,
        migrator: &Migrator,
        target: i64,
    ) -> Result<(), MigrationFailed> {
        self.migrate(migrator, Direction::Up(target), MIGRATION_LOCK_TIMEOUT)
            .await
    }

    /// Reverts migrations newer than `target`, each lock wait bounded by
    /// [`MIGRATION_LOCK_TIMEOUT`].
    pub async fn migrate_down(
        &self,
        migrator: &Migrator,
        target: i64,
    ) -> Result<(), MigrationFailed> {
        self.migrate(migrator, Direction::Down(target), MIGRATION_LOCK_TIMEOUT)
            .await
    }

    /// Migrates as the server does ([`didhub_migrations::migrate`]): on one connection, every
    /// lock wait bounded by `timeout`, which is put back afterwards.
    pub async fn migrate(
        &self,
        migrator: &Migrator,
        direction: Direction,
        timeout: LockTimeout,
    ) -> Result<(), MigrationFailed> {
        match self {
            Pool::Sqlite(p) => didhub_migrations::migrate(migrator, p, direction, timeout).await,
            Pool::Postgres(p) => didhub_migrations::migrate(migrator, p, direction, timeout).await,
            Pool::MySql(p) => didhub_migrations::migrate(migrator, p, direction, timeout).await,
        }
    }

    /// The plan of a query (literal SQL, no parameters).
    pub async fn explain(&self, sql: &str) -> Result<Plan, HarnessError> {
        let kind = self.kind();
        let explain = sqlx::AssertSqlSafe(plans::explain_sql(kind, sql));
        let output = match self {
            Pool::Sqlite(p) => sqlx::query(explain).fetch_all(p).await.map(|rows| {
                use sqlx::Row;
                let details: Vec<String> = rows.iter().map(|r| r.get("detail")).collect();
                details.join("\n")
            }),
            Pool::Postgres(p) => sqlx::query_scalar::<_, serde_json::Value>(explain)
                .fetch_one(p)
                .await
                .map(|v| v.to_string()),
            Pool::MySql(p) => sqlx::query_scalar::<_, String>(explain).fetch_one(p).await,
        }
        .map_err(|e| HarnessError::database(kind, e))?;
        plans::parse(kind, &output).map_err(|reason| HarnessError::Start {
            backend: kind,
            reason: format!("cannot read the plan: {reason}"),
        })
    }

    /// Runs SQL text as is (several statements allowed).
    pub async fn execute(&self, sql: &str) -> Result<(), HarnessError> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let result = match self {
            Pool::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(drop),
            Pool::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(drop),
            Pool::MySql(p) => sqlx::raw_sql(sql).execute(p).await.map(drop),
        };
        result.map_err(|e| HarnessError::database(self.kind(), e))
    }

    /// Every row of `table`, each value as text in the backend's spelling (see
    /// [`crate::data::canonical_output`]), columns in the table's order.
    pub async fn read_rows(
        &self,
        name: &str,
        table: &Table,
    ) -> Result<Vec<Vec<Option<String>>>, HarnessError> {
        let kind = self.kind();
        let spell = data_sql(kind);
        let columns: Vec<String> = table.columns.iter().map(spell.read).collect();
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {}",
            columns.join(", "),
            (spell.quote)(name)
        ));
        let rows = match self {
            Pool::Sqlite(p) => sqlx::query(sql).fetch_all(p).await.and_then(texts),
            Pool::Postgres(p) => sqlx::query(sql).fetch_all(p).await.and_then(texts),
            Pool::MySql(p) => sqlx::query(sql).fetch_all(p).await.and_then(texts),
        };
        rows.map_err(|e| HarnessError::database(kind, e))
    }

    /// Inserts one row; `values` are canonical (see [`crate::data`]), one per column.
    pub async fn insert_row(
        &self,
        name: &str,
        columns: &[&Column],
        values: Vec<Option<String>>,
    ) -> Result<(), HarnessError> {
        let kind = self.kind();
        let spell = data_sql(kind);
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO {} ({}) VALUES ({})",
            (spell.quote)(name),
            columns
                .iter()
                .map(|c| (spell.quote)(&c.name))
                .collect::<Vec<_>>()
                .join(", "),
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| (spell.write)(i + 1, c))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let values: Vec<Option<String>> = columns
            .iter()
            .zip(values)
            .map(|(column, value)| value.map(|v| input_value(kind, column, v)))
            .collect();
        let result = match self {
            Pool::Sqlite(p) => bind_all(sqlx::query(sql), values)
                .execute(p)
                .await
                .map(drop),
            Pool::Postgres(p) => bind_all(sqlx::query(sql), values)
                .execute(p)
                .await
                .map(drop),
            Pool::MySql(p) => bind_all(sqlx::query(sql), values)
                .execute(p)
                .await
                .map(drop),
        };
        result.map_err(|e| HarnessError::database(kind, e))
    }

    pub async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }
}

/// A canonical value as the backend takes it for its column. Booleans are 1 and 0 everywhere
/// (PostgreSQL's boolean input reads those too); only MySQL spells timestamps its own way.
fn input_value(kind: Backend, column: &Column, canonical: String) -> String {
    match (&column.logical, canonical.as_str()) {
        (Logical::Boolean, "true") => "1".to_owned(),
        (Logical::Boolean, "false") => "0".to_owned(),
        (Logical::Timestamp, t) if kind == Backend::MySql => mysql::datetime_input(t),
        _ => canonical,
    }
}

fn bind_all<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    values: Vec<Option<String>>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for value in values {
        query = query.bind(value);
    }
    query
}

/// Every value of every row as text (NULL as `None`).
fn texts<R>(rows: Vec<R>) -> Result<Vec<Vec<Option<String>>>, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|row| (0..row.len()).map(|i| row.try_get(i)).collect())
        .collect()
}

/// A unique database name for this process: `h<pid>_<n>`.
fn next_database_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "h{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Replaces the database name (the URL path) of a server URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_end], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two test processes of one session get the same container, and it is removed once the
    /// session's owner has ended (here a `sleep` stands in for `just test-all-dbs`'s shell).
    #[cfg(feature = "containers")]
    #[tokio::test]
    async fn a_sessions_processes_share_one_server_removed_when_the_session_ends() {
        let mut owner = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let session = || Placement::Shared(Owner::Session(owner.id()));
        let first = start_container(Backend::Postgres, postgres::spec(), session())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let second = start_container(Backend::Postgres, postgres::spec(), session())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(first.container.is_some());
        assert_eq!(first.container, second.container);
        assert_eq!(first.admin_url, second.admin_url);
        let mine = start_container(
            Backend::Postgres,
            postgres::spec(),
            Placement::Shared(Owner::Process),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(
            mine.container, first.container,
            "a process without a session has its own"
        );

        owner.kill().unwrap();
        owner.wait().unwrap();
        let id = first.container.unwrap();
        // The reaper looks once a second; the deadline only bounds a broken reaper.
        let gone = images::retry(Duration::from_secs(60), || async {
            match images::docker(
                Backend::Postgres,
                vec!["inspect".into(), id.clone()],
                Vec::new(),
            )
            .await
            {
                Ok(_) => Err("still there"),
                Err(_) => Ok(()),
            }
        })
        .await;
        assert_eq!(gone, Ok(()), "container {id} outlived its session");
    }

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "h1_0"),
            "postgres://u:p@127.0.0.1:5432/h1_0"
        );
        assert_eq!(
            with_database("mysql://root:pw@localhost:3306?ssl-mode=disabled", "h1_1"),
            "mysql://root:pw@localhost:3306/h1_1?ssl-mode=disabled"
        );
    }
}
