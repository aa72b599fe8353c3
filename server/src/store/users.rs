//! `users`: accounts and their credentials.

use poem_openapi::Object;
use sqlx::FromRow;

use super::{ListQuery, Window, WriteError};
use crate::db::{Db, Id, Stmt, Timestamp, Tx};

/// An account as the API shows it (never with its password hash).
#[derive(Debug, Clone, PartialEq, Object, FromRow)]
pub struct User {
    pub id: Id,
    pub username: String,
    pub email: Option<String>,
    pub is_admin: bool,
    pub is_system: bool,
    pub is_approved: bool,
    pub must_change_password: bool,
    pub avatar: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

/// An account with its password hash: what checking a token needs.
#[derive(Debug, Clone, FromRow)]
pub struct Account {
    #[sqlx(flatten)]
    pub user: User,
    pub password_hash: String,
}

/// What login needs.
#[derive(Debug, Clone, FromRow)]
pub struct Credentials {
    pub id: Id,
    pub username: String,
    pub password_hash: String,
}

/// A new account; the password is already hashed.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub is_admin: bool,
    pub is_system: bool,
    pub is_approved: bool,
    pub must_change_password: bool,
}

/// Field changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<Option<String>>,
    pub avatar: Option<Option<String>>,
    pub is_admin: Option<bool>,
    pub is_system: Option<bool>,
    pub is_approved: Option<bool>,
    pub must_change_password: Option<bool>,
}

macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT id, username, email, is_admin, is_system, is_approved, must_change_password, \
             avatar, created_at, updated_at, last_login_at FROM users ",
            $rest
        )
    };
}

pub async fn get(db: &Db, id: Id) -> Result<Option<User>, sqlx::Error> {
    db.conn()
        .fetch_optional(Stmt::new(select_users!("WHERE id = ?")).bind(id))
        .await
}

/// One user with its password hash, in one query.
pub async fn account(db: &Db, id: Id) -> Result<Option<Account>, sqlx::Error> {
    db.conn()
        .fetch_optional(
            Stmt::new(
                "SELECT id, username, email, is_admin, is_system, is_approved, \
                 must_change_password, avatar, created_at, updated_at, last_login_at, \
                 password_hash FROM users WHERE id = ?",
            )
            .bind(id),
        )
        .await
}

/// One user by (lower-case) username. The database's answer is only a candidate: see
/// [`get_by_username`].
pub fn by_username(username: &str) -> Stmt {
    Stmt::new(select_users!("WHERE username = ?")).bind(username)
}

/// The user whose username is exactly `username`, byte for byte. Every lookup by username
/// (login, password reset, the registration conflict check, the bootstrap admin) goes through
/// here or [`credentials_by_username`], because the database's `=` is not byte equality on every
/// backend: MySQL's `utf8mb4_unicode_ci` finds `robin` for `róbin` (accents ignored, and
/// ignorable characters such as a soft hyphen skipped), which would log `róbin` in as `robin`
/// with a fresh failed-login counter. The row the database finds is kept only when its username
/// is the one asked for, so every backend answers as SQLite and PostgreSQL do.
pub async fn get_by_username(db: &Db, username: &str) -> Result<Option<User>, sqlx::Error> {
    let found: Option<User> = db.conn().fetch_optional(by_username(username)).await?;
    Ok(found.filter(|user| user.username == username))
}

/// A user's id and password hash by username, byte for byte as [`get_by_username`].
pub async fn credentials_by_username(
    db: &Db,
    username: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    let found: Option<Credentials> = db
        .conn()
        .fetch_optional(
            Stmt::new("SELECT id, username, password_hash FROM users WHERE username = ?")
                .bind(username),
        )
        .await?;
    Ok(found.filter(|c| c.username == username))
}

pub async fn credentials(db: &Db, id: Id) -> Result<Option<Credentials>, sqlx::Error> {
    db.conn()
        .fetch_optional(
            Stmt::new("SELECT id, username, password_hash FROM users WHERE id = ?").bind(id),
        )
        .await
}

/// Which users a list shows.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Username prefix (usernames are lower-case).
    pub username_prefix: Option<String>,
    pub is_admin: Option<bool>,
}

/// The query behind [`list`].
pub fn list_query(filter: &UserFilter, window: Window) -> ListQuery {
    let mut wheres = Stmt::new(" WHERE 1 = 1");
    if let Some(prefix) = &filter.username_prefix {
        wheres.push_bind(
            " AND username LIKE ? ESCAPE '!'",
            super::like_prefix(prefix),
        );
    }
    if let Some(is_admin) = filter.is_admin {
        wheres.push_bind(" AND is_admin = ?", is_admin);
    }
    ListQuery::new(
        "SELECT COUNT(*) FROM users",
        select_users!(""),
        wheres,
        " ORDER BY username",
        window,
    )
}

/// Users matching the filter, in username order, and how many match in all.
pub async fn list(
    db: &Db,
    filter: &UserFilter,
    window: Window,
) -> Result<(Vec<User>, i64), sqlx::Error> {
    list_query(filter, window).fetch(db).await
}

/// Inserts an account; [`WriteError::Duplicate`] when the username is taken.
pub async fn insert(tx: &mut Tx, new: NewUser) -> Result<Id, WriteError> {
    let id = Id::new();
    let now = Timestamp::now();
    tx.conn()
        .execute(
            Stmt::new(
                "INSERT INTO users (id, username, email, password_hash, is_admin, is_system, \
                 is_approved, must_change_password, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(new.username)
            .bind(new.email)
            .bind(new.password_hash)
            .bind(new.is_admin)
            .bind(new.is_system)
            .bind(new.is_approved)
            .bind(new.must_change_password)
            .bind(now)
            .bind(now),
        )
        .await?;
    Ok(id)
}

/// Applies the changes; false when there is no such user.
pub async fn update(tx: &mut Tx, id: Id, changes: UserChanges) -> Result<bool, sqlx::Error> {
    let mut stmt = Stmt::new("UPDATE users SET updated_at = ?").bind(Timestamp::now());
    if let Some(email) = changes.email {
        stmt.push_bind(", email = ?", email);
    }
    if let Some(avatar) = changes.avatar {
        stmt.push_bind(", avatar = ?", avatar);
    }
    if let Some(v) = changes.is_admin {
        stmt.push_bind(", is_admin = ?", v);
    }
    if let Some(v) = changes.is_system {
        stmt.push_bind(", is_system = ?", v);
    }
    if let Some(v) = changes.is_approved {
        stmt.push_bind(", is_approved = ?", v);
    }
    if let Some(v) = changes.must_change_password {
        stmt.push_bind(", must_change_password = ?", v);
    }
    stmt.push_bind(" WHERE id = ?", id);
    Ok(tx.conn().execute(stmt).await? == 1)
}

pub async fn set_password(tx: &mut Tx, id: Id, password_hash: String) -> Result<(), sqlx::Error> {
    tx.conn()
        .execute(
            Stmt::new(
                "UPDATE users SET password_hash = ?, must_change_password = ?, updated_at = ? \
                 WHERE id = ?",
            )
            .bind(password_hash)
            .bind(false)
            .bind(Timestamp::now())
            .bind(id),
        )
        .await?;
    Ok(())
}

pub async fn record_login(tx: &mut Tx, id: Id) -> Result<(), sqlx::Error> {
    tx.conn()
        .execute(
            Stmt::new("UPDATE users SET last_login_at = ? WHERE id = ?")
                .bind(Timestamp::now())
                .bind(id),
        )
        .await?;
    Ok(())
}

/// Deletes a user (their systems and alters go with them); false when there was none.
pub async fn delete(tx: &mut Tx, id: Id) -> Result<bool, sqlx::Error> {
    Ok(tx
        .conn()
        .execute(Stmt::new("DELETE FROM users WHERE id = ?").bind(id))
        .await?
        == 1)
}
