//! The answers many operations share: `201 Created` with the new resource, `204 No Content`.

use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
use poem_openapi::types::{ParseFromJSON, ToJSON};

/// `201 Created` with the new resource.
#[derive(ApiResponse)]
pub(super) enum Created<T: ParseFromJSON + ToJSON + Send + Sync> {
    /// Created
    #[oai(status = 201)]
    Created(Json<T>),
}

/// `204 No Content`.
#[derive(ApiResponse)]
pub(super) enum Done {
    /// Done
    #[oai(status = 204)]
    Done,
}
