//! `settings`: the values administrators have set, one JSON value per name. What the names
//! mean, their defaults and their validation live in [`crate::settings`].

use sqlx::FromRow;

use crate::db::{Spelling, Stmt, Timestamp, Tx};

#[derive(Debug, Clone, FromRow)]
pub struct StoredSetting {
    pub name: String,
    #[sqlx(json)]
    pub value: serde_json::Value,
    pub updated_at: Timestamp,
}

/// Every stored setting.
pub fn all() -> Stmt {
    Stmt::new("SELECT name, value, updated_at FROM settings")
}

/// One stored setting, on the pool or inside a transaction.
pub fn by_name(name: &str) -> Stmt {
    Stmt::new("SELECT name, value, updated_at FROM settings WHERE name = ?").bind(name)
}

/// Stores `value` under `name`, replacing what was there.
pub async fn put(tx: &mut Tx, name: &str, value: serde_json::Value) -> Result<(), sqlx::Error> {
    let mut stmt = Stmt::new("INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)")
        .bind(name)
        .bind(value)
        .bind(Timestamp::now());
    stmt.push_spelled(Spelling {
        sqlite: " ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
        postgres: " ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
                   updated_at = excluded.updated_at",
        mysql: " ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)",
    });
    tx.conn().execute(stmt).await?;
    Ok(())
}
