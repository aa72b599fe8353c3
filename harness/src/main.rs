//! `didhub-harness`: checks a project's per-driver migration folders on real databases.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use didhub_harness::backend::Selection;
use didhub_harness::check::{self, CheckOptions};
use didhub_harness::lock::{self, Relock};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Integrity of the folders, the up/down staircase and the data staircase on each backend,
    /// and parity across them.
    Check {
        /// Which backend(s) to run.
        #[arg(long, value_enum, default_value = "all")]
        db: Selection,
        /// The folder that holds sqlite/, postgres/ and mysql/ (default: DIDHub's migrations).
        #[arg(long)]
        migrations: Option<PathBuf>,
        /// The parity allow-list (TOML); default: fixtures/parity-allow.toml for DIDHub's own
        /// migrations, none otherwise.
        #[arg(long)]
        allow: Option<PathBuf>,
        /// The data fixtures folder (vNNNN/<table>.json); default: fixtures/data for DIDHub's
        /// own migrations, none otherwise.
        #[arg(long)]
        fixtures: Option<PathBuf>,
    },
    /// Records the SHA-384 of every migration file in migrations.lock: adds new versions, and
    /// refuses to rewrite a released (locked) file that changed unless told to.
    Lock {
        /// The folder that holds sqlite/, postgres/ and mysql/ (default: DIDHub's migrations).
        #[arg(long)]
        migrations: Option<PathBuf>,
        /// Re-lock this version as it is now (`0014_add_pronouns` or `14`); only for a migration
        /// that nobody has applied yet. Repeatable.
        #[arg(long, value_name = "NAME")]
        update: Vec<String>,
        /// Re-lock every file as it is now.
        #[arg(long)]
        force: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            db,
            migrations,
            allow,
            fixtures,
        } => {
            let (didhub_migrations, didhub_allow) = check::didhub_defaults();
            let allow_list = match (&migrations, allow) {
                (_, Some(path)) => Some(path),
                (None, None) => Some(didhub_allow),
                (Some(_), None) => None,
            };
            let fixtures = match (&migrations, fixtures) {
                (_, Some(path)) => Some(path),
                (None, None) => Some(check::didhub_fixtures()),
                (Some(_), None) => None,
            };
            let options = CheckOptions {
                migrations: migrations.unwrap_or(didhub_migrations),
                backends: db.kinds(),
                allow_list,
                fixtures,
            };
            println!("checking {}", options.migrations.display());
            let report = check::run(&options).await;
            print!("{}", report.text);
            if report.ok {
                println!("all checks passed");
                ExitCode::SUCCESS
            } else {
                println!("checks failed");
                ExitCode::FAILURE
            }
        }
        Command::Lock {
            migrations,
            update,
            force,
        } => {
            let root = migrations.unwrap_or_else(|| check::didhub_defaults().0);
            match lock::write(&root, &Relock { update, force }) {
                Ok(written) => {
                    println!("{written}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
