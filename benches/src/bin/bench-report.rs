//! `just bench` ends with this: the medians of the last criterion run, read from
//! `target/criterion/**/new/{benchmark,estimates}.json`, as Markdown tables — every benchmark,
//! then each hot query's indexed against unindexed time, then each benchmark against the anchors
//! measured next to it (`didhub_benches::anchors`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use serde_json::Value;

#[derive(Parser)]
#[command(about = "Print the medians of the last criterion run as Markdown")]
struct Cli {
    /// Criterion's output folder.
    #[arg(default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/criterion"))]
    dir: PathBuf,
}

struct Measured {
    group: String,
    function: String,
    value: Option<String>,
    median_ns: f64,
    /// Elements per iteration, for throughput.
    elements: Option<f64>,
}

/// One hot query at one data size: its median time with and without its index.
#[derive(Default)]
struct Pair {
    indexed: Option<f64>,
    unindexed: Option<f64>,
}

impl Measured {
    /// The parameter as a number where it is one (data size, pool size), so 2 sorts before 16.
    fn size(&self) -> (u64, Option<String>) {
        let value = self.value.clone();
        let number = value.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
        (number, value)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut found = Vec::new();
    collect(&cli.dir, &mut found)
        .with_context(|| format!("reading {} (run `just bench` first)", cli.dir.display()))?;
    found.sort_by_key(|m| (m.group.clone(), m.function.clone(), m.size()));
    anyhow::ensure!(
        !found.is_empty(),
        "no criterion results under {}",
        cli.dir.display()
    );

    println!("| benchmark | median | throughput |\n| --- | ---: | ---: |");
    for m in &found {
        let id = [Some(&m.group), Some(&m.function), m.value.as_ref()]
            .into_iter()
            .flatten()
            .filter(|part| !part.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" / ");
        let throughput = m
            .elements
            .map(|n| format!("{:.0} ops/s", n / (m.median_ns / 1e9)))
            .unwrap_or_default();
        println!("| {id} | {} | {throughput} |", duration(m.median_ns));
    }

    let mut pairs: BTreeMap<(&str, &str), Pair> = BTreeMap::new();
    for m in &found {
        let Some(size) = m.value.as_deref() else {
            continue;
        };
        let slot = pairs.entry((m.group.as_str(), size)).or_default();
        match m.function.as_str() {
            "indexed" => slot.indexed = Some(m.median_ns),
            "unindexed" => slot.unindexed = Some(m.median_ns),
            _ => {}
        }
    }
    let ratios: Vec<_> = pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.indexed?, v.unindexed?)))
        .collect();
    if !ratios.is_empty() {
        println!(
            "\n| query | alters | indexed | unindexed | ratio |\n| --- | ---: | ---: | ---: | ---: |"
        );
        for ((group, size), indexed, unindexed) in ratios {
            let ratio = unindexed / indexed;
            let precision = if ratio < 10.0 { 1 } else { 0 };
            println!(
                "| {group} | {size} | {} | {} | {ratio:.precision$}× |",
                duration(indexed),
                duration(unindexed),
            );
        }
    }
    print_anchored(&found);
    Ok(())
}

/// Each benchmark as a ratio of the anchors measured in the same run: the functions of its
/// group (and data size) named `anchor: …`.
fn print_anchored(found: &[Measured]) {
    let is_anchor = |m: &Measured| m.function.starts_with(ANCHOR);
    let rows: Vec<(&Measured, &Measured)> = found
        .iter()
        .filter(|m| !is_anchor(m))
        .flat_map(|m| {
            found
                .iter()
                .filter(move |a| is_anchor(a) && a.group == m.group && a.value == m.value)
                .map(move |a| (m, a))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!(
        "\n| benchmark | size | median | anchor | anchor's median | ratio |\n| --- | ---: | ---: | --- | ---: | ---: |"
    );
    for (m, anchor) in rows {
        println!(
            "| {} / {} | {} | {} | {} | {} | {:.2}× |",
            m.group,
            m.function,
            m.value.as_deref().unwrap_or(""),
            duration(m.median_ns),
            &anchor.function[ANCHOR.len()..],
            duration(anchor.median_ns),
            m.median_ns / anchor.median_ns,
        );
    }
}

/// How a benchmark that others are measured against is named.
const ANCHOR: &str = "anchor: ";

fn collect(dir: &Path, found: &mut Vec<Measured>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(m) = read(&path)? {
                found.push(m);
            }
        } else {
            collect(&path, found)?;
        }
    }
    Ok(())
}

fn read(dir: &Path) -> anyhow::Result<Option<Measured>> {
    let json = |name: &str| -> anyhow::Result<Option<Value>> {
        let path = dir.join(name);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)?;
        Ok(Some(
            serde_json::from_str(&text).with_context(|| path.display().to_string())?,
        ))
    };
    let (Some(benchmark), Some(estimates)) = (json("benchmark.json")?, json("estimates.json")?)
    else {
        return Ok(None);
    };
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Ok(Some(Measured {
        group: text(&benchmark["group_id"]).unwrap_or_default(),
        function: text(&benchmark["function_id"]).unwrap_or_default(),
        value: text(&benchmark["value_str"]),
        median_ns: estimates["median"]["point_estimate"]
            .as_f64()
            .context("estimates.json has no median")?,
        elements: benchmark["throughput"]["Elements"].as_f64(),
    }))
}

fn duration(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}
