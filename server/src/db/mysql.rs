//! MySQL (and MariaDB): `?` placeholders as written; the driver sets the session to UTC and
//! utf8mb4.

use std::str::FromStr;

use sqlx::mysql::{
    MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow,
};
use sqlx::query::Query;
use sqlx::{MySql, Row};

use super::dialect::Dialect;
use super::error::ConnectError;
use didhub_migrations::Backend;

impl Dialect for MySql {
    const BEGIN_READ: &'static str = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
    const BACKEND: Backend = Backend::MySql;
    const EXPLAIN: &'static str = "EXPLAIN FORMAT=JSON ";

    fn plan_text(rows: Vec<MySqlRow>) -> Result<String, sqlx::Error> {
        rows.first().ok_or(sqlx::Error::RowNotFound)?.try_get(0)
    }

    fn first_row<'c>(
        conn: &'c mut MySqlConnection,
        query: Query<'c, MySql, MySqlArguments>,
    ) -> impl Future<Output = Result<Option<MySqlRow>, sqlx::Error>> + Send + 'c {
        query.fetch_optional(conn)
    }

    /// ER_CON_COUNT_ERROR (1040, no connection left), ER_SERVER_SHUTDOWN (1053),
    /// ER_LOCK_WAIT_TIMEOUT (1205, a lock kept past `innodb_lock_wait_timeout`), ER_LOCK_DEADLOCK
    /// (1213, the transaction was a deadlock's victim: trying again succeeds) and MariaDB's
    /// ER_CONNECTION_KILLED (1927).
    fn unavailable(err: &dyn sqlx::error::DatabaseError) -> bool {
        err.try_downcast_ref::<MySqlDatabaseError>()
            .is_some_and(|e| matches!(e.number(), 1040 | 1053 | 1205 | 1213 | 1927))
    }
}

/// The connection options of `url`.
pub(super) fn options(url: &str) -> Result<MySqlConnectOptions, ConnectError> {
    let error = |source| ConnectError::Connect {
        backend: Backend::MySql,
        source,
    };
    MySqlConnectOptions::from_str(url).map_err(error)
}
