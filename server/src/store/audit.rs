//! `audit_logs`: who did what, when, from where.

use poem_openapi::Object;
use sqlx::FromRow;

use super::{ListQuery, Window};
use crate::db::{Db, Id, Stmt, Timestamp, Tx};

#[derive(Debug, Clone, PartialEq, Object, FromRow)]
pub struct AuditEntry {
    pub id: Id,
    /// The acting user; null once that user is deleted, or for anonymous actions.
    pub user_id: Option<Id>,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub ip: Option<String>,
    #[sqlx(json)]
    pub metadata: serde_json::Value,
    pub created_at: Timestamp,
}

/// An entry to record.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub user_id: Option<Id>,
    pub action: &'static str,
    pub entity_type: Option<&'static str>,
    pub entity_id: Option<String>,
    pub ip: Option<String>,
    pub metadata: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub user_id: Option<Id>,
    /// Inclusive.
    pub from: Option<Timestamp>,
    /// Inclusive.
    pub to: Option<Timestamp>,
}

pub async fn record(tx: &mut Tx, entry: NewEntry) -> Result<(), sqlx::Error> {
    tx.conn()
        .execute(
            Stmt::new(
                "INSERT INTO audit_logs (id, user_id, action, entity_type, entity_id, ip, \
                 metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(Id::new())
            .bind(entry.user_id)
            .bind(entry.action)
            .bind(entry.entity_type.map(str::to_owned))
            .bind(entry.entity_id)
            .bind(entry.ip)
            .bind(entry.metadata)
            .bind(Timestamp::now()),
        )
        .await?;
    Ok(())
}

/// Records `entry` in a write transaction of its own: an event that changes nothing else (a
/// refusal, a backup taken, a request for an unknown account).
pub async fn record_alone(db: &Db, entry: NewEntry) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    record(&mut tx, entry).await?;
    tx.commit().await
}

/// The query behind [`list`].
pub fn list_query(filter: &AuditFilter, window: Window) -> ListQuery {
    let mut from = Stmt::new(" FROM audit_logs WHERE 1 = 1");
    if let Some(action) = &filter.action {
        from.push_bind(" AND action = ?", action.clone());
    }
    if let Some(user) = filter.user_id {
        from.push_bind(" AND user_id = ?", user);
    }
    if let Some(t) = filter.from {
        from.push_bind(" AND created_at >= ?", t);
    }
    if let Some(t) = filter.to {
        from.push_bind(" AND created_at <= ?", t);
    }

    ListQuery::new(
        "SELECT COUNT(*)",
        "SELECT id, user_id, action, entity_type, entity_id, ip, metadata, created_at",
        from,
        " ORDER BY created_at DESC, id DESC",
        window,
    )
}

/// Matching entries, newest first, and how many match in all.
pub async fn list(
    db: &Db,
    filter: &AuditFilter,
    window: Window,
) -> Result<(Vec<AuditEntry>, i64), sqlx::Error> {
    list_query(filter, window).fetch(db).await
}

/// Deletes at most `limit` entries older than `before`; returns how many. The inner query is
/// wrapped in a derived table because MySQL and MariaDB refuse `LIMIT` in an `IN` subquery, and
/// PostgreSQL and SQLite have no `DELETE … LIMIT`: this one statement runs on all three.
pub async fn purge_batch(tx: &mut Tx, before: Timestamp, limit: i64) -> Result<u64, sqlx::Error> {
    tx.conn()
        .execute(
            Stmt::new(
                "DELETE FROM audit_logs WHERE id IN (SELECT id FROM (SELECT id FROM audit_logs \
                 WHERE created_at < ? ORDER BY created_at LIMIT ?) AS batch)",
            )
            .bind(before)
            .bind(limit),
        )
        .await
}
