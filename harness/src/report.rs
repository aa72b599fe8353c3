//! What `check` found, entry by entry, and the three ways the CLI prints it: the human text, one
//! JSON document, and JUnit XML that CI servers (GitHub, GitLab) render as test results.
//!
//! Every entry keeps its status, its step, its backend and its message, so a machine format
//! never parses the human text. The human text is rendered from the entries as they are recorded
//! (`ok   …`, `skip …`, `FAIL …`); `ok` and `text` stay fields because every caller reads them.
//!
//! A step that could not run at all — no Docker daemon, a server that would not start, a
//! migrations folder that cannot be read — is an [`Status::Error`], not a finding: it is printed
//! `FAIL` like one, but the run exits with [`EXIT_CANNOT_CHECK`], since what it would have found
//! is unknown.

use std::fmt::{self, Write as _};

use serde::Serialize;

use didhub_migrations::Backend;

/// Exit status: every check passed.
pub const EXIT_OK: u8 = 0;
/// Exit status: a check found something (a defect, drift, a lint finding…).
pub const EXIT_FINDINGS: u8 = 1;
/// Exit status: the command was used wrongly, or a check could not run (no Docker daemon, a
/// server that cannot start, an unreadable migrations folder). Clap's usage errors exit 2 too.
pub const EXIT_CANNOT_CHECK: u8 = 2;

/// How an entry ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skip,
    /// What a step did beside its findings (how far a walk went, what it noted): neither a
    /// pass nor a finding.
    Note,
    /// A finding.
    Fail,
    /// The step could not run (its environment, or how it was asked): nothing was checked.
    Error,
}

impl Status {
    /// The word that starts the entry's human line.
    fn word(self) -> &'static str {
        match self {
            Status::Pass => "ok  ",
            Status::Skip => "skip",
            Status::Note => "note",
            Status::Fail | Status::Error => "FAIL",
        }
    }
}

/// Which check an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The migrations folder's settings file.
    Settings,
    Integrity,
    Lock,
    Lint,
    Staircase,
    DataStaircase,
    Parity,
    DataParity,
    /// What a migration does to a database under load (`impact`).
    Impact,
    /// Whether the application's queries still prepare on each version (`compat`).
    Compat,
    /// The staircase on a PostgreSQL primary, replayed by a streaming replica (`check --replica`).
    Replica,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Settings => "settings",
            Step::Integrity => "integrity",
            Step::Lock => "lock",
            Step::Lint => "lint",
            Step::Staircase => "staircase",
            Step::DataStaircase => "data staircase",
            Step::Parity => "parity",
            Step::DataParity => "data parity",
            Step::Impact => "impact",
            Step::Compat => "compat",
            Step::Replica => "replica",
        }
    }
}

impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One line (or block) of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub status: Status,
    pub step: Step,
    /// The backend the entry is about; none for a step across backends (integrity, parity…).
    #[serde(serialize_with = "backend_name")]
    pub backend: Option<Backend>,
    /// What the human line says after its status word; may span several lines.
    pub message: String,
    /// What it found, one object each, for machines: empty for a pass, a skip or a note.
    pub findings: Vec<Finding>,
}

/// One thing a check found, with every field a machine may want to sort or link by. A field
/// that does not apply is null (`values`: empty). `message` is the finding's own text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The step that found it (`staircase`, `parity`, `lint`, …): filled in when recorded.
    #[serde(serialize_with = "step_name")]
    pub check: Option<Step>,
    /// The backend it is about; null across backends (parity).
    #[serde(serialize_with = "backend_name")]
    pub backend: Option<Backend>,
    /// The migration version, where one version is meant.
    pub version: Option<i64>,
    /// The file, relative to its backend's folder (lint: to the migrations folder).
    pub file: Option<String>,
    pub line: Option<usize>,
    /// The lint rule (`ALL001`, `require-concurrent-index-creation`), or the kind of a
    /// staircase failure (`down does not restore`).
    pub rule: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
    /// A key, index or check, by name or by what it is (`fk(user_id)`).
    pub object: Option<String>,
    /// What differs (`type`, `nullability`, `on_delete`, …).
    pub aspect: Option<String>,
    /// Each backend's value of the aspect.
    pub values: std::collections::BTreeMap<String, String>,
    /// Parity: whether the newest schemas still differ so (`false`: a transient difference).
    pub lasting: Option<bool>,
    pub message: String,
}

impl Finding {
    /// A finding that is only its message.
    pub fn message(message: impl fmt::Display) -> Finding {
        Finding {
            message: message.to_string(),
            ..Finding::default()
        }
    }
}

fn step_name<S: serde::Serializer>(step: &Option<Step>, serializer: S) -> Result<S::Ok, S::Error> {
    match step {
        Some(step) => serializer.serialize_some(step.name()),
        None => serializer.serialize_none(),
    }
}

fn backend_name<S: serde::Serializer>(
    kind: &Option<Backend>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match kind {
        Some(kind) => serializer.serialize_some(kind.name()),
        None => serializer.serialize_none(),
    }
}

impl Entry {
    /// `postgres: staircase`, or `parity` for a step across backends: the JUnit test case.
    pub fn name(&self) -> String {
        // A note sits beside the step's findings: it is named apart from them.
        let note = if self.status == Status::Note {
            " summary"
        } else {
            ""
        };
        match self.backend {
            Some(kind) => format!("{kind}: {}{note}", self.step.name()),
            None => format!("{}{note}", self.step.name()),
        }
    }
}

impl Entry {
    /// Its JUnit test cases, name and text: one per finding when it found several (so that a
    /// CI page lists each: `lint: postgres/0004_x.up.sql:3: ALL001`, `parity: users.email
    /// type`), else the entry itself.
    fn testcases(&self) -> Vec<(String, &str)> {
        if self.findings.len() < 2 {
            return vec![(self.name(), self.message.as_str())];
        }
        self.findings
            .iter()
            .map(|f| {
                let mut name = self.name();
                if let Some(file) = &f.file {
                    name = format!("{name}: {file}");
                    if let Some(line) = f.line {
                        name = format!("{name}:{line}");
                    }
                }
                if let Some(table) = &f.table {
                    let part = f.column.as_ref().or(f.object.as_ref());
                    name = match part {
                        Some(part) => format!("{name}: {table}.{part}"),
                        None => format!("{name}: {table}"),
                    };
                }
                for part in [&f.aspect, &f.rule].into_iter().flatten() {
                    name = format!("{name} {part}");
                }
                (name, f.message.as_str())
            })
            .collect()
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.word(), self.message)
    }
}

/// How far one version got on a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Up, down (restoring the schema before) and up again (giving the same schema).
    Checked,
    /// Applied; there is no down to check (an up-only file, or version 0).
    UpOnly,
    /// Something failed at this version.
    Failed,
    /// Not reached: see `why`.
    Unchecked,
}

/// One version of one backend's walk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stair {
    pub version: i64,
    /// Its up file, relative to the backend's folder.
    pub file: String,
    pub outcome: Outcome,
    /// How long the up took, when it ran.
    pub up_ms: Option<f64>,
    /// How long the down and the up again took (with the schemas compared), when they ran.
    pub down_ms: Option<f64>,
    /// What failed, or why the version was not checked.
    pub why: Option<String>,
}

/// One backend's walk, version by version: the report's staircase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    #[serde(serialize_with = "one_backend")]
    pub backend: Backend,
    pub stairs: Vec<Stair>,
}

/// A difference between the dialects' schemas that parity found: failing, or allowed with the
/// settings' reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub table: String,
    /// `table`, or `table.part` (a column, key, index or check).
    pub subject: String,
    pub aspect: String,
    /// Where it was first seen (`version 4`, `newest schemas`).
    pub at: String,
    /// Each backend's value.
    pub values: std::collections::BTreeMap<String, String>,
    /// Whether the newest schemas still differ so (else a transient difference).
    pub lasting: bool,
    /// The allow entry's reason, when one allows it.
    pub allowed: Option<String>,
}

/// A backend as the JSON documents name it (`postgres`), for `#[serde(serialize_with)]`.
pub(crate) fn one_backend<S: serde::Serializer>(
    kind: &Backend,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(kind.name())
}

/// The findings, readable as text; `ok` when nothing failed. `ok` and `text` are derived from
/// `entries` as each is recorded. `staircases` and `differences` are what the entries say of
/// the walks and of parity, as tables (what the HTML page draws).
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    #[serde(skip)]
    pub text: String,
    pub entries: Vec<Entry>,
    /// Each walk, version by version.
    pub staircases: Vec<Timeline>,
    /// Every difference parity found, failing or allowed.
    pub differences: Vec<Difference>,
}

impl Default for CheckReport {
    fn default() -> Self {
        CheckReport {
            ok: true,
            text: String::new(),
            entries: Vec::new(),
            staircases: Vec::new(),
            differences: Vec::new(),
        }
    }
}

impl CheckReport {
    /// Adds an entry, and its line to the text.
    pub fn record(
        &mut self,
        status: Status,
        step: Step,
        backend: Option<Backend>,
        message: impl fmt::Display,
    ) {
        self.record_with(status, step, backend, message, Vec::new());
    }

    /// Adds an entry with what it found, and its line to the text. Each finding takes the
    /// entry's step, and its backend unless it names its own.
    pub fn record_with(
        &mut self,
        status: Status,
        step: Step,
        backend: Option<Backend>,
        message: impl fmt::Display,
        mut findings: Vec<Finding>,
    ) {
        for finding in &mut findings {
            finding.check = Some(step);
            finding.backend = finding.backend.or(backend);
        }
        let entry = Entry {
            status,
            step,
            backend,
            message: message.to_string(),
            findings,
        };
        self.ok &= matches!(status, Status::Pass | Status::Skip | Status::Note);
        let _ = writeln!(self.text, "{entry}");
        self.entries.push(entry);
    }

    pub(crate) fn pass(&mut self, step: Step, backend: Option<Backend>, line: impl fmt::Display) {
        self.record(Status::Pass, step, backend, line);
    }

    pub(crate) fn skip(&mut self, step: Step, backend: Option<Backend>, line: impl fmt::Display) {
        self.record(Status::Skip, step, backend, line);
    }

    pub(crate) fn note(&mut self, step: Step, backend: Option<Backend>, line: impl fmt::Display) {
        self.record(Status::Note, step, backend, line);
    }

    /// A finding, or, when `cannot_check`, a step that could not run. The entry's one finding
    /// is its message.
    pub(crate) fn fail(
        &mut self,
        step: Step,
        backend: Option<Backend>,
        line: impl fmt::Display,
        cannot_check: bool,
    ) {
        let line = line.to_string();
        let finding = Finding::message(&line);
        self.fail_with(step, backend, line, vec![finding], cannot_check);
    }

    /// A finding (or a step that could not run) with its findings as objects.
    pub(crate) fn fail_with(
        &mut self,
        step: Step,
        backend: Option<Backend>,
        line: impl fmt::Display,
        findings: Vec<Finding>,
        cannot_check: bool,
    ) {
        let status = if cannot_check {
            Status::Error
        } else {
            Status::Fail
        };
        self.record_with(status, step, backend, line, findings);
    }

    /// [`EXIT_OK`], [`EXIT_FINDINGS`], or [`EXIT_CANNOT_CHECK`] when any step could not run
    /// (even if others found something: the run is incomplete).
    pub fn exit_code(&self) -> u8 {
        if self.entries.iter().any(|e| e.status == Status::Error) {
            EXIT_CANNOT_CHECK
        } else if self.ok {
            EXIT_OK
        } else {
            EXIT_FINDINGS
        }
    }

    /// The text and the verdict, as `check` prints it.
    pub fn human(&self) -> String {
        let verdict = if self.ok {
            "all checks passed"
        } else {
            "checks failed"
        };
        format!("{}{verdict}", self.text)
    }

    /// `{"ok": …, "entries": [{"status", "step", "backend", "message"}, …]}`.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    /// One `<testsuite>` named `suite`, one `<testcase>` per entry: `classname` the step, `name`
    /// the backend and step; a failure's or error's `message` is its first line and its text the
    /// whole message; a skip's `message` is its message.
    pub fn junit(&self, suite: &str) -> String {
        let count = |status| {
            self.entries
                .iter()
                .filter(|e| e.status == status)
                .map(|e| e.testcases().len())
                .sum::<usize>()
        };
        let tests: usize = self.entries.iter().map(|e| e.testcases().len()).sum();
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuites name=\"didhub-harness\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">",
            tests = tests,
            failures = count(Status::Fail),
            errors = count(Status::Error),
            skipped = count(Status::Skip),
        );
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            escape(suite),
            tests,
            count(Status::Fail),
            count(Status::Error),
            count(Status::Skip),
        );
        for entry in &self.entries {
            for (name, failure) in entry.testcases() {
                let open = format!(
                    "    <testcase classname=\"{}\" name=\"{}\"",
                    escape(entry.step.name()),
                    escape(&name)
                );
                let first_line = failure.lines().next().unwrap_or_default();
                let _ = match entry.status {
                    Status::Pass => writeln!(xml, "{open}/>"),
                    Status::Note => writeln!(
                        xml,
                        "{open}>\n      <system-out>{}</system-out>\n    </testcase>",
                        escape(&entry.message)
                    ),
                    Status::Skip => writeln!(
                        xml,
                        "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(&entry.message)
                    ),
                    Status::Fail | Status::Error => {
                        let element = if entry.status == Status::Fail {
                            "failure"
                        } else {
                            "error"
                        };
                        writeln!(
                            xml,
                            "{open}>\n      <{element} message=\"{}\">{}</{element}>\n    </testcase>",
                            escape(first_line),
                            escape(failure)
                        )
                    }
                };
            }
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }
}

/// Text as XML 1.0 character data or an attribute value: markup characters as references,
/// line ends in attributes kept as references, characters XML 1.0 cannot hold replaced by U+FFFD.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            '\t' => escaped.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> CheckReport {
        let mut report = CheckReport::default();
        report.pass(Step::Integrity, None, "integrity: 2 migrations");
        report.skip(Step::Lock, None, "lock: no migrations.lock in <dir>");
        report.fail(
            Step::Staircase,
            Some(Backend::Sqlite),
            "sqlite: 0002_t.down.sql (version 2) does not restore:\n  t.a < 3 & \"b\"",
            false,
        );
        report
    }

    #[test]
    fn the_text_is_rendered_from_the_entries_as_before() {
        let report = report();
        assert_eq!(
            report.text,
            "ok   integrity: 2 migrations\n\
             skip lock: no migrations.lock in <dir>\n\
             FAIL sqlite: 0002_t.down.sql (version 2) does not restore:\n  t.a < 3 & \"b\"\n"
        );
        assert!(!report.ok);
        assert_eq!(report.exit_code(), EXIT_FINDINGS);
    }

    #[test]
    fn a_step_that_could_not_run_exits_2_even_beside_findings() {
        let mut report = report();
        report.fail(
            Step::Staircase,
            Some(Backend::Postgres),
            "postgres: no Docker",
            true,
        );
        assert!(report.text.ends_with("FAIL postgres: no Docker\n"));
        assert_eq!(report.exit_code(), EXIT_CANNOT_CHECK);
        assert_eq!(CheckReport::default().exit_code(), EXIT_OK);
    }

    #[test]
    fn escape_leaves_no_markup_and_no_character_xml_forbids() {
        assert_eq!(
            escape("a<b>&\"c'\n\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;\u{fffd}"
        );
    }
}
