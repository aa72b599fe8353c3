//! `check`: integrity, the lock file, the lint, the staircase and the data staircase on each requested backend, and
//! parity (of schemas, and of the fixtures' data) across them — what the CLI's `check` runs and
//! what `just test-all-dbs` proves for DIDHub.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::{self, Kind};
use crate::data::Fixture;
use crate::data_staircase::{self, DataStairs};
use crate::integrity;
use crate::integrity::IntegrityProblem;
use crate::lint;
use crate::lock::{self, LOCK_FILE};
use crate::migrations::MigrationSet;
use crate::parity::{self, AllowList};
pub use crate::report::CheckReport;
use crate::report::Step;
use crate::schema::Schema;
use crate::staircase::{self, StaircaseError};

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

/// Runs every check and reports all failures, not only the first.
pub async fn run(options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::default();
    static_checks(options, &mut report);
    let fixtures = match &options.fixtures {
        Some(dir) => match Fixture::load_all(dir) {
            Ok(fixtures) => Some(fixtures),
            Err(e) => {
                report.fail(
                    Step::DataStaircase,
                    None,
                    format!("data fixtures: {e}"),
                    false,
                );
                None
            }
        },
        None => {
            report.skip(
                Step::DataStaircase,
                None,
                "data staircase: no fixtures folder was given",
            );
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
        // How it was asked, not a finding.
        report.fail(
            Step::Parity,
            None,
            "parity compares two or more backends: use --db all",
            true,
        );
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
        report.pass(Step::Integrity, None, format!("integrity: {integrity}"));
    } else {
        // A folder that cannot be read leaves the rest unknown.
        let unreadable = integrity
            .problems
            .iter()
            .any(|p| matches!(p, IntegrityProblem::UnreadableFolder { .. }));
        report.fail(
            Step::Integrity,
            None,
            format!("integrity:\n{integrity}"),
            unreadable,
        );
    }

    match lock::verify(&options.migrations) {
        Ok(Some(lock)) if lock.is_ok() => report.pass(Step::Lock, None, format!("lock: {lock}")),
        Ok(Some(lock)) => report.fail(
            Step::Lock,
            None,
            format!("lock ({LOCK_FILE}):\n{lock}"),
            false,
        ),
        Ok(None) => report.skip(
            Step::Lock,
            None,
            format!(
                "lock: no {LOCK_FILE} in {} (didhub-harness lock writes it)",
                options.migrations.display()
            ),
        ),
        Err(e) => report.fail(Step::Lock, None, format!("lock: {e}"), false),
    }

    record_lint(
        report,
        &options.migrations,
        &options.backends,
        options.lint_allow.as_deref(),
    );
}

/// Only the lint, as a report (the CLI's `lint --format json|junit`).
pub fn lint(root: &Path, kinds: &[Kind], allow: Option<&Path>) -> CheckReport {
    let mut report = CheckReport::default();
    record_lint(&mut report, root, kinds, allow);
    report
}

fn record_lint(report: &mut CheckReport, root: &Path, kinds: &[Kind], allow: Option<&Path>) {
    match lint::run(root, kinds, allow) {
        Ok(lint) if lint.is_ok() => report.pass(Step::Lint, None, format!("lint: {lint}")),
        Ok(lint) => report.fail(Step::Lint, None, format!("lint:{lint}"), false),
        Err(e) => report.fail(Step::Lint, None, format!("lint: {e}"), false),
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
                let cannot_check = matches!(&e, StaircaseError::Harness(h) if h.cannot_check());
                report.fail(Step::Staircase, Some(kind), e, cannot_check);
                continue;
            }
        };
        if set.versions().is_empty() {
            report.fail(
                Step::Staircase,
                Some(kind),
                format!(
                    "{kind}: no migrations to walk in {}: nothing was checked",
                    options.migrations.join(kind.name()).display()
                ),
                false,
            );
            continue;
        }
        walked.kinds.push(kind);
        report.pass(
            Step::Staircase,
            Some(kind),
            format!(
                "{kind}: {} in {:.1} s on {server}",
                stairs.summary(),
                started.elapsed().as_secs_f64()
            ),
        );
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
                    report.pass(
                        Step::DataStaircase,
                        Some(kind),
                        format!(
                            "{kind}: data staircase: {} in {:.1} s",
                            stairs.summary(fixtures),
                            started.elapsed().as_secs_f64()
                        ),
                    );
                    walked.data.push(stairs);
                }
                Err(e) => {
                    let cannot_check = matches!(
                        &e,
                        data_staircase::DataStaircaseError::Harness(h) if h.cannot_check()
                    );
                    report.fail(Step::DataStaircase, Some(kind), e, cannot_check);
                }
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
        report.fail(
            Step::Parity,
            None,
            format!(
                "parity: {} not compared: no staircase walked (see above)",
                left_out.join(", ")
            ),
            false,
        );
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
                    report.pass(
                        Step::Parity,
                        None,
                        format!("parity of {}: {parity}", compared.join(", ")),
                    );
                } else {
                    report.fail(Step::Parity, None, format!("parity:\n{parity}"), false);
                }
            }
            Err(e) => report.fail(Step::Parity, None, format!("parity allow-list: {e}"), false),
        }
    } else if options.backends.len() < 2 {
        report.skip(
            Step::Parity,
            None,
            "parity: it compares two or more backends (--db all)",
        );
    }
    if walked.data.len() >= 2 {
        let drift = data_staircase::compare_backends(&walked.data);
        let kinds: Vec<&str> = walked.data.iter().map(|d| d.kind.name()).collect();
        if drift.is_empty() {
            report.pass(
                Step::DataParity,
                None,
                format!(
                    "data parity: every fixture holds the same data on {} at every version",
                    kinds.join(", ")
                ),
            );
        } else {
            let lines: Vec<String> = drift.iter().map(|d| format!("data drift: {d}")).collect();
            report.fail(
                Step::DataParity,
                None,
                format!("data parity:\n{}", lines.join("\n")),
                false,
            );
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
