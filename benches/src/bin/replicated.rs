//! `just load postgres-replicated`: reads on a streaming replica against the primary alone, and
//! writes through pgbouncer against direct, alternated round by round (see
//! `didhub_benches::replicated`).

use std::time::Duration;

use clap::Parser;
use didhub_benches::replicated;

#[derive(Parser)]
#[command(about = "PostgreSQL replicated and pooled, side by side with one server, direct")]
struct Cli {
    /// Rounds of each pair (each side once a round, alternating which goes first).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// How long each side runs in a round, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent readers.
    #[arg(long, default_value_t = 32)]
    readers: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 64)]
    writers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let duration = Duration::from_secs(cli.seconds);
    let reads = replicated::reads(cli.rounds, cli.readers, duration).await?;
    print!(
        "{}",
        reads.render("reads", "primary alone", "on a replica", "reads")
    );
    let writes = replicated::writes(cli.rounds, cli.writers, duration).await?;
    print!(
        "{}",
        writes.render("writes", "direct", "through pgbouncer", "writes")
    );
    let failover = replicated::failover(cli.writers, duration).await?;
    print!(
        "failover (primary killed and the synchronous replica promoted a third of the way in):\n{}",
        failover.render()
    );
    if !failover.lost.is_empty() {
        anyhow::bail!("acknowledged writes were lost in the failover");
    }
    Ok(())
}
