//! User administration (admins only).

use poem::web::{Data, RemoteAddr};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::answers::{Created, Done};
use super::bearer::BearerAuth;
use super::input::{change, differs, window};
use super::tag::Tag;
use crate::accounts::{self, check_password_policy};
use crate::audited::{Change, Outcome, client_ip};
use crate::db::{Id, Timestamp};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::users::{NewUser, User, UserChanges, UserFilter};
use crate::store::{Page, password_resets, users};

pub struct UsersApi;

#[derive(Object)]
struct NewUserRequest {
    /// `accounts::USERNAME_PATTERN`; case-insensitive.
    #[oai(validator(pattern = r"^[A-Za-z0-9_.-]{3,32}$"))]
    username: String,
    #[oai(validator(min_length = 10, max_length = 1024))]
    password: String,
    #[oai(validator(max_length = 255))]
    email: Option<String>,
    #[oai(default)]
    is_admin: bool,
    #[oai(default)]
    is_system: bool,
    /// Accounts made by an administrator are approved unless this says otherwise.
    is_approved: Option<bool>,
    #[oai(default)]
    must_change_password: bool,
}

/// Changes to an account; absent fields stay as they are, `null` clears a nullable one.
#[derive(Object)]
struct UserUpdate {
    #[oai(validator(max_length = 255))]
    email: MaybeUndefined<String>,
    #[oai(validator(max_length = 255))]
    avatar: MaybeUndefined<String>,
    is_admin: Option<bool>,
    is_system: Option<bool>,
    is_approved: Option<bool>,
    must_change_password: Option<bool>,
    /// A new password (the policy applies).
    #[oai(validator(min_length = 10, max_length = 1024))]
    password: Option<String>,
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// All accounts, optionally those whose username starts with `q`, or only administrators
    /// (`is_admin=true`) or only the others.
    #[oai(path = "/api/users", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(max_length = 64))] q: Query<Option<String>>,
        is_admin: Query<Option<bool>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<User>>> {
        state.admin(&auth).await?;
        let window = window(limit.0, offset.0);
        let filter = UserFilter {
            username_prefix: q
                .0
                .map(|q| q.trim().to_lowercase())
                .filter(|q| !q.is_empty()),
            is_admin: is_admin.0,
        };
        let (items, total) = users::list(&state.db, &filter, window).await?;
        Ok(Json(Page::new(items, total, window)))
    }

    /// Creates an account.
    #[oai(path = "/api/users", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<NewUserRequest>,
    ) -> ApiResult<Created<User>> {
        let admin = state.admin(&auth).await?;
        let body = body.0;
        let user = accounts::create(
            &state,
            Some(&admin),
            client_ip(remote),
            "user.create",
            &body.username,
            &body.password,
            NewUser {
                email: body.email,
                is_admin: body.is_admin,
                is_system: body.is_system,
                is_approved: body.is_approved.unwrap_or(true),
                must_change_password: body.must_change_password,
                ..NewUser::default()
            },
        )
        .await?;
        Ok(Created::Created(Json(user)))
    }

    /// One account.
    #[oai(path = "/api/users/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Json<User>> {
        state.admin(&auth).await?;
        let user = users::get(&state.db, id.0).await?;
        Ok(Json(user.ok_or_else(|| ApiError::not_found("user"))?))
    }

    /// Changes an account. An administrator cannot take away their own admin rights.
    #[oai(path = "/api/users/:id", method = "put")]
    async fn update(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<UserUpdate>,
    ) -> ApiResult<Json<User>> {
        let admin = state.admin(&auth).await?;
        let target = users::get(&state.db, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let body = body.0;
        if target.id == admin.id && body.is_admin == Some(false) {
            return Err(ApiError::conflict(
                "you cannot remove your own admin rights",
            ));
        }
        if target.id == admin.id && body.must_change_password == Some(true) {
            // Every operation but a password change would then refuse this administrator.
            return Err(ApiError::conflict(
                "you cannot require a password change of yourself: change it (POST /api/me/password)",
            ));
        }
        let new_hash = match &body.password {
            Some(password) => {
                check_password_policy(&target.username, password)?;
                Some(state.passwords.hash(password).await?)
            }
            None => None,
        };
        let changes = UserChanges {
            email: differs(change(body.email), &target.email),
            avatar: differs(change(body.avatar), &target.avatar),
            is_admin: differs(body.is_admin, &target.is_admin),
            is_system: differs(body.is_system, &target.is_system),
            is_approved: differs(body.is_approved, &target.is_approved),
            must_change_password: differs(body.must_change_password, &target.must_change_password),
        };
        // A new password always counts: it is a new hash, and it revokes outstanding resets.
        let changed: Vec<&str> = [
            ("email", changes.email.is_some()),
            ("avatar", changes.avatar.is_some()),
            ("is_admin", changes.is_admin.is_some()),
            ("is_system", changes.is_system.is_some()),
            ("is_approved", changes.is_approved.is_some()),
            (
                "must_change_password",
                changes.must_change_password.is_some(),
            ),
            ("password", new_hash.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect();
        if changed.is_empty() {
            return Ok(Json(target));
        }
        let change = Change::by(&admin, remote, "user.update");
        let (id, metadata) = (target.id, json!({ "fields": changed }));
        state
            .audited(change, move |tx| {
                let (new_hash, changes) = (new_hash.clone(), changes.clone());
                let metadata = metadata.clone();
                Box::pin(async move {
                    if let Some(hash) = new_hash {
                        users::set_password(tx, id, hash).await?;
                        password_resets::revoke_outstanding(tx, id, Timestamp::now()).await?;
                    }
                    users::update(tx, id, changes).await?;
                    Ok(Outcome::of((), "user", id, metadata))
                })
            })
            .await?;
        let user = users::get(&state.db, target.id).await?;
        Ok(Json(user.ok_or_else(|| ApiError::not_found("user"))?))
    }

    /// Deletes an account with its systems and alters. An administrator cannot delete
    /// themselves.
    #[oai(path = "/api/users/:id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Done> {
        let admin = state.admin(&auth).await?;
        if id.0 == admin.id {
            return Err(ApiError::conflict("you cannot delete your own account"));
        }
        let (change, id) = (Change::by(&admin, remote, "user.delete"), id.0);
        state
            .audited(change, move |tx| {
                Box::pin(async move {
                    if !users::delete(tx, id).await? {
                        return Err(ApiError::not_found("user"));
                    }
                    Ok(Outcome::of((), "user", id, json!({})))
                })
            })
            .await?;
        Ok(Done::Done)
    }
}
