//! The HTTP API (README, "API"), described with poem-openapi so that `/api/openapi.json` is
//! generated from the same code that serves it.
//!
//! One module per area of the API; beside them what they share: the bearer token (`bearer`), the
//! answers (`answers`), tags (`tag`), input (`input`), refusals (`refused`) and what a body may be
//! (`body`). Handlers decide who may do what and change data through `AppState::audited` (the
//! change and its audit entry in one transaction, [`crate::audited`]). This module only composes.

mod account;
mod admin;
mod alters;
mod answers;
mod audit;
mod bearer;
mod body;
mod document;
mod groupings;
mod input;
mod logged;
mod password_reset;
mod refused;
mod relationships;
mod routes;
mod schema;
mod service;
mod settings;
mod system_requests;
mod systems;
mod tag;
mod users;

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use poem::{Endpoint, EndpointExt, Response, Route};
use poem_openapi::OpenApiService;

use crate::state::AppState;

pub use admin::{MAX_RESTORE_BYTES, RESTORE_RETRY_AFTER_SECS};
pub use body::{BodyTimeout, MAX_BODY_BYTES};

/// The OpenAPI document as served at `/api/openapi.json` (`didhub-server openapi` prints it).
pub fn openapi_document() -> String {
    document::exact(&operations().spec())
}

/// The API's operations, as poem-openapi serves and describes them.
fn operations() -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(
        (
            service::ServiceApi,
            account::AccountApi,
            users::UsersApi,
            systems::SystemsApi,
            alters::AltersApi,
            groupings::GroupingsApi::<groupings::Groups>::new(),
            groupings::GroupingsApi::<groupings::Subsystems>::new(),
            relationships::RelationshipsApi,
            system_requests::SystemRequestsApi,
            audit::AuditApi,
            admin::AdminApi,
            settings::SettingsApi,
            password_reset::PasswordResetApi,
        ),
        "DIDHub",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "DIDHub reference server: systems, alters, their groups, subsystems and relationships, \
         requests for system rights, settings, backups and the audit trail.",
    )
}

/// The routes of the served document and its compiled schemas, built once per process: the
/// document is the same for every app, and compiling its validators took an app's start about
/// 0.1 s in a debug build, for each of the tests' hundreds of apps.
static ROUTES: LazyLock<Arc<routes::Routes>> = LazyLock::new(|| {
    Arc::new(routes::Routes::from_spec(
        &openapi_document(),
        &[("/api/openapi.json", &["GET"]), ("/api/docs", &["GET"])],
    ))
});

/// The whole HTTP application: API, OpenAPI document, Swagger UI, error rendering.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = operations();
    let generated = api.spec();
    let document = document::exact(&generated);
    // Swagger UI carries the document in its page. Both pages are served from one shared buffer
    // (a clone is a reference count): a copy per request made every stalled download cost the
    // page's size.
    let ui = Bytes::from(api.swagger_ui_html().replacen(&generated, &document, 1));
    let document = Bytes::from(document);
    Route::new()
        .at(
            "/api/openapi.json",
            static_page(document, "application/json"),
        )
        .at("/api/docs", static_page(ui, "text/html; charset=utf-8"))
        .nest("/", api)
        .around(body::check_bodies)
        .around(body::limit_body)
        .around(logged::request)
        .around(routes::route_errors)
        .data(Arc::clone(&ROUTES))
        .data(state)
        .data(admin::RestoreSlot::default())
        .catch_all_error(crate::error::render)
}

/// A page that never changes, answered from `page` itself.
fn static_page(page: Bytes, content_type: &'static str) -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .body(page.clone())
    })
}
