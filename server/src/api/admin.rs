//! Administration of the whole instance: backup (every table as one JSON document) and restore
//! (replace all data with such a document). See `crate::data::backup`.

use poem::web::{Data, RemoteAddr};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::{AppState, BearerAuth, Tag, audit_entry, client_ip};
use crate::data::backup::{self, Backup, RestoreError};
use crate::error::{ApiError, ApiResult};
use crate::store::audit;

pub struct AdminApi;

/// Bodies of `POST /api/admin/restore` may be this large (other requests: `MAX_BODY_BYTES`).
pub const MAX_RESTORE_BYTES: usize = 64 * 1024 * 1024;

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
            RestoreError::Format(_) | RestoreError::Shape(_) | RestoreError::Value { .. } => {
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
        let entry = audit_entry(
            Some(caller.id),
            client_ip(remote),
            "admin.backup",
            None,
            json!({}),
        );
        audit::record_alone(&state.db, entry).await?;
        let backup = backup::dump(&state.db).await?;
        Ok(Json(backup))
    }

    /// Replaces all data with a backup's, in one transaction: the document is checked whole
    /// first (422 naming the table, row and column of a bad value; 409 for another schema
    /// version), and every table is verified after loading. Bodies up to 64 MiB.
    #[oai(path = "/api/admin/restore", method = "post")]
    async fn restore(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: BearerAuth,
        body: Json<Backup>,
    ) -> ApiResult<Json<RestoreReport>> {
        let caller = state.admin(&auth).await?;
        let mut tx = state.db.begin_write().await?;
        let restored = backup::restore(&state.db, &mut tx, body.0).await?;
        // The restored accounts may not include the caller, so the entry names them in its
        // metadata rather than by a foreign key.
        audit::record(
            &mut tx,
            audit_entry(
                None,
                client_ip(remote),
                "admin.restore",
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
