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
    /// `text`, a line per query; `json`, one document (`ok`, and each plan with its accesses),
    /// which `didhub-harness report --plans` draws; `html`, that page alone.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Writes the plans to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Html,
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let backends = cli.db.backends();
    let mut all_used = true;
    // Text bound for the terminal is printed as each backend is done; anything else is written
    // at the end, whole.
    let streamed = cli.format == Format::Text && cli.output.is_none();
    let mut text = String::new();
    let mut say = |part: &str| match streamed {
        true => print!("{part}"),
        false => text.push_str(part),
    };
    let mut plans = Vec::new();
    for backend in backends {
        let loaded = didhub_benches::load(backend, cli.alters).await?;
        let generated = format!(
            "{backend}: {} rows generated in {:.2} s ({:.0} rows/s)",
            loaded.data.rows(),
            loaded.data.elapsed.as_secs_f64(),
            loaded.data.rows_per_second()
        );
        match cli.format {
            Format::Text => say(&format!("{generated}\n")),
            // The document alone goes to stdout.
            Format::Json | Format::Html => eprintln!("{generated}"),
        }
        let mut rows = didhub_benches::plan_table(&loaded).await?;
        if cli.without_estimates {
            for row in &mut rows {
                row.plan = row.plan.without_estimates();
            }
        }
        all_used &= rows.iter().all(|r| r.uses_expected_index());
        say(&didhub_benches::render(backend, &rows));
        plans.extend(
            rows.iter()
                .map(|row| didhub_benches::plan_json(backend, row)),
        );
    }
    if !all_used {
        say("some queries do not use their documented index (MISS)\n");
    }
    let out = match cli.format {
        Format::Text => text,
        Format::Json | Format::Html => {
            let doc = serde_json::json!({"ok": all_used, "alters": cli.alters, "plans": plans});
            match cli.format {
                Format::Html => didhub_harness::html::Page {
                    title: "DIDHub's hot queries: plans".to_owned(),
                    plans: Some(doc),
                    ..Default::default()
                }
                .render()?,
                _ => serde_json::to_string_pretty(&doc)? + "\n",
            }
        }
    };
    match &cli.output {
        Some(path) => std::fs::write(path, out)?,
        None if streamed => {}
        None => print!("{out}"),
    }
    Ok(if all_used {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
