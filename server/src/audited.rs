//! The one way a request changes data: the change and its audit entry in one transaction.

use std::sync::Arc;

use poem::web::RemoteAddr;

use crate::db::{Id, Write};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::audit::{self, NewEntry};
use crate::store::users::User;

/// Who makes a change, from where, and the audit log's name for it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    actor: Option<Id>,
    ip: Option<String>,
    action: &'static str,
}

/// What a change returns, and what its audit entry says about it.
pub(crate) struct Outcome<T> {
    value: T,
    /// Each entry's entity and metadata: usually one, none when nothing changed.
    entries: Vec<(Option<(&'static str, String)>, serde_json::Value)>,
    /// The audit log's name for the change, when it is not the one its [`Change`] gave.
    action: Option<&'static str>,
    /// Who made the change, when its [`Change`] could not know (an account registering itself).
    actor: Option<Id>,
}

impl Change {
    /// A change made by `caller`.
    pub(crate) fn by(caller: &User, remote: &RemoteAddr, action: &'static str) -> Change {
        Change::by_id(Some(caller.id), client_ip(remote), action)
    }

    /// A change made by the account `actor` (none: anonymous), from `ip`.
    pub(crate) fn by_id(actor: Option<Id>, ip: Option<String>, action: &'static str) -> Change {
        Change { actor, ip, action }
    }

    /// The audit entry for this change, about `entity`.
    pub(crate) fn entry(
        &self,
        entity: Option<(&'static str, String)>,
        metadata: serde_json::Value,
    ) -> NewEntry {
        let (entity_type, entity_id) = entity.unzip();
        NewEntry {
            user_id: self.actor,
            action: self.action,
            entity_type,
            entity_id,
            ip: self.ip.clone(),
            metadata,
        }
    }
}

impl<T> Outcome<T> {
    /// `value`, recorded as a change of the `kind` row `id`, with `metadata`.
    pub(crate) fn of(
        value: T,
        kind: &'static str,
        id: impl ToString,
        metadata: serde_json::Value,
    ) -> Outcome<T> {
        Outcome {
            value,
            entries: vec![(Some((kind, id.to_string())), metadata)],
            action: None,
            actor: None,
        }
    }

    /// `value`, recorded as a change of no particular row.
    pub(crate) fn unnamed(value: T, metadata: serde_json::Value) -> Outcome<T> {
        Outcome {
            value,
            entries: vec![(None, metadata)],
            action: None,
            actor: None,
        }
    }

    /// `value`, with nothing recorded (yet: see [`Outcome::also`]); for a write that found
    /// nothing to change.
    pub(crate) fn unrecorded(value: T) -> Outcome<T> {
        Outcome {
            value,
            entries: Vec::new(),
            action: None,
            actor: None,
        }
    }

    /// The same outcome, also recorded as a change of the `kind` row `id`, in an entry of its own.
    pub(crate) fn also(
        mut self,
        kind: &'static str,
        id: impl ToString,
        metadata: serde_json::Value,
    ) -> Outcome<T> {
        self.entries.push((Some((kind, id.to_string())), metadata));
        self
    }

    /// The same outcome, recorded under `action` instead of the [`Change`]'s.
    pub(crate) fn recorded_as(self, action: &'static str) -> Outcome<T> {
        Outcome {
            action: Some(action),
            ..self
        }
    }

    /// The same outcome, recorded as made by `actor` when the [`Change`] names no one.
    pub(crate) fn by_default(self, actor: Id) -> Outcome<T> {
        Outcome {
            actor: Some(actor),
            ..self
        }
    }
}

impl AppState {
    /// Runs `write` and records its audit entry in the same transaction, then commits: both
    /// happen or neither does. The answer comes after the commit. `write` may run more than once
    /// (see [`crate::db::Db::write`]): it must touch nothing but its transaction.
    pub(crate) async fn audited<T, F>(&self, change: Change, write: F) -> ApiResult<T>
    where
        F: Write<Outcome<T>, ApiError>,
        T: Send + 'static,
    {
        let write = Arc::new(write);
        let change = Arc::new(change);
        self.db
            .write(move |tx| {
                let (write, change) = (write.clone(), change.clone());
                Box::pin(async move {
                    let outcome = write(tx).await?;
                    for (entity, metadata) in outcome.entries {
                        let mut entry = change.entry(entity, metadata);
                        entry.action = outcome.action.unwrap_or(entry.action);
                        entry.user_id = entry.user_id.or(outcome.actor);
                        audit::record(tx, entry).await?;
                    }
                    Ok(outcome.value)
                })
            })
            .await
    }
}

/// The client's IP address, as recorded in the audit log.
pub(crate) fn client_ip(remote: &RemoteAddr) -> Option<String> {
    remote.as_socket_addr().map(|a| a.ip().to_string())
}
