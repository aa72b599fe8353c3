use didhub_server::db::{Id, Stmt, Timestamp};
use poem::http::StatusCode;
use serde_json::json;

use crate::support::{TestApp, backends};
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// `(type, other alter's name)` of each relationship the alter lists, in order.
async fn relations(app: &TestApp, token: &str, alter: Id) -> Vec<(String, String)> {
    let page = app
        .get(&format!("/api/alters/{alter}/relationships"), token)
        .await
        .expect(StatusCode::OK);
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(t, n)| (t.to_string(), n.to_string()))
        .collect()
}

async fn relate(
    app: &TestApp,
    token: &str,
    alter: Id,
    related: Id,
    kind: &str,
) -> crate::support::Reply {
    app.post(
        &format!("/api/alters/{alter}/relationships"),
        token,
        json!({ "related_alter_id": related, "type": kind }),
    )
    .await
}

/// How many rows the table holds, whatever the API shows.
async fn stored_rows(app: &TestApp) -> i64 {
    app.state
        .db
        .conn()
        .fetch_int(Stmt::new("SELECT COUNT(*) FROM alter_relationships"))
        .await
        .unwrap()
}

#[apply(backends)]
#[tokio::test]
async fn partners_are_listed_from_both_sides(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    let birch = app.alter(&token, system, "Birch").await;
    let (smaller, larger) = (ash.min(birch), ash.max(birch));

    let created = relate(&app, &token, larger, smaller, "partner")
        .await
        .expect(StatusCode::CREATED);
    let smaller_name = if smaller == ash { "Ash" } else { "Birch" };
    assert_eq!(
        created,
        json!({ "type": "partner", "alter_id": smaller, "name": smaller_name })
    );
    assert_eq!(
        relations(&app, &token, ash).await,
        pairs(&[("partner", "Birch")])
    );
    assert_eq!(
        relations(&app, &token, birch).await,
        pairs(&[("partner", "Ash")])
    );
    assert_eq!(stored_rows(&app).await, 1, "one row for the partnership");
}

#[apply(backends)]
#[tokio::test]
async fn parent_and_child_are_one_relationship_seen_from_each_side(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    let oak = app.alter(&token, system, "Oak").await;
    let seed = app.alter(&token, system, "Seed").await;

    let created = relate(&app, &token, ash, oak, "parent")
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        created,
        json!({ "type": "parent", "alter_id": oak, "name": "Oak" })
    );
    relate(&app, &token, ash, seed, "child")
        .await
        .expect(StatusCode::CREATED);

    assert_eq!(
        relations(&app, &token, ash).await,
        pairs(&[("parent", "Oak"), ("child", "Seed")])
    );
    assert_eq!(
        relations(&app, &token, oak).await,
        pairs(&[("child", "Ash")])
    );
    assert_eq!(
        relations(&app, &token, seed).await,
        pairs(&[("parent", "Ash")])
    );
    assert_eq!(stored_rows(&app).await, 2);
}

#[apply(backends)]
#[tokio::test]
async fn a_relationship_exists_once_whichever_side_tells_it(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    let oak = app.alter(&token, system, "Oak").await;
    relate(&app, &token, ash, oak, "parent")
        .await
        .expect(StatusCode::CREATED);
    relate(&app, &token, ash, oak, "partner")
        .await
        .expect(StatusCode::CREATED);

    let message = relate(&app, &token, ash, oak, "parent")
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    assert!(message.contains("already exists"), "{message}");
    relate(&app, &token, oak, ash, "child")
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    relate(&app, &token, oak, ash, "partner")
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    relate(&app, &token, ash, oak, "partner")
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    let message = relate(&app, &token, oak, ash, "parent")
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    assert_eq!(message, "Ash is already Oak's child");
    relate(&app, &token, ash, oak, "child")
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");

    assert_eq!(
        relations(&app, &token, ash).await,
        pairs(&[("parent", "Oak"), ("partner", "Oak")])
    );
    assert_eq!(stored_rows(&app).await, 2);
}

#[apply(backends)]
#[tokio::test]
async fn requests_sent_at_once_store_a_relationship_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    let oak = app.alter(&token, system, "Oak").await;
    let same = tokio::join!(
        relate(&app, &token, ash, oak, "parent"),
        relate(&app, &token, oak, ash, "child"),
        relate(&app, &token, ash, oak, "parent"),
    );
    let mut codes: Vec<u16> = [same.0, same.1, same.2]
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    codes.sort();
    assert_eq!(codes, [201, 409, 409]);

    let elm = app.alter(&token, system, "Elm").await;
    let contradicting = tokio::join!(
        relate(&app, &token, ash, elm, "parent"),
        relate(&app, &token, elm, ash, "parent"),
    );
    let mut codes: Vec<u16> = [contradicting.0, contradicting.1]
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [201, 409],
        "two alters cannot each become the other's parent"
    );
    assert_eq!(stored_rows(&app).await, 2);
}

#[apply(backends)]
#[tokio::test]
async fn an_alter_cannot_be_related_to_itself(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    for kind in ["partner", "parent", "child"] {
        let message = relate(&app, &token, ash, ash, kind)
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(message.contains("itself"), "{message}");
    }
    assert_eq!(stored_rows(&app).await, 0);
}

#[apply(backends)]
#[tokio::test]
async fn only_alters_of_the_same_system_can_be_related(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let garden = app.system(&token, "Garden").await;
    let orchard = app.system(&token, "Orchard").await;
    let ash = app.alter(&token, garden, "Ash").await;
    let apple = app.alter(&token, orchard, "Apple").await;
    let message = relate(&app, &token, ash, apple, "partner")
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(message.contains("same system"), "{message}");
    let admin = app.admin_token().await;
    relate(&app, &admin, ash, apple, "partner")
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(stored_rows(&app).await, 0);
}

#[apply(backends)]
#[tokio::test]
async fn other_users_alters_are_not_found(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, robin) = app.approved_user("robin").await;
    let (_, sam) = app.approved_user("sam").await;
    let robins = app.system(&robin, "Robin's").await;
    let ash = app.alter(&robin, robins, "Ash").await;
    let birch = app.alter(&robin, robins, "Birch").await;
    let sams = app.system(&sam, "Sam's").await;
    let cedar = app.alter(&sam, sams, "Cedar").await;
    relate(&app, &robin, ash, birch, "partner")
        .await
        .expect(StatusCode::CREATED);

    // The alter the body names is not there for the caller: 422; the path's alter: 404.
    let message = relate(&app, &robin, ash, cedar, "partner")
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(message, "related alter not found");
    relate(&app, &robin, ash, Id::new(), "partner")
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    relate(&app, &sam, cedar, ash, "partner")
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    relate(&app, &sam, ash, birch, "parent")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/api/alters/{ash}/relationships"), &sam)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(
        &format!("/api/alters/{ash}/relationships/{birch}/partner"),
        &sam,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/api/alters/{}/relationships", Id::new()), &robin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        relations(&app, &robin, ash).await,
        pairs(&[("partner", "Birch")]),
        "untouched"
    );

    let admin = app.admin_token().await;
    assert_eq!(
        relations(&app, &admin, ash).await,
        pairs(&[("partner", "Birch")]),
        "admins see all"
    );
    relate(&app, &admin, birch, ash, "parent")
        .await
        .expect(StatusCode::CREATED);
}

#[apply(backends)]
#[tokio::test]
async fn relationship_input_is_validated(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    let oak = app.alter(&token, system, "Oak").await;
    let path = format!("/api/alters/{ash}/relationships");
    for body in [
        json!({ "related_alter_id": oak, "type": "sibling" }),
        json!({ "related_alter_id": oak, "type": "Partner" }),
        json!({ "related_alter_id": oak }),
        json!({ "type": "partner" }),
        json!({ "related_alter_id": "not-a-uuid", "type": "partner" }),
        json!({ "related_alter_id": oak, "type": 1 }),
    ] {
        app.post(&path, &token, body)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    app.delete(&format!("{path}/{oak}/sibling"), &token)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.delete(&format!("{path}/not-a-uuid/partner"), &token)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.get(&format!("{path}?limit=0"), &token)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.call(poem::http::Method::GET, &path, None, None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(stored_rows(&app).await, 0);
}

#[apply(backends)]
#[tokio::test]
async fn relationships_are_deleted_from_either_side(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    let oak = app.alter(&token, system, "Oak").await;
    relate(&app, &token, ash, oak, "parent")
        .await
        .expect(StatusCode::CREATED);
    relate(&app, &token, ash, oak, "partner")
        .await
        .expect(StatusCode::CREATED);

    let message = app
        .delete(
            &format!("/api/alters/{ash}/relationships/{oak}/child"),
            &token,
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(message, "relationship not found");
    app.delete(
        &format!("/api/alters/{oak}/relationships/{ash}/child"),
        &token,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        relations(&app, &token, ash).await,
        pairs(&[("partner", "Oak")])
    );
    app.delete(
        &format!("/api/alters/{ash}/relationships/{oak}/parent"),
        &token,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(
        &format!("/api/alters/{oak}/relationships/{ash}/partner"),
        &token,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(relations(&app, &token, ash).await, pairs(&[]));
    assert_eq!(stored_rows(&app).await, 0);

    assert_eq!(
        app.audit_actions(&format!("user_id={robin}")).await[..4],
        [
            "relationship.delete",
            "relationship.delete",
            "relationship.create",
            "relationship.create"
        ]
    );
}

#[apply(backends)]
#[tokio::test]
async fn deleting_an_alter_or_its_system_deletes_its_relationships(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    let oak = app.alter(&token, system, "Oak").await;
    let elm = app.alter(&token, system, "Elm").await;
    relate(&app, &token, ash, oak, "parent")
        .await
        .expect(StatusCode::CREATED);
    relate(&app, &token, elm, ash, "partner")
        .await
        .expect(StatusCode::CREATED);
    relate(&app, &token, oak, elm, "child")
        .await
        .expect(StatusCode::CREATED);

    app.delete(&format!("/api/alters/{ash}"), &token)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        relations(&app, &token, oak).await,
        pairs(&[("child", "Elm")])
    );
    assert_eq!(
        relations(&app, &token, elm).await,
        pairs(&[("parent", "Oak")])
    );
    assert_eq!(
        stored_rows(&app).await,
        1,
        "both of Ash's rows went with it"
    );

    app.delete(&format!("/api/systems/{system}"), &token)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(stored_rows(&app).await, 0);
}

#[apply(backends)]
#[tokio::test]
async fn relationships_page_by_name(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    for name in ["Elm", "Birch", "Oak", "Cedar"] {
        let other = app.alter(&token, system, name).await;
        relate(&app, &token, ash, other, "partner")
            .await
            .expect(StatusCode::CREATED);
    }
    let page = app
        .get(
            &format!("/api/alters/{ash}/relationships?limit=2&offset=1"),
            &token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (
            page["total"].as_i64(),
            page["limit"].as_i64(),
            page["offset"].as_i64()
        ),
        (Some(4), Some(2), Some(1))
    );
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Cedar", "Elm"]);
}

/// The schema itself keeps the canonical form: the same row twice is refused everywhere;
/// a self-link and a partnership stored larger id first are refused by SQLite's and
/// PostgreSQL's CHECKs, which MySQL 8 cannot have on cascading columns (migration 0012).
#[apply(backends)]
#[tokio::test]
async fn the_schema_refuses_duplicates_and_where_it_can_non_canonical_rows(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let ash = app.alter(&token, system, "Ash").await;
    let oak = app.alter(&token, system, "Oak").await;
    let (smaller, larger) = (ash.min(oak), ash.max(oak));
    let insert = |first: Id, second: Id, kind: &'static str| {
        let db = app.state.db.clone();
        async move {
            let mut tx = db.begin_write().await.unwrap();
            let result = tx
                .conn()
                .execute(
                    Stmt::new(
                        "INSERT INTO alter_relationships \
                         (alter_id, related_alter_id, relationship_type, created_at) VALUES (?, ?, ?, ?)",
                    )
                    .bind(first)
                    .bind(second)
                    .bind(kind)
                    .bind(Timestamp::now()),
                )
                .await;
            if result.is_ok() {
                tx.commit().await.unwrap();
            }
            result
        }
    };
    insert(smaller, larger, "partner").await.unwrap();
    let duplicate = insert(smaller, larger, "partner").await.unwrap_err();
    assert!(
        duplicate
            .as_database_error()
            .is_some_and(|e| e.is_unique_violation()),
        "{duplicate}"
    );
    insert(ash, oak, "sibling").await.unwrap_err();

    let self_link = insert(ash, ash, "parent").await;
    let reversed_partners = insert(larger, smaller, "partner").await;
    match app.state.db.backend() {
        didhub_migrations::Backend::MySql => {
            assert!(
                self_link.is_ok() && reversed_partners.is_ok(),
                "MySQL has no such CHECK: update [[parity.allow]] in migrations/didhub-harness.toml"
            );
        }
        _ => {
            for refused in [self_link, reversed_partners] {
                let err = refused.unwrap_err();
                assert!(
                    err.as_database_error()
                        .is_some_and(|e| e.is_check_violation()),
                    "{err}"
                );
            }
        }
    }
}
