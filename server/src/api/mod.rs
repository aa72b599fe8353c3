//! The HTTP API (SPEC §3), described with poem-openapi so that `/api/openapi.json` is generated
//! from the same code that serves it.
//!
//! One module per area. Handlers decide who may do what, open a write transaction, call the
//! store, record the audit entry in the same transaction and commit.

pub(crate) mod account;
mod admin;
pub(crate) mod alters;
mod audit;
mod audited;
mod document;
mod groupings;
mod password_reset;
mod relationships;
mod routes;
mod schema;
mod service;
mod settings;
mod system_requests;
mod systems;
mod users;

use poem::middleware::Tracing;
use poem::web::RemoteAddr;
use poem::web::headers::{ContentLength, HeaderMapExt};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::types::{MaybeUndefined, ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, OpenApiService, SecurityScheme, Tags};

use crate::auth::{Claims, Passwords, Tokens};
use crate::db::{Db, Id};
use crate::error::{ApiError, ApiResult};
use crate::rate_limit::{Limited, RateLimits};
use crate::refusals::{RefusalKey, Refusals};
use crate::store::audit::NewEntry;
use crate::store::users::User;
use crate::store::{DEFAULT_LIMIT, Window};

pub use admin::{MAX_RESTORE_BYTES, RESTORE_RETRY_AFTER_SECS};
pub(crate) use audited::{Change, Outcome};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long a request body may take to arrive once its handler starts reading it
/// (`server.body_timeout_secs`); 408 after that. Added by [`crate::Application`], which serves
/// over TCP; without it (in-process tests) bodies are not timed.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub tokens: Tokens,
    /// Hashes and verifies passwords at the configured cost.
    pub passwords: Passwords,
    /// Limits on password guessing and reset requests, shared by every request.
    pub limits: std::sync::Arc<RateLimits>,
    /// Refused requests, counted and audited once per window ([`crate::refusals`]).
    pub refusals: std::sync::Arc<Refusals>,
    /// The accounts behind tokens, remembered for a moment ([`crate::callers`]).
    pub callers: std::sync::Arc<crate::callers::Callers>,
}

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

/// The whole HTTP application: API, OpenAPI document, Swagger UI, error rendering.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = operations();
    let generated = api.spec();
    let document = document::exact(&generated);
    let routes = routes::Routes::from_spec(
        &document,
        &[("/api/openapi.json", &["GET"]), ("/api/docs", &["GET"])],
    );
    // Swagger UI carries the document in its page.
    let ui = api.swagger_ui_html().replacen(&generated, &document, 1);
    Route::new()
        .at(
            "/api/openapi.json",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(document.clone())
            }),
        )
        .at(
            "/api/docs",
            poem::endpoint::make_sync(move |_| poem::web::Html(ui.clone())),
        )
        .nest("/", api)
        .around(schema::check_bodies)
        .around(limit_body)
        .with(Tracing)
        .around(routes::route_errors)
        .data(std::sync::Arc::new(routes))
        .data(state)
        .data(admin::RestoreSlot::default())
        .catch_all_error(crate::error::render)
}

/// Refuses a body that takes longer than [`BodyTimeout`] to arrive with 408, and bodies over
/// [`MAX_BODY_BYTES`] (an administrator's restore: [`admin::MAX_RESTORE_BYTES`]) with 413,
/// whether announced by `Content-Length` or streamed without one (poem's `SizeLimit` would also
/// refuse every request that has no `Content-Length`, GETs included), and text holding a NUL
/// character, in the query string or anywhere in the body, with 400: PostgreSQL cannot store
/// one in text or JSON, so it is refused the same way on every backend, before it reaches a
/// handler. A restore is admitted ([`admin::admit_restore`]: an administrator's token, no other
/// restore running) before any of its body is read, and holds its turn until it has been
/// answered.
async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let restore =
        req.method() == poem::http::Method::POST && req.uri().path() == admin::RESTORE_PATH;
    let (limit, _turn) = if restore {
        (
            admin::MAX_RESTORE_BYTES,
            Some(admin::admit_restore(&req).await?),
        )
    } else {
        (MAX_BODY_BYTES, None)
    };
    let too_large = || {
        ApiError::new(
            poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    };
    if let Some(ContentLength(len)) = req.headers().typed_get::<ContentLength>()
        && len > limit as u64
    {
        return Err(too_large().into());
    }
    let read = req.take_body().into_bytes_limit(limit);
    let read = match req.data::<BodyTimeout>() {
        Some(&BodyTimeout(timeout)) => tokio::time::timeout(timeout, read).await.map_err(|_| {
            ApiError::new(
                poem::http::StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} seconds",
                    timeout.as_secs()
                ),
            )
        })?,
        None => read.await,
    };
    let body = read.map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => too_large().into(),
        other => poem::Error::from(other),
    })?;
    let query_has_nul = req.uri().query().is_some_and(|q| {
        q.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    });
    if query_has_nul || json_has_nul(&body) {
        return Err(
            ApiError::bad_request("text must not contain NUL characters (\\u0000 or %00)").into(),
        );
    }
    req.set_body(body);
    Ok(next.call(req).await?.into_response())
}

/// Whether JSON text holds a NUL character: a `\u0000` escape (not an escaped backslash followed
/// by `u0000`) or, though JSON forbids it, a raw NUL byte.
fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0 => return true,
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                if bytes.get(i + 2..i + 6) == Some(b"0000") {
                    return true;
                }
                i += 2;
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    false
}

#[derive(Tags)]
enum Tag {
    /// Health and version
    Service,
    /// Registration, login and the caller's own account
    Auth,
    /// User administration (admins only)
    Users,
    /// Systems
    Systems,
    /// Alters
    Alters,
    /// Groups (affiliations): named sets of alters within a system, with leaders
    Groups,
    /// Subsystems: named clusters of alters within a system, with leaders
    Subsystems,
    /// Relationships between alters of one system (partner, parent, child)
    Relationships,
    /// Requests for system rights, and administrators' decisions on them
    SystemRequests,
    /// The audit log (admins only)
    Audit,
    /// Backup and restore of the whole instance (admins only)
    Admin,
    /// Instance settings (admins only)
    Settings,
    /// Password reset by single-use, expiring token
    PasswordReset,
}

/// A bearer token (`Authorization: Bearer <JWT>`), checked before the handler runs.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
struct BearerAuth(Bearing);

/// What a valid token says, and where it came from.
struct Bearing {
    claims: Claims,
    ip: Option<String>,
}

/// Checks the token's signature, algorithm and expiry; a token that fails is recorded in the
/// audit log (`auth.token_rejected`, counted per address and reason) before the 401.
async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Bearing> {
    let state = req.data::<AppState>().ok_or_else(ApiError::internal)?;
    let ip = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string());
    match state.tokens.verify(&bearer.token) {
        Ok(claims) => Ok(Bearing { claims, ip }),
        Err(refusal) => {
            let entry = token_rejected(ip, refusal.code, None, req.uri().path());
            state.record_refusal(refusal.code, entry).await;
            Err(refusal.into())
        }
    }
}

/// The audit entry for a token that was refused.
fn token_rejected(ip: Option<String>, reason: &str, user: Option<Id>, path: &str) -> NewEntry {
    let path: String = path.chars().take(200).collect();
    Change::by_id(None, ip, "auth.token_rejected").entry(
        user.map(|u| ("user", u.to_string())),
        serde_json::json!({ "reason": reason, "path": path }),
    )
}

/// `201 Created` with the new resource.
#[derive(ApiResponse)]
enum Created<T: ParseFromJSON + ToJSON + Send + Sync> {
    /// Created
    #[oai(status = 201)]
    Created(Json<T>),
}

/// `204 No Content`.
#[derive(ApiResponse)]
enum Done {
    /// Done
    #[oai(status = 204)]
    Done,
}

impl AppState {
    /// The user a token speaks for; 401 when that account no longer exists, or when its
    /// password changed since the token's session began (the token is revoked).
    async fn caller(&self, auth: &BearerAuth) -> ApiResult<User> {
        let claims = &auth.0.claims;
        let refusal = match self.callers.account(&self.db, claims.sub).await? {
            Some(account) if self.tokens.fingerprint(&account.password_hash) == claims.pwd => {
                return Ok(account.user);
            }
            Some(_) => ApiError::unauthorized(
                "token_revoked",
                "the password changed since this token was issued; log in again",
            ),
            None => ApiError::unauthorized("unknown_user", "the token's account no longer exists"),
        };
        let entry = token_rejected(auth.0.ip.clone(), refusal.code, Some(claims.sub), "");
        self.record_refusal(refusal.code, entry).await;
        Err(refusal)
    }

    /// Records a refused request: the first of its window (same action, address and `kind`)
    /// as its own audit entry, the rest counted into one summary ([`crate::refusals`]). The
    /// refusal stands even when the entry cannot be written (a database outage must not turn a
    /// 401 or 429 into something else).
    pub(crate) async fn record_refusal(&self, kind: &str, entry: NewEntry) {
        if self
            .refusals
            .note(RefusalKey::new(entry.action, entry.ip.clone(), kind))
        {
            self.write_refusal(entry).await;
        }
    }

    async fn write_refusal(&self, entry: NewEntry) {
        let action = entry.action;
        if let Err(error) = crate::store::audit::record_alone(&self.db, entry).await {
            tracing::warn!(%error, action, "cannot record a refused request in the audit log");
        }
    }

    /// Records a request refused by a rate limit (counted per address, endpoint and scope; the
    /// typed username is named only when it is an account's) and returns the 429 to send.
    pub(crate) async fn rate_limited(
        &self,
        ip: Option<String>,
        endpoint: &'static str,
        username: &str,
        limited: Limited,
    ) -> ApiError {
        let secs = limited.retry_after_secs();
        let scope = limited.scope.as_str();
        let key = RefusalKey::new(
            "auth.rate_limited",
            ip.clone(),
            format!("{endpoint}/{scope}"),
        );
        if self.refusals.note(key) {
            // Only the first of a window looks the name up, so a flood costs no queries.
            let account = crate::store::users::get_by_username(&self.db, username)
                .await
                .ok()
                .flatten();
            let (entity, mut metadata) =
                typed_account(account.as_ref().map(|u| (u.id, u.username.as_str())));
            metadata["endpoint"] = endpoint.into();
            metadata["scope"] = scope.into();
            metadata["retry_after"] = secs.into();
            self.write_refusal(
                Change::by_id(None, ip, "auth.rate_limited").entry(entity, metadata),
            )
            .await;
        }
        let whom = match limited.scope {
            crate::rate_limit::Scope::Username => "this username",
            crate::rate_limit::Scope::Ip => "your address",
        };
        ApiError::too_many_requests(
            format!("too many attempts for {whom}; try again in {secs} seconds"),
            secs,
        )
    }

    async fn admin(&self, auth: &BearerAuth) -> ApiResult<User> {
        let user = self.caller(auth).await?;
        if !user.is_admin {
            return Err(ApiError::forbidden("this needs an administrator"));
        }
        Ok(user)
    }
}

/// How an audit entry names the account a client typed: its id and username when it is an
/// account's, otherwise only that it is unknown. A typed name that matches no account is never
/// stored: it is sometimes the user's password, typed into the wrong field.
pub(crate) fn typed_account(
    account: Option<(Id, &str)>,
) -> (Option<(&'static str, String)>, serde_json::Value) {
    match account {
        Some((id, username)) => (
            Some(("user", id.to_string())),
            serde_json::json!({ "username": username }),
        ),
        None => (None, serde_json::json!({ "account": "unknown" })),
    }
}

/// The paging window from query parameters (validated by the handlers' parameter bounds).
fn window(limit: Option<i64>, offset: Option<i64>) -> Window {
    Window {
        limit: limit.unwrap_or(DEFAULT_LIMIT),
        offset: offset.unwrap_or(0),
    }
}

/// The client's IP address, as recorded in the audit log.
fn client_ip(remote: &RemoteAddr) -> Option<String> {
    remote.as_socket_addr().map(|a| a.ip().to_string())
}

/// A field change from a partial update: absent → `None` (keep), `null` → `Some(None)` (clear),
/// a value → `Some(Some(v))`.
fn change<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// What a name or search text must hold, as the document says it: a character that is not
/// white space (as `str::trim` knows it, spelled out so that every regex dialect reads it the
/// same), and no NUL. The fields carry it in their `validator(pattern)`, checked against this by
/// `service::the_document_states_what_the_server_does`.
pub const NOT_BLANK: &str = r"^[^\x00]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$";

/// A row the request body names that is not there (or not the caller's) breaks a rule of the
/// body: 422, where a missing row the path names is 404 (README, "API").
pub(crate) fn named_in_body(err: ApiError) -> ApiError {
    match err.status {
        poem::http::StatusCode::NOT_FOUND => ApiError::invalid(err.message),
        _ => err,
    }
}

/// A required text field after trimming; 422 when it is blank.
pub(crate) fn required(field: &str, value: String) -> ApiResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::invalid(format!("{field} must not be blank")));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::json_has_nul;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(json_has_nul(br#"{"a":"x\u0000y"}"#));
        assert!(json_has_nul(br#"{"a\u0000":1}"#));
        assert!(json_has_nul(b"{\"a\":\"\0\"}"));
        assert!(
            json_has_nul(br#"["\\\u0000"]"#),
            "an escaped backslash, then a NUL"
        );
        assert!(
            !json_has_nul(br#"{"a":"x\\u0000y"}"#),
            "a backslash and the text u0000"
        );
        assert!(!json_has_nul(br#"{"a":"\u0001 \" \\"}"#));
    }
}
