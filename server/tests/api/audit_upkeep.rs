//! The audit log under attack and over time: refusals are counted and written once per window
//! instead of one row each, the server purges entries past their retention and records it, and no
//! audit row holds a name typed for an account that does not exist.

use std::time::Duration;

use chrono::Utc;
use didhub_server::db::{Arg, Id, Stmt, Timestamp};
use didhub_server::store::Window;
use didhub_server::store::audit::{self, AuditFilter};
use didhub_server::upkeep::{self, PURGE_BATCH};
use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::security::bad_tokens;
use crate::support::{TestApp, backends, limits, login_from};
use didhub_migrations::Backend;
use rstest_reuse::apply;

const WINDOW: Duration = Duration::from_secs(60);
const ATTACKER: &str = "203.0.113.66";

async fn audit_rows(app: &TestApp) -> i64 {
    app.state
        .db
        .conn()
        .fetch_int(Stmt::new("SELECT COUNT(*) FROM audit_logs"))
        .await
        .unwrap()
}

/// The audit rows with `action` (every row when `None`), as the API shows them, read from the
/// store so that reading them adds no login of its own.
async fn entries_of(app: &TestApp, action: Option<&str>) -> Vec<Value> {
    use poem_openapi::types::ToJSON;
    let filter = AuditFilter {
        action: action.map(str::to_owned),
        ..AuditFilter::default()
    };
    let window = Window {
        limit: 100_000,
        offset: 0,
    };
    let (items, _) = audit::list(&app.state.db, &filter, window).await.unwrap();
    items.iter().map(|e| e.to_json().unwrap()).collect()
}

async fn entries(app: &TestApp, action: &str) -> Vec<Value> {
    entries_of(app, Some(action)).await
}

/// The one entry among `entries` that is not a summary.
#[track_caller]
fn single(entries: &[Value]) -> &Value {
    let singles: Vec<_> = entries
        .iter()
        .filter(|e| e["metadata"]["summary"] != true)
        .collect();
    assert_eq!(singles.len(), 1, "{entries:?}");
    singles[0]
}

/// The sum of `count` over the summaries among `entries`, and how many entries are not summaries.
fn counted(entries: &[Value]) -> (u64, usize) {
    let summed = entries
        .iter()
        .filter(|e| e["metadata"]["summary"] == true)
        .map(|e| e["metadata"]["count"].as_u64().unwrap())
        .sum();
    let single = entries
        .iter()
        .filter(|e| e["metadata"]["summary"] != true)
        .count();
    (summed, single)
}

#[apply(backends)]
#[tokio::test]
async fn five_hundred_forged_tokens_add_at_most_a_few_audit_rows(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (app, clock) = app.with_refusal_window(WINDOW);
    let (robin, token) = app.approved_user("robin").await;
    let bad = bad_tokens(&app, robin, &token);
    let reasons = bad
        .iter()
        .map(|(_, _, code)| *code)
        .collect::<std::collections::BTreeSet<_>>();
    let before = audit_rows(&app).await;
    for i in 0..500 {
        let (what, token, code) = &bad[i % bad.len()];
        let reply = app
            .call_from(ATTACKER, Method::GET, "/api/me", Some(token), None)
            .await;
        assert_eq!(reply.body["code"], *code, "{what}: {}", reply.text);
    }
    let during = audit_rows(&app).await - before;
    assert_eq!(
        during,
        reasons.len() as i64,
        "one row per reason as the flood starts"
    );

    // The window closes: one summary per reason, with the count.
    clock.advance(WINDOW);
    assert_eq!(
        app.state.refusals.write_closed(&app.state.db).await,
        reasons.len()
    );
    let after = audit_rows(&app).await - before;
    eprintln!(
        "500 forged-token requests: {during} audit rows during the window, {after} after it closed"
    );
    assert_eq!(after, 2 * reasons.len() as i64);
    let rejected = entries(&app, "auth.token_rejected").await;
    assert!(rejected.iter().all(|e| e["ip"] == ATTACKER), "{rejected:?}");
    let (summed, singles) = counted(&rejected);
    assert_eq!(
        summed + singles as u64,
        500,
        "every refusal counted: {rejected:?}"
    );
    let firsts: Vec<_> = rejected
        .iter()
        .filter(|e| e["metadata"]["summary"] != true)
        .collect();
    assert!(
        firsts.iter().all(|e| e["metadata"]["path"] == "/api/me"),
        "the first rows are as detailed as ever: {firsts:?}"
    );

    // The next window starts with a row of its own again.
    app.call_from(ATTACKER, Method::GET, "/api/me", Some("not-a-jwt"), None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(audit_rows(&app).await - before, after + 1);
}

#[apply(backends)]
#[tokio::test]
async fn rate_limited_logins_do_not_add_one_row_each(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (app, _clock) = app.with_limits(limits(3, 0));
    let (app, _clock) = app.with_refusal_window(WINDOW);
    app.register("robin").await;
    let before = audit_rows(&app).await;
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, ATTACKER, "robin", "not-the-password")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..200 {
        assert_eq!(
            login_from(&app, ATTACKER, "robin", "not-the-password")
                .await
                .status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let during = audit_rows(&app).await - before;
    assert_eq!(during, 2, "one failed login and one rate-limited row");
    let limited = entries(&app, "auth.rate_limited").await;
    assert_eq!(
        single(&limited)["metadata"]["username"],
        "robin",
        "a real account is named"
    );
    assert_eq!(single(&limited)["entity_type"], "user");

    assert_eq!(
        app.state.refusals.write_all(&app.state.db).await,
        2,
        "at shutdown"
    );
    let (summed, singles) = counted(&entries(&app, "auth.rate_limited").await);
    assert_eq!(summed + singles as u64, 200);
    let (summed, singles) = counted(&entries(&app, "auth.login_failed").await);
    assert_eq!(summed + singles as u64, 3);
    eprintln!(
        "203 refused logins: {during} audit rows during the window, {} after",
        audit_rows(&app).await - before
    );
}

#[apply(backends)]
#[tokio::test]
async fn an_unknown_username_never_reaches_the_audit_log(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (app, _clock) = app.with_limits(limits(2, 0));
    app.register("robin").await;
    // A password typed into the username field.
    let typed = "Tr0ub4dor&3-correct-horse";
    for _ in 0..4 {
        login_from(&app, ATTACKER, typed, "robin").await;
        app.call_from(
            ATTACKER,
            Method::POST,
            "/api/auth/password-reset/request",
            None,
            Some(json!({ "username": typed })),
        )
        .await;
    }
    app.state.refusals.write_all(&app.state.db).await;

    let failed = entries(&app, "auth.login_failed").await;
    assert_eq!(
        single(&failed)["metadata"],
        json!({ "account": "unknown" }),
        "{failed:?}"
    );
    let limited = entries(&app, "auth.rate_limited").await;
    let firsts: Vec<_> = limited
        .iter()
        .filter(|e| e["metadata"]["summary"] != true)
        .collect();
    assert_eq!(firsts.len(), 2, "login and reset request: {limited:?}");
    assert!(
        firsts.iter().all(|e| e["metadata"]["account"] == "unknown"),
        "{limited:?}"
    );
    let rows = entries_of(&app, None).await;
    let needle = typed.to_lowercase();
    for row in &rows {
        let text = format!("{row:?}").to_lowercase();
        assert!(
            !text.contains(&needle),
            "the typed name is in an audit row: {row:?}"
        );
    }
    let admin = app.admin_token().await;
    let backup = app
        .call(Method::POST, "/api/admin/backup", Some(&admin), None)
        .await;
    assert_eq!(backup.status, StatusCode::OK, "{}", backup.text);
    assert!(
        !backup.text.to_lowercase().contains(&needle),
        "the typed name is in the backup"
    );

    // A known account's failure is still recorded against it.
    login_from(&app, "198.51.100.2", "robin", "not-the-password").await;
    let failed = entries(&app, "auth.login_failed").await;
    let known: Vec<_> = failed
        .iter()
        .filter(|e| e["entity_type"] == "user")
        .collect();
    assert_eq!(known.len(), 1, "{failed:?}");
    assert_eq!(known[0]["metadata"]["username"], "robin");
}

#[apply(backends)]
#[tokio::test]
async fn the_retention_purge_deletes_old_entries_in_batches_and_records_itself(backend: Backend) {
    let app = TestApp::start(backend).await;
    let old = Timestamp::from(Utc::now() - chrono::Duration::days(40));
    let recent = Timestamp::from(Utc::now() - chrono::Duration::days(20));
    let rows = |n: i64, action: &'static str, at: Timestamp| -> Vec<Vec<Arg>> {
        (0..n)
            .map(|_| vec![Id::new().into(), action.into(), json!({}).into(), at.into()])
            .collect()
    };
    let stale = PURGE_BATCH + 5;
    let mut all = rows(stale, "test.stale", old);
    all.extend(rows(3, "test.recent", recent));
    app.state
        .db
        .insert_rows(
            "audit_logs",
            &["id", "action", "metadata", "created_at"],
            all,
        )
        .await
        .unwrap();
    let before = audit_rows(&app).await;

    assert_eq!(
        upkeep::purge_expired(&app.state.db, 0).await.unwrap(),
        None,
        "0 keeps everything"
    );
    assert_eq!(
        upkeep::purge_expired(&app.state.db, u32::MAX)
            .await
            .unwrap(),
        None,
        "before any date: nothing"
    );
    assert_eq!(audit_rows(&app).await, before);

    let purged = upkeep::purge_expired(&app.state.db, 30)
        .await
        .unwrap()
        .expect("a purge");
    assert_eq!(purged.deleted, stale as u64);
    assert_eq!(purged.batches, 2, "{PURGE_BATCH} rows per transaction");
    assert_eq!(
        audit_rows(&app).await,
        before - stale + 1,
        "the old rows gone, the purge recorded"
    );
    let recorded = entries(&app, "audit.retention_purge").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["metadata"]["deleted"], stale);
    assert_eq!(recorded[0]["metadata"]["retention_days"], 30);
    assert_eq!(recorded[0]["metadata"]["cutoff"], purged.cutoff.to_string());
    assert_eq!(
        entries(&app, "test.recent").await.len(),
        3,
        "younger rows stay"
    );

    assert_eq!(
        upkeep::purge_expired(&app.state.db, 30).await.unwrap(),
        None,
        "nothing left, nothing recorded"
    );
    assert_eq!(entries(&app, "audit.retention_purge").await.len(), 1);
}

/// The run-time setting decides the retention once set; while it is null the configuration
/// file's value applies.
#[apply(backends)]
#[tokio::test]
async fn the_retention_setting_overrides_the_configured_retention(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    assert_eq!(
        upkeep::retention_days(&app.state.db, 365).await.unwrap(),
        365
    );
    app.put(
        "/api/settings/audit.retention_days",
        &admin,
        json!({ "value": 30 }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        upkeep::retention_days(&app.state.db, 365).await.unwrap(),
        30
    );
    assert_eq!(
        upkeep::retention_days(&app.state.db, 0).await.unwrap(),
        30,
        "even over 0 (forever)"
    );
    app.put(
        "/api/settings/audit.retention_days",
        &admin,
        json!({ "value": null }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(upkeep::retention_days(&app.state.db, 0).await.unwrap(), 0);
}

/// The server purges by itself at startup and writes open refusal windows when it stops.
#[tokio::test]
async fn the_running_server_purges_at_startup_and_writes_refusals_at_shutdown() {
    use didhub_server::Application;
    let app = TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let old = Timestamp::from(Utc::now() - chrono::Duration::days(400));
    app.state
        .db
        .insert_rows(
            "audit_logs",
            &["id", "action", "metadata", "created_at"],
            vec![vec![
                Id::new().into(),
                "test.stale".into(),
                json!({}).into(),
                old.into(),
            ]],
        )
        .await
        .unwrap();
    let mut config = app.config.clone();
    config.port = 0;
    assert_eq!(config.audit.retention_days, 365, "the default retention");
    let server = Application::build(&config).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    for _ in 0..20 {
        let status = client
            .get(format!("{base}/api/me"))
            .bearer_auth("forged")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    // The purge runs as the server starts; wait for its record (the timeout turns a hang into
    // a failure, it measures nothing).
    let purged = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let found = app
                .state
                .db
                .conn()
                .fetch_int(Stmt::new(
                    "SELECT COUNT(*) FROM audit_logs WHERE action = 'audit.retention_purge'",
                ))
                .await
                .unwrap();
            if found > 0 {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(purged.is_ok(), "no retention purge recorded");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();

    let rejected = entries(&app, "auth.token_rejected").await;
    let (summed, singles) = counted(&rejected);
    assert_eq!((summed, singles), (19, 1), "{rejected:?}");
    assert!(entries(&app, "test.stale").await.is_empty());
}
