//! Security basics: rate limits on password guessing and reset requests, the password policy
//! wherever a password is set, audit entries for every kind of refused credential, reset tokens
//! revoked by a password change, and no password hash in any answer.

use std::time::Duration;

use didhub_server::db::{Id, Stmt};
use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    ADMIN, ADMIN_PASSWORD, Reply, TestApp, backends, limits, login_from, password_of,
};
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// A one-minute window; each test names the limits it exercises, the others are off.
async fn reset_request_from(app: &TestApp, ip: &str, username: &str) -> Reply {
    app.call_from(
        ip,
        Method::POST,
        "/api/auth/password-reset/request",
        None,
        Some(json!({ "username": username })),
    )
    .await
}

/// Checks a 429: code, reason, and a `Retry-After` within the window.
#[track_caller]
fn assert_limited(reply: Reply, window: u64) -> Value {
    assert!(
        reply.retry_after.is_some_and(|s| (1..=window).contains(&s)),
        "Retry-After {:?} not within 1..={window}: {}",
        reply.retry_after,
        reply.text
    );
    let message = reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert!(message.contains("try again"), "{message}");
    Value::String(message)
}

/// The audit entries with `action`, newest first.
async fn audit_entries(app: &TestApp, action: &str) -> Vec<Value> {
    let admin = app.admin_token().await;
    app.get(&format!("/api/audit?limit=200&action={action}"), &admin)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// An HS256 token with the test secret but any header and claims (`alg` included).
fn token_with(header: Value, claims: Value, secret: &[u8]) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let alg: jsonwebtoken::Algorithm = serde_json::from_value(header["alg"].clone()).unwrap();
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// A token that claims `alg: none` and has no signature.
fn unsigned_token(claims: &Value) -> String {
    format!(
        "{}.{}.",
        base64url(
            json!({ "alg": "none", "typ": "JWT" })
                .to_string()
                .as_bytes()
        ),
        base64url(claims.to_string().as_bytes())
    )
}

pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Every kind of token the server must refuse, for the account `user`, with the refusal code.
pub fn bad_tokens(
    app: &TestApp,
    user: Id,
    valid: &str,
) -> Vec<(&'static str, String, &'static str)> {
    let now = chrono::Utc::now().timestamp();
    let secret = crate::support::SECRET.as_bytes();
    let claims = json!({ "sub": user, "iat": now, "exp": now + 600 });
    let mut tampered: Vec<&str> = valid.split('.').collect();
    let admin_claims = base64url(
        json!({ "sub": Id::new(), "iat": now, "exp": now + 600 })
            .to_string()
            .as_bytes(),
    );
    tampered[1] = &admin_claims;
    vec![
        ("garbage", "not-a-jwt".to_owned(), "invalid_token"),
        ("alg none", unsigned_token(&claims), "invalid_token"),
        (
            "alg none with a signature",
            format!("{}sig", unsigned_token(&claims)),
            "invalid_token",
        ),
        (
            "HS512 with the right secret",
            token_with(json!({ "alg": "HS512" }), claims.clone(), secret),
            "invalid_token",
        ),
        (
            "another secret",
            token_with(
                json!({ "alg": "HS256" }),
                claims.clone(),
                b"another secret, another secret!!",
            ),
            "invalid_token",
        ),
        (
            "claims changed after signing",
            tampered.join("."),
            "invalid_token",
        ),
        (
            "no expiry",
            token_with(
                json!({ "alg": "HS256" }),
                json!({ "sub": user, "iat": now }),
                secret,
            ),
            "invalid_token",
        ),
        (
            "a subject that is no id",
            token_with(
                json!({ "alg": "HS256" }),
                json!({ "sub": "1 OR 1=1", "iat": now, "exp": now + 600 }),
                secret,
            ),
            "invalid_token",
        ),
        (
            "expired",
            app.state.tokens.issue_at(user, "", now - 7200).unwrap(),
            "token_expired",
        ),
        (
            "expired a second ago",
            token_with(
                json!({ "alg": "HS256" }),
                json!({ "sub": user, "iat": now - 60, "exp": now - 1, "auth_time": now - 60, "pwd": "0123456789abcdef" }),
                secret,
            ),
            "token_expired",
        ),
    ]
}

/// The finding: five wrong logins with variants of a name (`ADMIN`, ` admin`) from anywhere
/// locked the account, the administrator's included, for every address. The lock now holds for
/// the address whose failures made it; the owner elsewhere logs in; a password reset lifts it.
#[apply(backends)]
#[tokio::test]
async fn failed_logins_for_a_username_lock_it_from_that_address_only(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (app, clock) = app.with_limits(limits(3, 0));
    let robin = app.register("robin").await;
    let attacker = "203.0.113.7";
    for name in ["robin", "ROBIN", " robin"] {
        login_from(&app, attacker, name, "not-the-password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // Locked from there: even the right password gets 429 without being checked.
    assert_limited(
        login_from(&app, attacker, "robin", &password_of("robin")).await,
        60,
    );
    // The owner, from another address, is not locked out.
    login_from(&app, "198.51.100.1", "Robin", &password_of("robin"))
        .await
        .expect(StatusCode::OK);
    // An unknown username locks the same way, so a 429 reveals nothing about accounts.
    for _ in 0..3 {
        login_from(&app, attacker, "nobody", "not-the-password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let unknown = login_from(&app, attacker, "nobody", "not-the-password").await;
    for _ in 0..3 {
        login_from(&app, attacker, "robin", "not-the-password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let known = login_from(&app, attacker, "robin", "not-the-password").await;
    assert_eq!(unknown.text, known.text);

    // Audited once per address, endpoint and scope while the refusal window is open
    // (`audit_upkeep.rs` counts the rest).
    let limited = audit_entries(&app, "auth.rate_limited").await;
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(limited[0]["metadata"]["scope"], "username");
    assert_eq!(limited[0]["metadata"]["endpoint"], "login");
    assert_eq!(limited[0]["ip"], attacker);

    // A password reset is the owner's proof: the account's failures are forgotten.
    let admin = app.admin_token().await;
    let issued = app
        .post(
            &format!("/api/users/{robin}/password-reset"),
            &admin,
            json!({}),
        )
        .await
        .expect(StatusCode::CREATED);
    let new_password = "a-new-and-long-passphrase-for-the-owner";
    app.call_from(
        "198.51.100.1",
        Method::POST,
        "/api/auth/password-reset/consume",
        None,
        Some(json!({ "token": issued["token"], "new_password": new_password })),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    login_from(&app, attacker, "robin", new_password)
        .await
        .expect(StatusCode::OK);

    clock.advance(Duration::from_secs(61));
    login_from(&app, attacker, "nobody", "not-the-password")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[apply(backends)]
#[tokio::test]
async fn a_successful_login_forgets_only_its_own_users_failures(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (app, _clock) = app.with_limits(limits(3, 0));
    app.register("robin").await;
    app.register("kim").await;
    for user in ["robin", "robin", "kim", "kim"] {
        app.login(user, "not-the-password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    app.login("robin", &password_of("robin"))
        .await
        .expect(StatusCode::OK);
    // robin starts again from zero…
    for _ in 0..2 {
        app.login("robin", "not-the-password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    app.login("robin", &password_of("robin"))
        .await
        .expect(StatusCode::OK);
    // …while kim's two failures still count.
    app.login("kim", "not-the-password")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_limited(app.login("kim", &password_of("kim")).await, 60);
}

#[apply(backends)]
#[tokio::test]
async fn failed_logins_from_one_address_lock_that_address_only(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (app, clock) = app.with_limits(limits(100, 4));
    app.register("robin").await;
    app.register("kim").await;
    let attacker = "203.0.113.7";
    for user in ["robin", "kim", "ann", "bob"] {
        login_from(&app, attacker, user, "password-spraying")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // A right password from the attacker's address is refused too; nothing is checked.
    let refused = login_from(&app, attacker, "kim", &password_of("kim")).await;
    assert_limited(refused, 60);
    // Another address is unaffected, and its success does not reset the attacker's count.
    login_from(&app, "198.51.100.1", "kim", &password_of("kim"))
        .await
        .expect(StatusCode::OK);
    login_from(&app, "2001:db8::1", "robin", &password_of("robin"))
        .await
        .expect(StatusCode::OK);
    assert_limited(
        login_from(&app, attacker, "robin", &password_of("robin")).await,
        60,
    );
    let limited = audit_entries(&app, "auth.rate_limited").await;
    assert_eq!(
        limited.len(),
        1,
        "one row per address and scope in a window"
    );
    assert!(
        limited
            .iter()
            .all(|e| e["metadata"]["scope"] == "ip" && e["ip"] == attacker),
        "{limited:?}"
    );

    // A successful login from an address gives back its attempt: it never counts.
    let office = "192.0.2.10";
    for _ in 0..10 {
        login_from(&app, office, "robin", &password_of("robin"))
            .await
            .expect(StatusCode::OK);
    }
    clock.advance(Duration::from_secs(60));
    login_from(&app, attacker, "kim", &password_of("kim"))
        .await
        .expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn password_reset_requests_are_limited_per_username_and_address(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (app, clock) = app.with_limits(limits(2, 3));
    app.register("robin").await;
    let stored = || async {
        app.state
            .db
            .conn()
            .fetch_int(Stmt::new("SELECT COUNT(*) FROM password_reset_tokens"))
            .await
            .unwrap()
    };
    for _ in 0..2 {
        reset_request_from(&app, "10.0.0.1", "robin")
            .await
            .expect(StatusCode::ACCEPTED);
    }
    assert_limited(reset_request_from(&app, "10.0.0.1", "Robin").await, 60);
    assert_eq!(stored().await, 2, "the refused request issued no token");
    // Anonymous requests from one address do not block the owner's own, from another.
    reset_request_from(&app, "10.0.0.2", "robin")
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(stored().await, 3);

    // Per address: a third request from one address, whatever the usernames.
    reset_request_from(&app, "10.0.0.3", "nobody")
        .await
        .expect(StatusCode::ACCEPTED);
    reset_request_from(&app, "10.0.0.3", "someone")
        .await
        .expect(StatusCode::ACCEPTED);
    reset_request_from(&app, "10.0.0.3", "robin")
        .await
        .expect(StatusCode::ACCEPTED);
    assert_limited(reset_request_from(&app, "10.0.0.3", "another").await, 60);
    let limited = audit_entries(&app, "auth.rate_limited").await;
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[0]["metadata"]["scope"], "ip");
    assert_eq!(limited[1]["metadata"]["scope"], "username");
    assert_eq!(limited[1]["metadata"]["endpoint"], "password_reset_request");

    clock.advance(Duration::from_secs(60));
    reset_request_from(&app, "10.0.0.1", "robin")
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(stored().await, 5);
}

#[apply(backends)]
#[tokio::test]
async fn wrong_current_passwords_are_audited_and_count_as_failed_logins(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (app, _clock) = app.with_limits(limits(2, 0));
    app.register("robin").await;
    let token = app.token_of("robin").await;
    let change = |current: &str| {
        app.post(
            "/api/me/password",
            &token,
            json!({ "current_password": current, "new_password": "a-new-passphrase" }),
        )
    };
    change("wrong-wrong-wrong")
        .await
        .expect_error(StatusCode::FORBIDDEN, "invalid_credentials");
    let failed = audit_entries(&app, "user.password_change_failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["metadata"]["reason"], "wrong_current_password");
    app.login("robin", "not-the-password")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Two guesses at robin's password: both the change and the login are now refused.
    assert_limited(change(&password_of("robin")).await, 60);
    assert_limited(app.login("robin", &password_of("robin")).await, 60);
    app.login("robin", "a-new-passphrase")
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    app.get("/api/me", &token).await.expect(StatusCode::OK);
}

#[apply(backends)]
#[tokio::test]
async fn the_password_policy_applies_wherever_a_password_is_set(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, token) = app.approved_user("robin").await;
    let admin = app.admin_token().await;
    let reset_token = app
        .post(
            &format!("/api/users/{robin}/password-reset"),
            &admin,
            json!({}),
        )
        .await
        .expect(StatusCode::CREATED)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let too_many_bytes = "é".repeat(513); // 513 characters, 1026 bytes
    for (password, status, says) in [
        (
            "nine-char",
            StatusCode::BAD_REQUEST,
            "from 10 to 1024 characters",
        ),
        (
            "robin",
            StatusCode::BAD_REQUEST,
            "from 10 to 1024 characters",
        ),
        (
            "x-robin-x-robin",
            StatusCode::UNPROCESSABLE_ENTITY,
            "username",
        ),
        ("Password123", StatusCode::UNPROCESSABLE_ENTITY, "common"),
        ("qwertyuiop", StatusCode::UNPROCESSABLE_ENTITY, "common"),
        ("7777777777", StatusCode::UNPROCESSABLE_ENTITY, "repeated"),
        (
            too_many_bytes.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "1024 bytes",
        ),
    ] {
        let code = if status == StatusCode::BAD_REQUEST {
            "bad_request"
        } else {
            "validation_failed"
        };
        let attempts = [
            app.call(Method::POST, "/api/auth/register", None, Some(json!({ "username": "robin2", "password": password.replace("robin", "robin2") }))).await,
            app.post("/api/users", &admin, json!({ "username": "robin3", "password": password.replace("robin", "robin3") })).await,
            app.put(&format!("/api/users/{robin}"), &admin, json!({ "password": password })).await,
            app.post("/api/me/password", &token, json!({ "current_password": password_of("robin"), "new_password": password })).await,
            app.call(Method::POST, "/api/auth/password-reset/consume", None, Some(json!({ "token": reset_token, "new_password": password }))).await,
        ];
        for (i, reply) in attempts.into_iter().enumerate() {
            let message = reply.expect_error(status, code);
            assert!(
                message.contains(says),
                "attempt {i} with {password:?}: {message:?} should say {says:?}"
            );
        }
    }
    let users = app.get("/api/users", &admin).await.expect(StatusCode::OK);
    assert_eq!(users["total"], 2, "no account was created");
    app.login("robin", &password_of("robin"))
        .await
        .expect(StatusCode::OK);
    // Ten characters and otherwise unremarkable is enough.
    app.post(
        "/api/me/password",
        &token,
        json!({ "current_password": password_of("robin"), "new_password": "ten-chars!" }),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
}

#[apply(backends)]
#[tokio::test]
async fn a_password_change_revokes_outstanding_reset_tokens(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, token) = app.approved_user("robin").await;
    let admin = app.admin_token().await;
    let issue = || async {
        app.post(
            &format!("/api/users/{robin}/password-reset"),
            &admin,
            json!({}),
        )
        .await
        .expect(StatusCode::CREATED)["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let consume = |reset: String| {
        app.call(
            Method::POST,
            "/api/auth/password-reset/consume",
            None,
            Some(json!({ "token": reset, "new_password": "taken-over-passphrase" })),
        )
    };
    let before_change = issue().await;
    app.post(
        "/api/me/password",
        &token,
        json!({ "current_password": password_of("robin"), "new_password": "a-new-passphrase" }),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    consume(before_change)
        .await
        .expect_error(StatusCode::GONE, "used_token");

    let before_admin_change = issue().await;
    app.put(
        &format!("/api/users/{robin}"),
        &admin,
        json!({ "password": "set-by-the-admin" }),
    )
    .await
    .expect(StatusCode::OK);
    consume(before_admin_change)
        .await
        .expect_error(StatusCode::GONE, "used_token");
    app.login("robin", "set-by-the-admin")
        .await
        .expect(StatusCode::OK);

    // A token issued after the change still works.
    consume(issue().await).await.expect(StatusCode::NO_CONTENT);
}

#[apply(backends)]
#[tokio::test]
async fn refused_tokens_are_audited_with_the_reason(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (robin, token) = app.approved_user("robin").await;
    let bad = bad_tokens(&app, robin, &token);
    for (what, bad_token, code) in &bad {
        let reply = app
            .call_from(
                "198.51.100.9",
                Method::GET,
                "/api/me",
                Some(bad_token),
                None,
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            reply.text
        );
        assert_eq!(reply.body["code"], *code, "{what}: {}", reply.text);
    }
    // One row per address and reason while the refusal window is open, then one summary
    // each with the count of the rest.
    let rejected = audit_entries(&app, "auth.token_rejected").await;
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(
        rejected
            .iter()
            .all(|e| e["ip"] == "198.51.100.9" && e["metadata"]["path"] == "/api/me"),
        "{rejected:?}"
    );
    let expired = rejected
        .iter()
        .filter(|e| e["metadata"]["reason"] == "token_expired")
        .count();
    assert_eq!(expired, 1);
    app.state.refusals.write_all(&app.state.db).await;
    let rejected = audit_entries(&app, "auth.token_rejected").await;
    let counted: u64 = rejected
        .iter()
        .map(|e| e["metadata"]["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(counted, bad.len() as u64, "{rejected:?}");

    // The token of a deleted account: refused, and recorded against that account.
    let admin = app.admin_token().await;
    app.delete(&format!("/api/users/{robin}"), &admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.call_from("198.51.100.9", Method::GET, "/api/me", Some(&token), None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unknown_user");
    let rejected = audit_entries(&app, "auth.token_rejected").await;
    assert_eq!(rejected[0]["metadata"]["reason"], "unknown_user");
    assert_eq!(rejected[0]["entity_id"], robin.to_string());
    assert_eq!(rejected[0]["ip"], "198.51.100.9");
}

#[apply(backends)]
#[tokio::test]
async fn no_answer_about_users_carries_a_password_hash(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    let register = app
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({ "username": "robin", "password": password_of("robin") })),
        )
        .await;
    let robin = crate::support::id(&register.body);
    let login = app.login("robin", &password_of("robin")).await;
    let token = login.body["token"].as_str().unwrap().to_owned();
    let user = format!("/api/users/{robin}");
    let replies = [
        register,
        login,
        app.login(ADMIN, ADMIN_PASSWORD).await,
        app.get("/api/me", &token).await,
        app.call(Method::POST, "/api/auth/refresh", Some(&token), None)
            .await,
        app.get("/api/users", &admin).await,
        app.get(&user, &admin).await,
        app.put(
            &user,
            &admin,
            json!({ "is_approved": true, "password": "changed-by-admin" }),
        )
        .await,
        app.post(
            "/api/users",
            &admin,
            json!({ "username": "kim", "password": password_of("kim") }),
        )
        .await,
        app.get("/api/audit?limit=200", &admin).await,
        app.post(&format!("{user}/password-reset"), &admin, json!({}))
            .await,
    ];
    for reply in replies {
        assert!(reply.status.is_success(), "{}", reply.text);
        assert!(
            !reply.text.contains("$argon2") && !reply.text.contains("password_hash"),
            "{}",
            reply.text
        );
    }
    // The backup is the one deliberate exception: it must restore logins, so it holds the
    // hashes, and only administrators may take it (see backup.rs).
    let backup = app.post("/api/admin/backup", &admin, json!({})).await;
    assert!(backup.text.contains("$argon2id$"));
    // The admin's change revoked robin's token; a new one is still not an admin's.
    let token = app.login("robin", "changed-by-admin").await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post("/api/admin/backup", &token, json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
}

/// Past `login_failures_per_account` failures from any addresses, the account is slowed, never
/// refused: the next login, from an address that has not failed, waits `ACCOUNT_SLOWDOWN` before
/// its password is checked, and succeeds with the right one.
#[tokio::test]
async fn failures_from_many_addresses_slow_the_account_without_locking_it() {
    use didhub_server::rate_limit::ACCOUNT_SLOWDOWN;
    let app = TestApp::start(Backend::Sqlite).await;
    let mut config = limits(100, 100);
    config.login_failures_per_account = 2;
    let (app, _clock) = app.with_limits(config);
    app.register("robin").await;
    let right = password_of("robin");
    // Under the bound, no wait: measured as the anchor for the slowed login below.
    let started = std::time::Instant::now();
    login_from(&app, "198.51.100.9", "robin", &right)
        .await
        .expect(StatusCode::OK);
    let unslowed = started.elapsed();
    for address in ["203.0.113.1", "203.0.113.2"] {
        login_from(&app, address, "robin", "not-the-password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let started = std::time::Instant::now();
    login_from(&app, "198.51.100.1", "robin", &right)
        .await
        .expect(StatusCode::OK);
    let slowed = started.elapsed();
    assert!(
        slowed >= ACCOUNT_SLOWDOWN && slowed > unslowed,
        "the login past the bound took {slowed:?} (one under it {unslowed:?})"
    );
}
