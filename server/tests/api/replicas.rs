//! Reads on a PostgreSQL streaming replica (`database.read_urls`): a primary and a replica of
//! it in containers, the replica held behind by `recovery_min_apply_delay`. Reads go to the
//! replica, a caller's own writes are read back at once, a replica further behind than
//! `max_replica_lag_ms` is skipped, and one killed under load costs no request.

#![cfg(feature = "containers")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use didhub_harness::backend::{Dedicated, dedicated};
use didhub_migrations::Backend;
use didhub_server::db::replicas::{for_request, set_caller};
use didhub_server::db::{Id, Stmt};
use poem::http::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::support::{TestApp, test_config};

/// A primary and a replica applying what it receives `delay` late, and the server reading from
/// the replica within `max_lag`, once the replica has the server's start (its schema and admin).
async fn replicated(delay: &str, max_lag: Duration) -> (Dedicated, Dedicated, TestApp) {
    let primary = dedicated(Backend::Postgres)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let setting = format!("recovery_min_apply_delay={delay}");
    let replica = primary
        .replica(&["-c", &setting])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let database = primary.database().await.unwrap_or_else(|e| panic!("{e}"));
    let mut config = test_config(&database, "").await;
    config.database.read_urls = vec![replica.url_of(&database.url)];
    config.database.max_replica_lag = max_lag;
    let on_replica = replica.url_of(&database.url);
    let app = TestApp::serving(database, config).await;
    // The replica has the schema and the bootstrap admin once it answers for them.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&on_replica).await {
            let count = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users")
                .fetch_one(&mut conn)
                .await;
            conn.close().await.ok();
            if count.is_ok_and(|n| n > 0) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the server's probes have seen it do so.
    tokio::time::sleep(Duration::from_millis(500)).await;
    (primary, replica, app)
}

/// How many systems `caller` (none: a request without a token) reads through the server's
/// handle, wherever the server sends the read.
async fn systems_read_by(app: &TestApp, caller: Option<Id>) -> i64 {
    let db = app.state.db.clone();
    for_request(async move {
        if let Some(caller) = caller {
            set_caller(caller);
        }
        db.conn()
            .fetch_int(Stmt::new("SELECT COUNT(*) FROM systems"))
            .await
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn reads_go_to_the_replica_and_a_callers_own_write_is_read_back_at_once() {
    let (_primary, _replica, app) = replicated("3s", Duration::from_secs(4)).await;
    let token = app.admin_token().await;
    // In its first max_lag the server reads only from a replica that has everything (its
    // migrations may be newer than the replica); past it, the replica 3 s behind is fit.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let admin: Id = serde_json::from_value(
        app.get("/api/me", &token).await.expect(StatusCode::OK)["id"].clone(),
    )
    .unwrap();
    let created = app
        .post("/api/systems", &token, json!({ "name": "Fresh" }))
        .await
        .expect(StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    // The writer reads it back at once: from the primary, the replica being 3 s behind.
    let read = app.get(&format!("/api/systems/{id}"), &token).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(systems_read_by(&app, Some(admin)).await, 1);
    // Anyone else reads from the replica, which does not have it yet, and then does.
    assert_eq!(
        systems_read_by(&app, None).await,
        0,
        "a read that did not go to the replica"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while systems_read_by(&app, None).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the replica never showed the write"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_replica_further_behind_than_the_bound_serves_no_read() {
    let (_primary, _replica, app) = replicated("3s", Duration::from_millis(300)).await;
    let token = app.admin_token().await;
    app.post("/api/systems", &token, json!({ "name": "Fresh" }))
        .await
        .expect(StatusCode::CREATED);
    // Past the bound and well before the replica applies the write: another caller's read
    // goes to the primary.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        systems_read_by(&app, None).await,
        1,
        "a read on a replica 3 s behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_under_load_costs_no_request() {
    let (_primary, replica, app) = replicated("0", Duration::from_secs(1)).await;
    let app = Arc::new(app);
    let token = app.admin_token().await;
    let until = Instant::now() + Duration::from_secs(4);
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while Instant::now() < until {
                    let reply = app.get("/api/systems", &token).await;
                    answers.push((Instant::now(), reply.status, reply.text));
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = Instant::now();
    replica.kill().await.unwrap_or_else(|e| panic!("{e}"));
    let mut after = 0;
    for reader in readers {
        for (at, status, text) in reader.await.unwrap() {
            assert_eq!(status, StatusCode::OK, "{text}");
            after += usize::from(at > killed);
        }
    }
    assert!(after > 10, "{after} reads after the kill");
}

/// A write on a server that is a standby now (the old primary back as one after a failover)
/// counts as the database being unavailable: 503, and its connection is closed instead of going
/// back to the pool, so the pool's next connection goes where failover points it.
#[tokio::test]
async fn a_write_on_a_standby_is_unavailable() {
    let (_primary, replica, app) = replicated("0", Duration::from_secs(1)).await;
    let mut config = app.config.database.clone();
    config.url = replica.url_of(app.database_url());
    config.read_urls = Vec::new();
    let on_standby = didhub_server::db::Db::connect(&config).await.unwrap();
    let refused = on_standby
        .conn()
        .execute(Stmt::new("DELETE FROM systems"))
        .await
        .expect_err("a standby took a write");
    assert!(
        didhub_server::db::is_unavailable(&refused),
        "{refused}: not counted as unavailable"
    );
    on_standby.close().await;
}
