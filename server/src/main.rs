//! `didhub-server`: reads configuration and serves the API; `db copy` and `db generate` work on
//! databases directly.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use didhub_server::config::Config;
use didhub_server::data::copy::{CopyOptions, copy_urls};
use didhub_server::generate::{Size, generate_urls};
use didhub_server::progress::Progress;
use didhub_server::{Application, api};

/// The DIDHub reference server. With no configuration it serves on 127.0.0.1:6000 over SQLite
/// at data/didhub.sqlite. Environment (DIDHUB_DB / DATABASE_URL, HOST, PORT, DIDHUB_SECRET,
/// DIDHUB_TOKEN_TTL_SECS, DIDHUB_MAX_SESSION_SECS, DIDHUB_BOOTSTRAP_ADMIN_USERNAME / _PASSWORD)
/// overrides the config file, and pool parameters in the database URL override both (the
/// README's configuration table lists every key).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// JSON config file (see fixtures/config.example.json).
    #[arg(short, long)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Prints the OpenAPI document the server serves at /api/openapi.json (no database needed),
    /// e.g. to generate a client from it.
    Openapi,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Copies all data from one database to another (any two backends), in batches, then
    /// verifies row counts and content digests table by table. The target is migrated first and
    /// must be empty; the source must be at the newest schema version.
    Copy {
        /// Source URL (sqlite://…, postgres://…, mysql://…).
        #[arg(long)]
        from: String,
        /// Target URL.
        #[arg(long)]
        to: String,
        /// Delete the target's data first instead of refusing a non-empty target.
        #[arg(long)]
        overwrite: bool,
        /// Rows per batch (each batch is written in one transaction).
        #[arg(long, default_value_t = didhub_server::data::SCAN_BATCH)]
        batch: usize,
    },
    /// Fills a database with generated, realistic data (users, systems, alters, audit entries),
    /// for trying out copies, plans and benchmarks. Migrates the database first.
    Generate {
        /// Database URL.
        #[arg(long)]
        to: String,
        /// How many alters (the other tables scale with it).
        #[arg(long, default_value_t = 10_000)]
        alters: usize,
        /// Seed: the same seed gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    didhub_server::init_tracing();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Db(DbCommand::Copy {
            from,
            to,
            overwrite,
            batch,
        })) => {
            let progress = Progress::on_terminal();
            let options = CopyOptions {
                overwrite,
                batch,
                progress,
            };
            copy(&from, &to, options).await
        }
        Some(Command::Db(DbCommand::Generate { to, alters, seed })) => {
            let size = Size { alters, seed };
            let generated = generate_urls(&to, size, &Progress::on_terminal()).await?;
            println!(
                "generated {} rows ({} users, {} systems, {} alters, {} audit entries) in {:.2} s ({:.0} rows/s)",
                generated.rows(),
                generated.users,
                generated.systems,
                generated.alters,
                generated.audit_entries,
                generated.elapsed.as_secs_f64(),
                generated.rows_per_second()
            );
            Ok(())
        }
        Some(Command::Openapi) => {
            let document: serde_json::Value = serde_json::from_str(&api::openapi_document())?;
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(())
        }
        None => serve(cli.config).await,
    }
}

async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref())?;
    let app = Application::build(&config)
        .await
        .context("the server could not start")?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn copy(from: &str, to: &str, options: CopyOptions) -> anyhow::Result<()> {
    let copied = copy_urls(from, to, options).await?;
    for table in &copied.tables {
        println!(
            "{:<24} {:>9} rows  {:>7.2} s",
            table.table,
            table.digest.rows,
            table.elapsed.as_secs_f64()
        );
    }
    println!(
        "copied and verified {} rows in {:.2} s ({:.0} rows/s)",
        copied.rows(),
        copied.elapsed.as_secs_f64(),
        copied.rows_per_second()
    );
    Ok(())
}
