use didhub_server::db::Id;
use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, backends, id};
use didhub_migrations::Backend;
use rstest_reuse::apply;

const MINE: &str = "/api/me/request-system";

async fn request(app: &TestApp, token: &str, note: &str) -> Value {
    app.post(MINE, token, json!({ "note": note }))
        .await
        .expect(StatusCode::CREATED)
}

fn decide_path(request: Id) -> String {
    format!("/api/system-requests/{request}/decide")
}

/// `(status, note)` of each request on a page, in order.
fn statuses(page: &Value) -> Vec<(String, Option<String>)> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap().to_owned(),
                r["note"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn owned(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    list.iter()
        .map(|(s, n)| (s.to_string(), n.map(str::to_owned)))
        .collect()
}

#[apply(backends)]
#[tokio::test]
async fn a_user_asks_once_at_a_time_and_sees_their_requests_newest_first(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let token = app.token_of("robin").await;
    let created = request(&app, &token, "  we are a system  ").await;
    assert_eq!(
        (created["status"].as_str(), created["note"].as_str()),
        (Some("pending"), Some("we are a system"))
    );
    assert_eq!(
        (created["user_id"].as_str(), created["username"].as_str()),
        (Some(robin.to_string().as_str()), Some("robin"))
    );
    assert!(created["decided_by"].is_null() && created["decided_at"].is_null());

    let message = app
        .post(MINE, &token, json!({ "note": "again" }))
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    assert!(message.contains("waiting"), "{message}");

    let admin = app.admin_token().await;
    app.post(
        &decide_path(id(&created)),
        &admin,
        json!({ "approve": false }),
    )
    .await
    .expect(StatusCode::OK);
    let second = app
        .post(MINE, &token, json!({}))
        .await
        .expect(StatusCode::CREATED);
    assert!(second["note"].is_null(), "no note is fine");

    let mine = app.get(MINE, &token).await.expect(StatusCode::OK);
    assert_eq!(
        statuses(&mine),
        owned(&[("pending", None), ("rejected", Some("we are a system"))])
    );
    assert_eq!(mine["total"], 2);
    let (_, sam) = app.approved_user("sam").await;
    assert_eq!(
        app.get(MINE, &sam).await.expect(StatusCode::OK)["total"],
        0,
        "only the caller's own"
    );
}

#[apply(backends)]
#[tokio::test]
async fn approval_grants_system_rights_with_the_decision(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let token = app.token_of("robin").await;
    app.post("/api/systems", &token, json!({ "name": "Mine" }))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let pending = request(&app, &token, "please").await;

    let (admin_id, admin) = {
        let body = app
            .login(crate::support::ADMIN, crate::support::ADMIN_PASSWORD)
            .await
            .expect(StatusCode::OK);
        (
            body["user"]["id"].as_str().unwrap().to_owned(),
            body["token"].as_str().unwrap().to_owned(),
        )
    };
    let decided = app
        .post(
            &decide_path(id(&pending)),
            &admin,
            json!({ "approve": true, "note": "welcome" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (decided["status"].as_str(), decided["decided_by"].as_str()),
        (Some("approved"), Some(admin_id.as_str()))
    );
    assert!(decided["decided_at"].is_string());
    assert_eq!(decided["note"], "please", "the requester's note is kept");

    let me = app.get("/api/me", &token).await.expect(StatusCode::OK);
    assert_eq!(
        (me["is_system"].as_bool(), me["is_approved"].as_bool()),
        (Some(true), Some(true))
    );
    app.system(&token, "Mine").await;

    let message = app
        .post(MINE, &token, json!({ "note": "more" }))
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    assert!(message.contains("already has system rights"), "{message}");
    let message = app
        .post(
            &decide_path(id(&pending)),
            &admin,
            json!({ "approve": false }),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    assert!(message.contains("approved"), "{message}");
    assert_eq!(
        app.get("/api/me", &token).await.expect(StatusCode::OK)["is_system"],
        true,
        "still granted"
    );

    let audit = app
        .get(
            &format!("/api/audit?action=system_request.approve&user_id={admin_id}"),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(audit["total"], 1, "{audit}");
    let approval = &audit["items"][0];
    assert_eq!(
        approval["metadata"],
        json!({ "user_id": robin, "note": "welcome" })
    );
    assert_eq!(
        (&approval["entity_type"], &approval["entity_id"]),
        (&json!("system_request"), &pending["id"])
    );
    assert!(
        app.audit_actions(&format!("user_id={robin}"))
            .await
            .contains(&"system_request.create".to_owned())
    );
}

#[apply(backends)]
#[tokio::test]
async fn rejection_grants_nothing_and_a_decision_is_final(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.register("robin").await;
    let token = app.token_of("robin").await;
    let pending = request(&app, &token, "please").await;
    let admin = app.admin_token().await;
    let rejected = app
        .post(
            &decide_path(id(&pending)),
            &admin,
            json!({ "approve": false, "note": "not yet" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(rejected["status"], "rejected");
    let me = app.get("/api/me", &token).await.expect(StatusCode::OK);
    assert_eq!(
        (me["is_system"].as_bool(), me["is_approved"].as_bool()),
        (Some(false), Some(false))
    );

    let message = app
        .post(
            &decide_path(id(&pending)),
            &admin,
            json!({ "approve": true }),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    assert!(message.contains("rejected"), "{message}");
    assert_eq!(
        app.get("/api/me", &token).await.expect(StatusCode::OK)["is_system"],
        false,
        "a late approval changes nothing"
    );
    assert_eq!(
        app.audit_actions("action=system_request.approve")
            .await
            .len(),
        0
    );
    assert_eq!(
        app.audit_actions("action=system_request.reject")
            .await
            .len(),
        1
    );
}

#[apply(backends)]
#[tokio::test]
async fn administrators_list_requests_by_status_and_page(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let mut requests = Vec::new();
    for name in ["ann", "bob", "cat", "dan"] {
        app.register(name).await;
        let token = app.token_of(name).await;
        requests.push(id(&request(&app, &token, name).await));
    }
    app.post(
        &decide_path(requests[0]),
        &admin,
        json!({ "approve": true }),
    )
    .await
    .expect(StatusCode::OK);
    app.post(
        &decide_path(requests[1]),
        &admin,
        json!({ "approve": false }),
    )
    .await
    .expect(StatusCode::OK);

    let all = app
        .get("/api/system-requests", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(all["total"], 4);
    assert_eq!(
        statuses(&all),
        owned(&[
            ("pending", Some("dan")),
            ("pending", Some("cat")),
            ("rejected", Some("bob")),
            ("approved", Some("ann"))
        ])
    );
    let pending = app
        .get(
            "/api/system-requests?status=pending&limit=1&offset=1",
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (
            pending["total"].as_i64(),
            pending["limit"].as_i64(),
            pending["offset"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(statuses(&pending), owned(&[("pending", Some("cat"))]));
    assert_eq!(pending["items"][0]["username"], "cat");
    let approved = app
        .get("/api/system-requests?status=approved", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(statuses(&approved), owned(&[("approved", Some("ann"))]));

    app.get("/api/system-requests?status=maybe", &admin)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.get("/api/system-requests?limit=0", &admin)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.get("/api/system-requests?limit=201", &admin)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.get("/api/system-requests?offset=-1", &admin)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[apply(backends)]
#[tokio::test]
async fn only_administrators_list_and_decide(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.register("robin").await;
    let robin = app.token_of("robin").await;
    let pending = request(&app, &robin, "please").await;
    let (_, sam) = app.approved_user("sam").await;
    for token in [&robin, &sam] {
        app.get("/api/system-requests", token)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        app.post(
            &decide_path(id(&pending)),
            token,
            json!({ "approve": true }),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    for (method, path) in [
        (Method::GET, "/api/system-requests".to_owned()),
        (Method::GET, MINE.to_owned()),
        (Method::POST, MINE.to_owned()),
        (Method::POST, decide_path(id(&pending))),
    ] {
        app.call(method, &path, None, Some(json!({ "approve": true })))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let mine = app.get(MINE, &robin).await.expect(StatusCode::OK);
    assert_eq!(
        statuses(&mine),
        owned(&[("pending", Some("please"))]),
        "nobody decided"
    );
    assert_eq!(
        app.get("/api/me", &robin).await.expect(StatusCode::OK)["is_system"],
        false
    );
}

#[apply(backends)]
#[tokio::test]
async fn bad_decisions_and_notes_are_refused_with_a_reason(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.register("robin").await;
    let token = app.token_of("robin").await;
    app.post(MINE, &token, json!({ "note": "x".repeat(2001) }))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        app.get(MINE, &token).await.expect(StatusCode::OK)["total"],
        0
    );

    let pending = request(&app, &token, "please").await;
    let admin = app.admin_token().await;
    let path = decide_path(id(&pending));
    for body in [
        json!({}),
        json!({ "approve": "yes" }),
        json!({ "approve": true, "note": "x".repeat(2001) }),
    ] {
        app.post(&path, &admin, body)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let message = app
        .post(&decide_path(Id::new()), &admin, json!({ "approve": true }))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(message, "system request not found");
    app.post(
        "/api/system-requests/not-a-uuid/decide",
        &admin,
        json!({ "approve": true }),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(
        app.get(MINE, &token).await.expect(StatusCode::OK)["items"][0]["status"],
        "pending"
    );
}

#[apply(backends)]
#[tokio::test]
async fn requests_sent_at_once_leave_one_pending(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.register("robin").await;
    let token = app.token_of("robin").await;
    let send = || app.post(MINE, &token, json!({ "note": "hurry" }));
    let replies = tokio::join!(send(), send(), send(), send());
    let mut codes: Vec<u16> = [replies.0, replies.1, replies.2, replies.3]
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    codes.sort();
    assert_eq!(codes, [201, 409, 409, 409]);
    assert_eq!(
        app.get(MINE, &token).await.expect(StatusCode::OK)["total"],
        1
    );
}

#[apply(backends)]
#[tokio::test]
async fn deleting_a_user_deletes_their_requests(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let token = app.token_of("robin").await;
    request(&app, &token, "please").await;
    let admin = app.admin_token().await;
    app.delete(&format!("/api/users/{robin}"), &admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/system-requests", &admin)
            .await
            .expect(StatusCode::OK)["total"],
        0
    );
}
