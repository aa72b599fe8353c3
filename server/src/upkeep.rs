//! The audit log's upkeep, done by the server itself on a timer: summaries of refusal windows
//! that have closed ([`crate::refusals`]) and the retention purge.
//!
//! Retention ([`retention_days`]: the run-time setting `audit.retention_days` when an
//! administrator has set it, otherwise `audit.retention_days` in the config file; 365 by default,
//! 0 there keeps entries forever): once at startup and then every [`PURGE_EVERY`], entries older than the retention are
//! deleted in batches of [`PURGE_BATCH`] rows, each batch its own short write transaction, so a
//! large backlog never holds a long lock or a huge transaction. A purge that deleted anything is
//! itself recorded as one `audit.retention_purge` entry (rows deleted, cutoff, retention,
//! batches); a purge with nothing to delete writes nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::config::AuditConfig;
use crate::db::{Db, Timestamp};
use crate::refusals::Refusals;
use crate::store::audit::{self, NewEntry};

/// Rows deleted per transaction by the retention purge.
pub const PURGE_BATCH: i64 = 1000;
/// How often the retention purge runs.
pub const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);
/// The longest the periodic task waits between looks at the refusal windows.
const MAX_TICK: Duration = Duration::from_secs(60);

/// What one retention purge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub deleted: u64,
    pub cutoff: Timestamp,
    pub batches: u64,
}

/// The retention in force: the run-time setting `audit.retention_days` when set, otherwise
/// `configured` (the config file's value).
pub async fn retention_days(db: &Db, configured: u32) -> Result<u32, sqlx::Error> {
    let set = crate::settings::AUDIT_RETENTION_DAYS.read(db).await?;
    Ok(set
        .as_u64()
        .and_then(|days| u32::try_from(days).ok())
        .unwrap_or(configured))
}

/// Deletes the entries older than `before`, [`PURGE_BATCH`] at a time, each batch in a write
/// transaction of its own, so that a purge of millions of entries never holds the database's
/// write lock (or a transaction's undo) for all of them at once. Returns how many were deleted,
/// in how many batches.
pub async fn purge_before(db: &Db, before: Timestamp) -> Result<(u64, u64), sqlx::Error> {
    let (mut deleted, mut batches) = (0, 0);
    loop {
        let mut tx = db.begin_write().await?;
        let batch = audit::purge_batch(&mut tx, before, PURGE_BATCH).await?;
        tx.commit().await?;
        deleted += batch;
        batches += 1;
        if batch < PURGE_BATCH as u64 {
            return Ok((deleted, batches));
        }
    }
}

/// Deletes the entries older than `retention_days` before now (nothing when it is 0), in
/// batches, and records the purge when it deleted anything.
pub async fn purge_expired(db: &Db, retention_days: u32) -> Result<Option<Purged>, sqlx::Error> {
    if retention_days == 0 {
        return Ok(None);
    }
    // A retention reaching back before the earliest date chrono counts keeps everything.
    let Some(cutoff) = Utc::now().checked_sub_signed(chrono::Duration::days(retention_days.into()))
    else {
        return Ok(None);
    };
    let cutoff = Timestamp::from(cutoff);
    let (deleted, batches) = purge_before(db, cutoff).await?;
    if deleted == 0 {
        return Ok(None);
    }
    let entry = NewEntry {
        user_id: None,
        action: "audit.retention_purge",
        entity_type: None,
        entity_id: None,
        ip: None,
        metadata: json!({
            "deleted": deleted,
            "cutoff": cutoff.to_string(),
            "retention_days": retention_days,
            "batches": batches,
        }),
    };
    audit::record_alone(db, entry).await?;
    Ok(Some(Purged {
        deleted,
        cutoff,
        batches,
    }))
}

/// Runs the upkeep until the task is aborted: refusal summaries as windows close, the
/// retention purge at once and then every [`PURGE_EVERY`].
pub async fn run(db: Db, refusals: Arc<Refusals>, config: AuditConfig) {
    let tick = config.refusal_window.min(MAX_TICK);
    let mut windows = tokio::time::interval(tick);
    let mut purge = tokio::time::interval(PURGE_EVERY);
    windows.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = windows.tick() => {
                refusals.write_closed(&db).await;
            }
            _ = purge.tick() => {
                let purged = match retention_days(&db, config.retention_days).await {
                    Ok(days) => purge_expired(&db, days).await,
                    Err(error) => Err(error),
                };
                match purged {
                    Ok(Some(purged)) => tracing::info!(
                        deleted = purged.deleted,
                        cutoff = %purged.cutoff,
                        "audit entries past their retention purged"
                    ),
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "the audit retention purge failed"),
                }
            }
        }
    }
}
