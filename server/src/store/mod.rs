//! The queries, one module per table, written once for every backend (see [`crate::db`]).
//!
//! Store functions only read and write rows; who may do what is decided by the API layer.
//! Writes take an open [`crate::db::Tx`] so that a change and its audit entry commit together.

pub mod alters;
pub mod audit;
pub mod groupings;
pub mod password_resets;
pub mod relationships;
pub mod settings;
pub mod system_requests;
pub mod systems;
pub mod users;

use poem_openapi::Object;
use poem_openapi::types::{ParseFromJSON, ToJSON};

use didhub_migrations::Backend;

use crate::db::{Db, Id, Record, Stmt, Tx};

/// Paging bounds every list accepts.
pub const MAX_LIMIT: i64 = 200;
pub const DEFAULT_LIMIT: i64 = 50;

/// A window of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}

/// One page of a list, with the total count of matching rows.
#[derive(Debug, Clone, Object)]
pub struct Page<T: ParseFromJSON + ToJSON + Send + Sync> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

impl<T: ParseFromJSON + ToJSON + Send + Sync> Page<T> {
    pub fn new(items: Vec<T>, total: i64, window: Window) -> Self {
        Page {
            items,
            total,
            limit: window.limit,
            offset: window.offset,
        }
    }
}

/// A list: the same filter counted, and read one window at a time.
pub struct ListQuery {
    pub count: Stmt,
    pub page: Stmt,
}

impl ListQuery {
    /// `count_head` and `select_head` each followed by `filter` (the `FROM`/`WHERE` part they
    /// share); the page is ordered by `order_by` and cut to `window`.
    pub fn new(
        count_head: &'static str,
        select_head: &'static str,
        filter: Stmt,
        order_by: &'static str,
        window: Window,
    ) -> Self {
        let mut count = Stmt::new(count_head);
        count.append(filter.clone());
        let mut page = Stmt::new(select_head);
        page.append(filter);
        page.push(order_by)
            .push_bind(" LIMIT ?", window.limit)
            .push_bind(" OFFSET ?", window.offset);
        ListQuery { count, page }
    }

    /// The rows in the window, and how many match in all.
    pub async fn fetch<T: Record>(self, db: &Db) -> Result<(Vec<T>, i64), sqlx::Error> {
        let total = db.conn().fetch_int(self.count).await?;
        Ok((db.conn().fetch_all(self.page).await?, total))
    }
}

/// Why a write that may collide with a unique key failed: a row with the same unique value
/// exists — which the API answers 409 in its own words ("that username is taken") — or anything
/// else the database said.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("a row with the same unique value exists")]
    Duplicate,
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => WriteError::Duplicate,
            _ => WriteError::Database(err),
        }
    }
}

/// Locks one row of `table` (by its `id`) until the transaction ends, so that transactions that
/// check something and then write, each under the same row, run one after the other instead of
/// both passing the check: "no pending request yet" under the user's row, "not each other's
/// parent" under the system's. A missing row locks nothing. SQLite needs no lock: its writers
/// already run one at a time (`BEGIN IMMEDIATE`).
pub async fn lock_row(tx: &mut Tx, table: &'static str, id: Id) -> Result<(), sqlx::Error> {
    if tx.backend() == Backend::Sqlite {
        return Ok(());
    }
    let mut stmt = Stmt::new("SELECT id FROM ");
    stmt.push(table).push_bind(" WHERE id = ? FOR UPDATE", id);
    tx.conn().execute(stmt).await?;
    Ok(())
}

/// A closed set of words that a text column holds (its CHECK lists them) or a query yields; the
/// API shows it as a string enum, and rows decode into it with `#[sqlx(try_from = "String")]`.
/// Each word is spelled once, so what the API accepts and what is bound and read back agree.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, poem_openapi::Enum)]
        pub enum $name {
            $($(#[$vmeta])* #[oai(rename = $text)] $variant,)*
        }

        impl $name {
            /// The value as the column holds it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::store::UnknownValue;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                match text.as_str() {
                    $($text => Ok($name::$variant),)*
                    _ => Err($crate::store::UnknownValue {
                        kind: stringify!($name),
                        value: text,
                    }),
                }
            }
        }
    };
}
pub(crate) use text_enum;

/// A row held a word its enum does not know: the schema's CHECK should have refused it.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: unknown value {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

/// The escape character used with `LIKE … ESCAPE '!'` (a backslash means different things in
/// MySQL and standard SQL string literals).
const LIKE_ESCAPE: char = '!';

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            out.push(LIKE_ESCAPE);
        }
        out.push(c);
    }
    out
}

/// A `LIKE` pattern matching values that start with `text`.
pub fn like_prefix(text: &str) -> String {
    format!("{}%", escape_like(text))
}

/// A `LIKE` pattern matching values that contain `text`.
pub fn like_contains(text: &str) -> String {
    format!("%{}%", escape_like(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_prefix("50%_off!"), "50!%!_off!!%");
        assert_eq!(like_contains("a"), "%a%");
    }
}
