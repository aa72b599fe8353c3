//! `system_requests`: a user's request for system rights, and an administrator's decision.

use poem_openapi::Object;
use sqlx::FromRow;

use super::{ListQuery, Window, text_enum};
use crate::db::{Db, Id, Stmt, Timestamp, Tx};

text_enum! {
    /// Where a request stands (`ck_system_requests_status`).
    pub enum RequestStatus {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
}

#[derive(Debug, Clone, PartialEq, Object, FromRow)]
pub struct SystemRequest {
    pub id: Id,
    /// Who asks.
    pub user_id: Id,
    pub username: String,
    #[sqlx(try_from = "String")]
    pub status: RequestStatus,
    /// The requester's note.
    pub note: Option<String>,
    /// The administrator who decided; null while pending, or once that account is deleted.
    pub decided_by: Option<Id>,
    pub decided_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// Which requests a list shows.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub user_id: Option<Id>,
    pub status: Option<RequestStatus>,
}

const SELECT_REQUESTS: &str = "SELECT r.id, r.user_id, u.username, r.status, r.note, \
                               r.decided_by, r.decided_at, r.created_at";
const FROM_REQUESTS: &str = " FROM system_requests r JOIN users u ON u.id = r.user_id";

/// One request by id.
pub fn by_id(id: Id) -> Stmt {
    let mut stmt = Stmt::new(SELECT_REQUESTS);
    stmt.push(FROM_REQUESTS).push_bind(" WHERE r.id = ?", id);
    stmt
}

pub async fn get(db: &Db, id: Id) -> Result<Option<SystemRequest>, sqlx::Error> {
    db.conn().fetch_optional(by_id(id)).await
}

/// The query behind [`list`].
pub fn list_query(filter: &RequestFilter, window: Window) -> ListQuery {
    let mut from = Stmt::new(FROM_REQUESTS);
    from.push(" WHERE 1 = 1");
    if let Some(user) = filter.user_id {
        from.push_bind(" AND r.user_id = ?", user);
    }
    if let Some(status) = filter.status {
        from.push_bind(" AND r.status = ?", status.as_str());
    }
    ListQuery::new(
        "SELECT COUNT(*)",
        SELECT_REQUESTS,
        from,
        " ORDER BY r.created_at DESC, r.id DESC",
        window,
    )
}

/// Requests matching the filter, newest first, and how many match in all.
pub async fn list(
    db: &Db,
    filter: &RequestFilter,
    window: Window,
) -> Result<(Vec<SystemRequest>, i64), sqlx::Error> {
    list_query(filter, window).fetch(db).await
}

/// Whether the user has a request still waiting for a decision.
pub async fn has_pending(tx: &mut Tx, user: Id) -> Result<bool, sqlx::Error> {
    let count = tx
        .conn()
        .fetch_int(
            Stmt::new("SELECT COUNT(*) FROM system_requests WHERE user_id = ? AND status = ?")
                .bind(user)
                .bind(RequestStatus::Pending.as_str()),
        )
        .await?;
    Ok(count > 0)
}

pub async fn insert(tx: &mut Tx, user: Id, note: Option<String>) -> Result<Id, sqlx::Error> {
    let id = Id::new();
    tx.conn()
        .execute(
            Stmt::new(
                "INSERT INTO system_requests (id, user_id, status, note, created_at) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(user)
            .bind(RequestStatus::Pending.as_str())
            .bind(note)
            .bind(Timestamp::now()),
        )
        .await?;
    Ok(id)
}

/// Decides a pending request; false when it is not pending (any more). The condition on the
/// status makes two administrators deciding at once safe: only one of them changes the row.
pub async fn decide(
    tx: &mut Tx,
    id: Id,
    status: RequestStatus,
    by: Id,
) -> Result<bool, sqlx::Error> {
    let changed = tx
        .conn()
        .execute(
            Stmt::new(
                "UPDATE system_requests SET status = ?, decided_by = ?, decided_at = ? \
                 WHERE id = ? AND status = ?",
            )
            .bind(status.as_str())
            .bind(by)
            .bind(Timestamp::now())
            .bind(id)
            .bind(RequestStatus::Pending.as_str()),
        )
        .await?;
    Ok(changed == 1)
}
