//! PostgreSQL: numbered placeholders.

use std::borrow::Cow;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgRow};
use sqlx::{Postgres, Row};

use super::{ConnectError, Dialect, pool_options};
use crate::config::PoolConfig;
use didhub_migrations::Backend;

impl Dialect for Postgres {
    const BACKEND: Backend = Backend::Postgres;
    const EXPLAIN: &'static str = "EXPLAIN (FORMAT JSON) ";

    fn plan_text(rows: Vec<PgRow>) -> Result<String, sqlx::Error> {
        let doc: serde_json::Value = rows.first().ok_or(sqlx::Error::RowNotFound)?.try_get(0)?;
        Ok(doc.to_string())
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
}

pub(super) async fn connect(url: &str, pool: &PoolConfig) -> Result<PgPool, ConnectError> {
    let error = |source| ConnectError::Connect {
        backend: Backend::Postgres,
        source,
    };
    let options = PgConnectOptions::from_str(url).map_err(error)?;
    pool_options(pool)
        .connect_with(options)
        .await
        .map_err(error)
}
