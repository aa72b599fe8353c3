//! Hostile input: forged tokens, other users' ids, SQL metacharacters in every string field,
//! malformed JSON, invalid ids and paging values, on every route at once. Each refusal is a 4xx
//! with `{error, code}` and a reason, leaks nothing, and changes nothing: every table but the
//! audit log is digested before and after, and the audit log may only have gained records of the
//! refusals themselves.
//!
//! The single-route versions of several of these live with their area (`users.rs` pages
//! `/api/users` with bad limits, `systems.rs` hides other users' systems, …); here every route
//! gets the same treatment.

use didhub_server::data::{Digest, TABLES};
use didhub_server::db::{Id, Stmt};
use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::security::bad_tokens;
use crate::support::{Reply, TestApp, backends, id};
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// Audit entries other than records of refusals; any new one after a refused request is a
/// change.
const NON_REFUSAL_ENTRIES: &str = "SELECT COUNT(*) FROM audit_logs WHERE action NOT IN \
     ('auth.token_rejected', 'auth.login_failed', 'auth.rate_limited', \
     'auth.password_reset_failed', 'user.password_change_failed')";

/// Everything a refused request must leave alone.
#[derive(Debug, PartialEq)]
struct State {
    tables: Vec<(&'static str, Digest)>,
    audit_entries: i64,
}

async fn state(app: &TestApp) -> State {
    let mut tx = app.state.db.begin_read().await.unwrap();
    let mut tables = Vec::new();
    for &table in TABLES.iter().filter(|t| t.name != "audit_logs") {
        tables.push((table.name, Digest::of(table, &mut tx).await.unwrap()));
    }
    drop(tx);
    let audit_entries = app
        .state
        .db
        .conn()
        .fetch_int(Stmt::new(NON_REFUSAL_ENTRIES))
        .await
        .unwrap();
    State {
        tables,
        audit_entries,
    }
}

/// A refusal: a 4xx in the error shape with a reason, and nothing that should stay inside.
#[track_caller]
fn assert_refused(reply: &Reply, what: &str) {
    assert!(
        reply.status.is_client_error(),
        "{what}: {} {}",
        reply.status,
        reply.text
    );
    assert_clean(reply, what);
    let code = reply.body["code"].as_str().unwrap_or_default();
    let error = reply.body["error"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty() && !error.is_empty() && reply.body.as_object().unwrap().len() == 2,
        "{what}: not the error shape: {}",
        reply.text
    );
}

/// Words that only appear when internals leak: hashes, SQL and driver errors, panics.
pub const LEAKS: &[&str] = &[
    "$argon2",
    "password_hash",
    "sqlx",
    "SQLSTATE",
    "syntax error",
    "database error",
    "error returned from database",
    "panicked",
    "stack backtrace",
    "RUST_BACKTRACE",
    "/src/",
];

#[track_caller]
pub fn assert_clean(reply: &Reply, what: &str) {
    for leak in LEAKS {
        assert!(
            !reply.text.contains(leak),
            "{what}: the answer shows {leak:?}: {}",
            reply.text
        );
    }
}

/// Two approved users with one of everything, and an admin.
struct World {
    admin: String,
    admin_id: Id,
    robin: String,
    robin_id: Id,
    robin_system: Id,
    robin_alter: Id,
    robin_other_alter: Id,
    robin_group: Id,
    robin_subsystem: Id,
    sam: String,
    sam_system: Id,
    sam_alter: Id,
    sam_group: Id,
}

async fn world(app: &TestApp) -> World {
    let admin = app.admin_token().await;
    let admin_id = id(&app.get("/api/me", &admin).await.expect(StatusCode::OK));
    let (robin_id, robin) = app.approved_user("robin").await;
    let (_, sam) = app.approved_user("sam").await;
    let robin_system = app.system(&robin, "Robin's secret system").await;
    let robin_alter = app
        .alter(&robin, robin_system, "Robin's secret alter")
        .await;
    let robin_other_alter = app.alter(&robin, robin_system, "Another").await;
    let grouping = |path: &'static str, token: String, system: Id| async move {
        id(&app
            .post(
                path,
                &token,
                json!({ "system_id": system, "name": "Inner circle" }),
            )
            .await
            .expect(StatusCode::CREATED))
    };
    let robin_group = grouping("/api/groups", robin.clone(), robin_system).await;
    let robin_subsystem = grouping("/api/subsystems", robin.clone(), robin_system).await;
    app.post(
        &format!("/api/groups/{robin_group}/members"),
        &robin,
        json!({ "alter_id": robin_alter }),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        &format!("/api/alters/{robin_alter}/relationships"),
        &robin,
        json!({ "related_alter_id": robin_other_alter, "type": "partner" }),
    )
    .await
    .expect(StatusCode::CREATED);
    let sam_system = app.system(&sam, "Sam's").await;
    let sam_alter = app.alter(&sam, sam_system, "Sam's alter").await;
    let sam_group = grouping("/api/groups", sam.clone(), sam_system).await;
    World {
        admin,
        admin_id,
        robin,
        robin_id,
        robin_system,
        robin_alter,
        robin_other_alter,
        robin_group,
        robin_subsystem,
        sam,
        sam_system,
        sam_alter,
        sam_group,
    }
}

/// Every operation the OpenAPI document says checks a token (so a new route is attacked without
/// being listed here), its path parameters filled in as the document describes them (the first
/// value of an enum, an id otherwise) and `{}` as its body where it takes one: a token is checked
/// before anything else is.
fn secured_operations(doc: &Value) -> Vec<(Method, String, Option<Value>)> {
    let mut operations = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("security").is_none() {
                continue;
            }
            let mut path = template.clone();
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] != "path" {
                    continue;
                }
                let schema = &parameter["schema"];
                let value = match schema["enum"].as_array() {
                    Some(values) => values[0].as_str().unwrap().to_owned(),
                    None if schema["format"] == "uuid" => Id::new().to_string(),
                    None => "instance.name".to_owned(),
                };
                let name = parameter["name"].as_str().unwrap();
                path = path.replace(&format!("{{{name}}}"), &value);
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = operation.get("requestBody").map(|_| json!({}));
            operations.push((method, path, body));
        }
    }
    operations
}

/// The write operations the document has that [`writes`] attacks with another user's ids: all
/// of them but these, which name no one else's rows.
const NOT_ANOTHER_USERS: &[&str] = &[
    "POST /api/auth/register",
    "POST /api/auth/login",
    "POST /api/auth/refresh",
    "POST /api/auth/password-reset/request",
    "POST /api/auth/password-reset/verify",
    "POST /api/auth/password-reset/consume",
    "POST /api/admin/backup",
];

/// Every route that writes, with a body that would be accepted from the right caller.
fn writes(w: &World) -> Vec<(Method, String, Option<Value>)> {
    let sys = w.robin_system;
    let alter = w.robin_alter;
    let group = w.robin_group;
    vec![
        (
            Method::POST,
            "/api/systems".into(),
            Some(json!({ "name": "New" })),
        ),
        (
            Method::PUT,
            format!("/api/systems/{sys}"),
            Some(json!({ "name": "Stolen" })),
        ),
        (Method::DELETE, format!("/api/systems/{sys}"), None),
        (
            Method::POST,
            "/api/alters".into(),
            Some(json!({ "system_id": sys, "name": "Planted" })),
        ),
        (
            Method::PUT,
            format!("/api/alters/{alter}"),
            Some(json!({ "name": "Stolen" })),
        ),
        (Method::DELETE, format!("/api/alters/{alter}"), None),
        (
            Method::POST,
            "/api/groups".into(),
            Some(json!({ "system_id": sys, "name": "Planted" })),
        ),
        (
            Method::PUT,
            format!("/api/groups/{group}"),
            Some(json!({ "name": "Stolen" })),
        ),
        (Method::DELETE, format!("/api/groups/{group}"), None),
        (
            Method::POST,
            format!("/api/groups/{group}/members"),
            Some(json!({ "alter_id": w.robin_other_alter })),
        ),
        (
            Method::DELETE,
            format!("/api/groups/{group}/members/{alter}"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/subsystems/{}", w.robin_subsystem),
            Some(json!({ "name": "Stolen" })),
        ),
        (
            Method::POST,
            "/api/subsystems".into(),
            Some(json!({ "system_id": w.robin_system, "name": "Planted" })),
        ),
        (
            Method::POST,
            format!("/api/subsystems/{}/members", w.robin_subsystem),
            Some(json!({ "alter_id": alter })),
        ),
        (
            Method::DELETE,
            format!("/api/subsystems/{}/members/{alter}", w.robin_subsystem),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/subsystems/{}", w.robin_subsystem),
            None,
        ),
        (
            Method::POST,
            format!("/api/system-requests/{}/decide", Id::new()),
            Some(json!({ "approve": true })),
        ),
        (
            Method::POST,
            format!("/api/alters/{alter}/relationships"),
            Some(json!({ "related_alter_id": w.robin_other_alter, "type": "parent" })),
        ),
        (
            Method::DELETE,
            format!(
                "/api/alters/{alter}/relationships/{}/partner",
                w.robin_other_alter
            ),
            None,
        ),
        (
            Method::PUT,
            format!("/api/users/{}", w.robin_id),
            Some(json!({ "is_admin": true })),
        ),
        (Method::DELETE, format!("/api/users/{}", w.robin_id), None),
        (
            Method::POST,
            "/api/users".into(),
            Some(json!({ "username": "planted", "password": "a-long-passphrase" })),
        ),
        (
            Method::POST,
            format!("/api/users/{}/password-reset", w.robin_id),
            None,
        ),
        (
            Method::PUT,
            "/api/settings/registration.enabled".into(),
            Some(json!({ "value": false })),
        ),
        (
            Method::PUT,
            "/api/settings".into(),
            Some(json!({ "instance.name": "Taken" })),
        ),
        (
            Method::POST,
            "/api/audit/purge".into(),
            Some(json!({ "before": "2100-01-01T00:00:00Z" })),
        ),
        (
            Method::POST,
            "/api/admin/restore".into(),
            Some(json!({ "format": "didhub-backup/1" })),
        ),
        (
            Method::POST,
            "/api/me/password".into(),
            Some(json!({ "current_password": "x", "new_password": "a-long-passphrase" })),
        ),
        (
            Method::POST,
            "/api/me/request-system".into(),
            Some(json!({ "note": "please" })),
        ),
    ]
}

/// Routes that read, for the same treatment.
fn reads(w: &World) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/me".into(), None),
        (Method::GET, "/api/users".into(), None),
        (Method::GET, format!("/api/users/{}", w.robin_id), None),
        (Method::GET, "/api/systems".into(), None),
        (Method::GET, format!("/api/alters/{}", w.robin_alter), None),
        (Method::GET, "/api/alters/search?q=secret".into(), None),
        (Method::GET, "/api/audit".into(), None),
        (Method::POST, "/api/admin/backup".into(), None),
        (Method::POST, "/api/auth/refresh".into(), None),
    ]
}

/// Strings that would change a query's meaning if they were ever spliced into SQL.
const SQL_METACHARACTERS: &[&str] = &[
    "'; DROP TABLE users; --",
    "\" OR \"1\"=\"1",
    "' OR '1'='1' --",
    "Robert'); DELETE FROM alters WHERE ('1'='1",
    "') UNION SELECT password_hash FROM users --",
    "1; UPDATE users SET is_admin = 1",
    "%_!\\%\\_[a-z]^$",
    "`x` \\' \\\" \\\\ \\0 ;",
    "$1 ? :name @p1 ?1 %s {}",
    "/* */ -- # \u{202e}ünï🦊",
];

#[apply(backends)]
#[tokio::test]
async fn forged_and_expired_tokens_open_nothing_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let w = world(&app).await;
    // Forged for the admin: the most valuable account to impersonate.
    let bad = bad_tokens(&app, w.admin_id, &w.admin);
    let before = state(&app).await;
    let secured = secured_operations(&app.openapi().await);
    assert!(
        secured.len() > 40,
        "the document's secured operations: {}",
        secured.len()
    );
    for (method, path, body) in secured.into_iter().chain(writes(&w)).chain(reads(&w)) {
        for (what, token, code) in &bad {
            let reply = app
                .call(method.clone(), &path, Some(token), body.clone())
                .await;
            assert_refused(&reply, &format!("{method} {path} with {what}"));
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {what}: {}",
                reply.text
            );
            assert_eq!(reply.body["code"], *code, "{method} {path} with {what}");
        }
    }
    assert_eq!(state(&app).await, before);

    // A deleted account's token is as dead as a forged one.
    let (gone, gone_token) = app.approved_user("gone").await;
    app.delete(&format!("/api/users/{gone}"), &w.admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    let before = state(&app).await;
    // (Restore is left out: its body is refused before the account is looked up.)
    for (method, path, body) in writes(&w)
        .into_iter()
        .filter(|(_, path, _)| path != "/api/admin/restore")
    {
        let reply = app
            .call(method.clone(), &path, Some(&gone_token), body)
            .await;
        assert_refused(&reply, &format!("{method} {path} by a deleted account"));
        assert_eq!(reply.body["code"], "unknown_user", "{method} {path}");
    }
    assert_eq!(state(&app).await, before);
}

#[apply(backends)]
#[tokio::test]
async fn another_users_ids_are_refused_everywhere_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let w = world(&app).await;
    let before = state(&app).await;
    let mut routes = writes(&w);
    // Not about Robin's ids: Sam's own password and requests, creating a system of Sam's
    // own, and restore (whose body is refused before anything else; see backup.rs).
    routes.retain(|(_, path, _)| {
        !path.starts_with("/api/me/") && path != "/api/systems" && path != "/api/admin/restore"
    });
    routes.extend(reads(&w).into_iter().filter(|(_, path, _)| {
        path.contains(&w.robin_id.to_string()) || path.contains(&w.robin_alter.to_string())
    }));
    // Robin's things mixed into Sam's.
    routes.extend([
        (
            Method::POST,
            format!("/api/groups/{}/members", w.sam_group),
            Some(json!({ "alter_id": w.robin_alter })),
        ),
        (
            Method::POST,
            format!("/api/alters/{}/relationships", w.sam_alter),
            Some(json!({ "related_alter_id": w.robin_alter, "type": "partner" })),
        ),
        (
            Method::GET,
            format!("/api/alters/{}/relationships", w.robin_alter),
            None,
        ),
        (
            Method::GET,
            format!("/api/groups/{}/members", w.robin_group),
            None,
        ),
        (
            Method::GET,
            format!("/api/subsystems/{}", w.robin_subsystem),
            None,
        ),
        (
            Method::GET,
            format!("/api/systems/{}", w.robin_system),
            None,
        ),
        (
            Method::GET,
            format!("/api/systems?user_id={}", w.robin_id),
            None,
        ),
    ]);
    // The control: Sam's token works on Sam's own things.
    app.get(&format!("/api/alters/{}", w.sam_alter), &w.sam)
        .await
        .expect(StatusCode::OK);
    for (method, path, body) in routes {
        let what = format!("sam: {method} {path}");
        let reply = app.call(method.clone(), &path, Some(&w.sam), body).await;
        assert_refused(&reply, &what);
        assert!(
            [
                StatusCode::FORBIDDEN,
                StatusCode::NOT_FOUND,
                StatusCode::UNPROCESSABLE_ENTITY
            ]
            .contains(&reply.status),
            "{what}: {} {}",
            reply.status,
            reply.text
        );
        assert!(
            !reply.text.contains("secret"),
            "{what} shows Robin's data: {}",
            reply.text
        );
    }
    assert_eq!(state(&app).await, before);
    // …and Robin still has everything.
    let page = app
        .get(
            &format!("/api/alters?system_id={}", w.robin_system),
            &w.robin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["total"], 2);
    assert_eq!(
        app.get(&format!("/api/systems/{}", w.sam_system), &w.sam)
            .await
            .expect(StatusCode::OK)["name"],
        "Sam's"
    );
}

#[apply(backends)]
#[tokio::test]
async fn sql_metacharacters_in_every_string_field_are_plain_text(backend: Backend) {
    let app = TestApp::start(backend).await;
    let w = world(&app).await;
    let token = &w.robin;
    for (i, text) in SQL_METACHARACTERS.iter().enumerate() {
        let named = format!("{text} {i}");
        let system = app
            .post(
                "/api/systems",
                token,
                json!({ "name": named, "description": text }),
            )
            .await
            .expect(StatusCode::CREATED);
        assert_eq!(
            (system["name"].as_str(), system["description"].as_str()),
            (Some(named.as_str()), Some(*text))
        );
        let system = id(&system);
        let fields = json!({
            "system_id": system, "name": named, "pronouns": text, "description": text,
            "age": text, "gender": text, "birthday": text, "species": text,
            "alter_type": text, "interests": [text, "tea"],
        });
        let alter = app
            .post("/api/alters", token, fields.clone())
            .await
            .expect(StatusCode::CREATED);
        for field in [
            "name",
            "pronouns",
            "description",
            "age",
            "gender",
            "birthday",
            "species",
            "alter_type",
            "interests",
        ] {
            assert_eq!(alter[field], fields[field], "{field} of {text:?}");
        }
        let alter = id(&alter);
        let updated = app
            .put(
                &format!("/api/alters/{alter}"),
                token,
                json!({ "description": named }),
            )
            .await
            .expect(StatusCode::OK);
        assert_eq!(updated["description"], named.as_str());
        for area in ["/api/groups", "/api/subsystems"] {
            let group = app
                .post(
                    area,
                    token,
                    json!({ "system_id": system, "name": named, "description": text }),
                )
                .await
                .expect(StatusCode::CREATED);
            assert_eq!(group["name"], named.as_str());
            let renamed = app
                .put(
                    &format!("{area}/{}", id(&group)),
                    token,
                    json!({ "name": text }),
                )
                .await
                .expect(StatusCode::OK);
            assert_eq!(renamed["name"], *text);
        }
        let setting = app
            .put(
                "/api/settings/instance.name",
                &w.admin,
                json!({ "value": text }),
            )
            .await
            .expect(StatusCode::OK);
        assert_eq!(setting["value"], *text);

        // As search text, filters and credentials: matched literally, or refused.
        let q = url_encode(text);
        let found = app
            .get(&format!("/api/alters/search?q={q}"), token)
            .await
            .expect(StatusCode::OK);
        assert!(found["total"].as_i64().unwrap() >= 1, "{text:?}: {found}");
        let lower = text.to_lowercase();
        let contains = |a: &Value, field: &str| {
            a[field]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains(&lower)
        };
        assert!(
            found["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| contains(a, "name") || contains(a, "description")),
            "{text:?}: {found}"
        );
        let prefixed = app
            .get(&format!("/api/alters?q={q}"), token)
            .await
            .expect(StatusCode::OK);
        assert_eq!(prefixed["total"], 1, "{text:?}: {prefixed}");
        assert_eq!(
            app.get(&format!("/api/users?q={q}"), &w.admin)
                .await
                .expect(StatusCode::OK)["total"],
            0
        );
        assert_eq!(
            app.get(&format!("/api/audit?action={q}"), &w.admin)
                .await
                .expect(StatusCode::OK)["total"],
            0
        );
        assert_refused(&app.login(text, text).await, text);
        let register = app
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({ "username": text, "password": "a-long-passphrase" })),
            )
            .await;
        assert_refused(&register, text);
        let reset = app
            .call(
                Method::POST,
                "/api/auth/password-reset/request",
                None,
                Some(json!({ "username": text })),
            )
            .await;
        assert_eq!(reset.status, StatusCode::ACCEPTED, "{}", reset.text);
    }
    app.post(
        "/api/me/request-system",
        &w.sam,
        json!({ "note": SQL_METACHARACTERS.concat() }),
    )
    .await
    .expect(StatusCode::CREATED);
    let requests = app
        .get("/api/system-requests", &w.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(requests["items"][0]["note"], SQL_METACHARACTERS.concat());

    // Every table is still there, with every row.
    let db = &app.state.db;
    let count = |table: &'static str| async move {
        let mut stmt = Stmt::new("SELECT COUNT(*) FROM ");
        stmt.push(table);
        db.conn().fetch_int(stmt).await.unwrap()
    };
    assert_eq!(count("users").await, 3);
    assert_eq!(count("systems").await, 2 + SQL_METACHARACTERS.len() as i64);
    assert_eq!(count("alters").await, 3 + SQL_METACHARACTERS.len() as i64);
}

#[apply(backends)]
#[tokio::test]
async fn malformed_json_bodies_are_400_on_every_route_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let w = world(&app).await;
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", b"{\"name\": ".to_vec()),
        ("an array", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("a string", b"\"name\"".to_vec()),
        ("a number", b"12".to_vec()),
        ("trailing garbage", b"{} {}".to_vec()),
        ("deep nesting", nested.into_bytes()),
        ("a number too large for any type", b"{\"name\": 1e400, \"system_id\": 1e400, \"value\": 1e400}".to_vec()),
        ("not UTF-8", b"{\"name\": \"\xff\xfe\"}".to_vec()),
        ("a comment", b"{/* */}".to_vec()),
        ("single quotes", b"{'name': 'x'}".to_vec()),
        // (poem-openapi reads a number as a string, so strings get arrays and objects here.)
        ("wrong types", br#"{"name": ["x"], "system_id": {"$ne": null}, "is_admin": [], "value": {}, "before": [1], "alter_id": 7, "related_alter_id": [], "type": 1, "username": ["u"], "password": {"p": 1}, "current_password": [], "new_password": null, "token": [], "note": {"n": 1}, "approve": [], "format": []}"#.to_vec()),
    ];
    let mut routes: Vec<(Method, String)> = writes(&w)
        .into_iter()
        .filter(|(_, _, body)| body.is_some())
        .map(|(method, path, _)| (method, path))
        .collect();
    routes.extend([
        (Method::POST, "/api/auth/register".to_owned()),
        (Method::POST, "/api/auth/login".to_owned()),
        (Method::POST, "/api/auth/password-reset/request".to_owned()),
        (Method::POST, "/api/auth/password-reset/verify".to_owned()),
        (Method::POST, "/api/auth/password-reset/consume".to_owned()),
        (
            Method::POST,
            "/api/system-requests/00000000-0000-0000-0000-000000000000/decide".to_owned(),
        ),
    ]);
    let before = state(&app).await;
    for (method, path) in &routes {
        // The admin may do everything, so only the body can be the reason for a refusal.
        for (what, bytes) in &bodies {
            let reply = app
                .raw(
                    method.clone(),
                    path,
                    Some(&w.admin),
                    Some(("application/json", bytes.clone())),
                )
                .await;
            let what = format!("{method} {path} with {what}");
            assert_refused(&reply, &what);
            assert!(
                [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&reply.status),
                "{what}: {} {}",
                reply.status,
                reply.text
            );
        }
    }
    assert_eq!(state(&app).await, before);
}

#[apply(backends)]
#[tokio::test]
async fn invalid_ids_in_every_path_are_400_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let w = world(&app).await;
    let long = "a".repeat(10_000);
    let invalid = [
        "not-a-uuid",
        "1",
        "-1",
        "1%20OR%201%3D1",
        "%27%3B%20DROP%20TABLE%20users%3B--",
        "00000000-0000-0000-0000-00000000000g",
        "%00",
        "%E2%80%AE",
        long.as_str(),
        ":id",
        "null",
    ];
    let alter = w.robin_alter;
    let before = state(&app).await;
    for bad in invalid {
        let routes = [
            (Method::GET, format!("/api/users/{bad}"), None),
            (
                Method::PUT,
                format!("/api/users/{bad}"),
                Some(json!({ "is_approved": true })),
            ),
            (Method::DELETE, format!("/api/users/{bad}"), None),
            (
                Method::POST,
                format!("/api/users/{bad}/password-reset"),
                None,
            ),
            (Method::GET, format!("/api/systems/{bad}"), None),
            (
                Method::PUT,
                format!("/api/systems/{bad}"),
                Some(json!({ "name": "x" })),
            ),
            (Method::DELETE, format!("/api/systems/{bad}"), None),
            (Method::GET, format!("/api/alters/{bad}"), None),
            (
                Method::PUT,
                format!("/api/alters/{bad}"),
                Some(json!({ "name": "x" })),
            ),
            (Method::DELETE, format!("/api/alters/{bad}"), None),
            (
                Method::GET,
                format!("/api/alters/{bad}/relationships"),
                None,
            ),
            (
                Method::POST,
                format!("/api/alters/{bad}/relationships"),
                Some(json!({ "related_alter_id": alter, "type": "partner" })),
            ),
            (
                Method::DELETE,
                format!("/api/alters/{bad}/relationships/{alter}/partner"),
                None,
            ),
            (
                Method::DELETE,
                format!("/api/alters/{alter}/relationships/{bad}/partner"),
                None,
            ),
            (
                Method::DELETE,
                format!(
                    "/api/alters/{alter}/relationships/{}/{bad}",
                    w.robin_other_alter
                ),
                None,
            ),
            (Method::GET, format!("/api/groups/{bad}"), None),
            (
                Method::PUT,
                format!("/api/groups/{bad}"),
                Some(json!({ "name": "x" })),
            ),
            (Method::DELETE, format!("/api/groups/{bad}"), None),
            (Method::GET, format!("/api/groups/{bad}/members"), None),
            (
                Method::POST,
                format!("/api/groups/{bad}/members"),
                Some(json!({ "alter_id": alter })),
            ),
            (
                Method::DELETE,
                format!("/api/groups/{}/members/{bad}", w.robin_group),
                None,
            ),
            (Method::GET, format!("/api/subsystems/{bad}"), None),
            (
                Method::DELETE,
                format!("/api/subsystems/{bad}/members/{alter}"),
                None,
            ),
            (
                Method::POST,
                format!("/api/system-requests/{bad}/decide"),
                Some(json!({ "approve": true })),
            ),
            (Method::GET, format!("/api/alters?system_id={bad}"), None),
            (Method::GET, format!("/api/systems?user_id={bad}"), None),
            (Method::GET, format!("/api/groups?system_id={bad}"), None),
            (Method::GET, format!("/api/audit?user_id={bad}"), None),
            (Method::GET, format!("/api/audit?from={bad}"), None),
            (
                Method::GET,
                format!("/api/system-requests?status={bad}"),
                None,
            ),
        ];
        for (method, path, body) in routes {
            let reply = app.call(method.clone(), &path, Some(&w.admin), body).await;
            let what = format!("{method} {}", &path[..path.len().min(120)]);
            assert_refused(&reply, &what);
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{what}: {}",
                reply.text
            );
        }
        // A setting key is a name, not an id: an unknown one is not found.
        let reply = app.get(&format!("/api/settings/{bad}"), &w.admin).await;
        assert_refused(&reply, &format!("setting {bad}"));
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    }
    assert_eq!(state(&app).await, before);
}

/// Regression: PostgreSQL cannot store NUL in text or JSON, and answered 500.
#[apply(backends)]
#[tokio::test]
async fn nul_characters_anywhere_are_refused_with_400_on_every_backend(backend: Backend) {
    let app = TestApp::start(backend).await;
    let w = world(&app).await;
    let token = &w.robin;
    let nul = "a\u{0}b";
    let q = url_encode(nul);
    let before = state(&app).await;
    let replies = [
        app.post("/api/systems", token, json!({ "name": nul, "description": nul })).await,
        app.post("/api/alters", token, json!({ "system_id": w.robin_system, "name": nul, "pronouns": nul, "interests": [nul] })).await,
        app.put(&format!("/api/alters/{}", w.robin_alter), token, json!({ "description": nul })).await,
        app.post("/api/groups", token, json!({ "system_id": w.robin_system, "name": nul })).await,
        app.put("/api/settings/instance.name", &w.admin, json!({ "value": nul })).await,
        app.post("/api/me/request-system", &w.sam, json!({ "note": nul })).await,
        app.get(&format!("/api/alters/search?q={q}"), token).await,
        app.get(&format!("/api/alters?q={q}"), token).await,
        app.get(&format!("/api/users?q={q}"), &w.admin).await,
        app.get(&format!("/api/audit?action={q}"), &w.admin).await,
        app.login(nul, "a-long-passphrase").await,
        app.call(Method::POST, "/api/auth/password-reset/request", None, Some(json!({ "username": nul }))).await,
        app.call(Method::POST, "/api/auth/password-reset/verify", None, Some(json!({ "token": nul }))).await,
        app.call(Method::POST, "/api/auth/register", None, Some(json!({ "username": "nully", "password": format!("{nul}-long-passphrase") }))).await,
    ];
    for reply in replies {
        assert_refused(&reply, "NUL");
        let message = reply.expect_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains("NUL"), "{message}");
    }
    assert_eq!(state(&app).await, before);
    // A backslash followed by the text "u0000" is just text.
    let text = "a\\u0000b";
    let system = app
        .post("/api/systems", token, json!({ "name": text }))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(system["name"], text);
}

#[apply(backends)]
#[tokio::test]
async fn huge_and_negative_paging_and_query_values_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let w = world(&app).await;
    let lists = [
        "/api/groups".to_owned(),
        "/api/subsystems".to_owned(),
        format!("/api/groups/{}/members", w.robin_group),
        format!("/api/alters/{}/relationships", w.robin_alter),
        "/api/me/request-system".to_owned(),
        "/api/system-requests".to_owned(),
        "/api/alters/search?q=a".to_owned(),
    ];
    // Close to the longest URI the HTTP layer takes (64 KiB).
    let huge = "x".repeat(60_000);
    for list in &lists {
        let sep = if list.contains('?') { '&' } else { '?' };
        for query in [
            "limit=-1",
            "limit=0",
            "limit=201",
            "limit=18446744073709551616",
            "limit=1e3",
            "offset=-1",
            "offset=9223372036854775808",
            "offset=1.5",
            "offset=0x10",
        ] {
            let reply = app.get(&format!("{list}{sep}{query}"), &w.admin).await;
            assert_refused(&reply, &format!("{list}{sep}{query}"));
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{list}{sep}{query}: {}",
                reply.text
            );
        }
        // The largest offset there is: an empty page, not an overflow.
        let page = app
            .get(
                &format!("{list}{sep}offset=9223372036854775807&limit=200"),
                &w.admin,
            )
            .await
            .expect(StatusCode::OK);
        assert_eq!(page["items"], json!([]), "{list}");
    }
    for path in [
        "/api/alters/search?q=",
        "/api/alters?q=",
        "/api/users?q=",
        "/api/audit?action=",
    ] {
        let reply = app.get(&format!("{path}{huge}"), &w.admin).await;
        assert_refused(&reply, path);
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.text
        );
    }
    let reply = app
        .get(&format!("/api/alters?{}", "q=a&".repeat(10_000)), &w.admin)
        .await;
    assert!(
        reply.status == StatusCode::OK || reply.status.is_client_error(),
        "{}",
        reply.text
    );
}

/// Percent-encodes everything but unreserved characters.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// [`writes`] is written by hand (each write needs a body its owner's call would pass), so the
/// document holds it to every write it has: a new write route fails here until it is listed.
#[tokio::test]
async fn every_documented_write_is_attacked() {
    let app = TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let w = world(&app).await;
    let doc = app.openapi().await;
    let templates: Vec<(String, regex::Regex)> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|t| {
            let pattern = regex::Regex::new(r"\{[^}]+\}")
                .unwrap()
                .replace_all(t, "[^/]+");
            (
                t.clone(),
                regex::Regex::new(&format!("^{pattern}$")).unwrap(),
            )
        })
        .collect();
    let attacked: std::collections::BTreeSet<String> = writes(&w)
        .into_iter()
        .map(|(method, path, _)| {
            let path = path.split('?').next().unwrap().to_owned();
            let matching: Vec<&String> = templates
                .iter()
                .filter(|(_, re)| re.is_match(&path))
                .map(|(t, _)| t)
                .collect();
            // The most literal template, as the router picks it.
            let template = matching
                .iter()
                .min_by_key(|t| t.matches('{').count())
                .unwrap_or_else(|| panic!("{path} is not a documented route"));
            format!("{method} {template}")
        })
        .collect();
    let mut missing = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let operation = format!("{} {template}", method.to_uppercase());
            let writes = ["post", "put", "patch", "delete"].contains(&method.as_str());
            if writes
                && !attacked.contains(&operation)
                && !NOT_ANOTHER_USERS.contains(&operation.as_str())
            {
                missing.push(operation);
            }
        }
    }
    assert!(missing.is_empty(), "writes() attacks none of {missing:?}");
}
