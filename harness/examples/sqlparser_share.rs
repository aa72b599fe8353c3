//! How much of the migrations the harness reads sqlparser-rs parses, per dialect and source: what
//! the one SQL reader (`didhub_migrations::sql`) reads from sqlparser's tree, and what it reads
//! from the tokens instead.
//!
//!     cargo run -p didhub-harness --example sqlparser_share [ROOT ...]
//!
//! Each `.sql` file under the roots (default: DIDHub's migrations, `fixtures/foreign` and
//! `../shared/peers`) whose path names a dialect folder (`sqlite`, `postgres`, `mysql`) is split
//! into statements by the harness's splitter, and each statement is parsed by sqlparser in that
//! dialect. Printed: statements parsed of all, per dialect and per source, whether sqlparser's
//! own splitting of the whole file finds as many statements, and the most common refusals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use didhub_migrations::Backend;
use didhub_migrations::sql::dialect;
use sqlparser::parser::Parser;

#[derive(Default)]
struct Tally {
    statements: usize,
    parsed: usize,
    files: usize,
    /// Files whose statements sqlparser counts as the harness's splitter does.
    same_split: usize,
}

/// The dialect a file's path names, by its folder names.
fn kind_of(path: &Path) -> Option<Backend> {
    path.components().rev().skip(1).find_map(|c| {
        let name = c.as_os_str().to_string_lossy().to_lowercase();
        if name.contains("sqlite") {
            Some(Backend::Sqlite)
        } else if name.contains("postgres") || name == "pg" {
            Some(Backend::Postgres)
        } else if name.contains("mysql") || name.contains("mariadb") {
            Some(Backend::MySql)
        } else {
            None
        }
    })
}

fn sql_files(root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sql_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
}

/// The first words of a refusal, so that alike ones count together.
fn gist(error: &str) -> String {
    let error = error.split(" at Line").next().unwrap_or(error);
    error.chars().take(90).collect()
}

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let roots: Vec<PathBuf> = match std::env::args().skip(1).collect::<Vec<_>>() {
        args if !args.is_empty() => args.into_iter().map(PathBuf::from).collect(),
        _ => vec![
            here.join("migrations"),
            here.join("fixtures/foreign"),
            here.join("../shared/peers"),
        ],
    };
    let mut by_source: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut refusals: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut examples: BTreeMap<(String, String), String> = BTreeMap::new();
    for root in &roots {
        let mut files = Vec::new();
        sql_files(root, &mut files);
        let source = root
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        for file in files {
            let Some(kind) = kind_of(&file) else { continue };
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let Ok(script) = didhub_harness::sql::split(&text, kind) else {
                continue;
            };
            let dialect = dialect(kind);
            // The peers' projects, one source each.
            let source = match file.strip_prefix(root).ok().and_then(|p| p.iter().next()) {
                Some(first) if source == "peers" || source == "foreign" => {
                    format!("{source}/{}", first.to_string_lossy())
                }
                _ => source.clone(),
            };
            let tally = by_source.entry((kind.to_string(), source)).or_default();
            tally.files += 1;
            for statement in &script.statements {
                tally.statements += 1;
                match statement.parse(kind) {
                    Ok(_) => tally.parsed += 1,
                    Err(error) => {
                        let key = (kind.to_string(), gist(&error.to_string()));
                        *refusals.entry(key.clone()).or_default() += 1;
                        examples.entry(key).or_insert_with(|| {
                            format!(
                                "{}:{}: {}",
                                file.display(),
                                statement.line,
                                didhub_migrations::excerpt(&statement.text)
                            )
                        });
                    }
                }
            }
            if let Ok(whole) = Parser::parse_sql(dialect.as_ref(), &text)
                && whole.len() == script.statements.len()
            {
                tally.same_split += 1;
            }
        }
    }

    let mut per_dialect: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    println!(
        "{:<10} {:<32} {:>10} {:>10} {:>7} {:>14}",
        "dialect", "source", "statements", "parsed", "share", "files split"
    );
    for ((kind, source), t) in &by_source {
        let d = per_dialect.entry(kind.clone()).or_default();
        d.0 += t.statements;
        d.1 += t.parsed;
        println!(
            "{kind:<10} {source:<32} {:>10} {:>10} {:>6.1}% {:>7} of {:<4}",
            t.statements,
            t.parsed,
            100.0 * t.parsed as f64 / t.statements.max(1) as f64,
            t.same_split,
            t.files
        );
    }
    println!();
    let (mut all, mut parsed) = (0, 0);
    for (kind, (s, p)) in &per_dialect {
        all += s;
        parsed += p;
        println!(
            "{kind:<10} {p} of {s} statements parsed ({:.1}%)",
            100.0 * *p as f64 / (*s).max(1) as f64
        );
    }
    println!(
        "all        {parsed} of {all} statements parsed ({:.1}%)",
        100.0 * parsed as f64 / all.max(1) as f64
    );
    println!("\nrefusals, most common first:");
    let mut refusals: Vec<_> = refusals.into_iter().collect();
    refusals.sort_by_key(|r| std::cmp::Reverse(r.1));
    for ((kind, gist), count) in refusals.iter().take(25) {
        println!("{count:>5} {kind:<9} {gist}");
        println!("      e.g. {}", examples[&(kind.clone(), gist.clone())]);
    }
}
