//! Failover (`database.failover_urls`): writers run against a primary with a synchronous
//! streaming replica; the primary is killed and the replica promoted. Writes resume on it
//! without a restart, every write answered 201 is there, and the writes caught in between are
//! answered 503, never anything else.

#![cfg(feature = "containers")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use didhub_harness::backend::dedicated;
use didhub_migrations::Backend;
use poem::http::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::support::{TestApp, test_config};

/// Runs `sql` on the server at `admin_url`.
async fn on(admin_url: &str, sql: &str) {
    let mut conn = PgConnection::connect(admin_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_resume_on_the_promoted_replica_and_every_acknowledged_write_is_there() {
    let primary = dedicated(Backend::Postgres)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let replica = primary.replica(&[]).await.unwrap_or_else(|e| panic!("{e}"));
    // Synchronous: a COMMIT is answered once the replica has it, so the promoted replica holds
    // every write that was acknowledged.
    on(
        &primary.server.admin_url,
        "ALTER SYSTEM SET synchronous_standby_names = '*'",
    )
    .await;
    on(&primary.server.admin_url, "SELECT pg_reload_conf()").await;
    let database = primary.database().await.unwrap_or_else(|e| panic!("{e}"));
    let mut config = test_config(&database, "?query_timeout=2&acquire_timeout=2").await;
    let promoted_url = replica.url_of(&database.url);
    config.database.failover_urls = vec![promoted_url.clone()];
    let app = Arc::new(TestApp::serving(database, config).await);
    let token = app.admin_token().await;
    let system = app.system(&token, "Busy").await;

    let until = Instant::now() + Duration::from_secs(10);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut n = 0;
                while Instant::now() < until {
                    let name = format!("w{w}-{n}");
                    n += 1;
                    let reply = app
                        .post(
                            "/api/alters",
                            &token,
                            json!({ "system_id": system, "name": name }),
                        )
                        .await;
                    answers.push((Instant::now(), reply.status, name, reply.text));
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = Instant::now();
    primary.kill().await.unwrap_or_else(|e| panic!("{e}"));
    on(&replica.server.admin_url, "SELECT pg_promote()").await;
    let promoted = Instant::now();

    let mut acknowledged = Vec::new();
    let mut resumed = None::<Instant>;
    let mut refused = 0;
    for writer in writers {
        for (at, status, name, text) in writer.await.unwrap() {
            match status {
                StatusCode::CREATED => {
                    if at > promoted {
                        resumed = Some(resumed.map_or(at, |r| r.min(at)));
                    }
                    acknowledged.push(name);
                }
                StatusCode::SERVICE_UNAVAILABLE => refused += 1,
                other => panic!("{other}: {text}"),
            }
        }
    }
    let resumed = resumed.expect("no write succeeded after the promotion");
    eprintln!(
        "failover: {refused} writes answered 503; writes resumed {:?} after the promotion \
         ({:?} after the kill); {} acknowledged",
        resumed - promoted,
        resumed - killed,
        acknowledged.len()
    );

    let mut conn = PgConnection::connect(&promoted_url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT name FROM alters")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !stored.contains(n))
        .collect();
    assert!(missing.is_empty(), "acknowledged and lost: {missing:?}");
}
