//! Relationships between alters: partners, parents and children.
//!
//! Both alters must belong to the same system. Visibility follows the alter (see `alters`), and
//! a system is the unit a user sees and changes as a whole, so whoever may see one side of a
//! relationship may see the other: listing an alter's relationships never reveals another
//! user's alter, not even after an administrator has made the link.

use poem::http::StatusCode;
use poem::web::{Data, RemoteAddr};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::alters::alter_for;
use super::answers::{Created, Done};
use super::bearer::BearerAuth;
use super::input::window;
use super::tag::Tag;
use crate::audited::{Change, Outcome};
use crate::db::Id;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::relationships::{self, Canonical, Relationship, RelationshipType};
use crate::store::{Page, WriteError, lock_row};

pub struct RelationshipsApi;

#[derive(Object)]
struct NewRelationship {
    /// The other alter, of the same system.
    related_alter_id: Id,
    /// What the other alter is to this one: `partner`, `parent` or `child`.
    #[oai(rename = "type")]
    kind: RelationshipType,
}

#[OpenApi(tag = "Tag::Relationships")]
impl RelationshipsApi {
    /// An alter's relationships from its own point of view (`type` is what the other alter is
    /// to it), by the other alter's name.
    #[oai(path = "/api/alters/:id/relationships", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Id>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<Relationship>>> {
        let caller = state.caller(&auth).await?;
        let alter = alter_for(&state, &caller, id.0).await?;
        let window = window(limit.0, offset.0);
        let (items, total) = relationships::list(&state.db, alter.id, window).await?;
        Ok(Json(Page::new(items, total, window)))
    }

    /// Relates another alter of the same system to this one. 409 when the relationship exists
    /// already, told from either side, or when it would make two alters each other's parent.
    #[oai(path = "/api/alters/:id/relationships", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<NewRelationship>,
    ) -> ApiResult<Created<Relationship>> {
        let caller = state.caller(&auth).await?;
        let alter = alter_for(&state, &caller, id.0).await?;
        let NewRelationship {
            related_alter_id,
            kind,
        } = body.0;
        if related_alter_id == alter.id {
            return Err(ApiError::invalid("an alter cannot be related to itself"));
        }
        let related = alter_for(&state, &caller, related_alter_id)
            .await
            .map_err(|e| match e.status {
                StatusCode::NOT_FOUND => ApiError::not_found("related alter"),
                _ => e,
            })
            .map_err(super::input::named_in_body)?;
        if related.system_id != alter.system_id {
            return Err(ApiError::invalid(
                "only alters of the same system can be related",
            ));
        }

        let row = Canonical::new(alter.id, kind, related.id);
        let already = || ApiError::conflict("that relationship already exists");
        let change = Change::by(&caller, remote, "relationship.create");
        let (alter_name, related_name) = (alter.name, related.name.clone());
        let (system_id, alter_id, related_id) = (alter.system_id, alter.id, related.id);
        state
            .audited(change, move |tx| {
                let (alter_name, related_name) = (alter_name.clone(), related_name.clone());
                Box::pin(async move {
                    // Two requests that each make one alter the other's parent would otherwise
                    // both find no contradiction.
                    lock_row(tx, "systems", system_id).await?;
                    if relationships::exists(tx, row).await? {
                        return Err(already());
                    }
                    let contradiction = Canonical::new(alter_id, kind.reversed(), related_id);
                    if contradiction != row && relationships::exists(tx, contradiction).await? {
                        return Err(ApiError::conflict(format!(
                            "{related_name} is already {alter_name}'s {}",
                            kind.reversed().as_str()
                        )));
                    }
                    // Should the row appear regardless (a writer that did not take the lock),
                    // the primary key refuses it.
                    relationships::insert(tx, row).await.map_err(|e| match e {
                        WriteError::Duplicate => already(),
                        WriteError::Database(e) => ApiError::from(e),
                    })?;
                    let metadata = json!({ "related_alter_id": related_id, "type": kind.as_str() });
                    Ok(Outcome::of((), "alter", alter_id, metadata))
                })
            })
            .await?;
        Ok(Created::Created(Json(Relationship {
            kind,
            alter_id: related.id,
            name: related.name,
        })))
    }

    /// Ends a relationship; it may be named from either side (`B`'s `parent` is `A`'s `child`).
    #[oai(path = "/api/alters/:id/relationships/:other/:type", method = "delete")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
        other: Path<Id>,
        #[oai(name = "type")] kind: Path<RelationshipType>,
    ) -> ApiResult<Done> {
        let caller = state.caller(&auth).await?;
        let alter = alter_for(&state, &caller, id.0).await?;
        let change = Change::by(&caller, remote, "relationship.delete");
        let (alter_id, kind, other) = (alter.id, kind.0, other.0);
        state
            .audited(change, move |tx| {
                Box::pin(async move {
                    if !relationships::delete(tx, Canonical::new(alter_id, kind, other)).await? {
                        return Err(ApiError::not_found("relationship"));
                    }
                    let metadata = json!({ "related_alter_id": other, "type": kind.as_str() });
                    Ok(Outcome::of((), "alter", alter_id, metadata))
                })
            })
            .await?;
        Ok(Done::Done)
    }
}
