//! Groups (affiliations) and subsystems: named sets of alters within one system, with members
//! and leaders.
//!
//! Both areas follow the same rules, so one generic handler set, [`GroupingsApi`], serves both;
//! an [`Area`] supplies the path, the OpenAPI tag, the tables ([`Kind`]) and the audit actions.
//! A grouping is visible and changeable exactly when its system is (see `systems`): someone
//! else's answers 404. Only alters of the grouping's own system can join it.

use std::marker::PhantomData;

use poem::http::StatusCode;
use poem::web::{Data, RemoteAddr};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::json;

use super::alters::alter_for;
use super::answers::{Created, Done};
use super::bearer::BearerAuth;
use super::input::{change, differs, named_in_body, window};
use super::systems::system_for;
use super::tag::Tag;
use crate::audited::{Change, Outcome};
use crate::db::Id;
use crate::error::{ApiError, ApiResult};
use crate::fields::required;
use crate::state::AppState;
use crate::store::groupings::{self, GROUPS, Grouping, GroupingFilter, Kind, Member, SUBSYSTEMS};
use crate::store::users::User;
use crate::store::{Page, WriteError, lock_row};

/// The audit log's names for an area's writes.
pub(super) struct Actions {
    create: &'static str,
    update: &'static str,
    delete: &'static str,
    member_add: &'static str,
    member_update: &'static str,
    member_remove: &'static str,
}

/// `<entity>.create`, `<entity>.member.add`, … for an entity named by a literal.
macro_rules! actions {
    ($entity:literal) => {
        Actions {
            create: concat!($entity, ".create"),
            update: concat!($entity, ".update"),
            delete: concat!($entity, ".delete"),
            member_add: concat!($entity, ".member.add"),
            member_update: concat!($entity, ".member.update"),
            member_remove: concat!($entity, ".member.remove"),
        }
    };
}

/// One area of the API served by [`GroupingsApi`].
pub(super) trait Area: Send + Sync + 'static {
    const PATH: &'static str;
    const TAG: Tag;
    const KIND: Kind;
    const ACTIONS: Actions;
}

/// `/api/groups`.
pub(super) struct Groups;

impl Area for Groups {
    const PATH: &'static str = "/api/groups";
    const TAG: Tag = Tag::Groups;
    const KIND: Kind = GROUPS;
    const ACTIONS: Actions = actions!("group");
}

/// `/api/subsystems`.
pub(super) struct Subsystems;

impl Area for Subsystems {
    const PATH: &'static str = "/api/subsystems";
    const TAG: Tag = Tag::Subsystems;
    const KIND: Kind = SUBSYSTEMS;
    const ACTIONS: Actions = actions!("subsystem");
}

/// The endpoints of one [`Area`].
pub(super) struct GroupingsApi<A>(PhantomData<fn() -> A>);

impl<A> GroupingsApi<A> {
    pub(super) fn new() -> Self {
        GroupingsApi(PhantomData)
    }
}

#[derive(Object)]
struct NewGrouping {
    system_id: Id,
    /// Unique within the system.
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$"
    ))]
    name: String,
    #[oai(validator(max_length = 10000))]
    description: Option<String>,
}

/// Changes to a group or subsystem; absent fields stay, `null` clears the description.
#[derive(Object)]
struct GroupingUpdate {
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$"
    ))]
    name: Option<String>,
    #[oai(validator(max_length = 10000))]
    description: MaybeUndefined<String>,
}

/// An alter to add as a member, or a member whose leadership to change.
#[derive(Object)]
struct Membership {
    /// An alter of the same system.
    alter_id: Id,
    /// Absent: a new member is not a leader, an existing one keeps its role.
    is_leader: Option<bool>,
}

/// What a `POST …/members` did, told apart by status so clients need not compare bodies.
#[derive(ApiResponse)]
enum MemberSaved {
    /// The alter joined
    #[oai(status = 201)]
    Added(Json<Member>),
    /// The alter was a member already; its leadership is now as asked
    #[oai(status = 200)]
    Kept(Json<Member>),
}

/// A unique violation on a grouping's name becomes a 409 that says so.
fn name_taken<A: Area>(name: &str) -> impl FnOnce(WriteError) -> ApiError + '_ {
    move |err| match err {
        WriteError::Duplicate => ApiError::conflict(format!(
            "this system already has a {} named \"{name}\"",
            A::KIND.entity
        )),
        WriteError::Database(err) => err.into(),
    }
}

impl<A: Area> GroupingsApi<A> {
    fn not_found() -> ApiError {
        ApiError::not_found(A::KIND.entity)
    }

    /// A grouping the caller may see and change; 404 otherwise.
    async fn grouping_for(state: &AppState, caller: &User, id: Id) -> ApiResult<Grouping> {
        let grouping = groupings::get(&state.db, &A::KIND, id)
            .await?
            .ok_or_else(Self::not_found)?;
        match system_for(state, caller, grouping.system_id).await {
            Ok(_) => Ok(grouping),
            Err(e) if e.status == StatusCode::NOT_FOUND => Err(Self::not_found()),
            Err(e) => Err(e),
        }
    }

    /// One membership as the API shows it; 404 when the alter is not (or no longer) a member.
    async fn member(state: &AppState, grouping: Id, alter: Id) -> ApiResult<Member> {
        groupings::member(&state.db, &A::KIND, grouping, alter)
            .await?
            .ok_or_else(|| ApiError::not_found("member"))
    }
}

#[OpenApi(prefix_path = A::PATH, tag = "A::TAG")]
impl<A: Area> GroupingsApi<A> {
    /// The caller's groups or subsystems (everyone's for an administrator), by name;
    /// `system_id` narrows to one system.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        system_id: Query<Option<Id>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<Grouping>>> {
        let caller = state.caller(&auth).await?;
        let filter = GroupingFilter {
            owner: (!caller.is_admin).then_some(caller.id),
            system_id: system_id.0,
        };
        let window = window(limit.0, offset.0);
        let (items, total) = groupings::list(&state.db, &A::KIND, filter, window).await?;
        Ok(Json(Page::new(items, total, window)))
    }

    /// Creates one in a system of the caller's; the name must be free in that system.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<NewGrouping>,
    ) -> ApiResult<Created<Grouping>> {
        let caller = state.caller(&auth).await?;
        let body = body.0;
        let system = system_for(&state, &caller, body.system_id)
            .await
            .map_err(named_in_body)?;
        let name = required("name", body.name)?;
        let change = Change::by(&caller, remote, A::ACTIONS.create);
        let (system_id, description) = (system.id, body.description);
        let id = state
            .audited(change, move |tx| {
                let (name, description) = (name.clone(), description.clone());
                Box::pin(async move {
                    let metadata = json!({ "name": name, "system_id": system_id });
                    let id = groupings::insert(tx, &A::KIND, system_id, name.clone(), description)
                        .await
                        .map_err(name_taken::<A>(&name))?;
                    Ok(Outcome::of(id, A::KIND.entity, id, metadata))
                })
            })
            .await?;
        let grouping = groupings::get(&state.db, &A::KIND, id)
            .await?
            .ok_or_else(ApiError::internal)?;
        Ok(Created::Created(Json(grouping)))
    }

    /// One, by id.
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Json<Grouping>> {
        let caller = state.caller(&auth).await?;
        Ok(Json(Self::grouping_for(&state, &caller, id.0).await?))
    }

    /// Renames or re-describes one; the new name must be free in the system.
    #[oai(path = "/:id", method = "put")]
    async fn update(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<GroupingUpdate>,
    ) -> ApiResult<Json<Grouping>> {
        let caller = state.caller(&auth).await?;
        let grouping = Self::grouping_for(&state, &caller, id.0).await?;
        let body = body.0;
        let name = body.name.map(|n| required("name", n)).transpose()?;
        let name = differs(name, &grouping.name);
        let description = differs(change(body.description), &grouping.description);
        if name.is_none() && description.is_none() {
            return Ok(Json(grouping));
        }
        let id = grouping.id;
        let change = Change::by(&caller, remote, A::ACTIONS.update);
        state
            .audited(change, move |tx| {
                let (name, description) = (name.clone(), description.clone());
                Box::pin(async move {
                    let found = groupings::update(tx, &A::KIND, id, name.clone(), description)
                        .await
                        .map_err(name_taken::<A>(name.as_deref().unwrap_or_default()))?;
                    if !found {
                        return Err(Self::not_found());
                    }
                    Ok(Outcome::of((), A::KIND.entity, id, json!({ "name": name })))
                })
            })
            .await?;
        let grouping = groupings::get(&state.db, &A::KIND, grouping.id).await?;
        Ok(Json(grouping.ok_or_else(Self::not_found)?))
    }

    /// Deletes one with its memberships (the alters stay).
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Done> {
        let caller = state.caller(&auth).await?;
        let grouping = Self::grouping_for(&state, &caller, id.0).await?;
        let change = Change::by(&caller, remote, A::ACTIONS.delete);
        let metadata = json!({ "name": grouping.name, "system_id": grouping.system_id });
        let id = grouping.id;
        state
            .audited(change, move |tx| {
                let metadata = metadata.clone();
                Box::pin(async move {
                    groupings::delete(tx, &A::KIND, id).await?;
                    Ok(Outcome::of((), A::KIND.entity, id, metadata))
                })
            })
            .await?;
        Ok(Done::Done)
    }

    /// The members: alters with `is_leader` and `joined_at`, leaders first, then by name.
    #[oai(path = "/:id/members", method = "get")]
    async fn members(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Id>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<Member>>> {
        let caller = state.caller(&auth).await?;
        let grouping = Self::grouping_for(&state, &caller, id.0).await?;
        let window = window(limit.0, offset.0);
        let (items, total) = groupings::members(&state.db, &A::KIND, grouping.id, window).await?;
        Ok(Json(Page::new(items, total, window)))
    }

    /// Adds an alter of the same system as a member (201), or changes an existing member's
    /// leadership (200).
    #[oai(path = "/:id/members", method = "post")]
    async fn save_member(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<Membership>,
    ) -> ApiResult<MemberSaved> {
        let caller = state.caller(&auth).await?;
        let grouping = Self::grouping_for(&state, &caller, id.0).await?;
        let body = body.0;
        let alter = alter_for(&state, &caller, body.alter_id)
            .await
            .map_err(named_in_body)?;
        if alter.system_id != grouping.system_id {
            return Err(ApiError::invalid(format!(
                "alter {} belongs to another system than this {}; only alters of system {} can \
                 join it",
                alter.id,
                A::KIND.entity,
                grouping.system_id
            )));
        }

        let change = Change::by(&caller, remote, A::ACTIONS.member_add);
        let (id, alter_id, wanted) = (grouping.id, alter.id, body.is_leader);
        let current = state
            .audited(change, move |tx| {
                Box::pin(async move {
                    // Changes to one grouping's members queue behind each other here. The lock
                    // comes before the first read: on MySQL that read fixes the transaction's
                    // snapshot, which must include the change the lock waited for.
                    lock_row(tx, A::KIND.table, id).await?;
                    let current = groupings::leadership(tx, &A::KIND, id, alter_id).await?;
                    if let Some(was) = current
                        && wanted.is_none_or(|wanted| wanted == was)
                    {
                        // Nothing to change: nothing is written, nothing is recorded.
                        return Ok(Outcome::unrecorded(current));
                    }
                    // A change moves the grouping's updated_at.
                    if !groupings::touch(tx, &A::KIND, id).await? {
                        return Err(Self::not_found());
                    }
                    let (action, is_leader) = match (current, wanted) {
                        (None, wanted) => {
                            let is_leader = wanted.unwrap_or(false);
                            groupings::add_member(tx, &A::KIND, id, alter_id, is_leader).await?;
                            (A::ACTIONS.member_add, is_leader)
                        }
                        (Some(was), Some(wanted)) if was != wanted => {
                            groupings::set_leader(tx, &A::KIND, id, alter_id, wanted).await?;
                            (A::ACTIONS.member_update, wanted)
                        }
                        (Some(_), _) => return Ok(Outcome::unrecorded(current)),
                    };
                    let metadata = json!({ "alter_id": alter_id, "is_leader": is_leader });
                    Ok(Outcome::of(current, A::KIND.entity, id, metadata).recorded_as(action))
                })
            })
            .await?;
        let member = Self::member(&state, grouping.id, alter.id).await?;
        Ok(if current.is_none() {
            MemberSaved::Added(Json(member))
        } else {
            MemberSaved::Kept(Json(member))
        })
    }

    /// Removes an alter from the members (the alter stays).
    #[oai(path = "/:id/members/:alter_id", method = "delete")]
    async fn remove_member(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
        alter_id: Path<Id>,
    ) -> ApiResult<Done> {
        let caller = state.caller(&auth).await?;
        let grouping = Self::grouping_for(&state, &caller, id.0).await?;
        let change = Change::by(&caller, remote, A::ACTIONS.member_remove);
        let (id, alter_id) = (grouping.id, alter_id.0);
        state
            .audited(change, move |tx| {
                Box::pin(async move {
                    if !groupings::touch(tx, &A::KIND, id).await? {
                        return Err(Self::not_found());
                    }
                    if !groupings::remove_member(tx, &A::KIND, id, alter_id).await? {
                        return Err(ApiError::not_found("member"));
                    }
                    let metadata = json!({ "alter_id": alter_id });
                    Ok(Outcome::of((), A::KIND.entity, id, metadata))
                })
            })
            .await?;
        Ok(Done::Done)
    }
}
