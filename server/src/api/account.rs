//! Registration, login, token refresh and the caller's own account.

use poem::web::{Data, RemoteAddr};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::answers::{Created, Done};
use super::bearer::BearerAuth;
use super::refused::typed_account;
use super::tag::Tag;
use crate::accounts::{self, check_password_policy};
use crate::audited::{Change, Outcome, client_ip};
use crate::db::Timestamp;
use crate::error::{ApiError, ApiResult};
use crate::settings::{REGISTRATION_ENABLED, REGISTRATION_REQUIRE_APPROVAL};
use crate::state::AppState;
use crate::store::users::{NewUser, User};
use crate::store::{password_resets, users};

pub struct AccountApi;

/// A new account's username and password, with the rules the document can state (the
/// password's other rules are 422: [`accounts::check_password_policy`]).
#[derive(Object)]
struct Registration {
    /// `accounts::USERNAME_PATTERN`; case-insensitive.
    #[oai(validator(pattern = r"^[A-Za-z0-9_.-]{3,32}$"))]
    username: String,
    #[oai(validator(min_length = 10, max_length = 1024))]
    password: String,
}

#[derive(Object)]
struct Credentials {
    #[oai(validator(max_length = 64))]
    username: String,
    #[oai(validator(max_length = 1024))]
    password: String,
}

#[derive(Object)]
struct TokenResponse {
    token: String,
    token_type: String,
    /// Seconds until the token expires.
    expires_in: u64,
    user: User,
}

#[derive(Object)]
struct PasswordChange {
    #[oai(validator(max_length = 1024))]
    current_password: String,
    #[oai(validator(min_length = 10, max_length = 1024))]
    new_password: String,
}

/// The answer to a login or a refresh: `token`, which expires at `exp`, for `user`.
fn token_response(token: String, exp: i64, user: User) -> Json<TokenResponse> {
    let left = exp - chrono::Utc::now().timestamp();
    Json(TokenResponse {
        token,
        token_type: "Bearer".into(),
        expires_in: u64::try_from(left).unwrap_or(0),
        user,
    })
}

#[OpenApi(tag = "Tag::Auth")]
impl AccountApi {
    /// Creates an account, unless the `registration.enabled` setting is off (403
    /// `registration_disabled`). After too many registrations from the client's address within
    /// the window, 429 `too_many_requests` with `Retry-After`. While `registration.require_approval` is on (the default), new
    /// accounts can log in but need an administrator's approval before they can create systems.
    #[oai(path = "/api/auth/register", method = "post")]
    async fn register(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        body: Json<Registration>,
    ) -> ApiResult<Created<User>> {
        if !REGISTRATION_ENABLED.read_bool(&state.db).await? {
            return Err(ApiError::new(
                poem::http::StatusCode::FORBIDDEN,
                "registration_disabled",
                "registration is closed on this instance (setting registration.enabled); \
                 ask an administrator for an account",
            ));
        }
        let needs_approval = REGISTRATION_REQUIRE_APPROVAL.read_bool(&state.db).await?;
        let ip = client_ip(remote);
        if let Err(limited) = state.limits.registration(ip.as_deref()) {
            let username = body.username.trim().to_lowercase();
            return Err(state.rate_limited(ip, "register", &username, limited).await);
        }
        let user = accounts::create(
            &state,
            None,
            ip.clone(),
            "auth.register",
            &body.username,
            &body.password,
            NewUser {
                is_approved: !needs_approval,
                ..NewUser::default()
            },
        )
        .await
        .inspect_err(|refused| {
            // Nothing was hashed: a broken rule or no hashing turn is not held against the
            // address.
            if matches!(refused.status.as_u16(), 422 | 503) {
                state.limits.registration_void(ip.as_deref());
            }
        })?;
        Ok(Created::Created(Json(user)))
    }

    /// Exchanges a username and password for a bearer token. After too many failures for the
    /// username or from the client's address within the window, 429 `too_many_requests` with
    /// `Retry-After`, whatever the password.
    #[oai(path = "/api/auth/login", method = "post")]
    async fn login(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        body: Json<Credentials>,
    ) -> ApiResult<Json<TokenResponse>> {
        let username = body.username.trim().to_lowercase();
        let ip = client_ip(remote);
        match state.limits.guess(&username, ip.as_deref()) {
            Err(limited) => return Err(state.rate_limited(ip, "login", &username, limited).await),
            Ok(Some(slowdown)) => tokio::time::sleep(slowdown).await,
            Ok(None) => {}
        }
        let found = match users::credentials_by_username(&state.db, &username).await {
            Ok(found) => found,
            Err(e) => {
                state.limits.guess_void(&username, ip.as_deref());
                return Err(e.into());
            }
        };
        let verified = match state
            .passwords
            .verify(
                &body.password,
                found.as_ref().map(|c| c.password_hash.as_str()),
            )
            .await
        {
            Ok(verified) => verified,
            Err(busy) => {
                state.limits.guess_void(&username, ip.as_deref());
                return Err(busy);
            }
        };
        let credentials = match found {
            Some(credentials) if verified => credentials,
            found => {
                // The guess stays counted against the username and the address. Audited per
                // address and account (all unknown names together), never naming an unknown one.
                let account = found.as_ref().map(|c| (c.id, c.username.as_str()));
                let kind = account.map_or_else(
                    || "unknown_account".to_owned(),
                    |(id, _)| format!("account/{id}"),
                );
                let (entity, metadata) = typed_account(account);
                let entry = Change::by_id(None, ip, "auth.login_failed").entry(entity, metadata);
                state.record_refusal(&kind, entry).await;
                return Err(ApiError::unauthorized(
                    "invalid_credentials",
                    "wrong username or password",
                ));
            }
        };
        state.limits.guess_succeeded(&username, ip.as_deref());
        let (change, id) = (
            Change::by_id(Some(credentials.id), ip, "auth.login"),
            credentials.id,
        );
        state
            .audited(change, move |tx| {
                Box::pin(async move {
                    users::record_login(tx, id).await?;
                    Ok(Outcome::of((), "user", id, json!({})))
                })
            })
            .await?;
        let user = users::get(&state.db, credentials.id)
            .await?
            .ok_or_else(ApiError::internal)?;
        let token = state
            .tokens
            .issue(credentials.id, &credentials.password_hash)?;
        let exp = chrono::Utc::now().timestamp() + state.tokens.ttl().as_secs() as i64;
        Ok(token_response(token, exp, user))
    }

    /// A fresh token for the holder of a valid one, in the same session: it expires after the
    /// token lifetime or when the session reaches `max_session_secs` from its login, whichever
    /// comes first (then 401 `session_expired`: log in again).
    #[oai(path = "/api/auth/refresh", method = "post")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> ApiResult<Json<TokenResponse>> {
        let user = state.holder(&auth).await?;
        let (token, claims) = state.tokens.refresh(&auth.0.claims)?;
        Ok(token_response(token, claims.exp, user))
    }

    /// The caller's account.
    #[oai(path = "/api/me", method = "get")]
    async fn me(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<User>> {
        Ok(Json(state.holder(&auth).await?))
    }

    /// Changes the caller's password; the current one must be given (a wrong one counts as a
    /// failed login). Outstanding password-reset tokens of the account are revoked.
    #[oai(path = "/api/me/password", method = "post")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<PasswordChange>,
    ) -> ApiResult<Done> {
        let user = state.holder(&auth).await?;
        let ip = client_ip(remote);
        // A wrong current password is a password guess like a failed login, and counts as one.
        match state.limits.guess(&user.username, ip.as_deref()) {
            Err(limited) => {
                return Err(state
                    .rate_limited(ip, "password_change", &user.username, limited)
                    .await);
            }
            Ok(Some(slowdown)) => tokio::time::sleep(slowdown).await,
            Ok(None) => {}
        }
        let stored = match users::credentials(&state.db, user.id).await {
            Ok(Some(stored)) => stored,
            failed => {
                state.limits.guess_void(&user.username, ip.as_deref());
                return Err(failed.err().map_or_else(ApiError::internal, ApiError::from));
            }
        };
        let verified = state
            .passwords
            .verify(&body.current_password, Some(&stored.password_hash))
            .await
            .inspect_err(|_| state.limits.guess_void(&user.username, ip.as_deref()))?;
        if !verified {
            let entry = Change::by_id(Some(user.id), ip, "user.password_change_failed").entry(
                Some(("user", user.id.to_string())),
                json!({ "reason": "wrong_current_password" }),
            );
            state
                .record_refusal(&format!("account/{}", user.id), entry)
                .await;
            return Err(ApiError::new(
                poem::http::StatusCode::FORBIDDEN,
                "invalid_credentials",
                "the current password is wrong",
            ));
        }
        state.limits.guess_succeeded(&user.username, ip.as_deref());
        check_password_policy(&user.username, &body.new_password)?;
        let hash = state.passwords.hash(&body.new_password).await?;
        let (change, id) = (
            Change::by_id(Some(user.id), ip, "user.password_change"),
            user.id,
        );
        state
            .audited(change, move |tx| {
                let hash = hash.clone();
                Box::pin(async move {
                    users::set_password(tx, id, hash).await?;
                    // Reset tokens issued before the change must not be able to undo it.
                    password_resets::revoke_outstanding(tx, id, Timestamp::now()).await?;
                    Ok(Outcome::of((), "user", id, json!({})))
                })
            })
            .await?;
        Ok(Done::Done)
    }
}
