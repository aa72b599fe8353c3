//! Usernames are compared byte for byte on every backend: MySQL's and MariaDB's
//! `utf8mb4_unicode_ci` ignores accents (and skips ignorable characters), so a lookup of `róbin`
//! found `robin`, logging in with robin's password under a fresh failed-login counter. Usernames
//! are case-insensitive by design (stored lower-case), so `ROBIN` is robin everywhere.

use didhub_server::db::Stmt;
use didhub_server::store::users;
use poem::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, backends, limits, password_of};
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// Names a database collation may take for `robin`, but are not robin.
const LOOKALIKES: [&str; 4] = ["róbin", "robín", "rob\u{00AD}in", "robin\u{200B}"];

#[apply(backends)]
#[tokio::test]
async fn an_accented_username_is_not_the_account_it_resembles(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let password = password_of("robin");
    for name in LOOKALIKES {
        app.login(name, &password)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
        assert!(
            users::get_by_username(&app.state.db, name)
                .await
                .unwrap()
                .is_none(),
            "{name:?}"
        );
        assert!(
            users::credentials_by_username(&app.state.db, name)
                .await
                .unwrap()
                .is_none(),
            "{name:?}"
        );
    }
    // Case is not part of a username: the same account on every backend.
    let upper = app.login("ROBIN", &password).await.expect(StatusCode::OK);
    assert_eq!(upper["user"]["id"], robin.to_string());
    assert_eq!(
        users::get_by_username(&app.state.db, "robin")
            .await
            .unwrap()
            .unwrap()
            .id,
        robin
    );
}

#[apply(backends)]
#[tokio::test]
async fn a_lookalike_username_gets_no_fresh_failure_counter(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (app, _clock) = app.with_limits(limits(2, 0));
    app.register("robin").await;
    for _ in 0..2 {
        app.login("robin", "not-the-password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    app.login("robin", &password_of("robin"))
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    // Before the fix, MariaDB let this one in: a new counter, robin's row.
    app.login("róbin", &password_of("robin"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[apply(backends)]
#[tokio::test]
async fn a_lookalike_username_is_refused_at_registration_and_gets_no_reset_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.register("robin").await;
    for name in LOOKALIKES {
        let reply = app
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({ "username": name, "password": "a long enough passphrase" })),
            )
            .await;
        // Not a username the document allows (accounts::USERNAME_PATTERN).
        let reason = reply.expect_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(reason.contains("username"), "{name:?}: {reason}");
        app.call(
            Method::POST,
            "/api/auth/password-reset/request",
            None,
            Some(json!({ "username": name })),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    }
    let tokens = app
        .state
        .db
        .conn()
        .fetch_int(Stmt::new("SELECT COUNT(*) FROM password_reset_tokens"))
        .await
        .unwrap();
    assert_eq!(tokens, 0, "no reset token for robin from a lookalike name");
    app.call(
        Method::POST,
        "/api/auth/register",
        None,
        Some(json!({ "username": "Robin", "password": "a long enough passphrase" })),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");
}
