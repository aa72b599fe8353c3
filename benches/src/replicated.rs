//! `just load postgres-replicated`: PostgreSQL beyond one server, side by side in one run, each
//! pair alternated round by round so that the machine's noise falls on both sides.
//!
//! - Reads: readers listing a system's alters through the API, with the server reading from the
//!   primary alone against the server reading from a streaming replica of it
//!   (`database.read_urls`), on the same database.
//! - Writes: [`crate::writers`] (64 writers creating, updating and deleting) with the server
//!   reaching PostgreSQL directly against through pgbouncer in transaction pooling
//!   (`database.pooler = "transaction"`).
//!
//! - Failover: the writers against a primary with a synchronous replica; a third of the way in
//!   the primary is killed and the replica promoted; the server follows
//!   (`database.failover_urls`). Every acknowledged write must be on the promoted server.
//!
//! Throughput and p99 of each, and the ratio of the medians. On one machine the primary, the
//! replica, pgbouncer, the server and the clients share its cores: what a replica adds there is
//! the honest figure for one machine, not for N.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use didhub_harness::backend::dedicated;
use didhub_migrations::Backend;
use reqwest::Method;
use serde_json::json;

use crate::writers::{self, Api};

/// One side's figures in one round.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub per_second: f64,
    pub p99: Duration,
    pub errors: u64,
}

/// A pair measured over the rounds: the anchor and the variant, each round.
#[derive(Debug, Default)]
pub struct Pair {
    pub anchor: Vec<Figure>,
    pub variant: Vec<Figure>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

impl Pair {
    /// `name: anchor X/s (p99), variant Y/s (p99), ratio of the medians, each round`.
    pub fn render(&self, name: &str, anchor: &str, variant: &str, unit: &str) -> String {
        let rate = |f: &[Figure]| median(f.iter().map(|f| f.per_second).collect());
        let p99 = |f: &[Figure]| median(f.iter().map(|f| f.p99.as_secs_f64() * 1000.0).collect());
        let errors = |f: &[Figure]| f.iter().map(|f| f.errors).sum::<u64>();
        let rounds: Vec<String> = self
            .anchor
            .iter()
            .zip(&self.variant)
            .map(|(a, v)| format!("{:.2}", v.per_second / a.per_second))
            .collect();
        format!(
            "{name}: {anchor} {:.0} {unit}/s (p99 {:.1} ms, {} errors); {variant} {:.0} {unit}/s (p99 {:.1} ms, {} errors); \
             {variant} / {anchor} = {:.2} (medians of {} rounds; each round: {})\n",
            rate(&self.anchor),
            p99(&self.anchor),
            errors(&self.anchor),
            rate(&self.variant),
            p99(&self.variant),
            errors(&self.variant),
            rate(&self.variant) / rate(&self.anchor),
            self.anchor.len(),
            rounds.join(", ")
        )
    }
}

/// Writes, direct against through pgbouncer, `rounds` times each.
pub async fn writes(rounds: usize, writers: usize, duration: Duration) -> anyhow::Result<Pair> {
    let mut pair = Pair::default();
    for round in 0..rounds {
        // Alternated: each side goes first every other round.
        for through_pgbouncer in [round % 2 == 1, round % 2 == 0] {
            let options = writers::Options {
                writers,
                duration,
                anchor: false,
                through_pgbouncer,
            };
            let report = writers::run(Backend::Postgres, options).await?;
            if !report.lost.is_empty() {
                bail!("acknowledged writes were lost: {}", report.render());
            }
            let figure = Figure {
                per_second: report.throughput(),
                p99: report.percentile(0.99),
                errors: report.error_count(),
            };
            if through_pgbouncer {
                pair.variant.push(figure);
            } else {
                pair.anchor.push(figure);
            }
        }
    }
    Ok(pair)
}

/// The writers through a failover: the report, whose errors are the writes the failover caught
/// (503) and whose lost rows must be none.
pub async fn failover(writers: usize, duration: Duration) -> anyhow::Result<writers::Report> {
    let primary = dedicated(Backend::Postgres).await?;
    let replica = primary.replica(&[]).await?;
    // Synchronous: a COMMIT is answered once the replica has it.
    run_sql(
        &primary.server.admin_url,
        "ALTER SYSTEM SET synchronous_standby_names = '*'",
    )
    .await?;
    run_sql(&primary.server.admin_url, "SELECT pg_reload_conf()").await?;
    let database = primary.database().await?;
    let mut config = writers::server_config(&format!(
        "{}?query_timeout=2&acquire_timeout=2",
        database.url
    ))?;
    config.database.failover_urls = vec![replica.url_of(&database.url)];
    let promote_at = replica.server.admin_url.clone();
    let meanwhile = async move {
        tokio::time::sleep(duration / 3).await;
        if let Err(e) = primary.kill().await {
            eprintln!("failover: the primary could not be killed: {e}");
        }
        if let Err(e) = run_sql(&promote_at, "SELECT pg_promote()").await {
            eprintln!("failover: the replica could not be promoted: {e}");
        }
    };
    let options = writers::Options {
        writers,
        duration,
        anchor: false,
        through_pgbouncer: false,
    };
    let report = writers::run_on(database, config, options, meanwhile).await?;
    drop(replica);
    Ok(report)
}

async fn run_sql(url: &str, sql: &'static str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(sql).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

const ADMIN: &str = "replicated-admin";
const PASSWORD: &str = "correct horse battery staple";

/// Reads, primary alone against a streaming replica, `rounds` times each: `readers` clients
/// listing the alters of one of 20 systems (20 alters each) for `duration`.
pub async fn reads(rounds: usize, readers: usize, duration: Duration) -> anyhow::Result<Pair> {
    let primary = dedicated(Backend::Postgres).await?;
    let replica = primary.replica(&[]).await?;
    let database = primary.database().await?;
    let client = reqwest::Client::new();
    let serve = |state| {
        let client = client.clone();
        async move {
            let base = crate::serve(state).await;
            Api { client, base }
        }
    };

    // The data, written once through a server on the primary.
    let config = crate::server_config(&database.url, ADMIN, PASSWORD)?;
    let state = didhub_server::prepare(&config).await?;
    let api = serve(state.clone()).await;
    let token = api.login(ADMIN, PASSWORD).await?;
    let mut systems = Vec::new();
    for s in 0..20 {
        let body = json!({ "name": format!("s{s}") });
        let system = api
            .expect(201, Method::POST, "/api/systems", &token, body)
            .await?;
        let system = system["id"].as_str().context("system id")?.to_owned();
        for a in 0..20 {
            let body = json!({ "system_id": system, "name": format!("a{a}") });
            api.expect(201, Method::POST, "/api/alters", &token, body)
                .await?;
        }
        systems.push(system);
    }
    state.db.close().await;

    let mut pair = Pair::default();
    for round in 0..rounds {
        for on_replica in [round % 2 == 1, round % 2 == 0] {
            let mut config = crate::server_config(&database.url, ADMIN, PASSWORD)?;
            if on_replica {
                config.database.read_urls = vec![replica.url_of(&database.url)];
            }
            let state = didhub_server::prepare(&config).await?;
            let api = serve(state.clone()).await;
            let token = api.login(ADMIN, PASSWORD).await?;
            // The replica's probes start with the server: a moment for their first readings.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let figure = read_for(&api, &token, &systems, readers, duration).await?;
            state.db.close().await;
            if on_replica {
                pair.variant.push(figure);
            } else {
                pair.anchor.push(figure);
            }
        }
    }
    Ok(pair)
}

async fn read_for(
    api: &Api,
    token: &str,
    systems: &[String],
    readers: usize,
    duration: Duration,
) -> anyhow::Result<Figure> {
    let started = Instant::now();
    let until = started + duration;
    let tasks: Vec<_> = (0..readers)
        .map(|r| {
            let (api, token) = (api.clone(), token.to_owned());
            let systems = systems.to_vec();
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                let mut n = r;
                while Instant::now() < until {
                    let system = &systems[n % systems.len()];
                    n += 1;
                    let sent = Instant::now();
                    let answer = api
                        .client
                        .get(format!(
                            "{}/api/alters?system_id={system}&limit=20",
                            api.base
                        ))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    match answer {
                        Ok(response) if response.status().is_success() => {
                            response.bytes().await.ok();
                            latencies.push(sent.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (mut l, e) = task.await.context("reader task")?;
        latencies.append(&mut l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Figure {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p99: writers::percentile(&latencies, 0.99),
        errors,
    })
}
