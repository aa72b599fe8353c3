//! `POST /api/admin/backup` and `/api/admin/restore`: a backup restores exactly what was there
//! (on the same or another backend), a bad document is refused whole with the reason and
//! changes nothing, and only administrators may do either.

use didhub_server::data::{Digest, TABLES};
use didhub_server::db::Db;
use didhub_server::generate::{self, Size};
use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, backend_tests};

/// Every table's digest but the audit log's (backups and restores are audited).
async fn digests(db: &Db) -> Vec<(&'static str, Digest)> {
    let mut tx = db.begin_read().await.unwrap();
    let mut digests = Vec::new();
    for &table in TABLES.iter().filter(|t| t.name != "audit_logs") {
        digests.push((table.name, Digest::of(table, &mut tx).await.unwrap()));
    }
    digests
}

/// A user with a system, awkward alters and a group; returns the admin's token and the system.
pub async fn some_data(app: &TestApp) -> (String, Value) {
    let admin = app.admin_token().await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let reply = app
        .post(
            "/api/alters",
            &token,
            json!({
                "system_id": system, "name": "Ash \"the\" 'brave'\t🦊",
                "description": "line one\nline two \\ back", "interests": ["tea", "ünïcødé"],
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/api/groups",
        &token,
        json!({ "system_id": system, "name": "Protectors" }),
    )
    .await
    .expect(StatusCode::CREATED);
    (
        admin,
        json!({ "system": system, "token": token, "alter": reply["id"] }),
    )
}

async fn backup(app: &TestApp, admin: &str) -> Value {
    app.post("/api/admin/backup", admin, json!({}))
        .await
        .expect(StatusCode::OK)
}

backend_tests! {
    async fn a_backup_restores_exactly_what_was_there(app) {
        let (admin, ids) = some_data(&app).await;
        let before = digests(&app.state.db).await;
        let document = backup(&app, &admin).await;
        assert_eq!(document["format"], "didhub-backup/1");

        // Change things: delete the system (and its alters), add another.
        let token = ids["token"].as_str().unwrap();
        let system = ids["system"].as_str().unwrap();
        app.delete(&format!("/api/systems/{system}"), token).await.expect(StatusCode::NO_CONTENT);
        app.post("/api/systems", token, json!({ "name": "Later" })).await.expect(StatusCode::CREATED);
        assert_ne!(digests(&app.state.db).await, before);

        let report = app
            .post("/api/admin/restore", &admin, document)
            .await
            .expect(StatusCode::OK);
        assert_eq!(digests(&app.state.db).await, before);
        assert_eq!(report["tables"].as_array().unwrap().len(), TABLES.len());
        let alter = app
            .get(&format!("/api/alters/{}", ids["alter"].as_str().unwrap()), token)
            .await
            .expect(StatusCode::OK);
        assert_eq!(alter["description"], "line one\nline two \\ back");
        assert_eq!(app.audit_actions("action=admin.restore").await, ["admin.restore"]);
        assert_eq!(app.audit_actions("action=admin.backup").await, ["admin.backup"]);
    }

    async fn a_bad_backup_is_refused_whole_and_changes_nothing(app) {
        let (admin, _) = some_data(&app).await;
        let document = backup(&app, &admin).await;
        let before = digests(&app.state.db).await;

        let mut wrong_format = document.clone();
        wrong_format["format"] = json!("something-else/9");
        let mut other_version = document.clone();
        other_version["schema_version"] = json!(1);
        let mut bad_id = document.clone();
        bad_id["tables"][0]["rows"][0][0] = json!("not-a-uuid");
        let mut missing_table = document.clone();
        missing_table["tables"].as_array_mut().unwrap().pop();
        let mut short_row = document.clone();
        short_row["tables"][1]["rows"][0].as_array_mut().unwrap().pop();

        for (document, status, code, says) in [
            (wrong_format, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "format"),
            (other_version, StatusCode::CONFLICT, "conflict", "schema version 1"),
            (bad_id, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "users, row 0, column id"),
            (missing_table, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "tables"),
            (short_row, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "systems, row 0"),
        ] {
            let message = app
                .post("/api/admin/restore", &admin, document)
                .await
                .expect_error(status, code);
            assert!(message.contains(says), "{message:?} should mention {says:?}");
            assert_eq!(digests(&app.state.db).await, before, "after: {message}");
        }
    }

    async fn only_administrators_back_up_and_restore(app) {
        let (admin, ids) = some_data(&app).await;
        let document = backup(&app, &admin).await;
        let token = ids["token"].as_str().unwrap();
        app.post("/api/admin/backup", token, json!({}))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        app.post("/api/admin/restore", token, document.clone())
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        let reply = app.call(poem::http::Method::POST, "/api/admin/backup", None, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    }

    async fn a_restore_may_be_larger_than_other_requests(app) {
        let admin = app.admin_token().await;
        generate::generate(&app.state.db, Size { alters: 1500, seed: 5 }).await.unwrap();
        let document = backup(&app, &admin).await;
        let size = document.to_string().len();
        assert!(size > didhub_server::api::MAX_BODY_BYTES, "only {size} bytes");
        let before = digests(&app.state.db).await;
        app.post("/api/admin/restore", &admin, document).await.expect(StatusCode::OK);
        assert_eq!(digests(&app.state.db).await, before);
    }
}

/// A backup taken on SQLite restores on PostgreSQL and MySQL.
#[cfg(feature = "containers")]
#[tokio::test]
async fn a_backup_moves_between_backends() {
    use didhub_migrations::Backend;
    let source = TestApp::start(Backend::Sqlite).await;
    let (admin, _) = some_data(&source).await;
    let document = backup(&source, &admin).await;
    let expected = digests(&source.state.db).await;
    for backend in [Backend::Postgres, Backend::MySql] {
        let target = TestApp::start(backend).await;
        let admin = target.admin_token().await;
        target
            .post("/api/admin/restore", &admin, document.clone())
            .await
            .expect(StatusCode::OK);
        assert_eq!(digests(&target.state.db).await, expected, "{backend}");
    }
}
