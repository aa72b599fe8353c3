//! MySQL (and MariaDB): `?` placeholders as written; the driver sets the session to UTC and
//! utf8mb4.

use std::str::FromStr;

use sqlx::MySql;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};

use super::{ConnectError, Dialect, pool_options};
use crate::config::PoolConfig;
use didhub_migrations::Backend;

impl Dialect for MySql {}

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
