//! The bearer token: checked before a handler runs, and the account it speaks for.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::audited::Change;
use crate::auth::Claims;
use crate::db::Id;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::audit::NewEntry;
use crate::store::users::User;

/// A bearer token (`Authorization: Bearer <JWT>`), checked before the handler runs.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub(super) struct BearerAuth(pub(super) Bearing);

/// What a valid token says, and where it came from.
pub(super) struct Bearing {
    pub(super) claims: Claims,
    ip: Option<String>,
}

/// Checks the token's signature, algorithm and expiry; a token that fails is recorded in the
/// audit log (`auth.token_rejected`, counted per address and reason) before the 401.
pub(super) async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Bearing> {
    let state = req.data::<AppState>().ok_or_else(ApiError::internal)?;
    let ip = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string());
    match state.tokens.verify(&bearer.token) {
        Ok(claims) => {
            crate::db::replicas::set_caller(claims.sub);
            Ok(Bearing { claims, ip })
        }
        Err(refusal) => {
            let entry = token_rejected(ip, refusal.code, None, req.uri().path());
            state.record_refusal(refusal.code, entry).await;
            Err(refusal.into())
        }
    }
}

/// The audit entry for a token that was refused.
fn token_rejected(ip: Option<String>, reason: &str, user: Option<Id>, path: &str) -> NewEntry {
    let path: String = path.chars().take(200).collect();
    Change::by_id(None, ip, "auth.token_rejected").entry(
        user.map(|u| ("user", u.to_string())),
        serde_json::json!({ "reason": reason, "path": path }),
    )
}

impl AppState {
    /// The user a token speaks for, for an operation the account may use: 403
    /// `password_change_required` while an administrator requires it to change its password
    /// (`must_change_password`) — only [`AppState::holder`]'s operations are open to it then.
    pub(super) async fn caller(&self, auth: &BearerAuth) -> ApiResult<User> {
        let user = self.holder(auth).await?;
        if user.must_change_password {
            return Err(ApiError::new(
                poem::http::StatusCode::FORBIDDEN,
                "password_change_required",
                "this account must change its password first (POST /api/me/password)",
            ));
        }
        Ok(user)
    }

    /// The user a token speaks for, whether or not it must change its password: for reading
    /// the account, refreshing the token and changing the password. 401 when that account no
    /// longer exists, or when its password changed since the token's session began (the token
    /// is revoked).
    pub(super) async fn holder(&self, auth: &BearerAuth) -> ApiResult<User> {
        let claims = &auth.0.claims;
        let refusal = match self.callers.account(&self.db, claims.sub).await? {
            Some(account) if self.tokens.fingerprint(&account.password_hash) == claims.pwd => {
                return Ok(account.user);
            }
            Some(_) => ApiError::unauthorized(
                "token_revoked",
                "the password changed since this token was issued; log in again",
            ),
            None => ApiError::unauthorized("unknown_user", "the token's account no longer exists"),
        };
        let entry = token_rejected(auth.0.ip.clone(), refusal.code, Some(claims.sub), "");
        self.record_refusal(refusal.code, entry).await;
        Err(refusal)
    }

    pub(super) async fn admin(&self, auth: &BearerAuth) -> ApiResult<User> {
        let user = self.caller(auth).await?;
        if !user.is_admin {
            return Err(ApiError::forbidden("this needs an administrator"));
        }
        Ok(user)
    }
}
