//! Startup refuses a database whose migration history disagrees with this build's migrations,
//! and says which file and what to do (the pre-flight of `didhub_migrations::preflight`).

use crate::support::{TestApp, backend_tests};

/// Runs SQL on the app's database, behind the server's back.
async fn tamper(app: &TestApp, sql: &str) {
    let kind: didhub_harness::Kind = app.state.db.backend().name().parse().unwrap();
    let pool = didhub_harness::Pool::connect(kind, &app.config.database.url)
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

backend_tests! {
    async fn a_migration_left_dirty_refuses_to_start_and_says_how_to_repair(app) {
        let (version, file) = newest(&app);
        tamper(&app, &format!("UPDATE _sqlx_migrations SET success = FALSE WHERE version = {version}")).await;
        let message = refused(&app).await;
        let backend = app.state.db.backend();
        for expected in [
            format!("{backend}: migration {file} (version {version}) failed part way"),
            format!("`DELETE FROM _sqlx_migrations WHERE version = {version};`"),
        ] {
            assert!(message.contains(&expected), "{expected:?} in\n{message}");
        }
    }

    async fn an_applied_migration_whose_file_changed_refuses_to_start(app) {
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
            message.contains("migration 0002_systems.up.sql (version 2) was applied from a different file"),
            "{message}"
        );
    }

    async fn a_database_migrated_by_a_newer_build_refuses_to_start(app) {
        tamper(
            &app,
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             SELECT 9999, 'from a newer build', success, checksum, execution_time \
             FROM _sqlx_migrations WHERE version = 1",
        )
        .await;
        let message = refused(&app).await;
        assert!(
            message.contains("the database has migration version 9999 applied, which this build does not know"),
            "{message}"
        );
    }

    /// `db copy` and `db generate` migrate their target as startup does, so they refuse a dirty
    /// one the same way.
    async fn copy_and_generate_refuse_a_target_left_dirty(app) {
        let (version, file) = newest(&app);
        tamper(&app, &format!("UPDATE _sqlx_migrations SET success = FALSE WHERE version = {version}")).await;
        let expected = format!("migration {file} (version {version}) failed part way");
        let target = &app.config.database.url;

        let size = didhub_server::generate::Size { alters: 10, seed: 1 };
        let generated = didhub_server::generate::generate_urls(target, size).await;
        let message = format!("{:#}", generated.expect_err("generate ran on a dirty database"));
        assert!(message.contains(&expected), "{message}");

        let source = TestApp::start(didhub_migrations::Backend::Sqlite).await;
        let options = didhub_server::data::copy::CopyOptions { overwrite: true, batch: 100 };
        let copied =
            didhub_server::data::copy::copy_urls(&source.config.database.url, target, options).await;
        let message = copied.expect_err("copy ran into a dirty database").to_string();
        assert!(message.contains(&expected), "{message}");
    }
}
