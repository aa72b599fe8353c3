//! Statements: SQL with `?` placeholders written once for every backend, its typed
//! arguments ([`Arg`], the `args!` macro), and the rows read back as arguments.

use didhub_migrations::Backend;
use sqlx::error::BoxDynError;
use sqlx::mysql::MySqlRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::{Arguments, AssertSqlSafe, Database, Encode, FromRow, Type};

use super::dialect::Dialect;
use super::types::{Id, Timestamp};

/// A row type every backend can decode.
pub trait Record:
    for<'r> FromRow<'r, SqliteRow>
    + for<'r> FromRow<'r, PgRow>
    + for<'r> FromRow<'r, MySqlRow>
    + Send
    + Unpin
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow>
        + for<'r> FromRow<'r, PgRow>
        + for<'r> FromRow<'r, MySqlRow>
        + Send
        + Unpin
{
}

/// A statement argument. Nullable variants keep their type, because PostgreSQL needs to know
/// that a NULL is a UUID or a timestamp.
#[derive(Debug, Clone)]
pub enum Arg {
    Id(Option<Id>),
    Text(Option<String>),
    Int(i64),
    Bool(bool),
    Time(Option<Timestamp>),
    Json(serde_json::Value),
}

/// The kind of value a column holds: how to read it when a row's shape is known only at run
/// time ([`super::Conn::fetch_args`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Id,
    Text,
    Int,
    Bool,
    Time,
    Json,
}

/// A row of arguments: `args![id, name, true]`.
#[macro_export]
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::db::Arg::from($value)),*]
    };
}
macro_rules! arg_from {
    ($($t:ty => $variant:ident($conv:expr)),* $(,)?) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Self {
                Arg::$variant($conv(v))
            }
        }
    )*};
}

arg_from! {
    Id => Id(Some),
    Option<Id> => Id(|v| v),
    String => Text(Some),
    &str => Text(|v: &str| Some(v.to_owned())),
    Option<String> => Text(|v| v),
    i64 => Int(|v| v),
    bool => Bool(|v| v),
    Timestamp => Time(Some),
    Option<Timestamp> => Time(|v| v),
    serde_json::Value => Json(|v| v),
}

/// SQL with `?` placeholders and its arguments.
///
/// SQL text only ever comes from `&'static str` fragments, so user input can reach the database
/// only as a bound argument.
#[derive(Debug, Clone, Default)]
pub struct Stmt {
    pub(super) parts: Vec<Part>,
    pub(super) args: Vec<Arg>,
}

/// One concept that the backends spell differently, such as a case-insensitive match that an
/// index can serve. Each spelling is a fragment with the same placeholders.
#[derive(Debug, Clone, Copy)]
pub struct Spelling {
    pub sqlite: &'static str,
    pub postgres: &'static str,
    pub mysql: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Part {
    Sql(&'static str),
    Spelled(Spelling),
}

impl Stmt {
    /// Whether the statement only reads (a SELECT that locks nothing), so that a replica can
    /// serve it.
    pub(super) fn is_read(&self) -> bool {
        let text: String = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Sql(sql) => *sql,
                Part::Spelled(spelling) => spelling.postgres,
            })
            .collect();
        let text = text.trim_start().to_ascii_uppercase();
        text.starts_with("SELECT") && !text.contains(" FOR UPDATE") && !text.contains(" FOR SHARE")
    }

    pub fn new(sql: &'static str) -> Self {
        Stmt {
            parts: vec![Part::Sql(sql)],
            args: Vec::new(),
        }
    }

    /// Binds the next `?`.
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Appends a fragment of SQL.
    pub fn push(&mut self, fragment: &'static str) -> &mut Self {
        self.parts.push(Part::Sql(fragment));
        self
    }

    /// Appends a fragment containing one `?` and binds it.
    pub fn push_bind(&mut self, fragment: &'static str, value: impl Into<Arg>) -> &mut Self {
        debug_assert_eq!(fragment.matches('?').count(), 1, "{fragment}");
        self.parts.push(Part::Sql(fragment));
        self.args.push(value.into());
        self
    }

    /// Appends a fragment each backend spells its own way, each spelling with one `?`, and
    /// binds it.
    pub fn push_bind_spelled(&mut self, spelling: Spelling, value: impl Into<Arg>) -> &mut Self {
        for fragment in [spelling.sqlite, spelling.postgres, spelling.mysql] {
            debug_assert_eq!(fragment.matches('?').count(), 1, "{fragment}");
        }
        self.parts.push(Part::Spelled(spelling));
        self.args.push(value.into());
        self
    }

    /// Appends a fragment without placeholders that each backend spells its own way (an
    /// upsert's conflict clause, say).
    pub fn push_spelled(&mut self, spelling: Spelling) -> &mut Self {
        for fragment in [spelling.sqlite, spelling.postgres, spelling.mysql] {
            debug_assert!(!fragment.contains('?'), "{fragment}");
        }
        self.parts.push(Part::Spelled(spelling));
        self
    }

    /// Appends another statement's SQL and arguments (a shared filter, say).
    pub fn append(&mut self, other: Stmt) -> &mut Self {
        self.parts.extend(other.parts);
        self.args.extend(other.args);
        self
    }

    /// The SQL as `backend` is sent it, before placeholders are rewritten.
    pub fn text(&self, backend: Backend) -> String {
        self.parts
            .iter()
            .map(|part| match (part, backend) {
                (Part::Sql(sql), _) => *sql,
                (Part::Spelled(s), Backend::Sqlite) => s.sqlite,
                (Part::Spelled(s), Backend::Postgres) => s.postgres,
                (Part::Spelled(s), Backend::MySql) => s.mysql,
            })
            .collect()
    }

    pub(super) fn sql_for<DB: Dialect>(&self) -> AssertSqlSafe<String> {
        AssertSqlSafe(DB::placeholders(&self.text(DB::BACKEND)).into_owned())
    }

    pub(super) fn arguments_for<DB>(self) -> Result<DB::Arguments, BoxDynError>
    where
        DB: Database,
        Option<Id>: for<'e> Encode<'e, DB> + Type<DB>,
        Option<String>: for<'e> Encode<'e, DB> + Type<DB>,
        i64: for<'e> Encode<'e, DB> + Type<DB>,
        bool: for<'e> Encode<'e, DB> + Type<DB>,
        Option<Timestamp>: for<'e> Encode<'e, DB> + Type<DB>,
        Json<serde_json::Value>: for<'e> Encode<'e, DB> + Type<DB>,
    {
        let mut arguments = DB::Arguments::default();
        for arg in self.args {
            match arg {
                Arg::Id(v) => arguments.add(v)?,
                Arg::Text(v) => arguments.add(v)?,
                Arg::Int(v) => arguments.add(v)?,
                Arg::Bool(v) => arguments.add(v)?,
                Arg::Time(v) => arguments.add(v)?,
                Arg::Json(v) => arguments.add(Json(v))?,
            }
        }
        Ok(arguments)
    }
}

/// One row's columns as `kinds` says.
pub(super) fn decode_args<R: sqlx::Row>(row: &R, kinds: &[ArgKind]) -> Result<Vec<Arg>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    Option<Id>: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Option<Timestamp>: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Json<serde_json::Value>: for<'r> sqlx::Decode<'r, R::Database> + Type<R::Database>,
{
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            Ok(match kind {
                ArgKind::Id => Arg::Id(row.try_get(i)?),
                ArgKind::Text => Arg::Text(row.try_get(i)?),
                ArgKind::Int => Arg::Int(row.try_get(i)?),
                ArgKind::Bool => Arg::Bool(row.try_get(i)?),
                ArgKind::Time => Arg::Time(row.try_get(i)?),
                ArgKind::Json => Arg::Json(row.try_get::<Json<serde_json::Value>, _>(i)?.0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use sqlx::{MySql, Postgres, Sqlite};

    use super::*;

    #[test]
    fn push_bind_keeps_sql_and_arguments_in_step() {
        let mut stmt = Stmt::new("SELECT 1 FROM t WHERE 1 = 1");
        stmt.push_bind(" AND a = ?", "x")
            .push_bind(" AND b = ?", 3i64);
        assert_eq!(
            stmt.text(Backend::Postgres),
            "SELECT 1 FROM t WHERE 1 = 1 AND a = ? AND b = ?"
        );
        assert_eq!(stmt.args.len(), 2);
    }

    #[test]
    fn a_spelled_fragment_is_sent_in_each_backends_spelling() {
        let mut stmt = Stmt::new("SELECT 1 FROM t WHERE 1 = 1");
        stmt.push_bind_spelled(
            Spelling {
                sqlite: " AND a LIKE ?",
                postgres: " AND lower(a) LIKE lower(?)",
                mysql: " AND a LIKE ? COLLATE utf8mb4_unicode_ci",
            },
            "x%",
        )
        .push_bind(" AND b = ?", 3i64);
        assert_eq!(
            stmt.sql_for::<Postgres>().0,
            "SELECT 1 FROM t WHERE 1 = 1 AND lower(a) LIKE lower($1) AND b = $2"
        );
        assert_eq!(
            stmt.sql_for::<Sqlite>().0,
            "SELECT 1 FROM t WHERE 1 = 1 AND a LIKE ? AND b = ?"
        );
        assert_eq!(
            stmt.sql_for::<MySql>().0,
            "SELECT 1 FROM t WHERE 1 = 1 AND a LIKE ? COLLATE utf8mb4_unicode_ci AND b = ?"
        );
        assert_eq!(stmt.args.len(), 2);
    }
}
