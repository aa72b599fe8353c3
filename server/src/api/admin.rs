//! Administration of the whole instance: backup (every table as one JSON document) and restore
//! (replace all data with such a document). See `crate::data::backup`.
//!
//! A restore's body may be far larger than other requests' ([`MAX_RESTORE_BYTES`]), so who
//! sends it is settled before a byte of it is read ([`admit_restore`], called by the body
//! limit in `api::limit_body`): anyone but an administrator is answered 401/403 at once, and
//! while one restore runs, a second is answered 409 `restore_in_progress` with `Retry-After`.
//! Reading a body, even to throw it away, would let anyone make the server hold 64 MiB (and
//! parse it, many times that) per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use poem::Request;
use poem::web::{Data, RemoteAddr};
use poem_openapi::auth::{Bearer, BearerAuthorization};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::bearer::{BearerAuth, check_bearer};
use super::tag::Tag;
use crate::audited::{Change, client_ip};
use crate::data::backup::{self, Backup, RestoreError};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::audit;

pub struct AdminApi;

/// The restore endpoint, whose body limit is [`MAX_RESTORE_BYTES`] for an administrator.
pub const RESTORE_PATH: &str = "/api/admin/restore";

/// Bodies of `POST /api/admin/restore` may be this large (other requests: `MAX_BODY_BYTES`).
pub const MAX_RESTORE_BYTES: usize = 64 * 1024 * 1024;

/// `Retry-After` of a restore refused because another is running.
pub const RESTORE_RETRY_AFTER_SECS: u64 = 10;

/// The one restore that may run at a time in a server (`api::app` makes one): taken while a
/// restore's body is read and the restore runs.
#[derive(Clone, Default)]
pub struct RestoreSlot(Arc<AtomicBool>);

/// A restore's turn; the slot frees when it drops (answered, failed or disconnected alike).
pub struct RestoreTurn(Arc<AtomicBool>);

impl RestoreSlot {
    fn take(&self) -> Option<RestoreTurn> {
        self.0
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| RestoreTurn(self.0.clone()))
    }
}

impl Drop for RestoreTurn {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Lets a restore's body be read: the request must carry a valid token of an administrator's
/// (401/403 otherwise, as the handler would answer) and no other restore may be running (409
/// `restore_in_progress`, with `Retry-After`). Nothing of the body is read here.
pub(super) async fn admit_restore(req: &Request) -> poem::Result<RestoreTurn> {
    let state = req.data::<AppState>().ok_or_else(ApiError::internal)?;
    let slot = req.data::<RestoreSlot>().ok_or_else(ApiError::internal)?;
    let bearer = Bearer::from_request(req).map_err(|_| {
        ApiError::unauthorized(
            "unauthorized",
            "a restore needs an administrator's token (Authorization: Bearer <token>)",
        )
    })?;
    let auth = BearerAuth(check_bearer(req, bearer).await?);
    state.admin(&auth).await?;
    let turn = slot.take().ok_or_else(|| ApiError {
        retry_after: Some(RESTORE_RETRY_AFTER_SECS),
        ..ApiError::new(
            poem::http::StatusCode::CONFLICT,
            "restore_in_progress",
            "another restore is running; try again when it has finished",
        )
    })?;
    Ok(turn)
}

/// What a restore loaded.
#[derive(Object)]
struct RestoreReport {
    tables: Vec<RestoredTable>,
}

#[derive(Object)]
struct RestoredTable {
    name: String,
    rows: u64,
}

impl From<RestoreError> for ApiError {
    fn from(error: RestoreError) -> Self {
        match error {
            RestoreError::Database(e) => e.into(),
            RestoreError::Version { .. } => ApiError::conflict(error.to_string()),
            RestoreError::Mismatch { .. } => {
                tracing::error!(%error, "restore verification failed");
                ApiError::internal()
            }
            RestoreError::Format(_) | RestoreError::Shape(_) | RestoreError::Value(_) => {
                ApiError::invalid(error.to_string())
            }
        }
    }
}

#[OpenApi(tag = "Tag::Admin")]
impl AdminApi {
    /// Every table as one JSON document, read in one snapshot; restorable on any backend at the
    /// same schema version.
    #[oai(path = "/api/admin/backup", method = "post")]
    async fn backup(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
    ) -> ApiResult<Json<Backup>> {
        let caller = state.admin(&auth).await?;
        // Recorded first, so that the backup holds the record of its own making.
        let entry = Change::by_id(Some(caller.id), client_ip(remote), "admin.backup")
            .entry(None, json!({}));
        audit::record_alone(&state.db, entry).await?;
        let backup = backup::dump(&state.db).await?;
        Ok(Json(backup))
    }

    /// Replaces all data with a backup's, in one transaction: the document is checked whole
    /// first (422 naming the table, row and column of a bad value; 409 for another schema
    /// version), and every table is verified after loading. Bodies up to 64 MiB. The token is
    /// checked before the body is read; while another restore runs, 409 `restore_in_progress`
    /// with `Retry-After`.
    #[oai(path = "/api/admin/restore", method = "post")]
    async fn restore(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<Backup>,
    ) -> ApiResult<Json<RestoreReport>> {
        let caller = state.admin(&auth).await?;
        // A bulk load that must run exactly once: it takes a write transaction of its own
        // rather than joining other writes in `AppState::audited`.
        let mut tx = state.db.begin_write().await?;
        let restored = match backup::restore(&state.db, &mut tx, body.0).await {
            Ok(restored) => restored,
            Err(err) => {
                tx.rollback().await;
                return Err(err.into());
            }
        };
        // The restored accounts may not include the caller, so the entry names them in its
        // metadata rather than by a foreign key.
        audit::record(
            &mut tx,
            Change::by_id(None, client_ip(remote), "admin.restore").entry(
                None,
                json!({
                    "by": caller.username,
                    "by_id": caller.id,
                    "rows": restored.tables.iter().map(|(t, n)| (t.to_string(), json!(n)))
                        .collect::<serde_json::Map<_, _>>(),
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Json(RestoreReport {
            tables: restored
                .tables
                .into_iter()
                .map(|(name, rows)| RestoredTable {
                    name: name.to_owned(),
                    rows,
                })
                .collect(),
        }))
    }
}
