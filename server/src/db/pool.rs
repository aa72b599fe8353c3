//! The database handle: [`Db`], the backend's native pool with its limits, and what it does
//! as a whole (connect, migrate, begin transactions, write, bulk inserts).

use std::sync::Arc;
use std::time::Duration;

use didhub_migrations::{Backend, LockTimeout};
use sqlx::{Connection, Executor, MySql, MySqlPool, PgPool, Postgres, Sqlite, SqlitePool};

use super::conn::{Conn, Target, within};
use super::dialect::Dialect;
use super::error::{ConnectError, MigrateError, is_unavailable};
use super::failover;
use super::group::{self, Write};
use super::held::{Held, pool_options};
use super::replicas::Replicas;
use super::stmt::{Arg, Stmt};
use super::tx::{Tx, TxInner};
use super::writes::Writes;
use super::{mysql, postgres, sqlite};
use crate::config::{DatabaseConfig, PoolConfig, Pooler};
use crate::progress::Progress;

/// A connection pool on one backend, and how long a database call may go unanswered.
///
/// Every call — a statement, BEGIN, COMMIT — is bounded by `query_timeout` (BEGIN also by the
/// time to get a connection, `acquire_timeout`). A database that stops answering (paused, cut off
/// by the network) then makes requests fail as unavailable (503) instead of hanging; the
/// abandoned connection is closed rather than reused ([`Held`]), and an abandoned transaction
/// never commits.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    limits: Limits,
    /// Writes committed through this handle (and its clones) so far: see [`Db::writes`].
    writes: Arc<Writes>,
    /// The streaming replicas that serve reads (`database.read_urls`).
    replicas: Option<Replicas>,
    /// On SQLite, where [`Db::write`] queues its writes to be committed in groups.
    group: Option<group::Queue>,
    /// Behind a transaction pooler: statements unnamed, each in a transaction of its own.
    pooled: bool,
    /// Where migrations run when it is not the pool's URL (`database.migration_url`): one
    /// connection of their own.
    migration: Option<Arc<DatabaseConfig>>,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool, sqlite::Writers),
    Postgres(PgPool),
    MySql(MySqlPool),
}

#[derive(Clone, Copy, Debug)]
struct Limits {
    acquire: Duration,
    query: Duration,
    /// How long a migration's statement may wait for a lock.
    migration_lock: LockTimeout,
}

/// The setting that bounds a migration's lock waits, as a migration that gave up names it.
pub const MIGRATION_LOCK_TIMEOUT: &str = "database.migration_lock_timeout";

impl Db {
    /// Connects with the configured pool settings, creating the SQLite file (and its directory)
    /// when missing. The first connection must succeed within `connect_timeout`.
    pub async fn connect(config: &DatabaseConfig) -> Result<Db, ConnectError> {
        let backend = config.backend;
        let connecting = async {
            Ok::<_, ConnectError>(match backend {
                Backend::Sqlite => Pool::Sqlite(
                    open(sqlite::options(&config.url, &config.pool)?, &config.pool).await?,
                    sqlite::Writers::new(config.pool.acquire_timeout),
                ),
                Backend::Postgres => {
                    Pool::Postgres(open(postgres::options(&config.url)?, &config.pool).await?)
                }
                Backend::MySql => {
                    Pool::MySql(open(mysql::options(&config.url)?, &config.pool).await?)
                }
            })
        };
        let pool = match tokio::time::timeout(config.pool.connect_timeout, connecting).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ConnectError::Timeout {
                    backend,
                    after: config.pool.connect_timeout,
                });
            }
        };
        if let Pool::Postgres(primary) = &pool
            && !config.failover_urls.is_empty()
        {
            let candidates = config
                .failover_urls
                .iter()
                .map(|url| postgres::options(url))
                .collect::<Result<Vec<_>, _>>()?;
            let watched =
                failover::watch(primary.clone(), postgres::options(&config.url)?, candidates);
            tokio::spawn(watched);
        }
        let replicas = match &pool {
            Pool::Postgres(primary) if !config.read_urls.is_empty() => Some(Replicas::start(
                &config.read_urls,
                &config.pool,
                config.max_replica_lag,
                primary.clone(),
            )?),
            _ => None,
        };
        // A caller's write matters to its reads until the lag bound covers it (a reading
        // of the primary taken after the write, at most max_lag old).
        let writes = match &replicas {
            Some(replicas) => Writes::by_caller(replicas.remember_writes()),
            None => Writes::default(),
        };
        let mut db = Db {
            pool,
            writes: Arc::new(writes),
            replicas,
            limits: Limits {
                acquire: config.pool.acquire_timeout,
                query: config.pool.query_timeout,
                migration_lock: LockTimeout::new(config.pool.migration_lock_timeout)
                    .set_by(MIGRATION_LOCK_TIMEOUT),
            },
            group: None,
            pooled: config.pooler == Pooler::Transaction,
            migration: config.migration_url.as_ref().map(|url| {
                Arc::new(DatabaseConfig {
                    url: url.clone(),
                    backend,
                    pool: PoolConfig {
                        max_connections: 1,
                        min_connections: 0,
                        ..config.pool.clone()
                    },
                    pooler: Pooler::None,
                    migration_url: None,
                    read_urls: Vec::new(),
                    max_replica_lag: config.max_replica_lag,
                    failover_urls: Vec::new(),
                })
            }),
        };
        if let Pool::Sqlite(pool, _) = &db.pool {
            let writes = Arc::downgrade(&db.writes);
            tokio::spawn(sqlite::checkpoints(pool.clone(), writes, db.limits.query));
            // The queue's task must not hold the queue, or it would never end.
            debug_assert!(db.group.is_none());
            db.group = Some(group::Queue::start(db.clone()));
        }
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(..) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
            Pool::MySql(_) => Backend::MySql,
        }
    }

    /// Applies every pending migration of this backend, after refusing a database whose
    /// migration history disagrees with this build's migrations (a dirty row, a changed
    /// checksum, an unknown version: see [`didhub_migrations::preflight`]). Every lock wait of
    /// the migrations is bounded by `migration_lock_timeout`, on the one connection that runs
    /// them ([`didhub_migrations::migrate`]): a migration that cannot get its lock fails,
    /// naming its file and tables, instead of making every query on its table wait behind it.
    ///
    /// With `database.migration_url`, they run on one connection of their own to that URL.
    /// Behind a transaction pooler without it they are refused: sqlx's migration lock is a
    /// session's advisory lock, which a transaction pooler lets go after each statement, so two
    /// servers starting at once would both migrate.
    ///
    /// Replicas serve reads only once this has succeeded, and only those that have what it
    /// applied ([`Replicas::migrated`]).
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        let migrated = self.migrate_schema().await;
        if let (Ok(()), Some(replicas)) = (&migrated, &self.replicas) {
            replicas.migrated();
        }
        migrated
    }

    async fn migrate_schema(&self) -> Result<(), MigrateError> {
        let backend = self.backend();
        let timeout = self.limits.migration_lock;
        if let Some(direct) = &self.migration {
            let db = Box::pin(Db::connect(direct))
                .await
                .map_err(|e| MigrateError::MigrationUrl(Box::new(e)))?;
            let migrated = Box::pin(db.migrate()).await;
            db.close().await;
            return migrated;
        }
        if self.pooled {
            return Err(MigrateError::ThroughPooler);
        }
        match &self.pool {
            Pool::Sqlite(p, _) => {
                didhub_migrations::preflight(backend, p).await?;
                didhub_migrations::migrate_up(p, None, timeout).await?
            }
            Pool::Postgres(p) => {
                didhub_migrations::preflight(backend, p).await?;
                didhub_migrations::migrate_up(p, None, timeout).await?
            }
            Pool::MySql(p) => {
                didhub_migrations::preflight(backend, p).await?;
                didhub_migrations::migrate_up(p, None, timeout).await?
            }
        }
        Ok(())
    }

    /// Inserts many rows into `table`, fast, in transactions of up to [`ROWS_PER_TX`] rows (see
    /// [`Tx::insert_rows`]). Returns how many rows were inserted.
    pub async fn insert_rows(
        &self,
        table: &'static str,
        columns: &[&'static str],
        rows: Vec<Vec<Arg>>,
    ) -> Result<u64, sqlx::Error> {
        self.insert_rows_counted(table, columns, rows, &Progress::none())
            .await
    }

    /// [`Db::insert_rows`], `progress` advanced by each transaction's rows once committed.
    pub async fn insert_rows_counted(
        &self,
        table: &'static str,
        columns: &[&'static str],
        rows: Vec<Vec<Arg>>,
        progress: &Progress,
    ) -> Result<u64, sqlx::Error> {
        let mut inserted = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut tx = self.begin_write().await?;
            let chunk: Vec<Vec<Arg>> = rows.by_ref().take(ROWS_PER_TX).collect();
            let count = chunk.len() as u64;
            inserted += tx.insert_rows(table, columns, chunk).await?;
            tx.commit().await?;
            progress.advance(count);
        }
        Ok(inserted)
    }

    /// The newest applied migration version (0 when none).
    pub async fn schema_version(&self) -> Result<i64, sqlx::Error> {
        self.conn()
            .fetch_int(Stmt::new(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE",
            ))
            .await
    }

    /// Runs `write` in a write transaction and commits it: the way a request changes data.
    ///
    /// On SQLite the writes waiting at the same moment are committed together (see [`super::group`]),
    /// so `write` may run more than once and must touch nothing but its transaction; its answer
    /// comes after the COMMIT that made it durable. Elsewhere it runs once, in a transaction of
    /// its own.
    pub async fn write<F, T, E>(&self, write: F) -> Result<T, E>
    where
        F: Write<T, E>,
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
    {
        if let Some(queue) = &self.group {
            return queue.write(write).await;
        }
        let mut tx = self.begin_write().await?;
        match write(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                tx.rollback().await;
                Err(err)
            }
        }
    }

    /// Opens a transaction for writing.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        let inner = match &self.pool {
            Pool::Sqlite(p, writers) => {
                let turn = writers.wait().await?;
                TxInner::Sqlite(self.begin(p, Sqlite::BEGIN_WRITE).await?, Some(turn))
            }
            Pool::Postgres(p) => TxInner::Postgres(self.begin(p, Postgres::BEGIN_WRITE).await?),
            Pool::MySql(p) => TxInner::MySql(self.begin(p, MySql::BEGIN_WRITE).await?),
        };
        Ok(self.tx(inner, Some(self.writes.clone())))
    }

    /// Opens a read-only transaction: every read in it sees the same snapshot of the data.
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        let inner = match &self.pool {
            Pool::Sqlite(p, _) => TxInner::Sqlite(self.begin(p, Sqlite::BEGIN_READ).await?, None),
            Pool::Postgres(p) => TxInner::Postgres(self.begin_postgres_read(p).await?),
            Pool::MySql(p) => TxInner::MySql(self.begin(p, MySql::BEGIN_READ).await?),
        };
        Ok(self.tx(inner, None))
    }

    /// A read snapshot on the caller's replica when one is fit, else (or when it fails as
    /// unavailable) on the primary.
    async fn begin_postgres_read(&self, primary: &PgPool) -> Result<Held<Postgres>, sqlx::Error> {
        let chosen = self.replicas.as_ref();
        if let Some(replica) = chosen.and_then(|r| r.choose(self.writes.last_by_caller())) {
            match self.begin(&replica.pool, Postgres::BEGIN_READ).await {
                Err(e) if is_unavailable(&e) => replica.failed(),
                begun => return begun,
            }
        }
        self.begin(primary, Postgres::BEGIN_READ).await
    }

    /// A connection from the pool and `statement` on it, within the time to get a connection
    /// plus `query_timeout`.
    async fn begin<DB: Dialect>(
        &self,
        pool: &sqlx::Pool<DB>,
        statement: &'static str,
    ) -> Result<Held<DB>, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        within(self.limits.acquire + self.limits.query, async {
            let mut held = Held::acquire(pool).await?;
            held.begin(statement).await?;
            Ok(held)
        })
        .await
    }

    fn tx(&self, inner: TxInner, writes: Option<Arc<Writes>>) -> Tx {
        Tx {
            inner,
            query_timeout: self.limits.query,
            writes,
            pooled: self.pooled,
        }
    }

    /// How many writes this handle (with its clones) has committed or attempted: write
    /// transactions' commits and statements executed on the pool. It only grows; what was read
    /// while it stood still is still what the database holds, unless another process wrote.
    pub fn writes(&self) -> u64 {
        self.writes.count()
    }

    /// Takes a connection from the pool and gives it back: what every statement on the pool
    /// pays before it runs (the pool benchmark measures it).
    pub async fn acquire_and_release(&self) -> Result<(), sqlx::Error> {
        match &self.pool {
            Pool::Sqlite(p, _) => drop(p.acquire().await?),
            Pool::Postgres(p) => drop(p.acquire().await?),
            Pool::MySql(p) => drop(p.acquire().await?),
        }
        Ok(())
    }

    /// How many connections sit idle in the pool: back from their last use, which ended.
    pub fn idle_connections(&self) -> usize {
        match &self.pool {
            Pool::Sqlite(p, _) => p.num_idle(),
            Pool::Postgres(p) => p.num_idle(),
            Pool::MySql(p) => p.num_idle(),
        }
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p, _) => p.close().await,
            Pool::Postgres(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }

    /// Statements on the pool.
    pub fn conn(&self) -> Conn<'_> {
        let target = match &self.pool {
            Pool::Sqlite(p, _) => Target::SqlitePool(p),
            Pool::Postgres(p) => Target::PostgresPool(p),
            Pool::MySql(p) => Target::MySqlPool(p),
        };
        Conn {
            target,
            query_timeout: self.limits.query,
            writes: Some(&self.writes),
            replicas: self.replicas.as_ref(),
            pooled: self.pooled,
        }
    }

    /// This handle with every read on the primary: for what must see every write the moment it
    /// is answered, whoever made it (the account behind a token, whose revocation holds from
    /// the next request on).
    pub fn on_primary(&self) -> Db {
        Db {
            replicas: None,
            ..self.clone()
        }
    }
}

/// Rows per transaction in [`Db::insert_rows`].
pub const ROWS_PER_TX: usize = 10_000;

/// A pool of `DB` over `options` with the configured settings, its first connection made.
async fn open<DB: Dialect>(
    options: <DB::Connection as Connection>::Options,
    pool: &PoolConfig,
) -> Result<sqlx::Pool<DB>, ConnectError> {
    pool_options(pool)
        .connect_with(options)
        .await
        .map_err(|source| ConnectError::Connect {
            backend: DB::BACKEND,
            source,
        })
}

/// The group commit writes through the handle that holds its queue.
impl group::Begins for Db {
    fn begin_write(&self) -> impl Future<Output = Result<Tx, sqlx::Error>> + Send {
        Db::begin_write(self)
    }

    fn patience(&self) -> Duration {
        self.limits.acquire
    }
}
