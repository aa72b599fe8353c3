//! `/health` and `/api/version`.

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::tag::Tag;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use poem::web::Data;

pub struct ServiceApi;

#[derive(Object)]
struct Health {
    status: String,
    /// The backend in use: sqlite, postgres or mysql.
    backend: String,
}

#[derive(Object)]
struct Version {
    version: String,
    backend: String,
    /// The newest applied migration.
    schema_version: i64,
}

#[OpenApi(tag = "Tag::Service")]
impl ServiceApi {
    /// Whether the server can reach its database (503 when it cannot).
    #[oai(path = "/health", method = "get")]
    async fn health(&self, state: Data<&AppState>) -> ApiResult<Json<Health>> {
        state.db.schema_version().await.map_err(|e| {
            tracing::warn!(error = %e, "health check failed");
            ApiError::unavailable()
        })?;
        Ok(Json(Health {
            status: "ok".into(),
            backend: state.db.backend().to_string(),
        }))
    }

    /// Server version and schema version.
    #[oai(path = "/api/version", method = "get")]
    async fn version(&self, state: Data<&AppState>) -> ApiResult<Json<Version>> {
        Ok(Json(Version {
            version: env!("CARGO_PKG_VERSION").into(),
            backend: state.db.backend().to_string(),
            schema_version: state.db.schema_version().await?,
        }))
    }
}
