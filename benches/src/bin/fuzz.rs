//! `just fuzz`: schemathesis, every check, against the reference server on each backend, as an
//! administrator and as a user. Exits non-zero when any pass fails.

use std::process::ExitCode;

use clap::Parser;
use didhub_benches::fuzz::run;
use didhub_harness::backend::Selection;

#[derive(Parser)]
#[command(about = "schemathesis against the reference server on each backend")]
struct Cli {
    /// Which backend(s).
    #[arg(long, value_enum, default_value = "all")]
    db: Selection,
    /// Test cases per operation and phase (schemathesis --max-examples).
    #[arg(long, default_value_t = 100)]
    examples: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut clean = true;
    for backend in cli.db.backends() {
        for pass in run(backend, cli.examples).await? {
            let verdict = if pass.success { "passed" } else { "FAILED" };
            println!("== {backend}, {}: {verdict}\n{}", pass.name, pass.summary);
            clean &= pass.success;
        }
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
