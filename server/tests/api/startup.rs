//! Startup refuses a database whose migration history disagrees with this build's migrations,
//! and says which file and what to do (the pre-flight of `didhub_migrations::preflight`).

use crate::support::{TestApp, backends};
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// Runs SQL on the app's database, behind the server's back.
async fn tamper(app: &TestApp, sql: &str) {
    let kind = app.state.db.backend();
    let pool = didhub_harness::Pool::connect(kind, app.database_url())
        .await
        .unwrap();
    pool.execute(sql).await.unwrap();
    pool.close().await;
}

/// The newest migration: its version and up file.
fn newest(app: &TestApp) -> (i64, String) {
    let migration = app
        .state
        .db
        .backend()
        .migrator()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .max_by_key(|m| m.version)
        .unwrap();
    (migration.version, didhub_migrations::file_name(migration))
}

/// Starting the server again on the app's database must fail; returns the message.
async fn refused(app: &TestApp) -> String {
    match didhub_server::prepare(&app.config).await {
        Ok(_) => panic!("the server started on a database it should refuse"),
        Err(e) => e.to_string(),
    }
}

#[apply(backends)]
#[tokio::test]
async fn a_migration_left_dirty_refuses_to_start_and_says_how_to_repair(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (version, file) = newest(&app);
    tamper(
        &app,
        &format!("UPDATE _sqlx_migrations SET success = FALSE WHERE version = {version}"),
    )
    .await;
    let message = refused(&app).await;
    let backend = app.state.db.backend();
    for expected in [
        format!("{backend}: migration {file} (version {version}) failed part way"),
        format!("`DELETE FROM _sqlx_migrations WHERE version = {version};`"),
    ] {
        assert!(message.contains(&expected), "{expected:?} in\n{message}");
    }
}

#[apply(backends)]
#[tokio::test]
async fn an_applied_migration_whose_file_changed_refuses_to_start(backend: Backend) {
    let app = TestApp::start(backend).await;
    // Version 2 recorded with version 1's checksum: as if 0002's file had been edited since.
    tamper(
        &app,
        "UPDATE _sqlx_migrations SET checksum = \
         (SELECT c FROM (SELECT checksum AS c FROM _sqlx_migrations WHERE version = 1) AS v1) \
         WHERE version = 2",
    )
    .await;
    let message = refused(&app).await;
    assert!(
        message.contains(
            "migration 0002_systems.up.sql (version 2) was applied from a different file"
        ),
        "{message}"
    );
}

#[apply(backends)]
#[tokio::test]
async fn a_database_migrated_by_a_newer_build_refuses_to_start(backend: Backend) {
    let app = TestApp::start(backend).await;
    tamper(
        &app,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         SELECT 9999, 'from a newer build', success, checksum, execution_time \
         FROM _sqlx_migrations WHERE version = 1",
    )
    .await;
    let message = refused(&app).await;
    assert!(
        message.contains(
            "the database has migration version 9999 applied, which this build does not know"
        ),
        "{message}"
    );
}

/// `db copy` and `db generate` migrate their target as startup does, so they refuse a dirty
/// one the same way.
#[apply(backends)]
#[tokio::test]
async fn copy_and_generate_refuse_a_target_left_dirty(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (version, file) = newest(&app);
    tamper(
        &app,
        &format!("UPDATE _sqlx_migrations SET success = FALSE WHERE version = {version}"),
    )
    .await;
    let expected = format!("migration {file} (version {version}) failed part way");
    let target = app.database_url();

    let size = didhub_server::generate::Size {
        alters: 10,
        seed: 1,
    };
    let generated = didhub_server::generate::generate_urls(target, size, &Default::default()).await;
    let message = format!(
        "{:#}",
        generated.expect_err("generate ran on a dirty database")
    );
    assert!(message.contains(&expected), "{message}");

    let source = TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let options = didhub_server::data::copy::CopyOptions {
        overwrite: true,
        batch: 100,
        progress: Default::default(),
    };
    let copied = didhub_server::data::copy::copy_urls(source.database_url(), target, options).await;
    let message = copied
        .expect_err("copy ran into a dirty database")
        .to_string();
    assert!(message.contains(&expected), "{message}");
}

/// A database one version behind (0013, which alters `users`, still to apply), and a connection
/// that holds a lock on `users` an ALTER TABLE must wait for while reads go on: an open
/// transaction that has read the table, or on SQLite the write lock (in WAL mode, which the
/// server would otherwise switch to, and that switch needs the lock too).
async fn behind_a_held_lock(
    kind: didhub_migrations::Backend,
) -> (didhub_harness::TestDatabase, didhub_harness::Pool) {
    let backend = didhub_migrations::Backend::ALL
        .into_iter()
        .find(|b| b.name() == kind.name())
        .unwrap();
    let database = didhub_harness::TestDatabase::create(kind).await.unwrap();
    let pool = database.connect().await.unwrap();
    pool.migrate_up(backend.migrator(), 12).await.unwrap();
    pool.close().await;
    let holder = database.connect().await.unwrap();
    let hold = match kind {
        didhub_migrations::Backend::Sqlite => "PRAGMA journal_mode = WAL; BEGIN IMMEDIATE",
        _ => "BEGIN; SELECT count(*) FROM users",
    };
    holder.execute(hold).await.unwrap();
    (database, holder)
}

/// A migration lock timeout of 1 s, and every other wait longer than the test's patience (on
/// SQLite the pool's busy timeout is `acquire_timeout`): only the migration's bound can end the
/// wait.
const PATIENT_BUT_FOR_THE_LOCK: &str = "?migration_lock_timeout=1&acquire_timeout=120";

/// What a migration that gave up says, whichever way the server was started.
fn names_the_file_the_table_and_the_setting(backend: &str, message: &str) {
    for expected in [
        format!(
            "{backend}: migration 0013_lowercase_usernames.up.sql (version 13) gave up waiting \
             for a lock after 1s (database.migration_lock_timeout = 1s): it waited for users \
             (line "
        ),
        "or raise database.migration_lock_timeout to wait longer".to_owned(),
    ] {
        assert!(message.contains(&expected), "{expected:?} in\n{message}");
    }
}

/// Startup on a database whose next migration waits for a lock: it gives up after
/// `migration_lock_timeout` (from the URL here) and says which file waited for which table.
#[apply(backends)]
#[tokio::test]
async fn startup_gives_up_a_migration_behind_a_held_lock(#[case] kind: didhub_migrations::Backend) {
    let (database, holder) = behind_a_held_lock(kind).await;
    let env = std::collections::HashMap::from([(
        "DIDHUB_DB",
        format!("{}{PATIENT_BUT_FOR_THE_LOCK}", database.url),
    )]);
    let config =
        didhub_server::config::Config::from_sources(None, |k| env.get(k).cloned()).unwrap();
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        didhub_server::prepare(&config),
    )
    .await
    .expect("startup still waits for its migration's lock after a minute");
    let error = match started {
        Ok(_) => panic!("the server migrated behind a held lock"),
        Err(e) => e,
    };
    let message = error.to_string();
    assert!(
        matches!(
            error,
            didhub_server::StartupError::Migrate(didhub_server::db::MigrateError::Migration(
                didhub_migrations::MigrationFailed::LockTimeout(_)
            ))
        ),
        "{message}"
    );
    names_the_file_the_table_and_the_setting(kind.name(), &message);

    // Once the lock is released, starting again applies the migration — except on MySQL, where
    // 0013's ALTER committed sqlx's record of it before it waited, and of its two statements
    // the first may have applied: it is dirty, and refused as any dirty migration is.
    holder.execute("ROLLBACK").await.unwrap();
    holder.close().await;
    let again = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        didhub_server::prepare(&config),
    )
    .await
    .expect("startup still waits after a minute with nothing holding a lock");
    match kind {
        didhub_migrations::Backend::MySql => {
            assert!(message.contains("it is recorded as dirty"), "{message}");
            let refused = again.err().expect("MySQL started on a dirty migration");
            assert!(
                refused.to_string().contains(
                    "migration 0013_lowercase_usernames.up.sql (version 13) failed part way"
                ),
                "{refused}"
            );
        }
        _ => {
            assert!(
                message.contains("It was rolled back: nothing of it is applied."),
                "{message}"
            );
            again.unwrap_or_else(|e| panic!("once the lock is released: {e}"));
        }
    }
}

/// The binary: `didhub-server` exits non-zero with the message, its file, table and setting.
#[tokio::test]
async fn the_server_binary_exits_non_zero_when_a_migration_gives_up_its_lock_wait() {
    let (database, holder) = behind_a_held_lock(didhub_migrations::Backend::Sqlite).await;
    let url = format!("{}{PATIENT_BUT_FOR_THE_LOCK}", database.url);
    let ended = tokio::task::spawn_blocking(move || crate::support::start_server(&url))
        .await
        .unwrap();
    assert!(!ended.success, "the server started: {}", ended.stderr);
    assert!(
        ended.stderr.contains("the server could not start"),
        "{}",
        ended.stderr
    );
    names_the_file_the_table_and_the_setting("sqlite", &ended.stderr);
    eprintln!("{}", ended.stderr);
    holder.execute("ROLLBACK").await.unwrap();
    holder.close().await;
}
