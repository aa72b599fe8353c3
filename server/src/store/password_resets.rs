//! `password_reset_tokens`: single-use, expiring tokens, stored only as their SHA-256
//! ([`crate::auth::reset_token_hash`]); the raw token never reaches the database.

use sqlx::FromRow;

use crate::db::{Db, Id, Stmt, Timestamp, Tx};

/// A token's state, found by its hash.
#[derive(Debug, Clone, FromRow)]
pub struct ResetToken {
    pub user_id: Id,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

pub async fn insert(
    tx: &mut Tx,
    user_id: Id,
    token_hash: String,
    expires_at: Timestamp,
) -> Result<(), sqlx::Error> {
    tx.conn()
        .execute(
            Stmt::new(
                "INSERT INTO password_reset_tokens (id, user_id, token_hash, expires_at, \
                 created_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(Id::new())
            .bind(user_id)
            .bind(token_hash)
            .bind(expires_at)
            .bind(Timestamp::now()),
        )
        .await?;
    Ok(())
}

pub async fn by_hash(db: &Db, token_hash: &str) -> Result<Option<ResetToken>, sqlx::Error> {
    db.conn()
        .fetch_optional(
            Stmt::new(
                "SELECT user_id, expires_at, used_at FROM password_reset_tokens \
                 WHERE token_hash = ?",
            )
            .bind(token_hash),
        )
        .await
}

/// Marks the token used at `now` if it is unused and unexpired then; true when this call did.
///
/// The check and the mark are one conditional `UPDATE`, so of two concurrent consumers exactly
/// one succeeds: the second waits for the first's row lock (SQLite: for its write
/// transaction), then re-reads `used_at` and matches nothing.
pub async fn consume(tx: &mut Tx, token_hash: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let marked = tx
        .conn()
        .execute(
            Stmt::new(
                "UPDATE password_reset_tokens SET used_at = ? \
                 WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
            )
            .bind(now)
            .bind(token_hash)
            .bind(now),
        )
        .await?;
    Ok(marked == 1)
}

/// Marks every unused token of `user` as used at `now`, so that once a reset succeeds no other
/// outstanding token can reset the password again. Returns how many.
pub async fn revoke_outstanding(tx: &mut Tx, user: Id, now: Timestamp) -> Result<u64, sqlx::Error> {
    tx.conn()
        .execute(
            Stmt::new(
                "UPDATE password_reset_tokens SET used_at = ? \
                 WHERE user_id = ? AND used_at IS NULL",
            )
            .bind(now)
            .bind(user),
        )
        .await
}
