//! `just load`: concurrent writers through the HTTP API on each backend, then the throughput,
//! the latencies, the errors and the lost rows. Exits non-zero when there was an error or a lost
//! row.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use didhub_benches::writers::{Options, run};
use didhub_harness::backend::Selection;

#[derive(Parser)]
#[command(about = "Concurrent writers through the HTTP API, checked against the database")]
struct Cli {
    /// Which backend(s).
    #[arg(long, value_enum, default_value = "all")]
    db: Selection,
    /// Concurrent writers.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// How long they write, in seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let options = Options {
        writers: cli.writers,
        duration: Duration::from_secs(cli.seconds),
        anchor: true,
        through_pgbouncer: false,
    };
    let mut clean = true;
    for backend in cli.db.backends() {
        let report = run(backend, options).await?;
        print!("{}", report.render());
        clean &= report.error_count() == 0 && report.lost.is_empty();
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
