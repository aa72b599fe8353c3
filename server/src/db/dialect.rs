//! What differs per backend, as the questions each backend module answers: how to spell
//! placeholders, how transactions begin, how plans are asked for and read, which errors mean
//! the database is unavailable. The policy that asks them is written once, in the other modules.

use std::borrow::Cow;

use didhub_migrations::Backend;
use sqlx::Database;
use sqlx::error::DatabaseError;
use sqlx::query::Query;

/// What a backend module answers.
pub(super) trait Dialect: Database {
    const BACKEND: Backend;

    /// The statement that opens a transaction that will write.
    const BEGIN_WRITE: &'static str = "BEGIN";

    /// The statement that opens a read-only transaction whose reads all see one snapshot.
    const BEGIN_READ: &'static str;

    /// What turns a query into a request for its plan.
    const EXPLAIN: &'static str;

    /// Rewrites `?` placeholders into the dialect's own form.
    fn placeholders(sql: &str) -> Cow<'_, str> {
        Cow::Borrowed(sql)
    }

    /// Whether a database error means the database cannot serve right now (see
    /// [`super::is_unavailable`]): the backend's own codes.
    fn unavailable(err: &dyn DatabaseError) -> bool;

    /// The plan as text: the JSON document (PostgreSQL, MySQL) or the plan lines (SQLite).
    fn plan_text(rows: Vec<Self::Row>) -> Result<String, sqlx::Error>;

    /// The first row `query` answers: what [`super::Conn::fetch_optional`] sends its statements,
    /// which find rows by key, through.
    fn first_row<'c>(
        conn: &'c mut Self::Connection,
        query: Query<'c, Self, Self::Arguments>,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + 'c;
}
