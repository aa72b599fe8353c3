use poem::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, backends, id};
use didhub_migrations::Backend;
use rstest_reuse::apply;

#[apply(backends)]
#[tokio::test]
async fn non_admins_are_refused_every_admin_route(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (me, token) = app.approved_user("robin").await;
    let user = format!("/api/users/{me}");
    for (method, path, body) in [
        (Method::GET, "/api/users", None),
        (
            Method::POST,
            "/api/users",
            Some(json!({ "username": "x1x", "password": "a-long-passphrase" })),
        ),
        (Method::GET, user.as_str(), None),
        (
            Method::PUT,
            user.as_str(),
            Some(json!({ "is_admin": true })),
        ),
        (Method::DELETE, user.as_str(), None),
        (Method::GET, "/api/audit", None),
        (
            Method::POST,
            "/api/audit/purge",
            Some(json!({ "before": "2030-01-01T00:00:00Z" })),
        ),
    ] {
        let reply = app.call(method.clone(), path, Some(&token), body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            reply.text
        );
        assert_eq!(reply.body["code"], "forbidden");
    }
    let me = app.get("/api/me", &token).await.expect(StatusCode::OK);
    assert_eq!(me["is_admin"], false, "the refused PUT changed nothing");
}

#[apply(backends)]
#[tokio::test]
async fn admins_page_through_users(backend: Backend) {
    let app = TestApp::start(backend).await;
    for name in ["ann", "bob", "cat", "dan"] {
        app.register(name).await;
    }
    let admin = app.admin_token().await;
    let page = app
        .get("/api/users?limit=2&offset=1", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["total"], 5);
    assert_eq!(
        (page["limit"].as_i64(), page["offset"].as_i64()),
        (Some(2), Some(1))
    );
    let usernames: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(usernames, ["bob", "cat"]);
    let past_end = app
        .get("/api/users?offset=50", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(past_end["items"], json!([]));
    assert_eq!(past_end["total"], 5);
    let admins = app
        .get("/api/users?is_admin=true", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(admins["total"], 1);
    assert_eq!(admins["items"][0]["username"], crate::support::ADMIN);
    let others = app
        .get("/api/users?is_admin=false", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(others["total"], 4);
    app.get("/api/users?is_admin=maybe", &admin)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    let filtered = app
        .get("/api/users?q=D", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(filtered["total"], 1);
    assert_eq!(filtered["items"][0]["username"], "dan");
}

#[apply(backends)]
#[tokio::test]
async fn paging_parameters_out_of_bounds_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    for query in [
        "limit=0",
        "limit=201",
        "offset=-1",
        "limit=ten",
        "limit=99999999999999999999",
    ] {
        for path in ["/api/users", "/api/systems", "/api/alters", "/api/audit"] {
            let reply = app.get(&format!("{path}?{query}"), &admin).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{path}?{query}: {}",
                reply.text
            );
            assert_eq!(reply.body["code"], "bad_request");
        }
    }
    app.get("/api/users?limit=200&offset=0", &admin)
        .await
        .expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn admins_create_approved_accounts(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let user = app.post("/api/users", &admin, json!({ "username": "Kim", "password": "a-long-passphrase", "email": "kim@example.org" }))
        .await.expect(StatusCode::CREATED);
    assert_eq!(
        (user["username"].as_str(), user["is_approved"].as_bool()),
        (Some("kim"), Some(true))
    );
    assert_eq!(user["email"], "kim@example.org");
    app.post(
        "/api/users",
        &admin,
        json!({ "username": "kim", "password": "a-long-passphrase" }),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");
    app.post(
        "/api/users",
        &admin,
        json!({ "username": "lee", "password": "a-long-passphrase", "email": "x".repeat(256) }),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[apply(backends)]
#[tokio::test]
async fn admins_read_and_change_accounts(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let robin = app.register("robin").await;
    let path = format!("/api/users/{robin}");
    let user = app.get(&path, &admin).await.expect(StatusCode::OK);
    assert_eq!(user["username"], "robin");

    let changed = app
        .put(
            &path,
            &admin,
            json!({ "is_approved": true, "email": "r@example.org" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (changed["is_approved"].as_bool(), changed["email"].as_str()),
        (Some(true), Some("r@example.org"))
    );
    let cleared = app
        .put(&path, &admin, json!({ "email": null }))
        .await
        .expect(StatusCode::OK);
    assert!(cleared["email"].is_null());
    assert_eq!(
        cleared["is_approved"], true,
        "absent fields stay as they are"
    );

    app.put(&path, &admin, json!({ "password": "short" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.put(&path, &admin, json!({ "password": "robin-robin-robin" }))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.put(&path, &admin, json!({ "password": "reset-by-the-admin" }))
        .await
        .expect(StatusCode::OK);
    app.login("robin", "reset-by-the-admin")
        .await
        .expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn unknown_and_malformed_user_ids(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let missing = didhub_server::db::Id::new();
    app.get(&format!("/api/users/{missing}"), &admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.put(
        &format!("/api/users/{missing}"),
        &admin,
        json!({ "is_admin": true }),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&format!("/api/users/{missing}"), &admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/users/not-a-uuid", &admin)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[apply(backends)]
#[tokio::test]
async fn admins_cannot_demote_or_delete_themselves(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let me = id(&app.get("/api/me", &admin).await.expect(StatusCode::OK));
    app.put(
        &format!("/api/users/{me}"),
        &admin,
        json!({ "is_admin": false }),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");
    app.delete(&format!("/api/users/{me}"), &admin)
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    app.get("/api/me", &admin).await.expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn deleting_a_user_deletes_their_systems_and_alters_but_keeps_the_audit(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Mine").await;
    let alter = app.alter(&token, system, "Ash").await;
    let admin = app.admin_token().await;
    app.delete(&format!("/api/users/{robin}"), &admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.get(&format!("/api/systems/{system}"), &admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/api/alters/{alter}"), &admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let created = app
        .get("/api/audit?action=alter.create", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(created["total"], 1, "audit entries outlive their user");
    assert!(
        created["items"][0]["user_id"].is_null(),
        "…with the user set to null"
    );
    app.delete(&format!("/api/users/{robin}"), &admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

/// An administrator can require an account to change its password (`must_change_password`):
/// until it does, every operation but reading the account, refreshing the token and changing
/// the password answers 403 `password_change_required`; the change lifts it. An administrator
/// cannot require it of themselves (409).
#[apply(backends)]
#[tokio::test]
async fn an_account_that_must_change_its_password_can_do_nothing_else_first(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let (robin, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    app.put(
        &format!("/api/users/{robin}"),
        &admin,
        json!({ "must_change_password": true }),
    )
    .await
    .expect(StatusCode::OK);

    let password = crate::support::password_of("robin");
    let token = app.login("robin", &password).await.expect(StatusCode::OK)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path) in [
        (Method::GET, "/api/systems".to_owned()),
        (Method::GET, format!("/api/systems/{system}")),
        (Method::GET, "/api/alters".to_owned()),
        (Method::DELETE, format!("/api/systems/{system}")),
    ] {
        let message = app
            .call(method.clone(), &path, Some(&token), None)
            .await
            .expect_error(StatusCode::FORBIDDEN, "password_change_required");
        assert!(
            message.contains("/api/me/password"),
            "{method} {path}: {message}"
        );
    }
    let me = app.get("/api/me", &token).await.expect(StatusCode::OK);
    assert_eq!(me["must_change_password"], true);
    let refreshed = app
        .call(Method::POST, "/api/auth/refresh", Some(&token), None)
        .await
        .expect(StatusCode::OK);
    let token = refreshed["token"].as_str().unwrap().to_owned();

    app.post(
        "/api/me/password",
        &token,
        json!({ "current_password": password, "new_password": "a-new-passphrase" }),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let token = app
        .login("robin", "a-new-passphrase")
        .await
        .expect(StatusCode::OK)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/api/me", &token).await.expect(StatusCode::OK)["must_change_password"],
        false
    );
    app.get(&format!("/api/systems/{system}"), &token)
        .await
        .expect(StatusCode::OK);

    let root = app.get("/api/me", &admin).await.expect(StatusCode::OK);
    app.put(
        &format!("/api/users/{}", root["id"].as_str().unwrap()),
        &admin,
        json!({ "must_change_password": true }),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");
    app.get("/api/users", &admin).await.expect(StatusCode::OK);
}
