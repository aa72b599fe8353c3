use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, backends, password_of};
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// Every setting's default, as `GET /api/settings` shows it before anything is stored.
fn defaults() -> Value {
    json!({
        "audit.retention_days": null,
        "instance.name": "DIDHub",
        "password_reset.token_ttl_minutes": 60,
        "registration.enabled": true,
        "registration.require_approval": true,
    })
}

#[apply(backends)]
#[tokio::test]
async fn settings_are_for_administrators_only(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let one = "/api/settings/instance.name";
    for (method, path, body) in [
        (Method::GET, "/api/settings", None),
        (
            Method::PUT,
            "/api/settings",
            Some(json!({ "instance.name": "Mine" })),
        ),
        (Method::GET, one, None),
        (Method::PUT, one, Some(json!({ "value": "Mine" }))),
    ] {
        let anonymous = app.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            anonymous.text
        );
        let user = app.call(method.clone(), path, Some(&token), body).await;
        assert_eq!(
            user.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            user.text
        );
        assert_eq!(user.body["code"], "forbidden");
    }
    let admin = app.admin_token().await;
    let all = app
        .get("/api/settings", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        all["instance.name"], "DIDHub",
        "the refused PUTs changed nothing"
    );
}

#[apply(backends)]
#[tokio::test]
async fn all_settings_are_stored_values_over_defaults(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/api/settings", &admin)
            .await
            .expect(StatusCode::OK),
        defaults()
    );
    app.put(
        "/api/settings/instance.name",
        &admin,
        json!({ "value": "Garden" }),
    )
    .await
    .expect(StatusCode::OK);
    let mut expected = defaults();
    expected["instance.name"] = json!("Garden");
    assert_eq!(
        app.get("/api/settings", &admin)
            .await
            .expect(StatusCode::OK),
        expected
    );
}

#[apply(backends)]
#[tokio::test]
async fn one_setting_reads_with_its_default_type_and_rules(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let ttl = app
        .get("/api/settings/password_reset.token_ttl_minutes", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ttl["key"], "password_reset.token_ttl_minutes");
    assert_eq!(
        (ttl["value"].as_i64(), ttl["default"].as_i64()),
        (Some(60), Some(60))
    );
    assert_eq!(ttl["type"], "integer");
    assert_eq!(ttl["expects"], "an integer from 5 to 1440");
    assert!(
        ttl["description"].as_str().unwrap().contains("reset token"),
        "{ttl}"
    );
    assert!(ttl["updated_at"].is_null(), "nothing stored yet: {ttl}");

    let set = app
        .put(
            "/api/settings/password_reset.token_ttl_minutes",
            &admin,
            json!({ "value": 15 }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (set["value"].as_i64(), set["default"].as_i64()),
        (Some(15), Some(60))
    );
    assert!(set["updated_at"].is_string(), "{set}");
    let read = app
        .get("/api/settings/password_reset.token_ttl_minutes", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read, set);
}

#[apply(backends)]
#[tokio::test]
async fn unknown_keys_are_404_by_path_and_400_in_bulk_naming_the_key(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let message = app
        .get("/api/settings/instance.colour", &admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert!(
        message.contains("\"instance.colour\"") && message.contains("instance.name"),
        "{message}"
    );
    let message = app
        .put(
            "/api/settings/instance.colour",
            &admin,
            json!({ "value": "red" }),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert!(message.contains("instance.colour"), "{message}");
    // The document names every key of the map: another is not what it describes.
    let message = app
        .put("/api/settings", &admin, json!({ "instance.colour": "red" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(message, "\"instance.colour\": unknown field");
}

/// One key: its value is a scalar in the document, so a list or an object is 400 and a
/// scalar its key does not take is 422 (the document cannot say which key takes which).
/// Several at once: the document gives each key its schema, so any of these is 400.
#[apply(backends)]
#[tokio::test]
async fn wrong_types_and_ranges_are_refused_naming_the_key_and_what_it_takes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    for (key, value, expects) in [
        (
            "instance.name",
            json!(""),
            "a string of 1 to 100 characters",
        ),
        (
            "instance.name",
            json!("   "),
            "a string of 1 to 100 characters",
        ),
        (
            "instance.name",
            json!("x".repeat(101)),
            "a string of 1 to 100 characters",
        ),
        (
            "instance.name",
            json!(42),
            "a string of 1 to 100 characters",
        ),
        (
            "instance.name",
            Value::Null,
            "a string of 1 to 100 characters",
        ),
        ("registration.enabled", json!("false"), "true or false"),
        ("registration.enabled", json!(0), "true or false"),
        (
            "registration.require_approval",
            json!([true]),
            "true or false",
        ),
        (
            "audit.retention_days",
            json!(0),
            "an integer from 1 to 36500, or null",
        ),
        (
            "audit.retention_days",
            json!(1.5),
            "an integer from 1 to 36500, or null",
        ),
        (
            "audit.retention_days",
            json!("30"),
            "an integer from 1 to 36500, or null",
        ),
        (
            "audit.retention_days",
            json!(36_501),
            "an integer from 1 to 36500, or null",
        ),
        (
            "password_reset.token_ttl_minutes",
            json!(4),
            "an integer from 5 to 1440",
        ),
        (
            "password_reset.token_ttl_minutes",
            json!(1441),
            "an integer from 5 to 1440",
        ),
        (
            "password_reset.token_ttl_minutes",
            Value::Null,
            "an integer from 5 to 1440",
        ),
        (
            "password_reset.token_ttl_minutes",
            json!({ "minutes": 10 }),
            "an integer from 5 to 1440",
        ),
    ] {
        let one = app
            .put(
                &format!("/api/settings/{key}"),
                &admin,
                json!({ "value": value }),
            )
            .await;
        if value.is_array() || value.is_object() {
            let message = one.expect_error(StatusCode::BAD_REQUEST, "bad_request");
            assert_eq!(
                message,
                "\"value\": expected a string, a number, true or false"
            );
        } else {
            let message = one.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert!(
                message.contains(key) && message.contains(expects),
                "{key} = {value}: {message}"
            );
        }
        let message = app
            .put("/api/settings", &admin, json!({ key: value }))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            message.starts_with(&format!("\"{key}\": expected")),
            "{key} = {value}: {message}"
        );
    }
    assert_eq!(
        app.get("/api/settings", &admin)
            .await
            .expect(StatusCode::OK),
        defaults()
    );
    assert!(app.audit_actions("action=setting.update").await.is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn malformed_setting_bodies_are_400(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let message = app
        .put("/api/settings/instance.name", &admin, json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("value"), "{message}");
    app.put("/api/settings", &admin, json!(["instance.name"]))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.raw(
        Method::PUT,
        "/api/settings",
        Some(&admin),
        Some(("application/json", b"{\"instance.name\":".to_vec())),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    let empty = app
        .put("/api/settings", &admin, json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(empty, "the body: expected at least one field");
}

#[apply(backends)]
#[tokio::test]
async fn values_are_normalised_and_null_means_forever_where_allowed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let name = app
        .put(
            "/api/settings/instance.name",
            &admin,
            json!({ "value": "  Garden  " }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(name["value"], "Garden");
    let days = app
        .put(
            "/api/settings/audit.retention_days",
            &admin,
            json!({ "value": 30 }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(days["value"], 30);
    let forever = app
        .put(
            "/api/settings/audit.retention_days",
            &admin,
            json!({ "value": null }),
        )
        .await
        .expect(StatusCode::OK);
    assert!(forever["value"].is_null(), "{forever}");
    assert!(
        forever["updated_at"].is_string(),
        "null is stored, not a return to the default: {forever}"
    );
    let all = app
        .get("/api/settings", &admin)
        .await
        .expect(StatusCode::OK);
    assert!(
        all.as_object()
            .unwrap()
            .contains_key("audit.retention_days")
            && all["audit.retention_days"].is_null(),
        "{all}"
    );
}

#[apply(backends)]
#[tokio::test]
async fn a_bulk_update_is_all_or_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let message = app
        .put(
            "/api/settings",
            &admin,
            json!({
                "instance.name": "Garden",
                "registration.enabled": "no",
                "audit.retention_days": 0,
            }),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        message.contains("registration.enabled") || message.contains("audit.retention_days"),
        "a problem is named: {message}"
    );
    assert!(
        !message.contains("instance.name"),
        "the valid key is not blamed: {message}"
    );
    assert_eq!(
        app.get("/api/settings", &admin)
            .await
            .expect(StatusCode::OK),
        defaults()
    );

    let all = app
        .put(
            "/api/settings",
            &admin,
            json!({
                "instance.name": "Garden",
                "registration.require_approval": false,
                "audit.retention_days": 90,
            }),
        )
        .await
        .expect(StatusCode::OK);
    let mut expected = defaults();
    expected["instance.name"] = json!("Garden");
    expected["registration.require_approval"] = json!(false);
    expected["audit.retention_days"] = json!(90);
    assert_eq!(all, expected);
    assert_eq!(
        app.get("/api/settings", &admin)
            .await
            .expect(StatusCode::OK),
        expected
    );
}

#[apply(backends)]
#[tokio::test]
async fn every_change_is_audited_with_the_old_and_new_value(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.put(
        "/api/settings",
        &admin,
        json!({ "instance.name": "Garden", "registration.enabled": false }),
    )
    .await
    .expect(StatusCode::OK);
    app.put(
        "/api/settings/instance.name",
        &admin,
        json!({ "value": "Orchard" }),
    )
    .await
    .expect(StatusCode::OK);
    let page = app
        .get("/api/audit?action=setting.update", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["total"], 3, "{page}");
    let mut changes: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["entity_type"], "setting");
            (
                e["entity_id"].as_str().unwrap().to_owned(),
                e["metadata"]["old"].clone(),
                e["metadata"]["new"].clone(),
            )
        })
        .collect();
    changes.sort_by_key(|(key, old, _)| (key.clone(), old.to_string()));
    assert_eq!(
        changes,
        [
            ("instance.name".to_owned(), json!("DIDHub"), json!("Garden")),
            (
                "instance.name".to_owned(),
                json!("Garden"),
                json!("Orchard")
            ),
            ("registration.enabled".to_owned(), json!(true), json!(false)),
        ]
    );
}

#[apply(backends)]
#[tokio::test]
async fn closed_registration_refuses_sign_ups_with_a_reason(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    app.put(
        "/api/settings/registration.enabled",
        &admin,
        json!({ "value": false }),
    )
    .await
    .expect(StatusCode::OK);
    let register = |username: &'static str| {
        app.call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({ "username": username, "password": password_of(username) })),
        )
    };
    let message = register("robin")
        .await
        .expect_error(StatusCode::FORBIDDEN, "registration_disabled");
    assert!(message.contains("registration"), "{message}");
    app.post(
        "/api/users",
        &admin,
        json!({ "username": "kim", "password": "a-long-passphrase" }),
    )
    .await
    .expect(StatusCode::CREATED);
    let page = app
        .get("/api/users?q=robin", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["total"], 0, "no account was created");

    app.put(
        "/api/settings/registration.enabled",
        &admin,
        json!({ "value": true }),
    )
    .await
    .expect(StatusCode::OK);
    register("robin").await.expect(StatusCode::CREATED);
}

#[apply(backends)]
#[tokio::test]
async fn registration_without_approval_creates_approved_accounts(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let before = app
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({ "username": "robin", "password": password_of("robin") })),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(before["is_approved"], false);
    app.put(
        "/api/settings/registration.require_approval",
        &admin,
        json!({ "value": false }),
    )
    .await
    .expect(StatusCode::OK);
    let after = app
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({ "username": "kim", "password": password_of("kim") })),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(after["is_approved"], true);
    let token = app.token_of("kim").await;
    app.post("/api/systems", &token, json!({ "name": "Kim's" }))
        .await
        .expect(StatusCode::CREATED);
}

#[apply(backends)]
#[tokio::test]
async fn the_openapi_document_lists_settings_and_password_reset(backend: Backend) {
    let app = TestApp::start(backend).await;
    let doc = app.openapi().await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/settings", "get"),
        ("/api/settings", "put"),
        ("/api/settings/{key}", "get"),
        ("/api/settings/{key}", "put"),
        ("/api/auth/password-reset/request", "post"),
        ("/api/auth/password-reset/verify", "post"),
        ("/api/auth/password-reset/consume", "post"),
        ("/api/users/{id}/password-reset", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let tags: Vec<_> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"Settings") && tags.contains(&"PasswordReset"),
        "{tags:?}"
    );
}
