use poem::http::StatusCode;
use serde_json::json;

use crate::support::{TestApp, backends, id, names};
use didhub_migrations::Backend;
use rstest_reuse::apply;

#[apply(backends)]
#[tokio::test]
async fn unapproved_accounts_cannot_create_systems(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.register("robin").await;
    let token = app.token_of("robin").await;
    let message = app
        .post("/api/systems", &token, json!({ "name": "Mine" }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("approved"), "{message}");
    let page = app.get("/api/systems", &token).await.expect(StatusCode::OK);
    assert_eq!(page["total"], 0, "nothing was created");
}

#[apply(backends)]
#[tokio::test]
async fn owners_create_read_update_and_delete_their_systems(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, token) = app.approved_user("robin").await;
    let created = app
        .post(
            "/api/systems",
            &token,
            json!({ "name": " Garden ", "description": "home" }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        (created["name"].as_str(), created["description"].as_str()),
        (Some("Garden"), Some("home"))
    );
    assert_eq!(created["user_id"], robin.to_string());
    let path = format!("/api/systems/{}", id(&created));
    assert_eq!(app.get(&path, &token).await.expect(StatusCode::OK), created);

    let renamed = app
        .put(&path, &token, json!({ "name": "Orchard" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (renamed["name"].as_str(), renamed["description"].as_str()),
        (Some("Orchard"), Some("home"))
    );
    let cleared = app
        .put(&path, &token, json!({ "description": null }))
        .await
        .expect(StatusCode::OK);
    assert!(cleared["description"].is_null());

    app.delete(&path, &token)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.get(&path, &token)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.audit_actions(&format!("user_id={robin}")).await,
        [
            "system.delete",
            "system.update",
            "system.update",
            "system.create",
            "auth.login",
            "auth.register"
        ]
    );
}

#[apply(backends)]
#[tokio::test]
async fn system_input_is_validated(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    app.post("/api/systems", &token, json!({ "name": "   " }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.post("/api/systems", &token, json!({ "name": "" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.post("/api/systems", &token, json!({ "name": "x".repeat(201) }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.post("/api/systems", &token, json!({ "description": "no name" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    let system = app.system(&token, "Mine").await;
    app.put(
        &format!("/api/systems/{system}"),
        &token,
        json!({ "name": "" }),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[apply(backends)]
#[tokio::test]
async fn users_see_only_their_own_systems_and_admins_see_all(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, robin_token) = app.approved_user("robin").await;
    let (_, sam_token) = app.approved_user("sam").await;
    let robins = app.system(&robin_token, "Robin's").await;
    app.system(&sam_token, "Sam's").await;

    assert_eq!(
        names(
            &app.get("/api/systems", &robin_token)
                .await
                .expect(StatusCode::OK)
        ),
        ["Robin's"]
    );
    assert_eq!(
        names(
            &app.get("/api/systems", &sam_token)
                .await
                .expect(StatusCode::OK)
        ),
        ["Sam's"]
    );
    app.get(&format!("/api/systems?user_id={robin}"), &sam_token)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    let path = format!("/api/systems/{robins}");
    app.get(&path, &sam_token)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.put(&path, &sam_token, json!({ "name": "Stolen" }))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&path, &sam_token)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.get(&path, &robin_token).await.expect(StatusCode::OK)["name"],
        "Robin's"
    );

    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/api/systems", &admin).await.expect(StatusCode::OK)["total"],
        2
    );
    assert_eq!(
        names(
            &app.get(&format!("/api/systems?user_id={robin}"), &admin)
                .await
                .expect(StatusCode::OK)
        ),
        ["Robin's"]
    );
    app.put(&path, &admin, json!({ "name": "Moderated" }))
        .await
        .expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn systems_page_in_creation_order(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    for name in ["one", "two", "three"] {
        app.system(&token, name).await;
    }
    let page = app
        .get("/api/systems?limit=2&offset=1", &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&page), ["two", "three"]);
    assert_eq!(page["total"], 3);
}

#[apply(backends)]
#[tokio::test]
async fn deleting_a_system_deletes_its_alters(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Mine").await;
    let alter = app.alter(&token, system, "Ash").await;
    app.delete(&format!("/api/systems/{system}"), &token)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.get(&format!("/api/alters/{alter}"), &token)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.get("/api/alters", &token).await.expect(StatusCode::OK)["total"],
        0
    );
}
