//! Systems. A user sees and changes only their own; administrators see and change all.
//! Someone else's system is answered with 404, so ids reveal nothing.

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
use crate::audited::{Change, Outcome};
use crate::db::Id;
use crate::error::{ApiError, ApiResult};
use crate::fields::required;
use crate::state::AppState;
use crate::store::Page;
use crate::store::systems::{self, System};
use crate::store::users::User;

pub struct SystemsApi;

#[derive(Object)]
struct NewSystem {
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$"
    ))]
    name: String,
    #[oai(validator(max_length = 10000))]
    description: Option<String>,
}

/// Changes to a system; absent fields stay, `null` clears the description.
#[derive(Object)]
struct SystemUpdate {
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$"
    ))]
    name: Option<String>,
    #[oai(validator(max_length = 10000))]
    description: MaybeUndefined<String>,
}

/// A system the caller may see and change; 404 otherwise.
pub(super) async fn system_for(state: &AppState, caller: &User, id: Id) -> ApiResult<System> {
    match systems::get(&state.db, id).await? {
        Some(system) if caller.is_admin || system.user_id == caller.id => Ok(system),
        _ => Err(ApiError::not_found("system")),
    }
}

#[OpenApi(tag = "Tag::Systems")]
impl SystemsApi {
    /// The caller's systems (an administrator sees everyone's, or one user's with `user_id`).
    #[oai(path = "/api/systems", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Query<Option<Id>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<System>>> {
        let caller = state.caller(&auth).await?;
        let owner = match (caller.is_admin, user_id.0) {
            (true, filter) => filter,
            (false, None) => Some(caller.id),
            (false, Some(other)) if other == caller.id => Some(other),
            (false, Some(_)) => {
                return Err(ApiError::forbidden(
                    "only administrators can list other users' systems",
                ));
            }
        };
        let window = window(limit.0, offset.0);
        let (items, total) = systems::list(&state.db, owner, window).await?;
        Ok(Json(Page::new(items, total, window)))
    }

    /// Creates a system owned by the caller; the account must be approved.
    #[oai(path = "/api/systems", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<NewSystem>,
    ) -> ApiResult<Created<System>> {
        let caller = state.caller(&auth).await?;
        if !(caller.is_approved || caller.is_admin) {
            return Err(ApiError::forbidden(
                "your account has not been approved yet, so it cannot create systems",
            ));
        }
        let body = body.0;
        let name = required("name", body.name)?;
        let change = Change::by(&caller, remote, "system.create");
        let (owner, description) = (caller.id, body.description);
        let id = state
            .audited(change, move |tx| {
                let (name, description) = (name.clone(), description.clone());
                Box::pin(async move {
                    let metadata = json!({ "name": name });
                    let id = systems::insert(tx, owner, name, description).await?;
                    Ok(Outcome::of(id, "system", id, metadata))
                })
            })
            .await?;
        let system = systems::get(&state.db, id)
            .await?
            .ok_or_else(ApiError::internal)?;
        Ok(Created::Created(Json(system)))
    }

    /// One system.
    #[oai(path = "/api/systems/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Json<System>> {
        let caller = state.caller(&auth).await?;
        Ok(Json(system_for(&state, &caller, id.0).await?))
    }

    /// Renames or re-describes a system.
    #[oai(path = "/api/systems/:id", method = "put")]
    async fn update(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<SystemUpdate>,
    ) -> ApiResult<Json<System>> {
        let caller = state.caller(&auth).await?;
        let system = system_for(&state, &caller, id.0).await?;
        let body = body.0;
        let name = differs(
            body.name.map(|n| required("name", n)).transpose()?,
            &system.name,
        );
        let description = differs(change(body.description), &system.description);
        if name.is_none() && description.is_none() {
            return Ok(Json(system));
        }
        let change = Change::by(&caller, remote, "system.update");
        let id = system.id;
        state
            .audited(change, move |tx| {
                let (name, description) = (name.clone(), description.clone());
                Box::pin(async move {
                    systems::update(tx, id, name, description).await?;
                    Ok(Outcome::of((), "system", id, json!({})))
                })
            })
            .await?;
        let system = systems::get(&state.db, system.id).await?;
        Ok(Json(system.ok_or_else(|| ApiError::not_found("system"))?))
    }

    /// Deletes a system with all its alters.
    #[oai(path = "/api/systems/:id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Done> {
        let caller = state.caller(&auth).await?;
        let system = system_for(&state, &caller, id.0).await?;
        let change = Change::by(&caller, remote, "system.delete");
        let metadata = json!({ "name": system.name });
        state
            .audited(change, move |tx| {
                let metadata = metadata.clone();
                Box::pin(async move {
                    systems::delete(tx, system.id).await?;
                    Ok(Outcome::of((), "system", system.id, metadata))
                })
            })
            .await?;
        Ok(Done::Done)
    }
}
