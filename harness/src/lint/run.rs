//! The lint of a project: every migration file of the dialects asked for, each under the
//! project's policy, and the allow-list's entries held against what they silence.

use std::fmt;
use std::path::PathBuf;

use super::{LintProblem, Policy, lint_file};
use crate::project::{Project, ProjectError};
use didhub_migrations::Backend;

/// The lint of every file of the requested dialects.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LintReport {
    pub files: usize,
    pub problems: Vec<LintProblem>,
    /// Findings silenced by a comment or an allow-list entry.
    pub silenced: usize,
    pub notes: Vec<String>,
}

impl LintReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for LintReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            write!(
                f,
                "{} file(s), no findings ({} allowed)",
                self.files, self.silenced
            )?;
        } else {
            for problem in &self.problems {
                write!(f, "\n- {problem}")?;
            }
        }
        for note in &self.notes {
            write!(f, "\n  note: {note}")?;
        }
        Ok(())
    }
}

/// Why the lint checked nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LintError {
    /// The project's settings or folders cannot be read.
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("cannot read {}: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("no migration files to lint under {}: nothing was checked", .root.display())]
    NothingToLint { root: PathBuf },
}

impl LintError {
    /// Whether the lint was asked wrongly (its settings cannot be used), not found something.
    pub fn cannot_check(&self) -> bool {
        matches!(self, LintError::Project(ProjectError::Settings(_)))
    }
}

/// Lints the migration files of `kinds` of `project` under `policy` (the settings', with the
/// allow-list perhaps replaced by a file). Finding no file at all is an error: nothing was
/// checked.
pub fn run(project: &Project, kinds: &[Backend], policy: &Policy) -> Result<LintReport, LintError> {
    let mut report = LintReport::default();
    let mut uses = policy.allow.uses();
    for file in project.migration_files()? {
        let kind = file.kind;
        if !kinds.contains(&kind) {
            continue;
        }
        let name = file.display();
        let sql = std::fs::read_to_string(&file.path).map_err(|e| LintError::Unreadable {
            path: file.path.clone(),
            reason: e.to_string(),
        })?;
        let lint = lint_file(kind, file.migration.direction, &name, &sql, policy);
        report.files += 1;
        report.silenced += lint.silenced;
        report.problems.extend(lint.problems);
        report.notes.extend(lint.notes);
        for finding in lint.findings {
            if uses.allows(|a| a.covers(&finding)) {
                report.silenced += 1;
            } else {
                report.problems.push(LintProblem::Finding(finding));
            }
        }
    }
    for entry in uses.unused() {
        let linted = kinds
            .iter()
            .any(|k| entry.file.starts_with(&format!("{k}/")));
        if linted {
            report.problems.push(LintProblem::StaleEntry(entry.clone()));
        }
    }
    if report.files == 0 {
        return Err(LintError::NothingToLint {
            root: project.root.clone(),
        });
    }
    Ok(report)
}
