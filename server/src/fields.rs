//! The rules for the text the API stores that the schema cannot state, written once for the
//! handlers, the document (their `validator` patterns) and a restore's checks
//! (`data/rules.rs`).

use crate::error::{ApiError, ApiResult};

/// What a name or search text must hold, as the document says it: a character that is not
/// white space (as `str::trim` knows it, spelled out so that every regex dialect reads it the
/// same), and no NUL. The fields carry it in their `validator(pattern)`, checked against this by
/// `service::the_document_states_what_the_server_does`.
pub const NOT_BLANK: &str = r"^[^\x00]*[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$";

/// A required text field after trimming; 422 when it is blank.
pub(crate) fn required(field: &str, value: String) -> ApiResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::invalid(format!("{field} must not be blank")));
    }
    Ok(trimmed.to_owned())
}

/// At most this many interests, each at most [`INTEREST_MAX`] characters.
const INTERESTS_MAX: usize = 50;
const INTEREST_MAX: usize = 100;

/// Trims interests, drops blank ones and enforces the size rules.
pub(crate) fn interests(list: Vec<String>) -> ApiResult<Vec<String>> {
    let list: Vec<String> = list
        .into_iter()
        .map(|i| i.trim().to_owned())
        .filter(|i| !i.is_empty())
        .collect();
    if list.len() > INTERESTS_MAX || list.iter().any(|i| i.chars().count() > INTEREST_MAX) {
        return Err(ApiError::invalid(format!(
            "at most {INTERESTS_MAX} interests of at most {INTEREST_MAX} characters each"
        )));
    }
    Ok(list)
}
