//! `just test-times`: where the test suite's time goes.
//!
//! Builds the tests as `cargo test` would (the arguments are cargo's: `--workspace
//! --all-features`), then runs every test binary in turn, as `cargo test` does, asking libtest
//! for its JSON events with each test's own time (`-Z unstable-options --format json
//! --report-time`, allowed on a stable toolchain by `RUSTC_BOOTSTRAP=1` in the test process
//! only, so nothing is rebuilt). The harness records its phases (container start, database
//! creation, migration, server start, requests) into a file named by `DIDHUB_TEST_TIMES` (see
//! `didhub_harness::timings`). It prints the build time, each binary's wall time, the slowest
//! tests and the phase table, and exits non-zero when a test failed.
//!
//! Tests inside a binary run concurrently, so a test's time includes waiting for the other
//! threads, and phase totals are summed across threads: they say where the work is, the wall
//! times say how long it took.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use didhub_harness::timings;
use serde_json::Value;

#[derive(Parser)]
#[command(about = "Run the tests and print the slowest tests and the time per phase")]
struct Cli {
    /// How many of the slowest tests to list.
    #[arg(long, default_value_t = 25)]
    top: usize,
    /// Arguments for `cargo test` (e.g. `--workspace --all-features`), after `--`.
    #[arg(last = true)]
    cargo_args: Vec<String>,
}

/// A test binary as cargo built it.
struct Binary {
    /// `package::target` (`didhub-server::api`).
    name: String,
    executable: PathBuf,
    /// Where cargo runs it: the package's folder.
    dir: PathBuf,
    /// A `harness = false` target (criterion's test mode): run as is, timed as a whole.
    custom_harness: bool,
}

struct TestTime {
    binary: String,
    name: String,
    seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let started = Instant::now();
    let binaries = build(&cli.cargo_args)?;
    let build_time = started.elapsed();

    let times_file = tempfile::NamedTempFile::new().context("creating the timings file")?;
    let mut walls = Vec::new();
    let mut tests = Vec::new();
    let mut failures = Vec::new();
    let run_started = Instant::now();
    for binary in &binaries {
        let began = Instant::now();
        let outcome = run(binary, times_file.path(), &mut tests)?;
        walls.push((binary.name.clone(), began.elapsed()));
        failures.extend(outcome);
    }
    let run_time = run_started.elapsed();

    println!("## Phases of the run\n");
    println!("| phase | seconds |\n| --- | ---: |");
    println!(
        "| build (`cargo test --no-run`) | {:.1} |",
        secs(build_time)
    );
    println!("| running the test binaries | {:.1} |", secs(run_time));

    walls.sort_by_key(|(_, wall)| std::cmp::Reverse(*wall));
    println!("\n## Test binaries by wall time\n");
    println!("| binary | seconds |\n| --- | ---: |");
    for (name, wall) in walls
        .iter()
        .filter(|(_, w)| *w >= Duration::from_millis(100))
    {
        println!("| {name} | {:.1} |", secs(*wall));
    }

    tests.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    println!(
        "\n## The {} slowest of {} tests\n",
        cli.top.min(tests.len()),
        tests.len()
    );
    println!("| test | seconds |\n| --- | ---: |");
    for t in tests.iter().take(cli.top) {
        println!("| {} `{}` | {:.2} |", t.binary, t.name, t.seconds);
    }

    let text = std::fs::read_to_string(times_file.path()).context("reading the timings file")?;
    print_phases(&timings::parse(&text));

    if !failures.is_empty() {
        bail!("{} test(s) failed: {}", failures.len(), failures.join(", "));
    }
    Ok(())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The cargo that runs this tool, or the one on the PATH.
fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `cargo test --no-run` with the caller's arguments; the test binaries it made.
fn build(cargo_args: &[String]) -> anyhow::Result<Vec<Binary>> {
    let mut child = cargo()
        .args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(cargo_args)
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test --no-run")?;
    let stdout = child.stdout.take().context("cargo's output")?;
    let manifests = harness_false_targets()?;
    let mut binaries = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let message: Value = serde_json::from_str(&line?).unwrap_or(Value::Null);
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        if message["profile"]["test"] != true {
            continue;
        }
        let manifest = PathBuf::from(message["manifest_path"].as_str().unwrap_or_default());
        let target = message["target"]["name"].as_str().unwrap_or_default();
        let package = manifest
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        binaries.push(Binary {
            name: format!("{package}::{target}"),
            executable: executable.into(),
            dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
            custom_harness: manifests.contains(&(manifest.clone(), target.to_owned())),
        });
    }
    if !child.wait()?.success() {
        bail!("cargo test --no-run failed");
    }
    Ok(binaries)
}

/// The `(manifest, target)` pairs declared with `harness = false`, which take no libtest
/// arguments. `cargo metadata` does not say, so the manifests are read.
fn harness_false_targets() -> anyhow::Result<Vec<(PathBuf, String)>> {
    let output = cargo()
        .args(["metadata", "--no-deps", "--format-version=1"])
        .output()
        .context("running cargo metadata")?;
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    let mut out = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let text = std::fs::read_to_string(&manifest)?;
        let toml: toml::Table = toml::from_str(&text)?;
        for kind in ["bench", "test"] {
            for target in toml
                .get(kind)
                .and_then(|t| t.as_array())
                .into_iter()
                .flatten()
            {
                if target.get("harness").and_then(|h| h.as_bool()) == Some(false)
                    && let Some(name) = target.get("name").and_then(|n| n.as_str())
                {
                    out.push((manifest.clone(), name.to_owned()));
                }
            }
        }
    }
    Ok(out)
}

/// The test session whose processes share servers (`didhub_harness::images::session`).
const SESSION: &str = "DIDHUB_TEST_SESSION";

/// Runs one binary as cargo would (in its package's folder), collecting each test's time; the
/// names of failed tests.
fn run(binary: &Binary, times: &Path, tests: &mut Vec<TestTime>) -> anyhow::Result<Vec<String>> {
    let mut command = Command::new(&binary.executable);
    command
        .current_dir(&binary.dir)
        .env("CARGO_MANIFEST_DIR", &binary.dir)
        .env(timings::VARIABLE, times);
    // The binaries share their servers, as under `just test-all-dbs`, unless a session is set.
    if std::env::var_os(SESSION).is_none() {
        command.env(SESSION, std::process::id().to_string());
    }
    if binary.custom_harness {
        let began = Instant::now();
        let output = command
            .output()
            .with_context(|| format!("running {}", binary.name))?;
        // Its chatter would bury the report; it is shown when the binary fails.
        let status = output.status;
        if !status.success() {
            eprintln!(
                "FAILED {}\n{}{}",
                binary.name,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        tests.push(TestTime {
            binary: binary.name.clone(),
            name: "(whole binary)".into(),
            seconds: began.elapsed().as_secs_f64(),
        });
        return Ok(if status.success() {
            Vec::new()
        } else {
            vec![binary.name.clone()]
        });
    }
    let mut child = command
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "-Z",
            "unstable-options",
            "--format",
            "json",
            "--report-time",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", binary.name))?;
    let stdout = child.stdout.take().context("the test binary's output")?;
    let mut failed = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let event: Value = serde_json::from_str(&line?).unwrap_or(Value::Null);
        if event["type"] != "test" {
            continue;
        }
        let name = event["name"].as_str().unwrap_or_default().to_owned();
        match event["event"].as_str() {
            Some("ok") => tests.push(TestTime {
                binary: binary.name.clone(),
                name,
                seconds: event["exec_time"].as_f64().unwrap_or_default(),
            }),
            Some("failed") | Some("timeout") => {
                eprintln!(
                    "FAILED {} {name}\n{}",
                    binary.name,
                    event["stdout"].as_str().unwrap_or_default()
                );
                failed.push(format!("{} {name}", binary.name));
            }
            _ => {}
        }
    }
    let status = child.wait()?;
    if !status.success() && failed.is_empty() {
        failed.push(format!("{} (exited with {status})", binary.name));
    }
    Ok(failed)
}

/// The phase table: count, total and mean per (phase, backend).
fn print_phases(records: &[timings::Record]) {
    let mut phases: BTreeMap<(&str, &str), (usize, Duration, Duration)> = BTreeMap::new();
    for r in records {
        let entry = phases.entry((&r.phase, &r.backend)).or_default();
        entry.0 += 1;
        entry.1 += r.elapsed;
        entry.2 = entry.2.max(r.elapsed);
    }
    println!("\n## Time per phase (summed over concurrent tests)\n");
    if phases.is_empty() {
        println!("(no phases recorded)");
        return;
    }
    println!("| phase | backend | count | total s | mean ms | max ms |");
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    for ((phase, backend), (count, total, max)) in phases {
        println!(
            "| {phase} | {backend} | {count} | {:.1} | {:.1} | {:.1} |",
            total.as_secs_f64(),
            total.as_secs_f64() * 1000.0 / count as f64,
            max.as_secs_f64() * 1000.0
        );
    }
}
