//! Alters. An alter is visible and changeable exactly when its system is (see `systems`).

use poem::web::{Data, RemoteAddr};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::answers::{Created, Done};
use super::bearer::BearerAuth;
use super::input::{change, named_in_body, window};
use super::systems::system_for;
use super::tag::Tag;
use crate::audited::{Change, Outcome};
use crate::db::Id;
use crate::error::{ApiError, ApiResult};
use crate::fields::{interests, required};
use crate::state::AppState;
use crate::store::Page;
use crate::store::alters::{self, Alter, AlterFields, AlterFilter};
use crate::store::users::User;

pub struct AltersApi;

#[derive(Object)]
struct NewAlter {
    system_id: Id,
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$"
    ))]
    name: String,
    #[oai(validator(max_length = 100))]
    pronouns: Option<String>,
    #[oai(validator(max_length = 10000))]
    description: Option<String>,
    #[oai(validator(max_length = 64))]
    age: Option<String>,
    #[oai(validator(max_length = 100))]
    gender: Option<String>,
    #[oai(validator(max_length = 64))]
    birthday: Option<String>,
    #[oai(validator(max_length = 100))]
    species: Option<String>,
    #[oai(validator(max_length = 100))]
    alter_type: Option<String>,
    #[oai(default, validator(max_items = 50))]
    interests: Vec<String>,
    #[oai(default)]
    is_host: bool,
    #[oai(default)]
    is_dormant: bool,
}

/// Changes to an alter; absent fields stay as they are, `null` clears a nullable one.
#[derive(Object)]
struct AlterUpdate {
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$"
    ))]
    name: Option<String>,
    #[oai(validator(max_length = 100))]
    pronouns: MaybeUndefined<String>,
    #[oai(validator(max_length = 10000))]
    description: MaybeUndefined<String>,
    #[oai(validator(max_length = 64))]
    age: MaybeUndefined<String>,
    #[oai(validator(max_length = 100))]
    gender: MaybeUndefined<String>,
    #[oai(validator(max_length = 64))]
    birthday: MaybeUndefined<String>,
    #[oai(validator(max_length = 100))]
    species: MaybeUndefined<String>,
    #[oai(validator(max_length = 100))]
    alter_type: MaybeUndefined<String>,
    #[oai(validator(max_items = 50))]
    interests: Option<Vec<String>>,
    is_host: Option<bool>,
    is_dormant: Option<bool>,
}

/// An alter the caller may see and change; 404 otherwise.
pub(super) async fn alter_for(state: &AppState, caller: &User, id: Id) -> ApiResult<Alter> {
    let owner = (!caller.is_admin).then_some(caller.id);
    alters::get_owned(&state.db, id, owner)
        .await?
        .ok_or_else(|| ApiError::not_found("alter"))
}

/// Lists the caller's alters (everyone's for an administrator) under a filter.
async fn list_visible(
    state: &AppState,
    caller: &User,
    mut filter: AlterFilter,
    limit: Option<i64>,
    offset: Option<i64>,
) -> ApiResult<Json<Page<Alter>>> {
    if !caller.is_admin {
        filter.owner = Some(caller.id);
    }
    let window = window(limit, offset);
    let (items, total) = alters::list(&state.db, &filter, window).await?;
    Ok(Json(Page::new(items, total, window)))
}

#[OpenApi(tag = "Tag::Alters")]
impl AltersApi {
    /// The caller's alters, by name: `q` matches the start of the name (case-insensitive),
    /// `system_id` narrows to one system.
    #[oai(path = "/api/alters", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(max_length = 200))] q: Query<Option<String>>,
        system_id: Query<Option<Id>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<Alter>>> {
        let caller = state.caller(&auth).await?;
        let filter = AlterFilter {
            system_id: system_id.0,
            name_prefix: q.0.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
            ..AlterFilter::default()
        };
        list_visible(&state, &caller, filter, limit.0, offset.0).await
    }

    /// Searches the caller's alters for `q` anywhere in the name or description
    /// (case-insensitive).
    #[oai(path = "/api/alters/search", method = "get")]
    async fn search(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$"
        ))]
        q: Query<String>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<Alter>>> {
        let caller = state.caller(&auth).await?;
        let text = required("q", q.0)?;
        let filter = AlterFilter {
            text: Some(text),
            ..AlterFilter::default()
        };
        list_visible(&state, &caller, filter, limit.0, offset.0).await
    }

    /// Creates an alter in one of the caller's systems.
    #[oai(path = "/api/alters", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<NewAlter>,
    ) -> ApiResult<Created<Alter>> {
        let caller = state.caller(&auth).await?;
        let body = body.0;
        let system = system_for(&state, &caller, body.system_id)
            .await
            .map_err(named_in_body)?;
        let fields = AlterFields {
            name: required("name", body.name)?,
            pronouns: body.pronouns,
            description: body.description,
            age: body.age,
            gender: body.gender,
            birthday: body.birthday,
            species: body.species,
            alter_type: body.alter_type,
            interests: interests(body.interests)?,
            is_host: body.is_host,
            is_dormant: body.is_dormant,
        };
        let system_id = system.id;
        let change = Change::by(&caller, remote, "alter.create");
        let alter = state
            .audited(change, move |tx| {
                let fields = fields.clone();
                Box::pin(async move {
                    let metadata = json!({ "name": fields.name, "system_id": system_id });
                    let alter = alters::insert(tx, system_id, fields).await?;
                    let id = alter.id;
                    Ok(Outcome::of(alter, "alter", id, metadata))
                })
            })
            .await?;
        Ok(Created::Created(Json(alter)))
    }

    /// One alter.
    #[oai(path = "/api/alters/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Json<Alter>> {
        let caller = state.caller(&auth).await?;
        Ok(Json(alter_for(&state, &caller, id.0).await?))
    }

    /// Changes an alter.
    #[oai(path = "/api/alters/:id", method = "put")]
    async fn update(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<AlterUpdate>,
    ) -> ApiResult<Json<Alter>> {
        let caller = state.caller(&auth).await?;
        let previous = alter_for(&state, &caller, id.0).await?;
        let body = body.0;
        let mut fields = AlterFields::from(previous.clone());
        if let Some(name) = body.name {
            fields.name = required("name", name)?;
        }
        for (field, value) in [
            (&mut fields.pronouns, body.pronouns),
            (&mut fields.description, body.description),
            (&mut fields.age, body.age),
            (&mut fields.gender, body.gender),
            (&mut fields.birthday, body.birthday),
            (&mut fields.species, body.species),
            (&mut fields.alter_type, body.alter_type),
        ] {
            if let Some(v) = change(value) {
                *field = v;
            }
        }
        if let Some(list) = body.interests {
            fields.interests = interests(list)?;
        }
        fields.is_host = body.is_host.unwrap_or(fields.is_host);
        fields.is_dormant = body.is_dormant.unwrap_or(fields.is_dormant);
        if fields == AlterFields::from(previous.clone()) {
            // Nothing to write and nothing to audit (see `input::differs`).
            return Ok(Json(previous));
        }

        let change = Change::by(&caller, remote, "alter.update");
        let alter = state
            .audited(change, move |tx| {
                let (previous, fields) = (previous.clone(), fields.clone());
                Box::pin(async move {
                    let alter = alters::update(tx, &previous, fields)
                        .await?
                        .ok_or_else(|| ApiError::not_found("alter"))?;
                    Ok(Outcome::of(alter, "alter", previous.id, json!({})))
                })
            })
            .await?;
        Ok(Json(alter))
    }

    /// Deletes an alter.
    #[oai(path = "/api/alters/:id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Done> {
        let caller = state.caller(&auth).await?;
        let alter = alter_for(&state, &caller, id.0).await?;
        let change = Change::by(&caller, remote, "alter.delete");
        let metadata = json!({ "name": alter.name, "system_id": alter.system_id });
        state
            .audited(change, move |tx| {
                let metadata = metadata.clone();
                Box::pin(async move {
                    alters::delete(tx, alter.id).await?;
                    Ok(Outcome::of((), "alter", alter.id, metadata))
                })
            })
            .await?;
        Ok(Done::Done)
    }
}
