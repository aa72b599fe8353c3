//! `check`: integrity, the lock file, the lint, the staircase and the data staircase on each requested backend, and
//! parity (of schemas, and of the fixtures' data) across them — what the CLI's `check` runs and
//! what `just test-all-dbs` proves for DIDHub.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::{self, Kind};
use crate::data::Fixture;
use crate::data_staircase::{self, DataStairs};
use crate::integrity;
use crate::lint;
use crate::lock::{self, LOCK_FILE};
use crate::migrations::MigrationSet;
use crate::parity::{self, AllowList};
use crate::schema::Schema;
use crate::staircase;

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The folder holding `sqlite/`, `postgres/` and `mysql/`.
    pub migrations: PathBuf,
    pub backends: Vec<Kind>,
    /// The parity allow-list; none means no difference is allowed.
    pub allow_list: Option<PathBuf>,
    /// The data fixtures folder (`vNNNN/<table>.json`); none skips the data staircase.
    pub fixtures: Option<PathBuf>,
    /// The lint allow-list for released files; none means only in-file comments silence.
    pub lint_allow: Option<PathBuf>,
    /// How parity reads names and SQLite's types.
    pub parity: parity::Rules,
}

/// The findings, readable as text; `ok` when nothing failed.
#[derive(Debug)]
pub struct CheckReport {
    pub ok: bool,
    pub text: String,
}

impl Default for CheckReport {
    fn default() -> Self {
        CheckReport {
            ok: true,
            text: String::new(),
        }
    }
}

impl CheckReport {
    fn pass(&mut self, line: impl fmt::Display) {
        let _ = writeln!(self.text, "ok   {line}");
    }

    fn skip(&mut self, line: impl fmt::Display) {
        let _ = writeln!(self.text, "skip {line}");
    }

    fn fail(&mut self, line: impl fmt::Display) {
        self.ok = false;
        let _ = writeln!(self.text, "FAIL {line}");
    }
}

/// Runs every check and reports all failures, not only the first.
pub async fn run(options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::default();
    static_checks(options, &mut report);
    let fixtures = match &options.fixtures {
        Some(dir) => match Fixture::load_all(dir) {
            Ok(fixtures) => Some(fixtures),
            Err(e) => {
                report.fail(format!("data fixtures: {e}"));
                None
            }
        },
        None => {
            report.skip("data staircase: no fixtures folder was given");
            None
        }
    };
    let walked = walk(options, fixtures.as_deref(), &mut report).await;
    compare_backends(options, &walked, &mut report);
    report
}

/// Only parity: walks the staircase on each backend for its schemas, then compares them.
pub async fn parity(options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::default();
    if options.backends.len() < 2 {
        report.fail("parity compares two or more backends: use --db all");
        return report;
    }
    let walked = walk(options, None, &mut report).await;
    compare_backends(options, &walked, &mut report);
    report
}

/// What needs no database: the folders, the lock file and the lint.
fn static_checks(options: &CheckOptions, report: &mut CheckReport) {
    let integrity = integrity::check_folders(&options.migrations);
    if integrity.is_ok() {
        report.pass(format!("integrity: {integrity}"));
    } else {
        report.fail(format!("integrity:\n{integrity}"));
    }

    match lock::verify(&options.migrations) {
        Ok(Some(lock)) if lock.is_ok() => report.pass(format!("lock: {lock}")),
        Ok(Some(lock)) => report.fail(format!("lock ({LOCK_FILE}):\n{lock}")),
        Ok(None) => report.skip(format!(
            "lock: no {LOCK_FILE} in {} (didhub-harness lock writes it)",
            options.migrations.display()
        )),
        Err(e) => report.fail(format!("lock: {e}")),
    }

    match lint::run(
        &options.migrations,
        &options.backends,
        options.lint_allow.as_deref(),
    ) {
        Ok(lint) if lint.is_ok() => report.pass(format!("lint: {lint}")),
        Ok(lint) => report.fail(format!("lint:{lint}")),
        Err(e) => report.fail(format!("lint: {e}")),
    }
}

/// The schemas and data each backend went through.
#[derive(Default)]
struct Walked {
    /// The backends that walked their staircase, in the order asked.
    kinds: Vec<Kind>,
    schemas: BTreeMap<i64, BTreeMap<Kind, Schema>>,
    data: Vec<DataStairs>,
}

/// The staircase (and, with fixtures, the data staircase) on each requested backend.
async fn walk(
    options: &CheckOptions,
    fixtures: Option<&[Fixture]>,
    report: &mut CheckReport,
) -> Walked {
    let mut walked = Walked::default();
    for &kind in &options.backends {
        let started = Instant::now();
        let outcome = async {
            let set = MigrationSet::load(&options.migrations, kind).await?;
            let stairs = staircase::walk(&set).await?;
            Ok::<_, staircase::StaircaseError>((set, stairs))
        }
        .await;
        let server = match kind {
            Kind::Sqlite => "a temporary SQLite file".to_owned(),
            _ => backend::server(kind)
                .await
                .map(|s| format!("{} ({})", s.version, s.origin))
                .unwrap_or_default(),
        };
        let (set, stairs) = match outcome {
            Ok(walked) => walked,
            Err(e) => {
                report.fail(e);
                continue;
            }
        };
        if set.versions().is_empty() {
            report.fail(format!(
                "{kind}: no migrations to walk in {}: nothing was checked",
                options.migrations.join(kind.name()).display()
            ));
            continue;
        }
        walked.kinds.push(kind);
        report.pass(format!(
            "{kind}: {} in {:.1} s on {server}",
            stairs.summary(),
            started.elapsed().as_secs_f64()
        ));
        for (version, schema) in stairs.steps {
            walked
                .schemas
                .entry(version)
                .or_default()
                .insert(kind, schema);
        }
        if let Some(fixtures) = fixtures {
            let started = Instant::now();
            match data_staircase::walk(&set, fixtures).await {
                Ok(stairs) => {
                    report.pass(format!(
                        "{kind}: data staircase: {} in {:.1} s",
                        stairs.summary(fixtures),
                        started.elapsed().as_secs_f64()
                    ));
                    walked.data.push(stairs);
                }
                Err(e) => report.fail(e),
            }
        }
    }
    walked
}

/// Parity of the schemas, and of the fixtures' data, across the backends that walked.
fn compare_backends(options: &CheckOptions, walked: &Walked, report: &mut CheckReport) {
    // A backend that was asked for and did not walk leaves a hole in the comparison: say so.
    let left_out: Vec<&str> = options
        .backends
        .iter()
        .filter(|kind| !walked.kinds.contains(kind))
        .map(|kind| kind.name())
        .collect();
    if options.backends.len() >= 2 && !left_out.is_empty() {
        report.fail(format!(
            "parity: {} not compared: no staircase walked (see above)",
            left_out.join(", ")
        ));
    }
    if walked.kinds.len() >= 2 {
        let allow = match &options.allow_list {
            Some(path) => AllowList::load(path),
            None => Ok(AllowList::default()),
        };
        match allow {
            Ok(allow) => {
                let parity = parity::check(&walked.schemas, &allow, options.parity);
                let compared: Vec<&str> = walked.kinds.iter().map(|k| k.name()).collect();
                if parity.is_ok() {
                    report.pass(format!("parity of {}: {parity}", compared.join(", ")));
                } else {
                    report.fail(format!("parity:\n{parity}"));
                }
            }
            Err(e) => report.fail(format!("parity allow-list: {e}")),
        }
    } else if options.backends.len() < 2 {
        report.skip("parity: it compares two or more backends (--db all)");
    }
    if walked.data.len() >= 2 {
        let drift = data_staircase::compare_backends(&walked.data);
        let kinds: Vec<&str> = walked.data.iter().map(|d| d.kind.name()).collect();
        if drift.is_empty() {
            report.pass(format!(
                "data parity: every fixture holds the same data on {} at every version",
                kinds.join(", ")
            ));
        } else {
            let lines: Vec<String> = drift.iter().map(|d| format!("data drift: {d}")).collect();
            report.fail(format!("data parity:\n{}", lines.join("\n")));
        }
    }
}

/// DIDHub's data fixtures (`fixtures/data`), relative to this crate.
pub fn didhub_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data")
}

/// How parity reads DIDHub's migrations: every constraint and index is named, so names must
/// agree across dialects.
pub fn didhub_parity() -> parity::Rules {
    parity::Rules {
        names: true,
        ..parity::Rules::default()
    }
}

/// DIDHub's lint allow-list for its released migrations (`fixtures/lint-allow.toml`).
pub fn didhub_lint_allow() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lint-allow.toml")
}

/// The migrations folder of DIDHub, and its allow-list, relative to this crate.
pub fn didhub_defaults() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    (
        root.join("migrations"),
        root.join("fixtures/parity-allow.toml"),
    )
}
