use poem::http::StatusCode;
use serde_json::json;

use crate::support::{TestApp, backends};
use didhub_migrations::Backend;
use rstest_reuse::apply;

#[apply(backends)]
#[tokio::test]
async fn every_write_is_audited_with_its_entity(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Mine").await;
    let alter = app.alter(&token, system, "Ash").await;
    let admin = app.admin_token().await;
    let page = app
        .get(
            &format!("/api/audit?user_id={robin}&action=alter.create"),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["total"], 1);
    let entry = &page["items"][0];
    assert_eq!(
        (entry["entity_type"].as_str(), entry["entity_id"].as_str()),
        (Some("alter"), Some(alter.to_string().as_str()))
    );
    assert_eq!(entry["metadata"]["name"], "Ash");
    assert_eq!(entry["user_id"], robin.to_string());
    let actions = app.audit_actions("").await;
    for action in [
        "auth.register",
        "user.update",
        "auth.login",
        "system.create",
        "alter.create",
        "user.bootstrap",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing from {actions:?}"
        );
    }
}

#[apply(backends)]
#[tokio::test]
async fn the_audit_log_filters_by_time_range(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let all = app.get("/api/audit", &admin).await.expect(StatusCode::OK);
    let newest = all["items"][0]["created_at"].as_str().unwrap().to_owned();
    let oldest = all["items"].as_array().unwrap().last().unwrap()["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let total = all["total"].as_i64().unwrap();
    assert!(total >= 2, "bootstrap and login are recorded: {all}");

    let enc = |t: &str| t.replace('+', "%2B");
    let everything = app
        .get(
            &format!("/api/audit?from={}&to={}", enc(&oldest), enc(&newest)),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(everything["total"], total, "bounds are inclusive");
    let only_newest = app
        .get(&format!("/api/audit?from={}", enc(&newest)), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(only_newest["total"], 1);
    let before_all = app
        .get("/api/audit?to=2000-01-01T00:00:00Z", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(before_all["total"], 0);

    app.get("/api/audit?from=yesterday", &admin)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    // `from` after `to`: an empty range, as the document's types allow any two times.
    let reversed = app
        .get(
            "/api/audit?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(reversed["total"], 0);
    app.get("/api/audit?user_id=42", &admin)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[apply(backends)]
#[tokio::test]
async fn purge_deletes_older_entries_and_records_itself(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let before = app.get("/api/audit", &admin).await.expect(StatusCode::OK)["total"]
        .as_i64()
        .unwrap();
    let nothing = app
        .post(
            "/api/audit/purge",
            &admin,
            json!({ "before": "2000-01-01T00:00:00Z" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(nothing["deleted"], 0);
    let purged = app
        .post(
            "/api/audit/purge",
            &admin,
            json!({ "before": "2100-01-01T00:00:00Z" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        purged["deleted"],
        before + 1,
        "everything, including the first purge's entry"
    );
    let left = app.get("/api/audit", &admin).await.expect(StatusCode::OK);
    assert_eq!(left["total"], 1);
    assert_eq!(left["items"][0]["action"], "audit.purge");
    app.post("/api/audit/purge", &admin, json!({ "before": "soon" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.post("/api/audit/purge", &admin, json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

/// The finding: `POST /api/audit/purge` deleted everything in one transaction (one write lock,
/// one undo, for however many millions). It deletes in batches, each committed on its own, as
/// the retention purge does, and says how many in its entry.
#[apply(backends)]
#[tokio::test]
async fn purge_deletes_in_batches(backend: Backend) {
    use didhub_server::db::{Arg, Id, Timestamp};
    use didhub_server::upkeep::PURGE_BATCH;
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let old = Timestamp::from(chrono::Utc::now() - chrono::Duration::days(40));
    let rows: Vec<Vec<Arg>> = (0..PURGE_BATCH + 5)
        .map(|_| {
            vec![
                Id::new().into(),
                "test.old".into(),
                json!({}).into(),
                old.into(),
            ]
        })
        .collect();
    app.state
        .db
        .insert_rows(
            "audit_logs",
            &["id", "action", "metadata", "created_at"],
            rows,
        )
        .await
        .unwrap();
    let cutoff = (chrono::Utc::now() - chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let purged = app
        .post("/api/audit/purge", &admin, json!({ "before": cutoff }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(purged["deleted"], PURGE_BATCH + 5);
    let entry = app
        .get("/api/audit?action=audit.purge", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(entry["items"][0]["metadata"]["batches"], 2, "{entry}");
}

/// Found by the property test on PostgreSQL: a purge `before` the year -262143 was sent as it
/// was and refused as out of range (500). Bounds beyond what every backend stores mean the
/// range's end: nothing is older than the year 1000, everything is older than the year 10000.
#[apply(backends)]
#[tokio::test]
async fn bounds_beyond_what_a_backend_stores_are_the_ends_of_the_range(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    for query in [
        "from=-262143-01-01T00:00:00Z",
        "to=%2B262142-12-31T23:59:59Z",
    ] {
        app.get(&format!("/api/audit?{query}"), &admin)
            .await
            .expect(StatusCode::OK);
    }
    let nothing = app
        .post(
            "/api/audit/purge",
            &admin,
            json!({ "before": "-262143-01-01T00:00:00Z" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(nothing["deleted"], 0);
    let everything = app
        .post(
            "/api/audit/purge",
            &admin,
            json!({ "before": "+262142-12-31T23:59:59Z" }),
        )
        .await
        .expect(StatusCode::OK);
    assert!(everything["deleted"].as_u64().unwrap() >= 1, "{everything}");
}

/// The finding: 3,000 identical `PUT /api/alters/{id}` wrote 3,000 audit entries. A change that
/// leaves everything as it is writes nothing: the second of two identical updates answers the
/// same row, moves no `updated_at`, and adds no audit entry, on every update operation.
#[apply(backends)]
#[tokio::test]
async fn an_update_that_changes_nothing_is_not_written_or_audited(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let (robin, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Mine").await;
    let alter = app.alter(&token, system, "Ash").await;
    let group = crate::support::id(
        &app.post(
            "/api/groups",
            &token,
            json!({ "system_id": system, "name": "Carers" }),
        )
        .await
        .expect(StatusCode::CREATED),
    );
    let subsystem = crate::support::id(
        &app.post(
            "/api/subsystems",
            &token,
            json!({ "system_id": system, "name": "Inner" }),
        )
        .await
        .expect(StatusCode::CREATED),
    );
    let updates = [
        (
            format!("/api/alters/{alter}"),
            &token,
            json!({ "name": " Ash ", "pronouns": "they", "is_host": true, "description": null }),
            "alter.update",
        ),
        (
            format!("/api/systems/{system}"),
            &token,
            json!({ "name": "Ours", "description": "a garden" }),
            "system.update",
        ),
        (
            format!("/api/groups/{group}"),
            &token,
            json!({ "name": "Keepers" }),
            "group.update",
        ),
        (
            format!("/api/subsystems/{subsystem}"),
            &token,
            json!({ "description": "deep" }),
            "subsystem.update",
        ),
        (
            format!("/api/users/{robin}"),
            &admin,
            json!({ "email": "robin@example.org", "is_system": true }),
            "user.update",
        ),
        (
            "/api/settings/instance.name".to_owned(),
            &admin,
            json!({ "value": "Garden" }),
            "setting.update",
        ),
        (
            "/api/settings".to_owned(),
            &admin,
            json!({ "instance.name": "Garden", "password_reset.token_ttl_minutes": 30 }),
            "setting.update",
        ),
    ];
    for (path, caller, body, action) in updates {
        let before = app.audit_actions(&format!("action={action}")).await.len();
        let first = app
            .put(&path, caller, body.clone())
            .await
            .expect(StatusCode::OK);
        let after_first = app.audit_actions(&format!("action={action}")).await.len();
        assert!(after_first > before, "{path}: the first update is audited");
        let second = app.put(&path, caller, body).await.expect(StatusCode::OK);
        assert_eq!(second, first, "{path}: the same row, updated_at unmoved");
        assert_eq!(
            app.audit_actions(&format!("action={action}")).await.len(),
            after_first,
            "{path}: the repeated update adds no audit entry"
        );
    }
}
