//! What a run measured — per statement, per migration, and what could not be measured — and
//! the three ways the CLI prints it: the human text, one JSON document, and the check's report
//! (for JUnit).

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use super::Way;
use crate::HarnessError;
use crate::backend::Backend;
use crate::report::{CheckReport, Finding, Status, Step};

use super::fill::{FillError, Sample};
use crate::data::FixtureError;

/// Latencies of one kind of operation, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    pub(super) fn of(mut took: Vec<Duration>) -> Stats {
        took.sort();
        let at = |q: f64| {
            took.get(((took.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .map_or(0.0, |d| ms(*d))
        };
        Stats {
            count: took.len(),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: took.last().map_or(0.0, |d| ms(*d)),
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p99 {:.1} ms, worst {:.1} ms ({} ops)",
            self.p99_ms, self.max_ms, self.count
        )
    }
}

pub(super) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Reads and writes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Traffic {
    pub reads: Stats,
    pub writes: Stats,
}

/// Operations that waited far longer than the baseline: how many, and the longest wait.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Blocked {
    pub count: usize,
    pub longest_ms: f64,
}

/// A lock a statement held.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LockHeld {
    pub table: String,
    pub mode: String,
    pub blocks_reads: bool,
    pub blocks_writes: bool,
}

impl fmt::Display for LockHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blocks = match (self.blocks_reads, self.blocks_writes) {
            (true, true) => "blocks reads and writes",
            (false, true) => "blocks writes",
            (true, false) => "blocks reads",
            (false, false) => "blocks neither",
        };
        match self.table.as_str() {
            "" => write!(f, "{} ({blocks})", self.mode),
            table => write!(f, "{} on {table} ({blocks})", self.mode),
        }
    }
}

/// What one statement did.
#[derive(Debug, Clone, Serialize)]
pub struct StatementImpact {
    /// Its first line in the file; 0 for the `COMMIT` that ends the migration's transaction.
    pub line: usize,
    pub sql: String,
    pub duration_ms: f64,
    /// The locks it took (what eugene lists).
    pub locks: Vec<LockHeld>,
    /// Locks an earlier statement of its transaction took on a table it names, which it needs
    /// as well.
    pub held: Vec<LockHeld>,
    /// Its locks were sampled from another connection while it ran (outside a transaction,
    /// and on MySQL, whose DDL commits at once): a lock held for less than about a
    /// millisecond may be missing.
    pub locks_sampled: bool,
    /// Tables it rewrote (a new relfilenode, InnoDB table id or SQLite root page).
    pub rewritten: Vec<String>,
    /// MySQL/MariaDB: how InnoDB ran an ALTER or CREATE/DROP INDEX.
    pub algorithm: Option<String>,
    /// The slowest read and write that overlapped it.
    pub worst_read_ms: f64,
    pub worst_write_ms: f64,
    /// The reads and writes that started and ended while it ran: the traffic that went on. A
    /// reader or writer it blocks does one operation at a time, which ends only after it.
    pub reads_done: usize,
    pub writes_done: usize,
    /// The lint's findings on it (squawk's and ours: `require-concurrent-index-creation`).
    pub lint: Vec<String>,
    /// Whether the measurement bears the lint out: the statement held a lock that keeps reads
    /// or writes waiting, or rewrote a table (none when the lint found nothing).
    pub lint_confirmed: Option<bool>,
}

/// What one migration (up or down) did on one backend.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationImpact {
    #[serde(serialize_with = "crate::report::one_backend")]
    pub backend: Backend,
    pub version: i64,
    pub file: String,
    pub direction: Way,
    pub rows: u64,
    /// The tables filled before the up, each with the fixture it scaled, if any (the down
    /// runs on the same rows, and lists none).
    pub filled: Vec<Filled>,
    /// The tables the workload ran against.
    pub tables: Vec<String>,
    pub duration_ms: f64,
    pub baseline: Traffic,
    pub during: Traffic,
    pub blocked_reads: Blocked,
    pub blocked_writes: Blocked,
    /// Operations the database refused during the migration other than for a lock wait (a
    /// column the migration dropped): how many, and the first few messages.
    pub workload_errors: usize,
    pub workload_error_messages: Vec<String>,
    pub statements: Vec<StatementImpact>,
    /// Why the locks could not be read, if they could not (nothing is then said of them).
    pub locks_unread: Option<String>,
    /// The statement that failed, with why and who held the lock it waited for.
    pub failed: Option<String>,
    /// Each budget the migration went over.
    pub over_budget: Vec<String>,
    /// The allow entry's reason, when one covers it.
    pub allowed: Option<String>,
}

/// A table filled before a migration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filled {
    pub table: String,
    /// The fixture whose values it took, where the project has one that holds the table.
    pub sample: Option<Sample>,
}

impl fmt::Display for Filled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table)?;
        match &self.sample {
            None => Ok(()),
            Some(Sample {
                fixture,
                refused: Some(why),
                ..
            }) => write!(f, " (fixture {fixture} refused, rows generated: {why})"),
            Some(Sample {
                fixture, columns, ..
            }) => write!(f, " (fixture {fixture} scaled: {})", columns.join(", ")),
        }
    }
}

impl MigrationImpact {
    pub fn ok(&self) -> bool {
        self.failed.is_none() && (self.over_budget.is_empty() || self.allowed.is_some())
    }

    /// Every table some statement rewrote.
    pub fn rewritten(&self) -> BTreeSet<&str> {
        self.statements
            .iter()
            .flat_map(|s| s.rewritten.iter().map(String::as_str))
            .collect()
    }
}

/// Why a version could not be measured at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImpactError {
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error(transparent)]
    Fill(#[from] FillError),
    #[error("data fixtures: {0}")]
    Fixtures(#[from] FixtureError),
    #[error("{backend}: cannot migrate to the version before {version}: {reason}")]
    Before {
        backend: Backend,
        version: i64,
        reason: String,
    },
    #[error("{backend}: {file}: {what}")]
    Unreadable {
        backend: Backend,
        file: String,
        what: String,
    },
    #[error("{backend}: {what}: {source}")]
    Database {
        backend: Backend,
        what: String,
        #[source]
        source: sqlx::Error,
    },
}

impl ImpactError {
    pub(super) fn database(
        backend: Backend,
        what: &str,
    ) -> impl FnOnce(sqlx::Error) -> ImpactError {
        move |source| ImpactError::Database {
            backend,
            what: what.to_owned(),
            source,
        }
    }

    /// Whether the harness could not run at all (exit 2) rather than found something.
    pub fn cannot_check(&self) -> bool {
        match self {
            ImpactError::Harness(e) => e.cannot_check(),
            ImpactError::Database { .. } => true,
            ImpactError::Fill(_)
            | ImpactError::Fixtures(_)
            | ImpactError::Before { .. }
            | ImpactError::Unreadable { .. } => false,
        }
    }
}

/// Everything a run measured, and what it could not.
#[derive(Debug, Default)]
pub struct ImpactReport {
    pub migrations: Vec<MigrationImpact>,
    /// (backend, version, why) of each version that could not be measured.
    pub errors: Vec<(Backend, Option<i64>, ImpactError)>,
    /// Allow entries that covered nothing over budget in this run: a note, not a failure,
    /// since whether a migration goes over depends on the rows and the machine (a migration
    /// allowed at 1,000,000 rows is within budget at 2,000).
    pub unused_allows: Vec<String>,
    /// The budgets the run held every migration to.
    pub budget: Budget,
}

/// How long the workload's reads and writes may wait during a migration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Budget {
    pub max_read_stall_ms: f64,
    pub max_write_stall_ms: f64,
}

impl ImpactReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.migrations.iter().all(MigrationImpact::ok)
    }

    /// 0 all within budget, 1 something over budget or failed, 2 something could not run.
    pub fn exit_code(&self) -> u8 {
        if self.errors.iter().any(|(_, _, e)| e.cannot_check()) {
            crate::report::EXIT_CANNOT_CHECK
        } else if self.ok() {
            crate::report::EXIT_OK
        } else {
            crate::report::EXIT_FINDINGS
        }
    }

    /// One document: `ok`, every migration measured, and every error.
    pub fn json(&self) -> String {
        let errors: Vec<serde_json::Value> = self
            .errors
            .iter()
            .map(|(b, v, e)| serde_json::json!({"backend": b.name(), "version": v, "error": e.to_string()}))
            .collect();
        let doc = serde_json::json!({
            "ok": self.ok(),
            "migrations": self.migrations,
            "errors": errors,
            "unused_allows": self.unused_allows,
            "budget": self.budget,
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// As the check's report: one entry per migration and direction, a finding for each
    /// budget gone over or statement failed.
    pub fn check_report(&self) -> CheckReport {
        let mut report = CheckReport::default();
        for m in &self.migrations {
            let mut findings = Vec::new();
            let mut finding = |rule: &str, message: &str| {
                findings.push(Finding {
                    backend: Some(m.backend),
                    version: Some(m.version),
                    file: Some(m.file.clone()),
                    rule: Some(rule.to_owned()),
                    message: message.to_owned(),
                    ..Finding::default()
                })
            };
            if let Some(failed) = &m.failed {
                finding("failed under load", failed);
            }
            if m.allowed.is_none() {
                for over in &m.over_budget {
                    finding("over budget", over);
                }
            }
            let status = if m.ok() { Status::Pass } else { Status::Fail };
            report.record_with(status, Step::Impact, Some(m.backend), m.summary(), findings);
        }
        for (backend, _, e) in &self.errors {
            let status = if e.cannot_check() {
                Status::Error
            } else {
                Status::Fail
            };
            report.record_with(
                status,
                Step::Impact,
                Some(*backend),
                e,
                vec![Finding::message(e)],
            );
        }
        for unused in &self.unused_allows {
            report.record(Status::Note, Step::Impact, None, unused);
        }
        report
    }

    /// The human text: a block per migration, a line per statement.
    pub fn human(&self) -> String {
        let mut out = String::new();
        for m in &self.migrations {
            let word = if m.ok() { "ok  " } else { "FAIL" };
            writeln!(out, "{word} {}", m.summary()).ok();
            for s in &m.statements {
                let at = match s.line {
                    0 => "    end".to_owned(),
                    n => format!("line {n:>3}"),
                };
                let mut line = format!("       {at}: {:>8.1} ms  {}", s.duration_ms, s.sql);
                let sampled = match s.locks_sampled {
                    true => " (sampled each millisecond: a shorter lock may be missing)",
                    false => "",
                };
                if !s.locks.is_empty() {
                    let locks: Vec<String> = s.locks.iter().map(ToString::to_string).collect();
                    write!(
                        line,
                        "\n                   locks: {}{sampled}",
                        locks.join("; ")
                    )
                    .ok();
                } else if s.locks_sampled {
                    write!(line, "\n                   no lock seen{sampled}").ok();
                }
                if !s.held.is_empty() {
                    let held: Vec<String> = s.held.iter().map(ToString::to_string).collect();
                    write!(
                        line,
                        "\n                   needs, already held: {}",
                        held.join("; ")
                    )
                    .ok();
                }
                if !s.rewritten.is_empty() {
                    write!(
                        line,
                        "\n                   rewrote {}",
                        s.rewritten.join(", ")
                    )
                    .ok();
                }
                if let Some(confirmed) = s.lint_confirmed {
                    let measured = match confirmed {
                        true => "the measurement bears it out",
                        false => "not borne out: no lock that keeps traffic waiting, no rewrite",
                    };
                    let rules = s.lint.join(", ");
                    write!(line, "\n                   lint: {rules} ({measured})").ok();
                }
                if let Some(algorithm) = &s.algorithm {
                    write!(line, "\n                   algorithm: {algorithm}").ok();
                }
                write!(
                    line,
                    "\n                   slowest read {:.1} ms, slowest write {:.1} ms; {} \
                     read(s) and {} write(s) done while it ran",
                    s.worst_read_ms, s.worst_write_ms, s.reads_done, s.writes_done
                )
                .ok();
                writeln!(out, "{line}").ok();
            }
        }
        for (_, _, e) in &self.errors {
            writeln!(out, "FAIL {e}").ok();
        }
        for unused in &self.unused_allows {
            writeln!(out, "note {unused}").ok();
        }
        out
    }
}

impl MigrationImpact {
    /// The migration in a few lines: duration, traffic against the baseline, verdict.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} {} ({}, {} rows a table; traffic on {}): {:.0} ms",
            self.backend,
            self.file,
            self.direction,
            self.rows,
            if self.tables.is_empty() {
                "no table".to_owned()
            } else {
                self.tables.join(", ")
            },
            self.duration_ms
        );
        if self.filled.iter().any(|f| f.sample.is_some()) {
            let filled: Vec<String> = self.filled.iter().map(ToString::to_string).collect();
            write!(out, "\n       filled {}", filled.join("; ")).ok();
        }
        write!(
            out,
            "\n       reads  {} (baseline {})\n       writes {} (baseline {})",
            self.during.reads, self.baseline.reads, self.during.writes, self.baseline.writes
        )
        .ok();
        for (what, blocked) in [
            ("reads", &self.blocked_reads),
            ("writes", &self.blocked_writes),
        ] {
            if blocked.count > 0 {
                write!(
                    out,
                    "\n       blocked {} {what}, up to {:.0} ms",
                    blocked.count, blocked.longest_ms
                )
                .ok();
            }
        }
        let rewritten = self.rewritten();
        if !rewritten.is_empty() {
            let names: Vec<&str> = rewritten.into_iter().collect();
            write!(out, "\n       rewrote {}", names.join(", ")).ok();
        }
        if self.workload_errors > 0 {
            write!(
                out,
                "\n       {} operations refused during it: {}",
                self.workload_errors,
                self.workload_error_messages.join("; ")
            )
            .ok();
        }
        if let Some(why) = &self.locks_unread {
            write!(out, "\n       locks not read: {why}").ok();
        }
        if let Some(failed) = &self.failed {
            write!(out, "\n       failed: {failed}").ok();
        }
        for over in &self.over_budget {
            write!(out, "\n       {over}").ok();
        }
        if let Some(reason) = &self.allowed {
            write!(out, "\n       allowed: {reason}").ok();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_of_the_operations_timed() {
        let took = (1..=200).map(Duration::from_millis).collect();
        let stats = Stats::of(took);
        assert_eq!(
            (stats.count, stats.p50_ms, stats.p99_ms, stats.max_ms),
            (200, 100.0, 198.0, 200.0)
        );
        assert_eq!(Stats::of(Vec::new()).max_ms, 0.0);
    }
}
