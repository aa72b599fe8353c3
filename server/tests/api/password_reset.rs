use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use didhub_server::auth::reset_token_hash;
use didhub_server::db::{Id, Stmt, Timestamp};
use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, backends, password_of};
use didhub_migrations::Backend;
use rstest_reuse::apply;

const NEW_PASSWORD: &str = "a-brand-new-passphrase";

/// Requests without a token.
async fn anonymous(app: &TestApp, path: &str, body: Value) -> Reply {
    app.call(Method::POST, path, None, Some(body)).await
}

/// A token issued by the admin for `user`: `(token, expires_at)`.
async fn issued(app: &TestApp, user: Id) -> (String, DateTime<Utc>) {
    let admin = app.admin_token().await;
    let body = app
        .post(
            &format!("/api/users/{user}/password-reset"),
            &admin,
            json!({}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(body["user_id"], user.to_string());
    (
        body["token"].as_str().unwrap().to_owned(),
        body["expires_at"].as_str().unwrap().parse().unwrap(),
    )
}

async fn verify(app: &TestApp, token: &str) -> Reply {
    anonymous(
        app,
        "/api/auth/password-reset/verify",
        json!({ "token": token }),
    )
    .await
}

async fn consume(app: &TestApp, token: &str, new_password: &str) -> Reply {
    anonymous(
        app,
        "/api/auth/password-reset/consume",
        json!({ "token": token, "new_password": new_password }),
    )
    .await
}

/// How many reset tokens the database holds.
async fn stored_tokens(app: &TestApp) -> i64 {
    app.state
        .db
        .conn()
        .fetch_int(Stmt::new("SELECT COUNT(*) FROM password_reset_tokens"))
        .await
        .unwrap()
}

/// Log lines written while the guard lives, on this thread (the tests run on a current-thread
/// runtime, so the handlers log here too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures what the server logs by default, and the mail log a deployment turns on to
    /// deliver reset tokens.
    fn start(&self) -> tracing::subscriber::DefaultGuard {
        self.start_with(&format!(
            "{},didhub_server::mail=info",
            didhub_server::DEFAULT_LOG_FILTER
        ))
    }

    fn start_with(&self, filter: &str) -> tracing::subscriber::DefaultGuard {
        // The global subscriber must want info events, or this one can miss them.
        crate::support::server_log_in_failures();
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[apply(backends)]
#[tokio::test]
async fn a_request_for_an_unknown_user_looks_like_one_for_a_known_user(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.register("robin").await;
    let known = anonymous(
        &app,
        "/api/auth/password-reset/request",
        json!({ "username": "Robin" }),
    )
    .await;
    let unknown = anonymous(
        &app,
        "/api/auth/password-reset/request",
        json!({ "username": "nobody" }),
    )
    .await;
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.text);
    assert_eq!(unknown.status, StatusCode::ACCEPTED, "{}", unknown.text);
    assert_eq!(
        known.text, unknown.text,
        "the answer must not reveal which usernames exist"
    );
    assert_eq!(
        stored_tokens(&app).await,
        1,
        "a token only for the real account"
    );
    assert_eq!(
        app.audit_actions("action=auth.password_reset_request")
            .await
            .len(),
        2
    );
    anonymous(&app, "/api/auth/password-reset/request", json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

/// The finding: reset tokens were in the default log, and so were query strings
/// (`/api/alters/search?q=…`). By default neither is: the mail log is off until a deployment
/// turns it on, and requests are logged by path.
#[apply(backends)]
#[tokio::test]
async fn the_default_log_holds_no_reset_token_and_no_query_string(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.register("robin").await;
    let token = app.token_of("robin").await;
    let log = Captured::default();
    {
        let _guard = log.start_with(didhub_server::DEFAULT_LOG_FILTER);
        anonymous(
            &app,
            "/api/auth/password-reset/request",
            json!({ "username": "robin" }),
        )
        .await
        .expect(StatusCode::ACCEPTED);
        app.get("/api/alters/search?q=private-search-term", &token)
            .await;
    }
    let text = log.text();
    assert!(
        text.contains("/api/alters/search"),
        "requests are logged: {text}"
    );
    assert!(!text.contains("private-search-term"), "{text}");
    assert!(!text.contains("token="), "{text}");
    assert!(!text.contains("didhub_server::mail"), "{text}");
}

#[apply(backends)]
#[tokio::test]
async fn a_requested_token_is_delivered_through_the_mail_log(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.register("robin").await;
    let log = Captured::default();
    {
        let _guard = log.start();
        anonymous(
            &app,
            "/api/auth/password-reset/request",
            json!({ "username": "robin" }),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    }
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("didhub_server::mail"))
        .unwrap_or_else(|| panic!("no mail log line in {text}"));
    let token = line
        .split("token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token in {line}"));
    assert!(line.contains("to=robin"), "{line}");
    assert!(
        !text.contains(&reset_token_hash(token)),
        "the hash is never logged: {text}"
    );
    consume(&app, token, NEW_PASSWORD)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.login("robin", NEW_PASSWORD)
        .await
        .expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn a_token_resets_the_password_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let (token, expires_at) = issued(&app, robin).await;
    assert!(
        token.len() >= 32 && token.chars().all(|c| c.is_ascii_alphanumeric()),
        "at least 128 bits, URL-safe: {token}"
    );

    let status = verify(&app, &token).await.expect(StatusCode::OK);
    assert_eq!(status["valid"], true);
    assert_eq!(
        status["expires_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        expires_at
    );

    consume(&app, &token, NEW_PASSWORD)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.login("robin", &password_of("robin"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.login("robin", NEW_PASSWORD)
        .await
        .expect(StatusCode::OK);

    consume(&app, &token, "yet-another-passphrase")
        .await
        .expect_error(StatusCode::GONE, "used_token");
    verify(&app, &token)
        .await
        .expect_error(StatusCode::GONE, "used_token");
    app.login("robin", NEW_PASSWORD)
        .await
        .expect(StatusCode::OK);

    let actions = app.audit_actions("").await;
    for action in [
        "user.password_reset_issue",
        "auth.password_reset",
        "auth.password_reset_failed",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing from {actions:?}"
        );
    }
    assert_eq!(
        app.audit_actions("action=auth.password_reset").await.len(),
        1
    );
}

#[apply(backends)]
#[tokio::test]
async fn the_database_holds_only_the_tokens_hash(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let (token, _) = issued(&app, robin).await;
    let rows: Vec<(String, Id)> = app
        .state
        .db
        .conn()
        .fetch_all(Stmt::new(
            "SELECT token_hash, user_id FROM password_reset_tokens",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (hash, user_id) = &rows[0];
    assert_eq!(hash, &reset_token_hash(&token));
    assert_ne!(hash, &token);
    assert!(!hash.contains(&token) && !token.contains(hash.as_str()));
    assert_eq!(user_id, &robin);

    let admin = app.admin_token().await;
    let audit = app
        .get("/api/audit?limit=200", &admin)
        .await
        .expect(StatusCode::OK);
    let audit = audit.to_string();
    assert!(
        !audit.contains(&token) && !audit.contains(hash.as_str()),
        "neither token nor hash in the audit log"
    );
}

#[apply(backends)]
#[tokio::test]
async fn an_expired_token_is_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let (token, _) = issued(&app, robin).await;
    let a_minute_ago = Timestamp::from(Utc::now() - chrono::Duration::minutes(1));
    let aged = app
        .state
        .db
        .conn()
        .execute(
            Stmt::new("UPDATE password_reset_tokens SET expires_at = ? WHERE token_hash = ?")
                .bind(a_minute_ago)
                .bind(reset_token_hash(&token)),
        )
        .await
        .unwrap();
    assert_eq!(aged, 1);
    verify(&app, &token)
        .await
        .expect_error(StatusCode::GONE, "expired_token");
    consume(&app, &token, NEW_PASSWORD)
        .await
        .expect_error(StatusCode::GONE, "expired_token");
    app.login("robin", &password_of("robin"))
        .await
        .expect(StatusCode::OK);
    let page = app
        .get(
            "/api/audit?action=auth.password_reset_failed",
            &app.admin_token().await,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["metadata"]["reason"], "expired_token");
    assert_eq!(page["items"][0]["entity_id"], robin.to_string());
}

#[apply(backends)]
#[tokio::test]
async fn a_wrong_token_is_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let (token, _) = issued(&app, robin).await;
    let wrong = didhub_server::auth::new_reset_token();
    let mut tampered = token.clone();
    tampered.replace_range(..1, if token.starts_with('0') { "1" } else { "0" });
    for candidate in [
        wrong.as_str(),
        tampered.as_str(),
        "",
        &reset_token_hash(&token),
    ] {
        verify(&app, candidate)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
        consume(&app, candidate, NEW_PASSWORD)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    verify(&app, &"a".repeat(300))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    anonymous(
        &app,
        "/api/auth/password-reset/consume",
        json!({ "token": token }),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    app.login("robin", &password_of("robin"))
        .await
        .expect(StatusCode::OK);
    verify(&app, &token).await.expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn a_weak_new_password_is_refused_and_the_token_stays_usable(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let (token, _) = issued(&app, robin).await;
    // Too short is not what the document allows (400); the rest of the policy is 422.
    consume(&app, &token, "short")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    for weak in ["robin-is-my-name", "zzzzzzzzzz"] {
        consume(&app, &token, weak)
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    verify(&app, &token).await.expect(StatusCode::OK);
    consume(&app, &token, NEW_PASSWORD)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.login("robin", NEW_PASSWORD)
        .await
        .expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn a_reset_revokes_the_users_other_tokens_only(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let kim = app.register("kim").await;
    let (first, _) = issued(&app, robin).await;
    let (second, _) = issued(&app, robin).await;
    let (kims, _) = issued(&app, kim).await;
    consume(&app, &second, NEW_PASSWORD)
        .await
        .expect(StatusCode::NO_CONTENT);
    consume(&app, &first, "another-passphrase")
        .await
        .expect_error(StatusCode::GONE, "used_token");
    app.login("robin", NEW_PASSWORD)
        .await
        .expect(StatusCode::OK);
    verify(&app, &kims).await.expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn two_concurrent_consumes_let_exactly_one_through(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let (token, _) = issued(&app, robin).await;
    let (a, b) = tokio::join!(
        consume(&app, &token, "first-new-passphrase"),
        consume(&app, &token, "second-new-passphrase"),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::NO_CONTENT, StatusCode::GONE],
        "{} / {}",
        a.text,
        b.text
    );
    let (winner, loser) = if a.status == StatusCode::NO_CONTENT {
        ("first-new-passphrase", b)
    } else {
        ("second-new-passphrase", a)
    };
    assert_eq!(loser.body["code"], "used_token", "{}", loser.text);
    app.login("robin", winner).await.expect(StatusCode::OK);
    assert_eq!(
        app.audit_actions("action=auth.password_reset").await.len(),
        1
    );
}

#[apply(backends)]
#[tokio::test]
async fn the_token_lifetime_follows_the_setting(backend: Backend) {
    let app = TestApp::start(backend).await;
    let robin = app.register("robin").await;
    let admin = app.admin_token().await;
    for minutes in [5i64, 60, 1440] {
        app.put(
            "/api/settings/password_reset.token_ttl_minutes",
            &admin,
            json!({ "value": minutes }),
        )
        .await
        .expect(StatusCode::OK);
        let before = Utc::now();
        let (_, expires_at) = issued(&app, robin).await;
        let lifetime = expires_at - before;
        assert!(
            lifetime >= chrono::Duration::minutes(minutes) - chrono::Duration::seconds(1)
                && lifetime <= chrono::Duration::minutes(minutes) + chrono::Duration::seconds(30),
            "{minutes} minutes set, token lives {lifetime}"
        );
    }
}

#[apply(backends)]
#[tokio::test]
async fn only_administrators_issue_tokens_for_others(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, token) = app.approved_user("robin").await;
    let path = format!("/api/users/{robin}/password-reset");
    app.post(&path, &token, json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.call(Method::POST, &path, None, None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let admin = app.admin_token().await;
    app.post(
        &format!("/api/users/{}/password-reset", Id::new()),
        &admin,
        json!({}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stored_tokens(&app).await, 0);
}
