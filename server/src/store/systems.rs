//! `systems`: a user's systems.

use poem_openapi::Object;
use sqlx::FromRow;

use super::{ListQuery, Window};
use crate::db::{Db, Id, Stmt, Timestamp, Tx};

#[derive(Debug, Clone, PartialEq, Object, FromRow)]
pub struct System {
    pub id: Id,
    /// The owner.
    pub user_id: Id,
    pub name: String,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

macro_rules! select_systems {
    ($rest:literal) => {
        concat!(
            "SELECT id, user_id, name, description, created_at, updated_at FROM systems ",
            $rest
        )
    };
}

pub async fn get(db: &Db, id: Id) -> Result<Option<System>, sqlx::Error> {
    db.conn()
        .fetch_optional(Stmt::new(select_systems!("WHERE id = ?")).bind(id))
        .await
}

/// The query behind [`list`].
pub fn list_query(owner: Option<Id>, window: Window) -> ListQuery {
    let mut filter = Stmt::default();
    if let Some(owner) = owner {
        filter.push_bind(" WHERE user_id = ?", owner);
    }
    ListQuery::new(
        "SELECT COUNT(*) FROM systems",
        select_systems!(""),
        filter,
        " ORDER BY created_at, id",
        window,
    )
}

/// Systems of one owner, or of everyone when `owner` is `None`, oldest first.
pub async fn list(
    db: &Db,
    owner: Option<Id>,
    window: Window,
) -> Result<(Vec<System>, i64), sqlx::Error> {
    list_query(owner, window).fetch(db).await
}

pub async fn insert(
    tx: &mut Tx,
    owner: Id,
    name: String,
    description: Option<String>,
) -> Result<Id, sqlx::Error> {
    let id = Id::new();
    let now = Timestamp::now();
    tx.conn()
        .execute(
            Stmt::new(
                "INSERT INTO systems (id, user_id, name, description, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(owner)
            .bind(name)
            .bind(description)
            .bind(now)
            .bind(now),
        )
        .await?;
    Ok(id)
}

pub async fn update(
    tx: &mut Tx,
    id: Id,
    name: Option<String>,
    description: Option<Option<String>>,
) -> Result<(), sqlx::Error> {
    let mut stmt = Stmt::new("UPDATE systems SET updated_at = ?").bind(Timestamp::now());
    if let Some(name) = name {
        stmt.push_bind(", name = ?", name);
    }
    if let Some(description) = description {
        stmt.push_bind(", description = ?", description);
    }
    stmt.push_bind(" WHERE id = ?", id);
    tx.conn().execute(stmt).await?;
    Ok(())
}

/// Deletes a system and, by cascade, its alters.
pub async fn delete(tx: &mut Tx, id: Id) -> Result<(), sqlx::Error> {
    tx.conn()
        .execute(Stmt::new("DELETE FROM systems WHERE id = ?").bind(id))
        .await?;
    Ok(())
}
