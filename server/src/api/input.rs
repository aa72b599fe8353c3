//! What handlers make of their input: the paging window, a partial update's fields and whether
//! they change anything, a row the body names.

use poem_openapi::types::MaybeUndefined;

use crate::error::ApiError;
use crate::store::{DEFAULT_LIMIT, Window};

/// The paging window from query parameters (validated by the handlers' parameter bounds).
pub(super) fn window(limit: Option<i64>, offset: Option<i64>) -> Window {
    Window {
        limit: limit.unwrap_or(DEFAULT_LIMIT),
        offset: offset.unwrap_or(0),
    }
}

/// A field change from a partial update: absent → `None` (keep), `null` → `Some(None)` (clear),
/// a value → `Some(Some(v))`.
pub(super) fn change<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// A field change that would leave the field as it is (`current`) is no change: `None`. A partial
/// update whose every field is unchanged writes nothing and records no audit entry, so repeating
/// a request cannot grow the audit log.
pub(super) fn differs<T: PartialEq>(wanted: Option<T>, current: &T) -> Option<T> {
    wanted.filter(|w| w != current)
}

/// A row the request body names that is not there (or not the caller's) breaks a rule of the
/// body: 422, where a missing row the path names is 404 (README, "API").
pub(crate) fn named_in_body(err: ApiError) -> ApiError {
    match err.status {
        poem::http::StatusCode::NOT_FOUND => ApiError::invalid(err.message),
        _ => err,
    }
}
