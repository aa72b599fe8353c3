use poem::http::{Method, StatusCode};

use crate::support::{TestApp, backends};
use didhub_migrations::Backend;
use rstest_reuse::apply;

#[apply(backends)]
#[tokio::test]
async fn health_reports_ok_and_the_backend(backend: Backend) {
    let app = TestApp::start(backend).await;
    let body = app
        .call(Method::GET, "/health", None, None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["backend"], app.state.db.backend().name());
}

#[apply(backends)]
#[tokio::test]
async fn version_reports_the_newest_migration(backend: Backend) {
    let app = TestApp::start(backend).await;
    let newest = app
        .state
        .db
        .backend()
        .migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap();
    let body = app
        .call(Method::GET, "/api/version", None, None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["schema_version"], newest);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[apply(backends)]
#[tokio::test]
async fn openapi_document_lists_every_endpoint(backend: Backend) {
    let app = TestApp::start(backend).await;
    let doc = app.openapi().await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/health", "get"),
        ("/api/version", "get"),
        ("/api/auth/register", "post"),
        ("/api/auth/login", "post"),
        ("/api/auth/refresh", "post"),
        ("/api/me", "get"),
        ("/api/me/password", "post"),
        ("/api/users", "get"),
        ("/api/users", "post"),
        ("/api/users/{id}", "get"),
        ("/api/users/{id}", "put"),
        ("/api/users/{id}", "delete"),
        ("/api/systems", "get"),
        ("/api/systems", "post"),
        ("/api/systems/{id}", "get"),
        ("/api/systems/{id}", "put"),
        ("/api/systems/{id}", "delete"),
        ("/api/alters", "get"),
        ("/api/alters", "post"),
        ("/api/alters/search", "get"),
        ("/api/alters/{id}", "get"),
        ("/api/alters/{id}", "put"),
        ("/api/alters/{id}", "delete"),
        ("/api/alters/{id}/relationships", "get"),
        ("/api/alters/{id}/relationships", "post"),
        ("/api/alters/{id}/relationships/{other}/{type}", "delete"),
        ("/api/me/request-system", "post"),
        ("/api/me/request-system", "get"),
        ("/api/system-requests", "get"),
        ("/api/system-requests/{id}/decide", "post"),
        ("/api/groups", "get"),
        ("/api/groups", "post"),
        ("/api/groups/{id}", "get"),
        ("/api/groups/{id}", "put"),
        ("/api/groups/{id}", "delete"),
        ("/api/groups/{id}/members", "get"),
        ("/api/groups/{id}/members", "post"),
        ("/api/groups/{id}/members/{alter_id}", "delete"),
        ("/api/subsystems", "get"),
        ("/api/subsystems", "post"),
        ("/api/subsystems/{id}", "get"),
        ("/api/subsystems/{id}", "put"),
        ("/api/subsystems/{id}", "delete"),
        ("/api/subsystems/{id}/members", "get"),
        ("/api/subsystems/{id}/members", "post"),
        ("/api/subsystems/{id}/members/{alter_id}", "delete"),
        ("/api/settings", "get"),
        ("/api/settings", "put"),
        ("/api/settings/{key}", "get"),
        ("/api/settings/{key}", "put"),
        ("/api/auth/password-reset/request", "post"),
        ("/api/auth/password-reset/verify", "post"),
        ("/api/auth/password-reset/consume", "post"),
        ("/api/audit", "get"),
        ("/api/audit/purge", "post"),
        ("/api/admin/backup", "post"),
        ("/api/admin/restore", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["BearerAuth"].is_object());
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for tag in ["Relationships", "SystemRequests"] {
        assert!(tags.contains(&tag), "tag {tag} missing: {tags:?}");
    }
}

#[apply(backends)]
#[tokio::test]
async fn swagger_ui_is_served(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = app.call(Method::GET, "/api/docs", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.text.contains("swagger"),
        "{}",
        &reply.text[..200.min(reply.text.len())]
    );
}

#[apply(backends)]
#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.call(Method::GET, "/api/nothing-here", None, None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.call(Method::PATCH, "/api/version", None, None)
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[apply(backends)]
#[tokio::test]
async fn restarting_on_a_migrated_database_changes_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = app.admin_token().await;
    let system = app.system(&token, "Kept").await;
    let again = didhub_server::prepare(&app.config).await.unwrap();
    let kept = didhub_server::store::systems::get(&again.db, system)
        .await
        .unwrap();
    assert_eq!(kept.map(|s| s.name), Some("Kept".to_owned()));
}

/// Every documented path answers a method it does not serve with 405 and `Allow` naming the
/// methods the OpenAPI document gives it (RFC 9110 §15.5.6; HEAD wherever GET is, as poem
/// answers it), and answers every method `Allow` names with something else than 405; the paths
/// come from the document, so a new route is covered without touching this test. Routing is the
/// same on every backend.
#[tokio::test]
async fn every_405_names_the_documented_methods_in_allow() {
    let app = crate::support::TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let doc = app.openapi().await;
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let mut allowed: Vec<Method> = item
            .as_object()
            .unwrap()
            .keys()
            .filter_map(|key| {
                OPERATIONS
                    .into_iter()
                    .find(|m| m.as_str().eq_ignore_ascii_case(key))
            })
            .collect();
        if allowed.contains(&Method::GET) {
            allowed.push(Method::HEAD);
        }
        let mut names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        names.sort();
        let path = any_ids(template);
        for method in OPERATIONS {
            let reply = app.call(method.clone(), &path, None, None).await;
            if allowed.contains(&method) {
                assert_ne!(
                    reply.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is in Allow"
                );
                continue;
            }
            let allow = reply.allow.clone();
            reply.expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
            assert_eq!(allow, Some(names.join(", ")), "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} refused methods were checked");
}

/// The methods an OpenAPI path item can name.
const OPERATIONS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::TRACE,
];

/// `template` with a well-formed id in every parameter.
fn any_ids(template: &str) -> String {
    template
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                "00000000-0000-0000-0000-000000000000"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A path parameter that does not parse is a 400 naming the parameter as the document does
/// (poem-openapi's router calls it `param0`), without echoing the value: control characters in
/// it reach neither the answer nor the log line. Every documented path with a parameter, from
/// the document.
#[tokio::test]
async fn a_bad_path_parameter_is_named_and_not_echoed() {
    let app = crate::support::TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let token = app.admin_token().await;
    let doc = app.openapi().await;
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let uuids = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                // Ids and enums (a `$ref`); a free string parses whatever it is.
                .filter(|p| {
                    p["in"] == "path"
                        && (p["schema"]["format"] == "uuid" || p["schema"]["$ref"].is_string())
                });
            for parameter in uuids {
                let name = parameter["name"].as_str().unwrap();
                let bad = template.replacen(&format!("{{{name}}}"), "%01%1b%5B31mnot-an-id", 1);
                let path = any_ids(&bad);
                let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                // A body the operation would refuse: the path is what is refused first.
                let body = (method != Method::GET).then(|| serde_json::json!({}));
                let message = app
                    .call(method.clone(), &path, Some(&token), body)
                    .await
                    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
                assert!(
                    message.contains(&format!("\"{name}\"")),
                    "{method} {path}: {message}"
                );
                assert!(
                    !message.contains("`param") && !message.chars().any(char::is_control),
                    "{method} {path}: {message}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 25, "only {checked} operations were checked");
}

/// A body is taken as the document describes it: a number or boolean where a string is
/// expected, a field the schema does not have, a missing required field are 400 naming the
/// field, and nothing is written; optional fields may be null.
#[tokio::test]
async fn bodies_are_taken_as_documented_and_refusals_name_the_field() {
    let app = crate::support::TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let token = app.admin_token().await;
    for (body, refusal) in [
        (
            serde_json::json!({"name": 42}),
            "\"name\": expected a string",
        ),
        (
            serde_json::json!({"name": true}),
            "\"name\": expected a string",
        ),
        (
            serde_json::json!({"name": "A", "description": 5}),
            "\"description\": expected a string",
        ),
        (
            serde_json::json!({"name": "A", "nmae": "B"}),
            "\"nmae\": unknown field",
        ),
        (
            serde_json::json!({"description": "no name"}),
            "\"name\": missing",
        ),
        (serde_json::json!(["A"]), "the body: expected an object"),
    ] {
        let message = app
            .post("/api/systems", &token, body.clone())
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(message, refusal, "{body}");
    }
    // However the JSON content type is written.
    for kind in [
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let body = br#"{"name": 42}"#.to_vec();
        let message = app
            .raw(
                Method::POST,
                "/api/systems",
                Some(&token),
                Some((kind, body)),
            )
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(message, "\"name\": expected a string", "{kind}");
    }
    let systems = app.get("/api/systems", &token).await.expect(StatusCode::OK);
    assert_eq!(
        systems["total"], 0,
        "a refused body wrote something: {systems}"
    );
    app.post(
        "/api/systems",
        &token,
        serde_json::json!({"name": "A", "description": null}),
    )
    .await
    .expect(StatusCode::CREATED);
}

/// SQLite-specific: the pool runs in WAL mode, and concurrent writers queue (in the process, then
/// on `BEGIN IMMEDIATE`) instead of failing with "database is locked".
mod sqlite_concurrency {
    use super::*;
    use crate::support::TestApp;
    use didhub_migrations::Backend;
    use didhub_server::store::users;
    use sqlx::Connection;

    #[tokio::test]
    async fn the_database_file_is_in_wal_mode() {
        let app = TestApp::start(Backend::Sqlite).await;
        let mut conn = sqlx::SqliteConnection::connect(&app.config.database.url)
            .await
            .unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_all_succeed() {
        let app = std::sync::Arc::new(TestApp::start(Backend::Sqlite).await);
        let token = app.admin_token().await;
        let system = app.system(&token, "Busy").await;
        let writers: Vec<_> = (0..32)
            .map(|i| {
                let app = app.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    app.post(
                        "/api/alters",
                        &token,
                        serde_json::json!({ "system_id": system, "name": format!("w{i:02}") }),
                    )
                    .await
                })
            })
            .collect();
        for writer in writers {
            let reply = writer.await.unwrap();
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
        let page = app
            .get(&format!("/api/alters?system_id={system}&limit=200"), &token)
            .await
            .expect(StatusCode::OK);
        assert_eq!(page["total"], 32);
    }

    /// A pool of two connections with a short acquire timeout, on the app's file.
    async fn two_connections(app: &TestApp) -> didhub_server::db::Db {
        let mut config = app.config.database.clone();
        config.pool.max_connections = 2;
        config.pool.acquire_timeout = std::time::Duration::from_secs(2);
        didhub_server::db::Db::connect(&config).await.unwrap()
    }

    /// A writer waiting for the write lock waits without a connection, so readers still get one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_writer_leaves_its_connection_to_readers() {
        let app = TestApp::start(Backend::Sqlite).await;
        let db = two_connections(&app).await;
        let first = db.begin_write().await.unwrap();
        let second = tokio::spawn({
            let db = db.clone();
            async move { db.begin_write().await.map(drop) }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !second.is_finished(),
            "the second writer waits for the first"
        );
        let read = users::get_by_username(&db, "admin").await;
        assert!(read.is_ok(), "a reader got no connection: {read:?}");
        drop(first);
        second.await.unwrap().unwrap();
    }

    /// A transaction dropped without commit gives the next writer its turn.
    #[tokio::test]
    async fn a_rolled_back_writer_hands_on_its_turn() {
        let app = TestApp::start(Backend::Sqlite).await;
        let db = two_connections(&app).await;
        drop(db.begin_write().await.unwrap());
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), db.begin_write()).await;
        assert!(
            matches!(next, Ok(Ok(_))),
            "the next writer did not get its turn"
        );
    }

    /// A write transaction that reads before it writes, while another process writes to the same
    /// file: the write lock is taken at BEGIN, so the other process waits for it, and the
    /// transaction's own write cannot meet "database is locked" (with a deferred BEGIN another
    /// writer commits in between and the upgrade fails with SQLITE_BUSY_SNAPSHOT).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_that_reads_first_keeps_the_write_lock() {
        use didhub_server::db::{Stmt, Timestamp};
        let app = TestApp::start(Backend::Sqlite).await;
        let setting = |name: &'static str| {
            Stmt::new("INSERT INTO settings (name, value, updated_at) VALUES (?, '1', ?)")
                .bind(name)
                .bind(Timestamp::now())
        };
        let mut tx = app.state.db.begin_write().await.unwrap();
        tx.conn()
            .fetch_int(Stmt::new("SELECT COUNT(*) FROM settings"))
            .await
            .unwrap();
        let url = app.config.database.url.clone();
        let other = tokio::spawn(async move {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("INSERT INTO settings (name, value, updated_at) VALUES ('other', '1', '')")
                .execute(&mut conn)
                .await
                .map(drop)
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !other.is_finished(),
            "the other process wrote inside the transaction"
        );
        tx.conn().execute(setting("mine")).await.unwrap();
        tx.commit().await.unwrap();
        other.await.unwrap().unwrap();
        let count = app
            .state
            .db
            .conn()
            .fetch_int(Stmt::new(
                "SELECT COUNT(*) FROM settings WHERE name IN ('mine', 'other')",
            ))
            .await
            .unwrap();
        assert_eq!(count, 2);
    }
}

/// The document says what the server does, as clients generated from it rely on: optional fields
/// of the API's objects may be null, no object takes a field it does not name, every operation
/// lists its error statuses with the error body (Retry-After where the server sends one), the
/// settings map names its keys, and the username rule is the one `accounts` enforces.
#[tokio::test]
async fn the_document_states_what_the_server_does() {
    let app = crate::support::TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let doc = app.openapi().await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let alter = &schemas["Alter"];
    assert_eq!(alter["properties"]["description"]["nullable"], true);
    assert_eq!(alter["properties"]["name"].get("nullable"), None);
    for (name, schema) in schemas {
        if schema.get("properties").is_some() {
            assert_eq!(schema["additionalProperties"], false, "{name}");
        }
    }
    for name in ["Registration", "NewUserRequest"] {
        assert_eq!(
            schemas[name]["properties"]["username"]["pattern"],
            didhub_server::accounts::USERNAME_PATTERN,
            "{name}"
        );
    }
    let login = &doc["paths"]["/api/auth/login"]["post"]["responses"];
    for status in ["200", "400", "401", "422", "429", "503"] {
        assert!(login.get(status).is_some(), "login lists {status}");
    }
    assert_eq!(login["400"]["$ref"], "#/components/responses/Error400");
    let errors = &doc["components"]["responses"];
    assert_eq!(
        errors["Error400"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    for status in ["429", "503"] {
        assert!(
            errors[format!("Error{status}")]["headers"]["Retry-After"].is_object(),
            "{status}"
        );
    }
    let health = &doc["paths"]["/health"]["get"]["responses"];
    assert!(health.get("413").is_none(), "no body, no 413");
    let settings = &doc["paths"]["/api/settings"]["put"]["requestBody"]["content"]["application/json; charset=utf-8"]
        ["schema"];
    assert_eq!(settings["additionalProperties"], false);
    assert_eq!(settings["minProperties"], 1);
    assert_eq!(
        settings["properties"]["audit.retention_days"]["nullable"],
        true
    );
    assert_eq!(
        settings["properties"]["instance.name"].get("nullable"),
        None
    );
}

/// Names and search text that are blank after trimming are refused by the document's pattern,
/// the same on every regex dialect: `fields::NOT_BLANK` is what each such field carries, and it
/// refuses what `str::trim` empties.
#[tokio::test]
async fn the_document_refuses_blank_names() {
    let app = crate::support::TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let doc = app.openapi().await;
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("NewSystem", "name"),
        ("NewAlter", "name"),
        ("AlterUpdate", "name"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["pattern"],
            didhub_server::fields::NOT_BLANK,
            "{schema}.{field}"
        );
    }
    let pattern = regex::Regex::new(didhub_server::fields::NOT_BLANK).unwrap();
    // Every character: alone, it is refused exactly when trimming empties it (or it is NUL).
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        let text = c.to_string();
        let refused = text.trim().is_empty() || c == '\0';
        assert_eq!(!pattern.is_match(&text), refused, "{c:?}");
    }
    assert!(pattern.is_match(" Ash "));
    assert!(!pattern.is_match("\u{a0}\u{3000}"));
    assert!(!pattern.is_match("a\u{0}b"), "no NUL");
}

/// `fixtures/openapi.json` is the document the server serves (the typed client of `client.rs` is
/// generated from it, and clients elsewhere can be): when the API changes, `just openapi`
/// writes it again and the change shows in review.
#[tokio::test]
async fn the_checked_in_document_is_the_served_one() {
    let app = crate::support::TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let served = app.openapi().await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/openapi.json");
    let checked_in: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        served == checked_in,
        "fixtures/openapi.json is not the served document: run `just openapi`"
    );
    let printed: serde_json::Value =
        serde_json::from_str(&didhub_server::api::openapi_document()).unwrap();
    assert_eq!(
        printed, served,
        "`didhub-server openapi` prints the served document"
    );
}
