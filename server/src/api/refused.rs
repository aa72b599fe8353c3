//! How the API records what it refuses: a rejected token, a rate limit, a failed login. Each
//! refusal is counted per window ([`crate::refusals`]) and only the first of a window is written.

use crate::audited::Change;
use crate::db::Id;
use crate::error::ApiError;
use crate::rate_limit::{Limited, Scope};
use crate::refusals::RefusalKey;
use crate::state::AppState;
use crate::store::audit::NewEntry;

impl AppState {
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
            Scope::Username => "this username",
            Scope::Ip => "your address",
        };
        ApiError::too_many_requests(
            format!("too many attempts for {whom}; try again in {secs} seconds"),
            secs,
        )
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
