//! Password reset by single-use, expiring token.
//!
//! 1. `POST /api/auth/password-reset/request {username}` always answers 202 with the same body,
//!    so it cannot tell anyone which usernames exist. For an existing account it creates a
//!    token, valid for the `password_reset.token_ttl_minutes` setting, and delivers it out of
//!    band. The reference server has no mailer: it logs the token at info level with the
//!    tracing target `didhub_server::mail`, standing in for the e-mail a deployment would send.
//!    An administrator can instead issue a token with `POST /api/users/{id}/password-reset`,
//!    which returns it in the response body.
//! 2. `POST /api/auth/password-reset/verify {token}` says whether a token can still be used.
//! 3. `POST /api/auth/password-reset/consume {token, new_password}` sets the new password and
//!    uses the token up, in one transaction that also revokes the user's other outstanding
//!    tokens.
//!
//! A token that cannot be used is answered with 401 `invalid_token` (no such token, as for a
//! bearer token that is not valid), 410
//! `expired_token` or 410 `used_token` (used, or revoked by a later reset). The database holds
//! only the token's SHA-256; tokens are looked up by hash, and neither the hash nor (outside the
//! `mail` log line) the token is ever logged or returned. Requests, resets and failures are
//! recorded in the audit log.

use chrono::Utc;
use poem::http::StatusCode;
use poem::web::{Data, RemoteAddr};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::json;

use super::answers::{Created, Done};
use super::bearer::BearerAuth;
use super::refused::typed_account;
use super::tag::Tag;
use crate::accounts::check_password_policy;
use crate::audited::{Change, Outcome, client_ip};
use crate::auth::{self, reset_token_hash};
use crate::db::{Id, Timestamp};
use crate::error::{ApiError, ApiResult};
use crate::settings::PASSWORD_RESET_TOKEN_TTL_MINUTES;
use crate::state::AppState;
use crate::store::password_resets::{self, ResetToken};
use crate::store::users;
use crate::store::users::User;

pub struct PasswordResetApi;

#[derive(Object)]
struct ResetRequest {
    #[oai(validator(max_length = 64))]
    username: String,
}

/// The same answer whether or not the account exists.
#[derive(Object)]
struct RequestReceived {
    message: String,
}

#[derive(ApiResponse)]
enum Accepted {
    /// Accepted: if the account exists, a token is on its way.
    #[oai(status = 202)]
    Accepted(Json<RequestReceived>),
}

#[derive(Object)]
struct TokenBody {
    #[oai(validator(max_length = 256))]
    token: String,
}

#[derive(Object)]
struct TokenStatus {
    valid: bool,
    expires_at: Timestamp,
}

#[derive(Object)]
struct ResetConsume {
    #[oai(validator(max_length = 256))]
    token: String,
    #[oai(validator(min_length = 10, max_length = 1024))]
    new_password: String,
}

/// A token issued by an administrator, to hand to the account's owner.
#[derive(Object)]
struct IssuedToken {
    user_id: Id,
    token: String,
    expires_at: Timestamp,
}

const REQUEST_RECEIVED: &str =
    "if an account with that username exists, a password reset token has been sent to its owner";

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "the password reset token is not valid",
    )
}

fn expired_token() -> ApiError {
    ApiError::gone(
        "expired_token",
        "the password reset token has expired; request a new one",
    )
}

fn used_token() -> ApiError {
    ApiError::gone(
        "used_token",
        "the password reset token has been used, or replaced by a later reset; request a new one",
    )
}

/// The token's state if it can be used now, or the error saying why not.
fn usable(token: Option<ResetToken>, now: Timestamp) -> Result<ResetToken, (ApiError, Option<Id>)> {
    match token {
        None => Err((invalid_token(), None)),
        Some(t) if t.used_at.is_some() => Err((used_token(), Some(t.user_id))),
        Some(t) if t.expires_at <= now => Err((expired_token(), Some(t.user_id))),
        Some(t) => Ok(t),
    }
}

/// Records a refused token in the audit log (counted per address, stage and reason) and
/// returns the refusal.
async fn refuse(
    state: &AppState,
    ip: Option<String>,
    stage: &'static str,
    (error, user): (ApiError, Option<Id>),
) -> ApiError {
    let entry = Change::by_id(None, ip, "auth.password_reset_failed").entry(
        user.map(|u| ("user", u.to_string())),
        json!({ "stage": stage, "reason": error.code }),
    );
    state
        .record_refusal(&format!("{stage}/{}", error.code), entry)
        .await;
    error
}

/// The token's state if it can be used now; otherwise the refusal, recorded.
async fn check(
    state: &AppState,
    ip: Option<String>,
    stage: &'static str,
    token_hash: &str,
) -> ApiResult<ResetToken> {
    let found = password_resets::by_hash(&state.db, token_hash).await?;
    match usable(found, Timestamp::now()) {
        Ok(token) => Ok(token),
        Err(refusal) => Err(refuse(state, ip, stage, refusal).await),
    }
}

/// Creates a token for `user`, valid for `password_reset.token_ttl_minutes`, and records
/// `action`. Returns the raw token, which exists nowhere else.
async fn issue(
    state: &AppState,
    user: &User,
    actor: Option<Id>,
    ip: Option<String>,
    action: &'static str,
) -> ApiResult<(String, Timestamp)> {
    let minutes = PASSWORD_RESET_TOKEN_TTL_MINUTES.read_int(&state.db).await?;
    let token = auth::new_reset_token();
    let expires_at = Timestamp::from(Utc::now() + chrono::Duration::minutes(minutes));
    let (change, id, hash) = (
        Change::by_id(actor, ip, action),
        user.id,
        reset_token_hash(&token),
    );
    state
        .audited(change, move |tx| {
            let hash = hash.clone();
            Box::pin(async move {
                password_resets::insert(tx, id, hash, expires_at).await?;
                let metadata = json!({ "expires_at": expires_at.to_string() });
                Ok(Outcome::of((), "user", id, metadata))
            })
        })
        .await?;
    Ok((token, expires_at))
}

#[OpenApi(tag = "Tag::PasswordReset")]
impl PasswordResetApi {
    /// Asks for a password reset token. Always 202 with the same body, whether or not the
    /// account exists; 429 `too_many_requests` with `Retry-After` after too many requests for the
    /// username or from the client's address within the window. The reference server has no mailer: the token is logged at info level
    /// (tracing target `didhub_server::mail`) for the operator to deliver.
    #[oai(path = "/api/auth/password-reset/request", method = "post")]
    async fn request(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        body: Json<ResetRequest>,
    ) -> ApiResult<Accepted> {
        let username = body.username.trim().to_lowercase();
        let ip = client_ip(remote);
        if let Err(limited) = state.limits.reset_request(&username, ip.as_deref()) {
            return Err(state
                .rate_limited(ip, "password_reset_request", &username, limited)
                .await);
        }
        match users::get_by_username(&state.db, &username).await? {
            Some(user) => {
                let (token, expires_at) =
                    issue(&state, &user, None, ip, "auth.password_reset_request").await?;
                tracing::info!(
                    target: "didhub_server::mail",
                    to = %user.username,
                    %expires_at,
                    %token,
                    "password reset token to deliver to the account's owner"
                );
            }
            None => {
                // Never the typed name (it may be a password), and counted per address like a
                // refusal: each one is also limited per address, but limits can be turned off.
                let (entity, mut metadata) = typed_account(None);
                metadata["unknown_user"] = true.into();
                let entry =
                    Change::by_id(None, ip, "auth.password_reset_request").entry(entity, metadata);
                state.record_refusal("unknown_account", entry).await;
            }
        }
        Ok(Accepted::Accepted(Json(RequestReceived {
            message: REQUEST_RECEIVED.to_owned(),
        })))
    }

    /// Whether a token can still be used, and until when. 401 `invalid_token`, 410
    /// `expired_token` or 410 `used_token` otherwise.
    #[oai(path = "/api/auth/password-reset/verify", method = "post")]
    async fn verify(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        body: Json<TokenBody>,
    ) -> ApiResult<Json<TokenStatus>> {
        let hash = reset_token_hash(&body.token);
        let token = check(&state, client_ip(remote), "verify", &hash).await?;
        Ok(Json(TokenStatus {
            valid: true,
            expires_at: token.expires_at,
        }))
    }

    /// Sets a new password with a token, which is then used up, as are the account's other
    /// outstanding tokens. The password policy applies (422, and the token stays usable);
    /// an unusable token is refused as in `verify`.
    #[oai(path = "/api/auth/password-reset/consume", method = "post")]
    async fn consume(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        body: Json<ResetConsume>,
    ) -> ApiResult<Done> {
        let ip = client_ip(remote);
        let hash = reset_token_hash(&body.token);
        let token = check(&state, ip.clone(), "consume", &hash).await?;
        let user = users::get(&state.db, token.user_id)
            .await?
            .ok_or_else(invalid_token)?;
        check_password_policy(&user.username, &body.new_password)?;
        let password_hash = state.passwords.hash(&body.new_password).await?;

        let now = Timestamp::now();
        let change = Change::by_id(Some(user.id), ip.clone(), "auth.password_reset");
        let (id, token_hash) = (user.id, hash.clone());
        let consumed = state
            .audited(change, move |tx| {
                let (token_hash, password_hash) = (token_hash.clone(), password_hash.clone());
                Box::pin(async move {
                    if !password_resets::consume(tx, &token_hash, now).await? {
                        return Ok(Outcome::unrecorded(false));
                    }
                    password_resets::revoke_outstanding(tx, id, now).await?;
                    users::set_password(tx, id, password_hash).await?;
                    Ok(Outcome::of(true, "user", id, json!({})))
                })
            })
            .await?;
        if !consumed {
            // Another request used the token (or it expired) since `check`.
            let found = password_resets::by_hash(&state.db, &hash).await?;
            let refusal = usable(found, now)
                .err()
                .unwrap_or((used_token(), Some(user.id)));
            return Err(refuse(&state, ip, "consume", refusal).await);
        }
        // The owner proved it: whatever was tried against the account is forgotten.
        state.limits.account_recovered(&user.username);
        Ok(Done::Done)
    }

    /// Issues a reset token for an account and returns it, for an administrator to hand over
    /// (no mail is sent). Administrators only.
    #[oai(path = "/api/users/:id/password-reset", method = "post")]
    async fn issue_for_user(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Created<IssuedToken>> {
        let admin = state.admin(&auth).await?;
        let user = users::get(&state.db, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let (token, expires_at) = issue(
            &state,
            &user,
            Some(admin.id),
            client_ip(remote),
            "user.password_reset_issue",
        )
        .await?;
        Ok(Created::Created(Json(IssuedToken {
            user_id: user.id,
            token,
            expires_at,
        })))
    }
}
