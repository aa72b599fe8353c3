//! `seed`: creates the bootstrap admin and a demo user with a demo system and alters.
//! Running it again changes nothing.

use std::path::PathBuf;

use clap::Parser;
use didhub_server::config::Config;

/// Seeds the configured database (same configuration as didhub-server).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// JSON config file (see fixtures/config.example.json).
    #[arg(short, long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    didhub_server::init_tracing();
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    let report = didhub_server::seed::run(&config).await?;
    println!("{report}");
    Ok(())
}
