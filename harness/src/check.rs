//! `check`: integrity, the lock file, the lint, the staircase and the data staircase on each requested backend, and
//! parity (of schemas, and of the fixtures' data) across them — what the CLI's `check` runs and
//! what `just test-all-dbs` proves for DIDHub.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::HarnessError;
use crate::backend::{self, Backend};
use crate::data::Fixture;
use crate::data_staircase::{self, DataStairs};
use crate::integrity;
use crate::integrity::IntegrityProblem;
use crate::lint;
use crate::lock::{self, LOCK_FILE};
use crate::migrations::MigrationSet;
use crate::parity::{self, AllowList, Drift, Point};
use crate::project::{ColumnOrder, Project, ProjectError};
pub use crate::report::CheckReport;
use crate::report::{Finding, Step};
use crate::schema::Schema;
use crate::staircase::{self, Staircase, Unchecked};

/// What to check. The migrations folder's settings file ([`crate::project::Settings`]) supplies what is not
/// given here.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The migrations folder (see [`crate::project::Layout`]).
    pub migrations: PathBuf,
    pub backends: Vec<Backend>,
    /// A parity allow-list file used instead of the settings' `[[parity.allow]]`.
    pub allow_list: Option<PathBuf>,
    /// The data fixtures folder (`vNNNN/<table>.json`), instead of the settings' `fixtures`;
    /// with neither, the data staircase is skipped.
    pub fixtures: Option<PathBuf>,
    /// A lint allow-list file used instead of the settings' `[[lint.allow]]`.
    pub lint_allow: Option<PathBuf>,
    /// How parity reads names and SQLite's types, on top of the settings: name parity when
    /// either asks for it, SQLite's declared types when either does.
    pub parity: parity::Rules,
    /// Also walks the PostgreSQL staircase on a primary with a streaming replica
    /// ([`crate::replica`]).
    pub replica: bool,
}

impl CheckOptions {
    /// `check` of the migrations folder `migrations` as its settings say, on `backends`.
    pub fn new(migrations: impl Into<PathBuf>, backends: &[Backend]) -> CheckOptions {
        CheckOptions {
            migrations: migrations.into(),
            backends: backends.to_vec(),
            allow_list: None,
            fixtures: None,
            lint_allow: None,
            parity: parity::Rules::default(),
            replica: false,
        }
    }
}

/// What a run uses: the project, read once, and the options, with its settings filling in what
/// they leave out.
struct Effective {
    project: Project,
    parity_allow: AllowList,
    lint: lint::Policy,
    fixtures: Option<PathBuf>,
    rules: parity::Rules,
    /// Where dialects with histories of their own are meant to agree, besides their newest.
    align: Vec<BTreeMap<Backend, i64>>,
    positions: ColumnOrder,
}

impl Effective {
    /// [`Effective::of`], or `None` with the reason recorded in `report`: the settings file
    /// cannot be used, which is how the check was asked, not a finding.
    fn recorded(options: &CheckOptions, report: &mut CheckReport) -> Option<Effective> {
        match Effective::of(options) {
            Ok(effective) => Some(effective),
            Err(ProjectError::Settings(e)) => {
                report.fail(Step::Settings, None, format!("settings: {e}"), true);
                None
            }
            Err(e) => {
                report.fail(Step::Integrity, None, format!("integrity:\n- {e}"), true);
                None
            }
        }
    }

    fn of(options: &CheckOptions) -> Result<Effective, ProjectError> {
        let project = Project::open(&options.migrations)?;
        let settings = &project.settings;
        let parity_allow = match &options.allow_list {
            Some(path) => AllowList::load(path)?,
            None => settings.parity_allow(),
        };
        let lint = settings.lint_policy(&options.migrations, options.lint_allow.as_deref())?;
        let fixtures = options.fixtures.clone().or_else(|| {
            settings
                .fixtures
                .as_ref()
                .map(|f| options.migrations.join(f))
        });
        let from_file = settings.parity_rules();
        let declared = parity::SqliteTypes::Declared;
        let rules = parity::Rules {
            names: options.parity.names || from_file.names,
            sqlite_types: if options.parity.sqlite_types == declared {
                declared
            } else {
                from_file.sqlite_types
            },
        };
        let align = settings.parity_align();
        let positions = settings.column_order();
        Ok(Effective {
            project,
            parity_allow,
            lint,
            fixtures,
            rules,
            align,
            positions,
        })
    }
}

/// Runs every check and reports all failures, not only the first.
pub async fn run(options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::default();
    let Some(effective) = Effective::recorded(options, &mut report) else {
        return report;
    };
    static_checks(options, &effective, &mut report);
    let fixtures = match &effective.fixtures {
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
    let walked = walk(options, &effective, fixtures.as_deref(), &mut report).await;
    compare_backends(options, &effective, &walked, &mut report);
    if options.replica {
        Box::pin(crate::replica::check(&effective.project, &mut report)).await;
    }
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
    let Some(effective) = Effective::recorded(options, &mut report) else {
        return report;
    };
    let walked = walk(options, &effective, None, &mut report).await;
    compare_backends(options, &effective, &walked, &mut report);
    report
}

/// What needs no database: the folders, the lock file and the lint.
fn static_checks(options: &CheckOptions, effective: &Effective, report: &mut CheckReport) {
    let mut integrity = integrity::check(&effective.project);
    let kinds = effective.project.layout.backends();
    let history = History::of(&effective.project, &kinds);
    if history == History::PerDialect {
        // Folders with histories of their own differ in versions and names by design.
        integrity.problems.retain(|p| !across_folders(p));
    }
    if integrity.is_ok() && history == History::PerDialect {
        let counts: Vec<String> = kinds
            .iter()
            .map(|kind| {
                let versions = effective.project.steps(*kind).map_or(0, |(_, s)| s.len());
                format!("{kind} {versions}")
            })
            .collect();
        report.pass(
            Step::Integrity,
            None,
            format!(
                "integrity: every folder's files pair up; the folders keep histories of their \
                 own ({} migrations), so their versions and names are not held to each other",
                counts.join(", ")
            ),
        );
    } else if integrity.is_ok() {
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

    match lock::verify(&effective.project) {
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

    let linted = lint::run(&effective.project, &options.backends, &effective.lint);
    record_lint(report, linted);
}

/// Whether a problem compares one folder with another (a version, its name or its kind),
/// which only a history the dialects share can have.
fn across_folders(problem: &IntegrityProblem) -> bool {
    matches!(
        problem,
        IntegrityProblem::VersionMissing { .. }
            | IntegrityProblem::NameMismatch { .. }
            | IntegrityProblem::KindMismatch { .. }
    )
}

/// Only the lint, as a report (the CLI's `lint --format json|junit`), with `allow` (a file of
/// `[[allow]]` entries) instead of the settings' list when given.
pub fn lint(root: &Path, kinds: &[Backend], allow: Option<&Path>) -> CheckReport {
    let mut report = CheckReport::default();
    match run_lint(root, kinds, allow) {
        Err(e) if e.cannot_check() => {
            report.fail(Step::Settings, None, format!("lint: {e}"), true);
        }
        linted => record_lint(&mut report, linted),
    }
    report
}

/// Lints the files of `kinds` of the project under `root` under its settings' `[lint]`, with the
/// allow-list of the file `allow` instead of theirs when given ([`lint::run`]).
pub fn run_lint(
    root: &Path,
    kinds: &[Backend],
    allow: Option<&Path>,
) -> Result<lint::LintReport, lint::LintError> {
    let project = Project::open(root)?;
    let policy = project
        .settings
        .lint_policy(root, allow)
        .map_err(ProjectError::from)?;
    lint::run(&project, kinds, &policy)
}

fn record_lint(report: &mut CheckReport, linted: Result<lint::LintReport, lint::LintError>) {
    match linted {
        Ok(lint) if lint.is_ok() => report.pass(Step::Lint, None, format!("lint: {lint}")),
        Ok(lint) => {
            let findings = lint.problems.iter().map(lint_finding).collect();
            report.fail_with(Step::Lint, None, format!("lint:{lint}"), findings, false);
        }
        Err(e) => report.fail(Step::Lint, None, format!("lint: {e}"), false),
    }
}

/// A lint problem as a report's finding: a rule's finding with its file, line and rule.
fn lint_finding(problem: &lint::LintProblem) -> Finding {
    match problem {
        lint::LintProblem::Finding(found) => Finding {
            file: Some(found.file.clone()),
            line: Some(found.line),
            rule: Some(found.rule.to_string()),
            message: problem.to_string(),
            ..Finding::default()
        },
        lint::LintProblem::BadComment { file, line, .. } => Finding {
            file: Some(file.clone()),
            line: Some(*line),
            message: problem.to_string(),
            ..Finding::default()
        },
        lint::LintProblem::Unreadable { file, .. } => Finding {
            file: Some(file.clone()),
            message: problem.to_string(),
            ..Finding::default()
        },
        lint::LintProblem::StaleEntry(_) => Finding::message(problem),
    }
}

/// What each backend's walk reached, and the data it went through.
#[derive(Default)]
struct Walked {
    /// The backends that walked their staircase (as far as it went), in the order asked.
    stairs: Vec<Staircase>,
    data: Vec<DataStairs>,
}

/// The staircase (and, with fixtures, the data staircase) on each requested backend. Every
/// failure of a walk is reported, and what it reached is kept for parity.
async fn walk(
    options: &CheckOptions,
    effective: &Effective,
    fixtures: Option<&[Fixture]>,
    report: &mut CheckReport,
) -> Walked {
    let mut walked = Walked::default();
    for &kind in &options.backends {
        let started = Instant::now();
        let outcome = async {
            let set = MigrationSet::of(&effective.project, kind).await?;
            let stairs = staircase::walk(&set, effective.positions).await?;
            Ok::<_, HarnessError>((set, stairs))
        }
        .await;
        let server = match kind {
            Backend::Sqlite => "a temporary SQLite file".to_owned(),
            Backend::Postgres | Backend::MySql => backend::server(kind)
                .await
                .map(|s| format!("{} ({})", s.version, s.origin))
                .unwrap_or_default(),
        };
        let (set, stairs) = match outcome {
            Ok(walked) => walked,
            Err(e) => {
                let cannot_check = e.cannot_check();
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
                    set.dir.display()
                ),
                false,
            );
            continue;
        }
        report.staircases.push(stairs.timeline(&set));
        for failure in &stairs.failures {
            report.fail_with(
                Step::Staircase,
                Some(kind),
                failure,
                failure.findings(),
                false,
            );
        }
        let mut line = format!(
            "{kind}: {} in {:.1} s on {server}",
            stairs.summary(),
            started.elapsed().as_secs_f64()
        );
        for reordered in &stairs.reordered {
            line.push_str(&format!(
                "\n  {} (version {}) puts columns back in another order (a re-added column can \
                 only be appended here; [staircase] column_order = \"fail\" makes this a \
                 failure): {}",
                reordered.file,
                reordered.version,
                reordered.tables.join("; ")
            ));
        }
        let empty = set.empty_files();
        if !empty.is_empty() {
            line.push_str(&format!(
                "\n  {} file(s) without a statement, applied as nothing: {}",
                empty.len(),
                empty.join(", ")
            ));
        }
        for unchecked in &stairs.unchecked {
            line.push_str(&format!("\n  unchecked: {}", unchecked_line(unchecked)));
        }
        if stairs.failures.is_empty() && stairs.unchecked.is_empty() {
            report.pass(Step::Staircase, Some(kind), line);
        } else {
            report.note(Step::Staircase, Some(kind), line);
        }
        if let Some(fixtures) = fixtures {
            if stairs.failures.is_empty() {
                data_walk(&set, fixtures, report, &mut walked).await;
            } else {
                report.skip(
                    Step::DataStaircase,
                    Some(kind),
                    format!(
                        "{kind}: data staircase not walked: the staircase failed (above), and \
                         the data would meet the same failures"
                    ),
                );
            }
        }
        // A walk that reached no version has no schema to compare.
        if stairs.versions().next().is_some() || stairs.complete() {
            walked.stairs.push(stairs);
        }
    }
    walked
}

/// `53 versions (20180217205753 to 20240313170000): why`.
fn unchecked_line(unchecked: &Unchecked) -> String {
    match unchecked.versions.as_slice() {
        [] => unchecked.why.clone(),
        [one] => format!("version {one}: {}", unchecked.why),
        [first, .., last] => format!(
            "{} versions ({first} to {last}): {}",
            unchecked.versions.len(),
            unchecked.why
        ),
    }
}

/// The data staircase of one backend's set.
async fn data_walk(
    set: &MigrationSet,
    fixtures: &[Fixture],
    report: &mut CheckReport,
    walked: &mut Walked,
) {
    let kind = set.kind;
    let started = Instant::now();
    match data_staircase::walk(set, fixtures).await {
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

/// Parity of the schemas, and of the fixtures' data, across the backends that walked.
fn compare_backends(
    options: &CheckOptions,
    effective: &Effective,
    walked: &Walked,
    report: &mut CheckReport,
) {
    // A backend that was asked for and did not walk leaves a hole in the comparison: say so.
    let left_out: Vec<&str> = options
        .backends
        .iter()
        .filter(|kind| !walked.stairs.iter().any(|s| s.kind == **kind))
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
    // Dialects with histories of their own agree at their newest schemas: a walk that stopped
    // before its newest has nothing to hold against them, only its checkpoints.
    let kinds: Vec<Backend> = walked.stairs.iter().map(|s| s.kind).collect();
    let history = History::of(&effective.project, &kinds);
    if kinds.len() >= 2 {
        for s in walked.stairs.iter().filter(|s| !s.complete()) {
            let (newest, kind) = (s.newest().0, s.kind);
            let line = match history {
                History::PerDialect => format!(
                    "parity: {kind}'s newest schema not compared: its walk stopped at version \
                     {newest} (see above)"
                ),
                History::Shared => format!(
                    "parity: {kind} compared up to version {newest} only: its walk stopped there \
                     (see above)"
                ),
            };
            report.fail(Step::Parity, None, line, false);
        }
    }
    if walked.stairs.len() >= 2 {
        compare_schemas(effective, history, &walked.stairs, report);
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
            let findings = lines.iter().map(Finding::message).collect();
            report.fail_with(
                Step::DataParity,
                None,
                format!("data parity:\n{}", lines.join("\n")),
                findings,
                false,
            );
        }
    }
}

/// Schema parity of the walks: version by version where the dialects share one history, else
/// at the project's checkpoints and at each dialect's newest schema.
fn compare_schemas(
    effective: &Effective,
    history: History,
    stairs: &[Staircase],
    report: &mut CheckReport,
) {
    let compared: Vec<&str> = stairs.iter().map(|s| s.kind.name()).collect();
    let mut said = Vec::new();
    let mut by_version: BTreeMap<i64, BTreeMap<Backend, Schema>> = BTreeMap::new();
    let mut points: Vec<(Point, BTreeMap<Backend, Schema>)> = Vec::new();
    match history {
        History::Shared => {
            for s in stairs {
                for (version, schema) in &s.steps {
                    by_version
                        .entry(*version)
                        .or_default()
                        .insert(s.kind, schema.clone());
                }
            }
            points.extend(
                by_version
                    .into_iter()
                    .map(|(version, schemas)| (Point::Version(version), schemas)),
            );
        }
        History::PerDialect => {
            let newest: Vec<String> = stairs
                .iter()
                .filter(|s| s.complete())
                .map(|s| format!("{} {}", s.kind, s.newest().0))
                .collect();
            said.push(format!(
                "the dialects keep histories of their own: their newest schemas are compared \
                 ({})",
                newest.join(", ")
            ));
            // The versions before the newest that no checkpoint names are compared with nothing:
            // a difference that a later migration undoes goes unseen there.
            let unaligned: Vec<String> = stairs
                .iter()
                .filter(|s| s.complete())
                .filter_map(|s| {
                    let newest = s.newest().0;
                    // The first step is the empty database before any migration.
                    let n = (s.steps.iter().skip(1))
                        .filter(|(v, _)| {
                            *v != newest
                                && effective.align.iter().all(|a| a.get(&s.kind) != Some(v))
                        })
                        .count();
                    (n > 0).then(|| format!("{} {n}", s.kind))
                })
                .collect();
            if !unaligned.is_empty() {
                said.push(format!(
                    "not compared across dialects: the versions before the newest that no \
                     [[parity.align]] checkpoint names ({}); a checkpoint compares the dialects \
                     where they are meant to agree",
                    unaligned.join(", ")
                ));
            }
            for align in &effective.align {
                let mut versions = BTreeMap::new();
                let mut schemas = BTreeMap::new();
                for s in stairs {
                    let Some(version) = align.get(&s.kind) else {
                        continue;
                    };
                    match s.steps.iter().find(|(v, _)| v == version) {
                        Some((_, schema)) => {
                            versions.insert(s.kind, *version);
                            schemas.insert(s.kind, schema.clone());
                        }
                        None => said.push(format!(
                            "{}'s checkpoint version {version} was not reached: not compared there",
                            s.kind
                        )),
                    }
                }
                if schemas.len() >= 2 {
                    points.push((Point::Checkpoint(versions), schemas));
                }
            }
            let complete = || stairs.iter().filter(|s| s.complete());
            let versions = complete().map(|s| (s.kind, s.newest().0)).collect();
            let schemas: BTreeMap<Backend, Schema> =
                complete().map(|s| (s.kind, s.newest().1.clone())).collect();
            if schemas.len() >= 2 {
                points.push((Point::Newest(versions), schemas));
            }
        }
    }
    let points: Vec<(Point, &BTreeMap<Backend, Schema>)> =
        points.iter().map(|(p, s)| (p.clone(), s)).collect();
    let parity = parity::check_points(&points, &effective.parity_allow, effective.rules);
    report.differences.extend(parity.differences());
    let notes: String = said.iter().map(|s| format!("\n  ({s})")).collect();
    if parity.is_ok() {
        report.pass(
            Step::Parity,
            None,
            format!("parity of {}: {parity}{notes}", compared.join(", ")),
        );
    } else {
        let mut findings: Vec<Finding> = parity.drift.iter().map(Drift::finding).collect();
        findings.extend(parity.stale.iter().map(|a| {
            Finding::message(format!(
                "stale allow-list entry: {} {} ({})",
                a.subject, a.aspect, a.reason
            ))
        }));
        report.fail_with(
            Step::Parity,
            None,
            format!("parity:\n{parity}{notes}"),
            findings,
            false,
        );
    }
}

/// Whether the dialects share one version history, which parity then compares version by
/// version, or keep one each (most projects with several dialects: they are meant to agree at
/// their newest schema, not at each version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum History {
    Shared,
    PerDialect,
}

impl History {
    /// Shared when every folder of `kinds` holds the same versions (a folder that cannot be
    /// read holds none).
    fn of(project: &Project, kinds: &[Backend]) -> History {
        let versions: Vec<Vec<i64>> = kinds
            .iter()
            .map(|kind| {
                project
                    .steps(*kind)
                    .map(|(_, steps)| steps.into_keys().collect())
                    .unwrap_or_default()
            })
            .collect();
        if versions.iter().all(|v| v == &versions[0]) {
            History::Shared
        } else {
            History::PerDialect
        }
    }
}

/// DIDHub's data fixtures (`fixtures/data`), relative to this crate.
pub fn didhub_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data")
}

/// DIDHub's migrations folder, relative to this crate (its settings file says the rest).
pub fn didhub_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}
