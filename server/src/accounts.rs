//! Accounts: the rules for usernames and passwords, and the one way an account is made — by
//! registration, by an administrator, by `seed` and for the bootstrap admin alike.

use serde_json::json;

use crate::audited::{Change, Outcome};
use crate::config::BootstrapAdmin;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::WriteError;
use crate::store::users::{self, NewUser, User};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
/// What a new username may be, as the OpenAPI document says it (the registration and account
/// bodies carry it; `service::the_document_states_the_username_rule` holds them to it).
pub const USERNAME_PATTERN: &str = r"^[A-Za-z0-9_.-]{3,32}$";
/// Characters.
pub const PASSWORD_MIN: usize = 10;
/// Bytes (UTF-8): Argon2 accepts more, but a bound keeps hashing time bounded.
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Passwords long enough for the length rule that are still among the first tried by anyone
/// guessing (from public lists of the most common passwords). Compared case-insensitively.
const COMMON_PASSWORDS: &[&str] = &[
    "0000000000",
    "0123456789",
    "1111111111",
    "1234567890",
    "12345678910",
    "123456789a",
    "123456789q",
    "1234qwerty",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "9876543210",
    "a123456789",
    "abcd123456",
    "abcdefghij",
    "asdfghjkl1",
    "baseball123",
    "changeme123",
    "football123",
    "iloveyou12",
    "iloveyou123",
    "letmein123",
    "password01",
    "password12",
    "password123",
    "password1234",
    "password1!",
    "passw0rd123",
    "princess123",
    "q1w2e3r4t5",
    "q1w2e3r4t5y6",
    "qazwsxedcrfv",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "qwertyuiop",
    "sunshine123",
    "trustno1234",
    "welcome123",
    "zaq12wsxcde",
];

/// Usernames are case-insensitive: they are stored lower-case, so the unique index means the
/// same on every backend whatever its collation.
pub fn normalize_username(raw: &str) -> Result<String, ApiError> {
    let username = raw.trim().to_lowercase();
    let len = username.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(ApiError::invalid(format!(
            "username must be {USERNAME_MIN} to {USERNAME_MAX} characters"
        )));
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(ApiError::invalid(
            "username may contain only letters, digits, '_', '-' and '.'",
        ));
    }
    Ok(username)
}

/// The password policy, applied wherever a password is set (registration, accounts made by an
/// administrator, password change, reset): at least [`PASSWORD_MIN`] characters, at most
/// [`PASSWORD_MAX_BYTES`] bytes, not containing the username, not one repeated character, not
/// one of the most common passwords.
pub fn check_password_policy(username: &str, password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        return Err(ApiError::invalid(format!(
            "password must be at least {PASSWORD_MIN} characters"
        )));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(ApiError::invalid(format!(
            "password must be at most {PASSWORD_MAX_BYTES} bytes"
        )));
    }
    let lower = password.to_lowercase();
    if lower.contains(&username.to_lowercase()) {
        return Err(ApiError::invalid("password must not contain the username"));
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(ApiError::invalid(
            "password must not be a single repeated character",
        ));
    }
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(ApiError::invalid(
            "password is one of the most common passwords; choose another",
        ));
    }
    Ok(())
}

/// Creates an account after checking the username and password rules; 409 when taken.
pub async fn create(
    state: &AppState,
    actor: Option<&User>,
    ip: Option<String>,
    action: &'static str,
    username: &str,
    password: &str,
    template: NewUser,
) -> ApiResult<User> {
    let username = normalize_username(username)?;
    check_password_policy(&username, password)?;
    if users::get_by_username(&state.db, &username)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict("that username is taken"));
    }
    let password_hash = state.passwords.hash(password).await?;
    let new = NewUser {
        username: username.clone(),
        password_hash,
        ..template
    };
    let change = Change::by_id(actor.map(|a| a.id), ip, action);
    let id = state
        .audited(change, move |tx| {
            let new = new.clone();
            Box::pin(async move {
                let metadata = json!({ "username": new.username });
                let id = users::insert(tx, new).await.map_err(|e| match e {
                    WriteError::Duplicate => ApiError::conflict("that username is taken"),
                    WriteError::Database(e) => e.into(),
                })?;
                Ok(Outcome::of(id, "user", id, metadata).by_default(id))
            })
        })
        .await?;
    users::get(&state.db, id)
        .await?
        .ok_or_else(ApiError::internal)
}

/// Makes sure the bootstrap admin exists; true when it was created now. An existing account of
/// that name is left exactly as it is.
pub async fn ensure_admin(state: &AppState, admin: &BootstrapAdmin) -> Result<bool, ApiError> {
    let username = normalize_username(&admin.username)?;
    if let Some(existing) = users::get_by_username(&state.db, &username).await? {
        if !existing.is_admin {
            tracing::warn!(%username, "the bootstrap admin's username belongs to a non-admin account; left unchanged");
        }
        return Ok(false);
    }
    create(
        state,
        None,
        None,
        "user.bootstrap",
        &username,
        admin.password.expose(),
        NewUser {
            is_admin: true,
            is_approved: true,
            ..NewUser::default()
        },
    )
    .await?;
    tracing::info!(%username, "created the bootstrap admin");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy_names_the_rule_broken() {
        let rule = |u, p| check_password_policy(u, p).unwrap_err().message;
        assert!(rule("ann", "short").contains("at least 10"));
        assert!(rule("ann", "nine-char").contains("at least 10"));
        let long = "ab".repeat(513);
        assert!(rule("ann", &long).contains("at most 1024 bytes"));
        assert!(check_password_policy("ann", &"ab".repeat(512)).is_ok());
        // 342 three-byte characters: few enough characters, too many bytes.
        let euros = "€".repeat(342);
        assert!(rule("ann", &euros).contains("bytes"));
        assert!(rule("annabel", "xxANNABELxx").contains("username"));
        assert!(rule("annabel", "annabel").contains("at least"));
        assert!(rule("annabelle1", "Annabelle1").contains("username"));
        assert!(rule("ann", "aaaaaaaaaa").contains("repeated"));
        for common in ["password123", "QWERTYUIOP", "1234567890", "iloveyou123"] {
            assert!(rule("ann", common).contains("common"), "{common}");
        }
        assert!(check_password_policy("ann", "correct horse").is_ok());
        assert!(
            check_password_policy(crate::seed::DEMO_USERNAME, crate::seed::DEMO_PASSWORD).is_ok(),
            "the seed's demo password follows the policy"
        );
    }

    #[test]
    fn usernames_are_lower_cased_and_restricted() {
        assert_eq!(normalize_username("  Ann.B-1 ").unwrap(), "ann.b-1");
        assert!(normalize_username("an").is_err());
        assert!(normalize_username(&"a".repeat(33)).is_err());
        assert!(normalize_username("ann b").is_err());
        assert!(normalize_username("ann'; --").is_err());
    }
}
