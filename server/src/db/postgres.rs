//! PostgreSQL: numbered placeholders.

use std::borrow::Cow;
use std::str::FromStr;

use chrono::SecondsFormat;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgDatabaseError, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};

use super::dialect::Dialect;
use super::error::ConnectError;
use super::stmt::Arg;
use didhub_migrations::Backend;

impl Dialect for Postgres {
    const BEGIN_READ: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    const BACKEND: Backend = Backend::Postgres;
    const EXPLAIN: &'static str = "EXPLAIN (FORMAT JSON) ";

    fn plan_text(rows: Vec<PgRow>) -> Result<String, sqlx::Error> {
        let doc: serde_json::Value = rows.first().ok_or(sqlx::Error::RowNotFound)?.try_get(0)?;
        Ok(doc.to_string())
    }

    fn first_row<'c>(
        conn: &'c mut PgConnection,
        query: Query<'c, Postgres, PgArguments>,
    ) -> impl Future<Output = Result<Option<PgRow>, sqlx::Error>> + Send + 'c {
        query.fetch_optional(conn)
    }

    /// `?` → `$1`, `$2`, … outside string literals.
    fn placeholders(sql: &str) -> Cow<'_, str> {
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        let mut in_literal = false;
        for c in sql.chars() {
            match c {
                '\'' => {
                    in_literal = !in_literal;
                    out.push(c);
                }
                '?' if !in_literal => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                }
                _ => out.push(c),
            }
        }
        Cow::Owned(out)
    }

    /// SQLSTATE class 08 (connection exception), 57P01–57P03 (the server is shutting down,
    /// crashed or is starting), 53300 (no connection slot left) and 40001/40P01 (the transaction
    /// lost a serialization conflict or a deadlock: trying again succeeds).
    fn unavailable(err: &dyn sqlx::error::DatabaseError) -> bool {
        err.try_downcast_ref::<PgDatabaseError>().is_some_and(|e| {
            let code = e.code();
            code.starts_with("08")
                || matches!(
                    code,
                    "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
                        // A write on a server that is a standby now (after a failover, the old
                        // primary back as one): its connection is closed and the pool's next
                        // one goes to the new primary.
                        | "25006"
                )
        })
    }
}

/// The connection options of `url`.
pub(super) fn options(url: &str) -> Result<PgConnectOptions, ConnectError> {
    let error = |source| ConnectError::Connect {
        backend: Backend::Postgres,
        source,
    };
    PgConnectOptions::from_str(url).map_err(error)
}

/// `COPY table (columns) FROM STDIN` in PostgreSQL's text format, sent in chunks of about 1 MiB.
pub(super) async fn copy_in(
    conn: &mut PgConnection,
    table: &'static str,
    columns: &[&'static str],
    rows: Vec<Vec<Arg>>,
) -> Result<u64, sqlx::Error> {
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({}) FROM STDIN", columns.join(", ")))
        .await?;
    let mut buffer = String::new();
    for row in rows {
        for (i, arg) in row.iter().enumerate() {
            if i > 0 {
                buffer.push('\t');
            }
            copy_text(arg, &mut buffer);
        }
        buffer.push('\n');
        if buffer.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buffer).into_bytes()).await?;
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.into_bytes()).await?;
    }
    copy.finish().await
}

/// One value in COPY's text format: `\N` for NULL, backslash escapes for the separators.
fn copy_text(arg: &Arg, out: &mut String) {
    let text: Option<Cow<'_, str>> = match arg {
        Arg::Id(id) => id.map(|id| id.to_string().into()),
        Arg::Text(text) => text.as_deref().map(Cow::Borrowed),
        Arg::Int(n) => Some(n.to_string().into()),
        Arg::Bool(b) => Some(if *b { "t" } else { "f" }.into()),
        Arg::Time(t) => t.map(|t| t.0.to_rfc3339_opts(SecondsFormat::Micros, true).into()),
        Arg::Json(value) => Some(value.to_string().into()),
    };
    let Some(text) = text else {
        out.push_str("\\N");
        return;
    };
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{MySql, Sqlite};

    use super::*;

    #[test]
    fn postgres_numbers_placeholders_outside_string_literals() {
        assert_eq!(
            Postgres::placeholders("SELECT '?', a FROM t WHERE b = ? AND c LIKE ? ESCAPE '\\'"),
            "SELECT '?', a FROM t WHERE b = $1 AND c LIKE $2 ESCAPE '\\'"
        );
        assert_eq!(Sqlite::placeholders("a = ?"), "a = ?");
        assert_eq!(MySql::placeholders("a = ?"), "a = ?");
    }

    #[test]
    fn copy_text_escapes_separators_and_spells_null() {
        let mut out = String::new();
        for arg in [
            Arg::from("a\tb\nc\\d\re"),
            Arg::Text(None),
            Arg::from(true),
            Arg::from(-3i64),
        ] {
            copy_text(&arg, &mut out);
            out.push('|');
        }
        assert_eq!(out, "a\\tb\\nc\\\\d\\re|\\N|t|-3|");
    }
}
