use didhub_server::db::Id;
use poem::http::StatusCode;
use serde_json::json;

use crate::support::{Reply, TestApp, backends, id, names};
use didhub_migrations::Backend;
use rstest_reuse::apply;

async fn search(app: &TestApp, token: &str, q: &str) -> Reply {
    app.get(&format!("/api/alters/search?q={q}"), token).await
}

#[apply(backends)]
#[tokio::test]
async fn alters_round_trip_every_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Mine").await;
    let sent = json!({
        "system_id": system, "name": "Ash", "pronouns": "they/them", "description": "keeps the garden",
        "age": "30s", "gender": "agender", "birthday": "03-14", "species": "human", "alter_type": "host",
        "interests": ["tea", " gardening ", ""], "is_host": true, "is_dormant": false
    });
    let created = app
        .post("/api/alters", &token, sent.clone())
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
        "is_host",
        "is_dormant",
    ] {
        assert_eq!(created[field], sent[field], "{field}");
    }
    assert_eq!(
        created["interests"],
        json!(["tea", "gardening"]),
        "interests are trimmed, blanks dropped"
    );
    assert_eq!(created["system_id"], system.to_string());
    let fetched = app
        .get(&format!("/api/alters/{}", id(&created)), &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(fetched, created);
}

#[apply(backends)]
#[tokio::test]
async fn alters_are_created_only_in_visible_systems(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, robin) = app.approved_user("robin").await;
    let (_, sam) = app.approved_user("sam").await;
    let robins = app.system(&robin, "Robin's").await;
    // The system the body names is not there for Sam: a rule of the body (422), not a
    // missing resource of the path; the same answer as for a system that does not exist.
    let hidden = app
        .post(
            "/api/alters",
            &sam,
            json!({ "system_id": robins, "name": "Intruder" }),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let missing = app
        .post(
            "/api/alters",
            &sam,
            json!({ "system_id": Id::new(), "name": "Intruder" }),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(hidden, missing);
    app.post(
        "/api/alters",
        &sam,
        json!({ "system_id": "not-a-uuid", "name": "X" }),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        app.get("/api/alters", &robin).await.expect(StatusCode::OK)["total"],
        0
    );
}

#[apply(backends)]
#[tokio::test]
async fn alter_input_is_validated(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Mine").await;
    let post = |extra: serde_json::Value| {
        let mut body = json!({ "system_id": system, "name": "Ash" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app.post("/api/alters", &token, body)
    };
    let blank = post(json!({ "name": "  " }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(blank, "\"name\": expected text that is not blank");
    post(json!({ "name": "x".repeat(201) }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    post(json!({ "pronouns": "x".repeat(101) }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    post(json!({ "interests": vec!["x"; 51] }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    post(json!({ "interests": ["x".repeat(101)] }))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    post(json!({ "is_host": "yes" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.post("/api/alters", &token, json!({ "name": "No system" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        app.get("/api/alters", &token).await.expect(StatusCode::OK)["total"],
        0
    );
}

#[apply(backends)]
#[tokio::test]
async fn the_list_filters_by_name_prefix_and_system_and_pages(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let garden = app.system(&token, "Garden").await;
    let orchard = app.system(&token, "Orchard").await;
    for name in ["Ash", "Aspen", "Birch", "ash-2"] {
        app.alter(&token, garden, name).await;
    }
    app.alter(&token, orchard, "Apple").await;

    let all = app.get("/api/alters", &token).await.expect(StatusCode::OK);
    assert_eq!(all["total"], 5);
    let prefix = app
        .get("/api/alters?q=as", &token)
        .await
        .expect(StatusCode::OK);
    let mut found = names(&prefix);
    found.sort();
    assert_eq!(
        found,
        ["Ash", "Aspen", "ash-2"],
        "prefix match, case-insensitive"
    );
    let upper = app
        .get("/api/alters?q=AS", &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(upper["total"], 3, "an upper-case prefix matches too");
    let wildcard = app
        .get("/api/alters?q=a_h", &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(wildcard["total"], 0, "_ in a prefix is literal");
    let in_orchard = app
        .get(&format!("/api/alters?system_id={orchard}"), &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&in_orchard), ["Apple"]);
    let both = app
        .get(&format!("/api/alters?system_id={garden}&q=b"), &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&both), ["Birch"]);

    let first = app
        .get("/api/alters?limit=2", &token)
        .await
        .expect(StatusCode::OK);
    let second = app
        .get("/api/alters?limit=2&offset=2", &token)
        .await
        .expect(StatusCode::OK);
    let third = app
        .get("/api/alters?limit=2&offset=4", &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (first["total"].as_i64(), second["total"].as_i64()),
        (Some(5), Some(5))
    );
    let mut paged: Vec<String> = [names(&first), names(&second), names(&third)].concat();
    assert_eq!(paged.len(), 5);
    paged.sort();
    paged.dedup();
    assert_eq!(paged.len(), 5, "pages neither overlap nor skip");
}

#[apply(backends)]
#[tokio::test]
async fn search_matches_text_anywhere_and_treats_wildcards_literally(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Mine").await;
    app.alter(&token, system, "Rowan").await;
    app.alter(&token, system, "Arrow").await;
    app.alter(&token, system, "100% Sure").await;
    app.alter(&token, system, "snake_case").await;
    let described = app
        .post(
            "/api/alters",
            &token,
            json!({ "system_id": system, "name": "Quiet", "description": "Likes ROWing" }),
        )
        .await
        .expect(StatusCode::CREATED);

    let mut found = names(&search(&app, &token, "row").await.expect(StatusCode::OK));
    found.sort();
    assert_eq!(found, ["Arrow", "Quiet", "Rowan"]);
    assert_eq!(
        names(&search(&app, &token, "0%25").await.expect(StatusCode::OK)),
        ["100% Sure"]
    );
    assert_eq!(
        names(&search(&app, &token, "e_c").await.expect(StatusCode::OK)),
        ["snake_case"]
    );
    assert_eq!(
        search(&app, &token, "%25").await.expect(StatusCode::OK)["total"],
        1
    );
    assert_eq!(
        search(&app, &token, "'%20OR%201=1%20--")
            .await
            .expect(StatusCode::OK)["total"],
        0
    );
    search(&app, &token, "")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    let blank = search(&app, &token, "%20%20")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        blank,
        "query parameter \"q\": expected text that is not blank"
    );
    app.get("/api/alters/search", &token)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    let _ = described;
}

#[apply(backends)]
#[tokio::test]
async fn updates_change_only_what_is_sent(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Mine").await;
    let created = app.post("/api/alters", &token, json!({ "system_id": system, "name": "Ash", "pronouns": "they/them", "interests": ["tea"] }))
        .await.expect(StatusCode::CREATED);
    let path = format!("/api/alters/{}", id(&created));
    let renamed = app
        .put(
            &path,
            &token,
            json!({ "name": "Ashley", "is_dormant": true }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (renamed["name"].as_str(), renamed["pronouns"].as_str()),
        (Some("Ashley"), Some("they/them"))
    );
    assert_eq!(
        (
            renamed["is_dormant"].as_bool(),
            renamed["interests"].clone()
        ),
        (Some(true), json!(["tea"]))
    );
    let cleared = app
        .put(&path, &token, json!({ "pronouns": null, "interests": [] }))
        .await
        .expect(StatusCode::OK);
    assert!(cleared["pronouns"].is_null());
    assert_eq!(cleared["interests"], json!([]));
    assert_eq!(cleared["name"], "Ashley");
    assert_eq!(
        app.get(&path, &token).await.expect(StatusCode::OK),
        cleared,
        "the answer is what was stored"
    );
    app.put(&path, &token, json!({ "name": " " }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        app.get(&path, &token).await.expect(StatusCode::OK)["name"],
        "Ashley"
    );
}

#[apply(backends)]
#[tokio::test]
async fn other_users_alters_are_invisible(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, robin) = app.approved_user("robin").await;
    let (_, sam) = app.approved_user("sam").await;
    let system = app.system(&robin, "Robin's").await;
    let alter = app.alter(&robin, system, "Ash").await;
    let path = format!("/api/alters/{alter}");
    app.get(&path, &sam)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.put(&path, &sam, json!({ "name": "Mine now" }))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&path, &sam)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.get("/api/alters", &sam).await.expect(StatusCode::OK)["total"],
        0
    );
    assert_eq!(
        app.get("/api/alters/search?q=ash", &sam)
            .await
            .expect(StatusCode::OK)["total"],
        0
    );
    assert_eq!(
        app.get(&format!("/api/alters?system_id={system}"), &sam)
            .await
            .expect(StatusCode::OK)["total"],
        0
    );
    assert_eq!(
        app.get(&path, &robin).await.expect(StatusCode::OK)["name"],
        "Ash"
    );
    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/api/alters", &admin).await.expect(StatusCode::OK)["total"],
        1,
        "admins see all"
    );
}

#[apply(backends)]
#[tokio::test]
async fn deleting_an_alter_removes_it_and_audits_it(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Mine").await;
    let alter = app.alter(&token, system, "Ash").await;
    app.delete(&format!("/api/alters/{alter}"), &token)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.get(&format!("/api/alters/{alter}"), &token)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&format!("/api/alters/{alter}"), &token)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let actions = app.audit_actions(&format!("user_id={robin}")).await;
    assert_eq!(&actions[..2], ["alter.delete", "alter.create"]);
}
