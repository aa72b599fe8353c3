//! System requests: a user asks for system rights, an administrator approves or rejects.
//!
//! Approval grants the rights (`users.is_system` and `users.is_approved`) in the same
//! transaction as the decision and its audit entry, so a request is never approved without the
//! rights, nor the other way round. The table keeps one note, the requester's; an
//! administrator's note on a decision goes into the decision's audit entry.

use poem::web::{Data, RemoteAddr};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::answers::Created;
use super::bearer::BearerAuth;
use super::input::window;
use super::tag::Tag;
use crate::audited::{Change, Outcome};
use crate::db::Id;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::system_requests::{self, RequestFilter, RequestStatus, SystemRequest};
use crate::store::users::UserChanges;
use crate::store::{Page, lock_row, users};

pub struct SystemRequestsApi;

#[derive(Object)]
struct NewRequest {
    /// Why the account needs system rights, for the administrator.
    #[oai(validator(max_length = 2000))]
    note: Option<String>,
}

#[derive(Object)]
struct Decision {
    /// `true` grants the rights, `false` rejects the request.
    approve: bool,
    /// The administrator's reason, kept in the audit log.
    #[oai(validator(max_length = 2000))]
    note: Option<String>,
}

/// 409: the request was decided before, with `status`.
fn already(status: RequestStatus) -> ApiError {
    ApiError::conflict(format!(
        "the request has already been decided ({})",
        status.as_str()
    ))
}

/// A note after trimming; a blank one is no note.
fn trimmed_note(text: Option<String>) -> Option<String> {
    text.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty())
}

#[OpenApi(tag = "Tag::SystemRequests")]
impl SystemRequestsApi {
    /// Asks an administrator for system rights. 409 while an earlier request is pending, or
    /// when the account already has them.
    #[oai(path = "/api/me/request-system", method = "post")]
    async fn request(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<NewRequest>,
    ) -> ApiResult<Created<SystemRequest>> {
        let caller = state.caller(&auth).await?;
        if caller.is_system && caller.is_approved {
            return Err(ApiError::conflict("your account already has system rights"));
        }
        let note = trimmed_note(body.0.note);
        let (change, user) = (
            Change::by(&caller, remote, "system_request.create"),
            caller.id,
        );
        let id = state
            .audited(change, move |tx| {
                let note = note.clone();
                Box::pin(async move {
                    // Two requests sent at once would otherwise both find nothing pending.
                    lock_row(tx, "users", user).await?;
                    if system_requests::has_pending(tx, user).await? {
                        return Err(ApiError::conflict(
                            "you already have a request waiting for a decision",
                        ));
                    }
                    let id = system_requests::insert(tx, user, note.clone()).await?;
                    Ok(Outcome::of(
                        id,
                        "system_request",
                        id,
                        json!({ "note": note }),
                    ))
                })
            })
            .await?;
        let request = system_requests::get(&state.db, id)
            .await?
            .ok_or_else(ApiError::internal)?;
        Ok(Created::Created(Json(request)))
    }

    /// The caller's requests, newest first.
    #[oai(path = "/api/me/request-system", method = "get")]
    async fn mine(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<SystemRequest>>> {
        let caller = state.caller(&auth).await?;
        let filter = RequestFilter {
            user_id: Some(caller.id),
            ..RequestFilter::default()
        };
        let window = window(limit.0, offset.0);
        let (items, total) = system_requests::list(&state.db, &filter, window).await?;
        Ok(Json(Page::new(items, total, window)))
    }

    /// Everyone's requests, newest first, optionally only those with one `status` (admins
    /// only).
    #[oai(path = "/api/system-requests", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        status: Query<Option<RequestStatus>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<SystemRequest>>> {
        state.admin(&auth).await?;
        let filter = RequestFilter {
            status: status.0,
            ..RequestFilter::default()
        };
        let window = window(limit.0, offset.0);
        let (items, total) = system_requests::list(&state.db, &filter, window).await?;
        Ok(Json(Page::new(items, total, window)))
    }

    /// Approves (granting system rights) or rejects a pending request (admins only). 409 when
    /// it has been decided already.
    #[oai(path = "/api/system-requests/:id/decide", method = "post")]
    async fn decide(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<Decision>,
    ) -> ApiResult<Json<SystemRequest>> {
        let admin = state.admin(&auth).await?;
        let request = system_requests::get(&state.db, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("system request"))?;
        if request.status != RequestStatus::Pending {
            return Err(already(request.status));
        }
        let Decision { approve, note } = body.0;
        let (status, action) = if approve {
            (RequestStatus::Approved, "system_request.approve")
        } else {
            (RequestStatus::Rejected, "system_request.reject")
        };
        let change = Change::by(&admin, remote, action);
        let (id, user, admin_id) = (request.id, request.user_id, admin.id);
        let metadata = json!({ "user_id": user, "note": trimmed_note(note) });
        state
            .audited(change, move |tx| {
                let metadata = metadata.clone();
                Box::pin(async move {
                    // Another administrator may have decided it since it was read.
                    if !system_requests::decide(tx, id, status, admin_id).await? {
                        let now = tx.conn().fetch_optional(system_requests::by_id(id)).await?;
                        return Err(match now {
                            Some(SystemRequest { status, .. }) => already(status),
                            None => ApiError::not_found("system request"),
                        });
                    }
                    if approve {
                        let rights = UserChanges {
                            is_system: Some(true),
                            is_approved: Some(true),
                            ..UserChanges::default()
                        };
                        users::update(tx, user, rights).await?;
                    }
                    Ok(Outcome::of((), "system_request", id, metadata))
                })
            })
            .await?;
        let decided = system_requests::get(&state.db, request.id)
            .await?
            .ok_or_else(ApiError::internal)?;
        Ok(Json(decided))
    }
}
