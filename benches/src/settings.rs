//! What a benchmark run covers, from the environment (criterion owns the command line):
//!
//! - `DIDHUB_BENCH_DB`: `sqlite`, `postgres`, `mysql` or `all` (the default with the
//!   `containers` feature; SQLite alone without it).
//! - `DIDHUB_BENCH_SIZES`: alters to generate, comma-separated (default `10000,100000`).
//!
//! Run as a test (`cargo test`, or `cargo bench -- --test`), criterion runs every benchmark once
//! to prove it works; the default data size is then 1000 alters so that this stays quick.

use anyhow::Context;
use clap::ValueEnum;
use didhub_harness::backend::Selection;
use didhub_migrations::Backend;

#[derive(Debug, Clone)]
pub struct Settings {
    pub backends: Vec<Backend>,
    pub sizes: Vec<usize>,
    /// Criterion runs each benchmark once instead of measuring it.
    pub test_mode: bool,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Settings> {
        let args: Vec<String> = std::env::args().collect();
        // `cargo bench` passes `--bench`; `cargo test` does not; `--test` asks for test mode.
        let test_mode = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test");
        Settings::from_vars(test_mode, |name| std::env::var(name).ok())
    }

    fn from_vars(
        test_mode: bool,
        var: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let default_db = if cfg!(feature = "containers") {
            "all"
        } else {
            "sqlite"
        };
        let db = var("DIDHUB_BENCH_DB").unwrap_or_else(|| default_db.to_owned());
        let selection = Selection::from_str(&db, true).map_err(|_| {
            anyhow::anyhow!("DIDHUB_BENCH_DB={db}: expected sqlite, postgres, mysql or all")
        })?;
        let backends = selection.backends();
        let default_sizes = if test_mode { "1000" } else { "10000,100000" };
        let sizes_text = var("DIDHUB_BENCH_SIZES").unwrap_or_else(|| default_sizes.to_owned());
        let sizes = sizes_text
            .split(',')
            .map(|s| s.trim().replace('_', "").parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| {
                format!(
                    "DIDHUB_BENCH_SIZES={sizes_text}: expected numbers of alters, comma-separated"
                )
            })?;
        Ok(Settings {
            backends,
            sizes,
            test_mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn backends_and_sizes_come_from_the_environment() {
        let s = Settings::from_vars(
            false,
            vars(&[
                ("DIDHUB_BENCH_DB", "postgres"),
                ("DIDHUB_BENCH_SIZES", "10_000, 1000000"),
            ]),
        )
        .unwrap();
        assert_eq!(s.backends, [Backend::Postgres]);
        assert_eq!(s.sizes, [10_000, 1_000_000]);
    }

    #[test]
    fn test_mode_defaults_to_a_small_size() {
        assert_eq!(Settings::from_vars(true, vars(&[])).unwrap().sizes, [1000]);
        assert_eq!(
            Settings::from_vars(false, vars(&[])).unwrap().sizes,
            [10_000, 100_000]
        );
    }

    #[test]
    fn bad_values_are_named() {
        let e = Settings::from_vars(false, vars(&[("DIDHUB_BENCH_DB", "oracle")])).unwrap_err();
        assert!(e.to_string().contains("DIDHUB_BENCH_DB=oracle"), "{e}");
        let e = Settings::from_vars(false, vars(&[("DIDHUB_BENCH_SIZES", "lots")])).unwrap_err();
        assert!(e.to_string().contains("DIDHUB_BENCH_SIZES=lots"), "{e}");
    }
}
