//! The floors the benchmarks are measured against, in the same run and on the same database, so
//! that a figure is a ratio rather than an absolute time on a shared, noisy machine:
//!
//! - [`Driver`]: one bare connection of the database driver (sqlx, no pool, no timeout, no
//!   server types), running the very statement the store runs, prepared once — what the store
//!   adds over the driver is the pool, the timeouts and decoding;
//! - [`pgbench`]: PostgreSQL's own benchmark client, one client and prepared statements, running
//!   the same statement against the same container — the round trip's floor as a peer measures
//!   it;
//! - [`bare`]: a poem route answering a fixed JSON document, served next to the API — the HTTP
//!   stack's floor.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use didhub_migrations::Backend;
use didhub_server::db::{Db, Stmt};
use poem::{EndpointExt, Route, get, handler};
use sqlx::{Connection, MySqlConnection, PgConnection, SqliteConnection};

/// One connection of the bare driver.
pub enum Driver {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    MySql(MySqlConnection),
}

impl Driver {
    pub async fn connect(backend: Backend, url: &str) -> anyhow::Result<Driver> {
        let context = || format!("{backend}: connecting the bare driver");
        Ok(match backend {
            Backend::Sqlite => {
                Driver::Sqlite(SqliteConnection::connect(url).await.with_context(context)?)
            }
            Backend::Postgres => {
                Driver::Postgres(PgConnection::connect(url).await.with_context(context)?)
            }
            Backend::MySql => {
                Driver::MySql(MySqlConnection::connect(url).await.with_context(context)?)
            }
        })
    }

    /// Runs `sql` (prepared on first use, then from the connection's cache) and returns how
    /// many rows it answered; the rows are fetched, not decoded, as the `queries` bench does.
    pub async fn fetch(&mut self, sql: &str) -> Result<usize, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        Ok(match self {
            Driver::Sqlite(conn) => sqlx::query(sql).fetch_all(conn).await?.len(),
            Driver::Postgres(conn) => sqlx::query(sql).fetch_all(conn).await?.len(),
            Driver::MySql(conn) => sqlx::query(sql).fetch_all(conn).await?.len(),
        })
    }
}

impl Driver {
    /// Times `n` runs of the point lookup `sql`, each answering one row, in a task on the
    /// runtime's workers (see [`time_statements`]); gives the connection back with the time.
    pub async fn time_lookups(mut self, sql: &str, n: u64) -> anyhow::Result<(Driver, Duration)> {
        let sql = sql.to_owned();
        tokio::spawn(async move {
            let started = Instant::now();
            for _ in 0..n {
                let rows = self.fetch(&sql).await?;
                if rows != 1 {
                    bail!("the point lookup answered {rows} rows: {sql}");
                }
            }
            Ok((self, started.elapsed()))
        })
        .await?
    }
}

/// Times `n` runs of `stmt` on `db`'s pool in a task on the runtime's workers, where the server's
/// requests run. Looping from `block_on` on the caller's own thread instead, every wake-up of the
/// loop, and every task the pool spawns, would cross threads, which the server does not pay.
pub async fn time_statements(db: &Db, stmt: &Stmt, n: u64) -> anyhow::Result<Duration> {
    let (db, stmt) = (db.clone(), stmt.clone());
    let elapsed = tokio::spawn(async move {
        let started = Instant::now();
        for _ in 0..n {
            db.conn().execute(stmt.clone()).await?;
        }
        Ok::<_, sqlx::Error>(started.elapsed())
    })
    .await??;
    Ok(elapsed)
}

/// `statement` with each `?` replaced by the matching literal (already quoted), for the anchors
/// that run the store's statement without its arguments.
pub fn inline(statement: &str, literals: &[String]) -> anyhow::Result<String> {
    let parts: Vec<&str> = statement.split('?').collect();
    if parts.len() != literals.len() + 1 {
        bail!(
            "{} placeholders for {} literals in {statement}",
            parts.len() - 1,
            literals.len()
        );
    }
    let mut out = parts[0].to_owned();
    for (literal, part) in literals.iter().zip(&parts[1..]) {
        out.push_str(literal);
        out.push_str(part);
    }
    Ok(out)
}

/// The latency of `sql` as `pgbench` measures it over `duration` (one client, prepared
/// statements, no vacuum) against `url`: the statement's own latency, reported per command
/// (`--report-per-command`). One long run rather than one per criterion sample: each run is a
/// new connection, so a new PostgreSQL backend with cold caches, which at criterion's small
/// counts made pgbench look three times slower than it is. Fails, naming it, when pgbench is
/// not installed.
pub fn pgbench(url: &str, sql: &str, duration: Duration) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("statement.sql");
    std::fs::write(&script, format!("{sql};\n"))?;
    let output = Command::new("pgbench")
        .args([
            "--no-vacuum",
            "--protocol=prepared",
            "--client=1",
            "--report-per-command",
        ])
        .arg(format!("--time={}", duration.as_secs().max(1)))
        .arg(format!("--file={}", script.display()))
        .arg(url)
        .output()
        .context("running pgbench (Debian: apt-get install postgresql-client)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let ms: f64 = stdout
        .lines()
        .skip_while(|line| !line.starts_with("statement latencies in milliseconds"))
        .nth(1)
        .and_then(|line| line.split_whitespace().next())
        .and_then(|ms| ms.parse().ok())
        .with_context(|| format!("no statement latency in pgbench's output: {stdout}"))?;
    Ok(Duration::from_secs_f64(ms / 1e3))
}

/// Serves `GET /bare` answering `document` as JSON, with nothing else on the route (no
/// middleware, no authentication, no database), on a free port of 127.0.0.1; returns its URL.
pub async fn bare(document: serde_json::Value) -> String {
    #[handler]
    fn answer(
        poem::web::Data(document): poem::web::Data<&serde_json::Value>,
    ) -> poem::web::Json<serde_json::Value> {
        poem::web::Json(document.clone())
    }
    let route = Route::new().at("/bare", get(answer)).data(document);
    format!("{}/bare", crate::serve_endpoint(route).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_puts_each_literal_in_its_place_and_counts_them() {
        let sql = inline(
            "SELECT a FROM t WHERE id = ? AND b = ?",
            &["'x'".into(), "2".into()],
        );
        assert_eq!(sql.unwrap(), "SELECT a FROM t WHERE id = 'x' AND b = 2");
        assert!(inline("SELECT ?", &[]).is_err());
    }
}
