//! The harness applies migrations with a bound on lock waits too
//! (`didhub_harness::backend::MIGRATION_LOCK_TIMEOUT`, 5 s): nothing but the test uses a test
//! database, so a wait means a test holds a lock it forgot, and it fails naming the file and the
//! table instead of hanging. No test asserts how long the wait took; one that does not end fails
//! after a minute.

use didhub_harness::backends;
use rstest_reuse::apply;
use std::path::PathBuf;
use std::time::Duration;

use didhub_harness::TestDatabase;
use didhub_harness::backend::MIGRATION_LOCK_TIMEOUT;
use didhub_harness::migrations::MigrationSet;
use didhub_migrations::Backend;
use didhub_migrations::MigrationFailed;

fn didhub_migrations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// DIDHub's migrations up to 0012 on a fresh database; then 0013, which alters `users`, while
/// another connection holds a lock on it (an open transaction that read it; SQLite's write lock).
#[apply(backends)]
#[tokio::test]
async fn the_harness_gives_up_a_migration_behind_a_held_lock(#[case] kind: Backend) {
    let set = MigrationSet::load(&didhub_migrations(), kind)
        .await
        .unwrap();
    let db = TestDatabase::create(kind).await.unwrap();
    let pool = db.connect().await.unwrap();
    pool.migrate_up(&set.migrator, 12).await.unwrap();
    if kind == Backend::Sqlite {
        // sqlx's SQLite connections come with a busy timeout of 5 s, which would end the wait
        // too: only the harness's bound may (PostgreSQL and MySQL wait for ever by default).
        pool.execute("PRAGMA busy_timeout = 600000").await.unwrap();
    }
    let holder = db.connect().await.unwrap();
    holder
        .execute(match kind {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres | Backend::MySql => "BEGIN; SELECT count(*) FROM users",
        })
        .await
        .unwrap();

    let migrated =
        tokio::time::timeout(Duration::from_secs(60), pool.migrate_up(&set.migrator, 13))
            .await
            .expect("the harness still waits for the lock after a minute");
    let error = migrated.expect_err("0013 applied behind a held lock");
    let message = error.to_string();
    let MigrationFailed::LockTimeout(lock) = &error else {
        panic!("expected a lock timeout, got: {message}");
    };
    assert_eq!(lock.timeout, MIGRATION_LOCK_TIMEOUT);
    assert_eq!(MIGRATION_LOCK_TIMEOUT.limit(), Duration::from_secs(5));
    assert_eq!(
        lock.file.as_deref(),
        Some("0013_lowercase_usernames.up.sql")
    );
    assert_eq!(lock.tables(), ["users"]);
    assert!(
        message.contains("gave up waiting for a lock after 5s: it waited for users (line "),
        "{message}"
    );

    // Once the lock is released 0013 applies — except on MySQL, where its ALTER committed
    // sqlx's record of it before it waited: of its two statements the first may have applied,
    // so it stays dirty.
    holder.execute("ROLLBACK").await.unwrap();
    let again = pool.migrate_up(&set.migrator, 13).await;
    match kind {
        Backend::MySql => assert!(
            matches!(
                again,
                Err(MigrationFailed::Error {
                    source: sqlx::migrate::MigrateError::Dirty(13),
                    ..
                })
            ),
            "{again:?}"
        ),
        Backend::Sqlite | Backend::Postgres => {
            again.unwrap_or_else(|e| panic!("once the lock is released: {e}"))
        }
    }
    holder.close().await;
    pool.close().await;
}
