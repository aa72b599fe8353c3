//! The audit log (administrators only).

use poem::web::{Data, RemoteAddr};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::bearer::BearerAuth;
use super::input::window;
use super::tag::Tag;
use crate::audited::{Change, Outcome};
use crate::db::{Id, Timestamp};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::Page;
use crate::store::audit::{self, AuditEntry, AuditFilter};
use crate::upkeep::purge_before;

pub struct AuditApi;

#[derive(Object)]
struct PurgeRequest {
    /// Entries older than this instant (RFC 3339) are deleted.
    before: Timestamp,
}

#[derive(Object)]
struct PurgeResult {
    deleted: u64,
}

#[OpenApi(tag = "Tag::Audit")]
impl AuditApi {
    /// Audit entries, newest first, filtered by action, user and time range (inclusive,
    /// RFC 3339; a `from` after `to` is an empty range).
    #[oai(path = "/api/audit", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(validator(max_length = 64))] action: Query<Option<String>>,
        user_id: Query<Option<Id>>,
        from: Query<Option<Timestamp>>,
        to: Query<Option<Timestamp>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<i64>>,
        #[oai(validator(minimum(value = "0")))] offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Page<AuditEntry>>> {
        state.admin(&auth).await?;
        let filter = AuditFilter {
            action: action.0,
            user_id: user_id.0,
            from: from.0.map(Timestamp::storable),
            to: to.0.map(Timestamp::storable),
        };
        let window = window(limit.0, offset.0);
        let (items, total) = audit::list(&state.db, &filter, window).await?;
        Ok(Json(Page::new(items, total, window)))
    }

    /// Deletes entries older than `before` and records that it did.
    #[oai(path = "/api/audit/purge", method = "post")]
    async fn purge(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<PurgeRequest>,
    ) -> ApiResult<Json<PurgeResult>> {
        let admin = state.admin(&auth).await?;
        let before = body.before.storable();
        let change = Change::by(&admin, remote, "audit.purge");
        // In batches, each committed on its own (as the retention purge does); the entry that
        // records the purge is written after the last.
        let (deleted, batches) = purge_before(&state.db, before).await?;
        let deleted = state
            .audited(change, move |_| {
                Box::pin(async move {
                    let metadata = json!({
                        "before": before.to_string(),
                        "deleted": deleted,
                        "batches": batches,
                    });
                    Ok(Outcome::unnamed(deleted, metadata))
                })
            })
            .await?;
        Ok(Json(PurgeResult { deleted }))
    }
}
