//! Through pgbouncer in transaction pooling, as production puts it in front of PostgreSQL
//! (Debian's pgbouncer 1.18, before it could keep prepared statements): every request succeeds
//! under concurrency with `database.pooler = "transaction"`, and fails without it; migrations
//! refuse to run through the pooler, and run over `database.migration_url`.
//!
//! The whole API suite also runs through the shared pgbouncer with `just test-pgbouncer`
//! ([`crate::support::POOLER_VARIABLE`]).

#![cfg(feature = "containers")]

use didhub_harness::TestDatabase;
use didhub_harness::backend::pgbouncer::{self, PoolMode};
use didhub_harness::backend::server;
use didhub_migrations::Backend;
use didhub_server::config::{Config, Pooler};
use poem::http::StatusCode;
use serde_json::json;

use crate::support::{TestApp, test_config};

/// A pgbouncer of the test's own with two server connections for the server's ten: every
/// statement shares its server connection with others, as under production load.
async fn crowded_pgbouncer() -> pgbouncer::Bouncer {
    let server = server(Backend::Postgres)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    pgbouncer::start(server, PoolMode::Transaction, 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The server over a migrated database, through `bouncer`, with `pooler` set.
async fn through(bouncer: &pgbouncer::Bouncer, pooler: Pooler) -> TestApp {
    let database =
        TestDatabase::migrated(Backend::Postgres, "didhub", Backend::Postgres.migrator())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let mut config: Config = test_config(&database, "").await;
    config.database.url = bouncer.url_for(&database.url);
    config.database.pooler = pooler;
    config.database.migration_url = Some(database.url.clone());
    TestApp::serving(database, config).await
}

/// 40 clients at once, each creating an alter and listing the system's alters: the answers
/// that were not 2xx, with their bodies.
async fn create_and_list_at_once(app: std::sync::Arc<TestApp>) -> Vec<String> {
    let token = app.admin_token().await;
    let system = app.system(&token, "Busy").await;
    let clients: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let created = app
                    .post(
                        "/api/alters",
                        &token,
                        json!({ "system_id": system, "name": format!("a{i:02}") }),
                    )
                    .await;
                let listed = app
                    .get(&format!("/api/alters?system_id={system}"), &token)
                    .await;
                [created, listed]
            })
        })
        .collect();
    let mut failed = Vec::new();
    for client in clients {
        // A named statement the pooler finds on another server connection may be another
        // statement under the same name: sqlx then reads its rows as the wrong shape and
        // panics (index out of bounds), which takes the client's task down.
        let replies = match client.await {
            Ok(replies) => replies,
            Err(e) => {
                failed.push(format!("the client's task ended: {e}"));
                continue;
            }
        };
        for reply in replies {
            if !reply.status.is_success() {
                failed.push(format!("{}: {}", reply.status, reply.text));
            }
        }
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_succeeds_through_a_transaction_pooler_when_the_server_knows_it() {
    let bouncer = crowded_pgbouncer().await;
    let app = std::sync::Arc::new(through(&bouncer, Pooler::Transaction).await);
    let failed = create_and_list_at_once(app.clone()).await;
    assert!(
        failed.is_empty(),
        "{} of 80 failed: {failed:#?}",
        failed.len()
    );
    let token = app.admin_token().await;
    let systems = app.get("/api/systems", &token).await.expect(StatusCode::OK);
    let system = systems["items"][0]["id"].as_str().unwrap().to_owned();
    let page = app
        .get(&format!("/api/alters?system_id={system}&limit=200"), &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["total"], 40, "every acknowledged write is there");
}

/// The protection above is what makes it work: with named statements kept per connection, as
/// the server prepares them by default, the pooler hands a connection's statements to others.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn named_statements_fail_through_a_transaction_pooler() {
    let bouncer = crowded_pgbouncer().await;
    let app = std::sync::Arc::new(through(&bouncer, Pooler::None).await);
    let failed = create_and_list_at_once(app).await;
    assert!(
        !failed.is_empty(),
        "named statements survived a transaction pooler"
    );
}

#[tokio::test]
async fn migrations_refuse_to_run_through_a_transaction_pooler() {
    let bouncer = pgbouncer::shared().await.unwrap_or_else(|e| panic!("{e}"));
    let database = TestDatabase::create(Backend::Postgres)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut config = test_config(&database, "").await;
    config.database.url = bouncer.url_for(&database.url);
    config.database.pooler = Pooler::Transaction;
    config.database.migration_url = None;
    let refused = match didhub_server::prepare(&config).await {
        Ok(_) => panic!("the server migrated through a transaction pooler"),
        Err(e) => e.to_string(),
    };
    assert!(refused.contains("database.migration_url"), "{refused}");
    assert!(refused.contains("transaction pooler"), "{refused}");

    // Given a direct URL, it migrates there and serves through the pooler.
    config.database.migration_url = Some(database.url.clone());
    let app = TestApp::serving(database, config).await;
    let version = app.client.get("/api/version").send().await;
    version.assert_status_is_ok();
    let body: serde_json::Value = version.json().await.value().deserialize();
    assert_eq!(
        body["schema_version"],
        Backend::Postgres
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap()
    );
}
