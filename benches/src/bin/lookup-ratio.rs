//! `just lookup-ratio`: the point lookup through the store on a pool of the server's size, against
//! its anchors, interleaved: each round times a batch through the store, the same batch on one
//! bare driver connection and, on PostgreSQL, pgbench for a second, one right after the other,
//! so that a burst of noise on the shared machine falls on all of them. Prints each round's
//! ratios and their median. The criterion benches time each side for seconds in turn, which on
//! this machine moves the same ratio by half its value from run to run.

use std::time::Duration;

use clap::Parser;
use didhub_benches::anchors::{self, Driver};
use didhub_benches::load;
use didhub_harness::backend::Selection;
use didhub_migrations::Backend;
use didhub_server::config::PoolConfig;
use didhub_server::store::alters;

#[derive(Parser)]
#[command(about = "The point lookup against its anchors, interleaved round by round")]
struct Cli {
    /// Which backend(s).
    #[arg(long, value_enum, default_value = "all")]
    db: Selection,
    /// Rounds.
    #[arg(long, default_value_t = 15)]
    rounds: usize,
    /// Lookups per round and side.
    #[arg(long, default_value_t = 2000)]
    lookups: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    for backend in cli.db.backends() {
        compare(backend, &cli).await?;
    }
    Ok(())
}

async fn compare(backend: Backend, cli: &Cli) -> anyhow::Result<()> {
    let loaded = load(backend, 10_000).await?;
    let lookup = alters::by_id(loaded.data.sample.alter);
    let sql = anchors::inline(
        &lookup.text(backend),
        &[format!("'{}'", loaded.data.sample.alter)],
    )?;
    let pool = loaded.pool(PoolConfig::default().max_connections).await?;
    let mut driver = Driver::connect(backend, loaded.url()).await?;
    let n = cli.lookups;
    // Each side runs in a task of its own on the runtime's workers, as the server's requests do.
    let (mut by_driver, mut by_pgbench) = (Vec::new(), Vec::new());
    println!("{backend}: store (µs), bare driver (µs), pgbench (µs), store/driver, store/pgbench");
    for _ in 0..cli.rounds {
        let store = anchors::time_statements(&pool, &lookup, n).await? / n as u32;
        let (conn, bare) = driver.time_lookups(&sql, n).await?;
        driver = conn;
        let bare = bare / n as u32;
        let pgbench = match backend {
            Backend::Postgres => {
                let (url, sql) = (loaded.url().to_owned(), sql.clone());
                Some(
                    tokio::task::spawn_blocking(move || {
                        anchors::pgbench(&url, &sql, Duration::from_secs(1))
                    })
                    .await??,
                )
            }
            Backend::Sqlite | Backend::MySql => None,
        };
        let ratio = |anchor: Duration| store.as_secs_f64() / anchor.as_secs_f64();
        by_driver.push(ratio(bare));
        let mut line = format!("{:>8.1} {:>8.1} ", micros(store), micros(bare));
        match pgbench {
            Some(pgbench) => {
                by_pgbench.push(ratio(pgbench));
                line += &format!(
                    "{:>8.1} {:>6.2} {:>6.2}",
                    micros(pgbench),
                    ratio(bare),
                    ratio(pgbench)
                );
            }
            None => line += &format!("{:>8} {:>6.2}", "-", ratio(bare)),
        }
        println!("{line}");
    }
    print!(
        "{backend}: median store/driver {:.2}×",
        median(&mut by_driver)
    );
    if !by_pgbench.is_empty() {
        print!(", median store/pgbench {:.2}×", median(&mut by_pgbench));
    }
    println!(" over {} rounds of {n} lookups", cli.rounds);
    pool.close().await;
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
