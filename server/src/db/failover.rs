//! Failover to a promoted replica (`database.failover_urls`): when the PostgreSQL server the
//! pool writes to stops answering, or answers as a standby, the pool is pointed at whichever of
//! the configured servers answers as a primary (`pg_is_in_recovery()` false), and new
//! connections go there; connections to the old one fail their next call (503) and are closed.
//!
//! Checked every [`CHECK_EVERY`] on a connection of its own, so that a pool waiting for a dead
//! server does not hold the check up. Writes acknowledged before the failover survive it only
//! where the replicas are synchronous (`synchronous_standby_names`): an asynchronous replica
//! promoted may lack the last writes the old primary acknowledged.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, PgPool, Row};

/// How often the primary is checked.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long one check may take before its server counts as not answering.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Watches `pool`'s server and, when it is no longer a primary that answers, points `pool` at
/// the first of `primary` and `candidates` that is one. Ends when the pool is closed.
pub(super) async fn watch(
    pool: PgPool,
    primary: PgConnectOptions,
    candidates: Vec<PgConnectOptions>,
) {
    let servers: Vec<PgConnectOptions> = std::iter::once(primary).chain(candidates).collect();
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if pool.is_closed() {
            return;
        }
        let current = pool.connect_options();
        if is_primary(&current).await {
            continue;
        }
        for server in &servers {
            if server.get_host() == current.get_host() && server.get_port() == current.get_port() {
                continue;
            }
            if is_primary(server).await {
                tracing::warn!(
                    from = %format!("{}:{}", current.get_host(), current.get_port()),
                    to = %format!("{}:{}", server.get_host(), server.get_port()),
                    "failover: the database no longer answers as the primary; writes go to the new one"
                );
                pool.set_connect_options(server.clone());
                break;
            }
        }
    }
}

/// Whether the server answers, within [`CHECK_TIMEOUT`], as a primary.
async fn is_primary(options: &PgConnectOptions) -> bool {
    let check = async {
        let mut conn: PgConnection = options.connect().await.ok()?;
        // A simple query: nothing prepared, as any pooler in between wants.
        let row = sqlx::raw_sql("SELECT pg_is_in_recovery()")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        let standby: bool = row.try_get(0).ok()?;
        conn.close().await.ok();
        Some(!standby)
    };
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, check).await,
        Ok(Some(true))
    )
}
