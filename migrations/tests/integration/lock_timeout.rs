//! A migration that cannot get its lock gives up after the lock timeout instead of waiting —
//! and making every query on its table wait behind it — on every backend. It names its file,
//! the table, the backend and the setting; the table answers queries meanwhile; the migrating
//! connection gets its own bound back; and once the lock is released the migration applies.
//!
//! The migrations are DIDHub's and one more that alters `alters`, as the next release would add
//! it, applied through `didhub_migrations::migrate` as the server applies them. No test asserts
//! how long anything took (the machine is shared and noisy); a wait that does not end fails the
//! test after a minute instead.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use didhub_harness::{Pool, TestDatabase};
use didhub_migrations::{Backend, Direction, LockTimeout, MigrationFailed, Outcome};
use sqlx::migrate::Migrator;

const SETTING: &str = "database.migration_lock_timeout";

fn backend(kind: Backend) -> Backend {
    Backend::ALL
        .into_iter()
        .find(|b| b.name() == kind.name())
        .unwrap()
}

/// A copy of the backend's migrations folder with one more version, which alters `alters`;
/// returns the folder, the new up file's name and its version.
fn with_a_migration_that_alters_alters(backend: Backend) -> (tempfile::TempDir, String, i64) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(backend.source_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let version = backend.migrator().iter().map(|m| m.version).max().unwrap() + 1;
    let name = format!("{version:04}_alter_lock_test");
    let write = |suffix: &str, sql: &str| {
        std::fs::write(dir.path().join(format!("{name}.{suffix}.sql")), sql).unwrap();
    };
    write("up", "ALTER TABLE alters ADD COLUMN lock_test TEXT;\n");
    write("down", "ALTER TABLE alters DROP COLUMN lock_test;\n");
    (dir, format!("{name}.up.sql"), version)
}

/// What holds a lock on `alters` that an ALTER TABLE must wait for, while reads go on: an open
/// transaction that has read the table (PostgreSQL's ACCESS SHARE, MySQL's shared metadata
/// lock), or on SQLite the write lock.
fn hold(kind: Backend) -> &'static str {
    match kind {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres | Backend::MySql => "BEGIN; SELECT count(*) FROM alters",
    }
}

/// Gives the migrating connection a bound of its own, which it must have again afterwards (a
/// fresh connection would have the backend's default instead). It is longer than the test
/// waits, so only the migration's bound can end the wait (sqlx's SQLite connections come with
/// a busy timeout of 5 s, which would end it too).
fn own_bound(kind: Backend) -> &'static str {
    match kind {
        Backend::Sqlite => "PRAGMA busy_timeout = 600000",
        Backend::Postgres => "SET lock_timeout = '10min'",
        Backend::MySql => "SET SESSION lock_wait_timeout = 600, innodb_lock_wait_timeout = 601",
    }
}

async fn bound(pool: &Pool) -> String {
    match pool {
        Pool::Sqlite(p) => sqlx::query_scalar::<_, i64>("PRAGMA busy_timeout")
            .fetch_one(p)
            .await
            .map(|ms| ms.to_string()),
        Pool::Postgres(p) => {
            sqlx::query_scalar::<_, String>("SHOW lock_timeout")
                .fetch_one(p)
                .await
        }
        Pool::MySql(p) => sqlx::query_scalar::<_, String>(
            "SELECT CONCAT(@@SESSION.lock_wait_timeout, ' ', @@SESSION.innodb_lock_wait_timeout)",
        )
        .fetch_one(p)
        .await,
    }
    .unwrap()
}

/// `call`'s result, or a failed test when it still waits after a minute.
async fn within_a_minute<T>(what: &str, call: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .unwrap_or_else(|_| panic!("{what} still waits after a minute: nothing bounds the wait"))
}

async fn migrator(dir: &Path) -> Migrator {
    Migrator::new(dir).await.unwrap()
}

/// `didhub_migrations::migrate`, as the server's `Db::migrate` calls it, on the pool's backend.
async fn migrate(
    pool: &Pool,
    migrator: &Migrator,
    timeout: LockTimeout,
) -> Result<(), MigrationFailed> {
    let up = Direction::Up(i64::MAX);
    match pool {
        Pool::Sqlite(p) => didhub_migrations::migrate(migrator, p, up, timeout).await,
        Pool::Postgres(p) => didhub_migrations::migrate(migrator, p, up, timeout).await,
        Pool::MySql(p) => didhub_migrations::migrate(migrator, p, up, timeout).await,
    }
}

async fn a_migration_behind_a_held_lock_gives_up_and_applies_once_it_is_released(kind: Backend) {
    let backend = backend(kind);
    let (dir, file, version) = with_a_migration_that_alters_alters(backend);
    let migrator = migrator(dir.path()).await;
    let db = TestDatabase::migrated(kind, "didhub", backend.migrator())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // One connection each, as the server's migration, a long transaction and a request have.
    let migrating = db.connect().await.unwrap();
    migrating.execute(own_bound(kind)).await.unwrap();
    let before = bound(&migrating).await;
    let holder = db.connect().await.unwrap();
    holder.execute(hold(kind)).await.unwrap();
    let reader = db.connect().await.unwrap();

    let timeout = LockTimeout::new(Duration::from_secs(1)).set_by(SETTING);
    let (migrated, read) = tokio::join!(
        within_a_minute("the migration", migrate(&migrating, &migrator, timeout)),
        // While the migration waits, a query on the table waits behind it (PostgreSQL and
        // MySQL queue it behind the ALTER's lock request) until the migration gives up.
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            within_a_minute(
                "SELECT count(*) FROM alters",
                reader.execute("SELECT count(*) FROM alters"),
            )
            .await
        }
    );
    read.unwrap();

    let error = migrated.expect_err("the migration applied behind a held lock");
    let message = error.to_string();
    eprintln!("{message}");
    let MigrationFailed::LockTimeout(lock) = &error else {
        panic!("expected a lock timeout, got: {message}");
    };
    assert_eq!(lock.backend, backend);
    assert_eq!(lock.version, Some(version));
    assert_eq!(lock.file.as_deref(), Some(file.as_str()));
    assert_eq!(lock.tables(), ["alters"]);
    let outcome = match kind {
        // The ALTER's implicit commit recorded it; its one statement never started.
        Backend::MySql => Outcome::Unrecorded,
        Backend::Sqlite | Backend::Postgres => Outcome::RolledBack,
    };
    assert_eq!(lock.outcome, outcome);
    for expected in [
        format!("{backend}: migration {file} (version {version}) gave up waiting for a lock"),
        "it waited for alters (line 1: ALTER TABLE alters ADD COLUMN lock_test TEXT)".to_owned(),
        format!("({SETTING} = 1s)"),
        format!("Try again once that lock is released, or raise {SETTING}"),
    ] {
        assert!(message.contains(&expected), "{expected:?} in\n{message}");
    }
    assert_eq!(
        bound(&migrating).await,
        before,
        "the migrating connection's own bound is back"
    );

    holder.execute("ROLLBACK").await.unwrap();
    within_a_minute("the migration", migrate(&migrating, &migrator, timeout))
        .await
        .unwrap_or_else(|e| panic!("once the lock is released: {e}"));
    let schema = migrating.introspect().await.unwrap();
    assert!(
        schema.tables["alters"]
            .columns
            .iter()
            .any(|c| c.name == "lock_test"),
        "the migration applied"
    );
    for pool in [migrating, holder, reader] {
        pool.close().await;
    }
}

#[tokio::test]
async fn sqlite_gives_up_a_migration_behind_the_write_lock() {
    a_migration_behind_a_held_lock_gives_up_and_applies_once_it_is_released(Backend::Sqlite).await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn postgres_gives_up_a_migration_behind_a_transaction_that_read_the_table() {
    a_migration_behind_a_held_lock_gives_up_and_applies_once_it_is_released(Backend::Postgres)
        .await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn mysql_gives_up_a_migration_behind_a_transaction_that_read_the_table() {
    a_migration_behind_a_held_lock_gives_up_and_applies_once_it_is_released(Backend::MySql).await;
}
