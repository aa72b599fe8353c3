//! `just plans`: prints how each backend executes the server's hot queries on generated data.

use clap::Parser;
use didhub_harness::backend::Selection;

#[derive(Parser)]
#[command(about = "Print the query plans of DIDHub's hot queries on each backend")]
struct Cli {
    /// Which backend(s).
    #[arg(long, value_enum, default_value = "all")]
    db: Selection,
    /// How many alters to generate (users, systems and audit entries scale with it).
    #[arg(long, default_value_t = 10_000)]
    alters: usize,
    /// Leave out the planner's row estimates: the form of the checked-in snapshots
    /// (`benches/tests/snapshots`).
    #[arg(long)]
    without_estimates: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let backends = cli.db.backends();
    let mut all_used = true;
    for backend in backends {
        let loaded = didhub_benches::load(backend, cli.alters).await?;
        println!(
            "{backend}: {} rows generated in {:.2} s ({:.0} rows/s)",
            loaded.data.rows(),
            loaded.data.elapsed.as_secs_f64(),
            loaded.data.rows_per_second()
        );
        let mut rows = didhub_benches::plan_table(&loaded).await?;
        if cli.without_estimates {
            for row in &mut rows {
                row.plan = row.plan.without_estimates();
            }
        }
        all_used &= rows.iter().all(|r| r.uses_expected_index());
        print!("{}", didhub_benches::render(backend, &rows));
    }
    Ok(if all_used {
        std::process::ExitCode::SUCCESS
    } else {
        println!("some queries do not use their documented index (MISS)");
        std::process::ExitCode::FAILURE
    })
}
