//! `didhub-server`: reads configuration and serves the API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use didhub_server::Application;
use didhub_server::config::Config;

/// The DIDHub reference server. With no configuration it serves on 127.0.0.1:6000 over SQLite
/// at data/didhub.sqlite. Environment (DIDHUB_DB / DATABASE_URL, HOST, PORT, DIDHUB_SECRET,
/// DIDHUB_BOOTSTRAP_ADMIN_USERNAME / _PASSWORD) overrides the config file.
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
    let app = Application::build(&config)
        .await
        .context("the server could not start")?;
    app.run_until_stopped().await?;
    Ok(())
}
