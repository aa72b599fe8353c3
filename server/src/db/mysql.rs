//! MySQL (and MariaDB): `?` placeholders as written; the driver sets the session to UTC and
//! utf8mb4.

use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlRow};
use sqlx::{MySql, Row};

use super::{ConnectError, Dialect, pool_options};
use crate::config::PoolConfig;
use didhub_migrations::Backend;

impl Dialect for MySql {
    const BEGIN_READ: &'static str = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
    const BACKEND: Backend = Backend::MySql;
    const EXPLAIN: &'static str = "EXPLAIN FORMAT=JSON ";

    fn plan_text(rows: Vec<MySqlRow>) -> Result<String, sqlx::Error> {
        rows.first().ok_or(sqlx::Error::RowNotFound)?.try_get(0)
    }
}

pub(super) async fn connect(url: &str, pool: &PoolConfig) -> Result<MySqlPool, ConnectError> {
    let error = |source| ConnectError::Connect {
        backend: Backend::MySql,
        source,
    };
    let options = MySqlConnectOptions::from_str(url).map_err(error)?;
    pool_options(pool)
        .connect_with(options)
        .await
        .map_err(error)
}
