//! The one place where failures become HTTP responses.
//!
//! Every error leaves the server as `{"error": "...", "code": "..."}` with the status that says
//! what went wrong: 4xx for the client's mistakes (with the reason), 503 when the database cannot
//! be reached, 500 only for bugs. Database details are logged, never sent to the client.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

/// The body of every error response.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// What went wrong, for programs (`not_found`, `conflict`, `token_expired`, …).
    pub code: String,
}

/// An error a handler returns.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait before trying again, sent as `Retry-After` (429, 503 when busy).
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429: too many attempts; try again after `retry_after` seconds.
    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// `what` is the kind of thing that was not found: "user", "system", …
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// Something that existed and can no longer be used (an expired or used reset token).
    pub fn gone(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, code, message)
    }

    /// Well-formed input that breaks a rule (password policy, …).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; try again shortly",
        )
    }

    /// 503: the server has no capacity for this now (every password hashing turn is taken);
    /// try again after `retry_after` seconds.
    pub fn busy(message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", message)
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; it has been logged",
        )
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.message.clone(),
            code: self.code.to_owned(),
        }
    }

    /// Turns any error poem or poem-openapi raised (unparsable JSON, a missing field, a wrong
    /// content type, an unknown route, …) into the API's error shape, keeping its status.
    pub fn from_poem(err: &poem::Error) -> Self {
        if let Some(api) = err.downcast_ref::<ApiError>() {
            return api.clone();
        }
        let status = err.status();
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::REQUEST_TIMEOUT => "request_timeout",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            s if s.is_server_error() => {
                tracing::error!(error = %err, "unhandled server error");
                return ApiError::internal();
            }
            _ => "error",
        };
        let message = match err.to_string() {
            m if m.is_empty() => status.canonical_reason().unwrap_or("error").to_owned(),
            m => without_controls(&m),
        };
        ApiError::new(status, code, message)
    }
}

/// `message` with its control characters written as escapes (`\u{1b}`): a library's message
/// may quote what the client sent, and it goes into the answer and the log line.
pub(crate) fn without_controls(message: &str) -> String {
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            err if crate::db::is_unavailable(err) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::unavailable()
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                tracing::debug!(error = %err, "unique violation");
                ApiError::conflict("a record with the same unique value already exists")
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                tracing::debug!(error = %err, "foreign key violation");
                ApiError::conflict("the record refers to, or is referred to by, another record")
            }
            // What the handlers' checks should have refused first; still the client's input,
            // never a 500. The constraint's name stays in the log.
            sqlx::Error::Database(db)
                if matches!(
                    db.kind(),
                    sqlx::error::ErrorKind::NotNullViolation
                        | sqlx::error::ErrorKind::CheckViolation
                        | sqlx::error::ErrorKind::ExclusionViolation
                ) =>
            {
                tracing::debug!(error = %err, "constraint violation");
                ApiError::invalid(
                    "the record breaks a rule of the schema: a required value is missing or a \
                     value is not allowed",
                )
            }
            _ => {
                tracing::error!(error = %err, "database error");
                ApiError::internal()
            }
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let response = poem::web::Json(self.body()).with_status(self.status);
        match self.retry_after {
            Some(secs) => response
                .with_header(poem::http::header::RETRY_AFTER, secs)
                .into_response(),
            None => response.into_response(),
        }
    }
}

/// Every status an error can have, what it means, and whether it says when to try again
/// (`Retry-After`). The document lists on each operation those it can answer with
/// (`api::document::answers`).
pub const ERROR_STATUSES: [(u16, &str, bool); 13] = [
    (
        400,
        "Malformed: not what this document describes (not JSON, a wrong type, an unknown or missing field, a value outside its schema)",
        false,
    ),
    (
        401,
        "No token, or one that is invalid, expired or revoked; on login, a wrong username or password; an unknown password reset token",
        false,
    ),
    (403, "Not allowed", false),
    (
        404,
        "What the path names is not there (or is another user's)",
        false,
    ),
    (408, "The body did not arrive in time", false),
    (
        409,
        "Conflict: the name or pair exists, or a restore is running (then with Retry-After)",
        true,
    ),
    (410, "The password reset token expired or was used", false),
    (413, "The body is too large", false),
    (415, "The body is not JSON", false),
    (
        422,
        "Well formed, but breaks a rule this document cannot state (also: a row the body names is not there, or is another user's)",
        false,
    ),
    (
        429,
        "Too many attempts; try again after Retry-After seconds",
        true,
    ),
    (500, "The server failed; it has been logged", false),
    (
        503,
        "The database is unavailable, or every password-hashing turn is taken (then with Retry-After)",
        true,
    ),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let retry_after = || MetaHeader {
            name: "Retry-After".to_owned(),
            description: Some("Seconds to wait before trying again".to_owned()),
            required: false,
            deprecated: false,
            schema: u64::schema_ref(),
        };
        MetaResponses {
            responses: ERROR_STATUSES
                .iter()
                .map(|&(status, description, retry)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: if retry { vec![retry_after()] } else { vec![] },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// Middleware hook: every error, from any layer, leaves as the API's JSON error body.
pub async fn render(err: poem::Error) -> Response {
    poem::error::ResponseError::as_response(&ApiError::from_poem(&err))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A library's message quoting the client's bytes reaches neither the answer nor the log
    /// with a control character in it.
    #[test]
    fn messages_from_other_layers_carry_no_control_characters() {
        let err =
            poem::Error::from_string("unknown value `\u{1b}[31mred\n`", StatusCode::BAD_REQUEST);
        let api = ApiError::from_poem(&err);
        assert_eq!(api.message, "unknown value `\\u{1b}[31mred\\u{a}`");
        assert!(!api.to_string().chars().any(char::is_control));
    }
}
