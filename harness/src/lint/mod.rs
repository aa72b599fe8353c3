//! Lint: migrations that lock or rewrite big tables, lose data, are not atomic, or use DDL the
//! dialect does not have — found by reading the SQL, before any database runs it.
//!
//! Two sets of rules, one rule in one place:
//! - PostgreSQL files are linted by squawk ([`squawk`]), PostgreSQL's migration linter: its
//!   rules are named as squawk names them (`require-concurrent-index-creation`, …);
//! - DIDHub's own rules ([`rules`]) cover what squawk does not: MySQL's and SQLite's dialects,
//!   atomicity on MySQL, lost data on SQLite and MySQL (`ALL001`, `MY001`, …).
//!
//! A finding is silenced in one of two ways, each with a reason:
//! - in a new migration, a comment anywhere in the file: `-- lint: allow RULE <why>` (it
//!   silences that rule for the whole file);
//! - for a released migration, which must not change (its checksum is locked, and sqlx refuses
//!   databases whose applied file changed), an entry in the settings file's `[[lint.allow]]`
//!   (`migrations/didhub-harness.toml` for DIDHub): `rule`, `file` (`postgres/0011_….up.sql`),
//!   `reason`. An entry that silences nothing fails as stale.
//!
//! The settings' `[lint]` also chooses the rules: `exclude` turns a rule off for the project
//! (with a reason), `include` turns on squawk's opt-in rules and its policy rules one by one,
//! `policy = true` all of squawk's policy rules ([`squawk::POLICY`]: house style rather than
//! hazard, off by default), `pg_version` is the PostgreSQL version squawk's rules assume.
//! [`explain`] lists every rule, whether it runs by default and for the project, and why.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::migration_file::Direction;
use crate::settings_file::SettingsError;
use crate::sql;
use didhub_migrations::Backend;

mod explain;
mod rules;
mod run;
mod sqlite;
pub mod squawk;

pub use explain::explain;
pub use rules::{RULES, Rule, rule};
pub use run::{LintError, LintReport, run};

/// The ids of DIDHub's former PostgreSQL rules, now squawk's. A comment or an allow-list entry
/// that names one (a released file cannot change) silences squawk's rule.
const REPLACED: [(&str, squawk_linter::Rule); 3] = [
    ("PG001", squawk_linter::Rule::RequireConcurrentIndexCreation),
    ("PG002", squawk_linter::Rule::AddingRequiredField),
    ("PG003", squawk_linter::Rule::ChangingColumnType),
];

/// A rule: one of DIDHub's, or one of squawk's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleId {
    Own(&'static Rule),
    Squawk(squawk_linter::Rule),
}

impl RuleId {
    /// The rule named `name`: one of ours by id (`MY001`), one of squawk's by name
    /// (`prefer-text-field`), or a former id of ours that squawk's rules replaced (`PG001`).
    pub fn named(name: &str) -> Option<RuleId> {
        if let Some(rule) = rule(name) {
            return Some(RuleId::Own(rule));
        }
        if let Some((_, rule)) = REPLACED.iter().find(|(id, _)| *id == name) {
            return Some(RuleId::Squawk(*rule));
        }
        name.parse().ok().map(RuleId::Squawk)
    }

    /// Whether naming `self` (in a comment, an allow-list entry or an exclusion) covers a finding
    /// of `found`: the same rule, or a squawk alias that stands for it
    /// (`require-timeout-settings`).
    fn covers(self, found: RuleId) -> bool {
        match (self, found) {
            (RuleId::Squawk(named), RuleId::Squawk(found)) => {
                named == found || named.expands_to().contains(&found)
            }
            _ => self == found,
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleId::Own(rule) => f.write_str(rule.id),
            RuleId::Squawk(rule) => write!(f, "{rule}"),
        }
    }
}

/// One thing a rule found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: RuleId,
    /// `folder/file`.
    pub file: String,
    pub line: usize,
    /// What it flags, in a few words (ours; squawk's rule names say it).
    pub title: Option<&'static str>,
    /// The statement, or the part of it, that it flags.
    pub detail: String,
    /// Why that matters, and what to do instead.
    pub reason: String,
    /// Where the rule is documented.
    pub docs: Option<String>,
}

impl Finding {
    fn own(rule: &'static Rule, file: &str, hit: rules::Hit) -> Finding {
        Finding {
            rule: RuleId::Own(rule),
            file: file.to_owned(),
            line: hit.line,
            title: Some(rule.title),
            detail: hit.detail,
            reason: rule.reason.to_owned(),
            docs: None,
        }
    }

    fn squawk(violation: squawk::Violation, file: &str) -> Finding {
        let mut reason = violation.message;
        if let Some(help) = violation.help {
            if !reason.ends_with('.') {
                reason.push('.');
            }
            reason = format!("{reason} {help}");
        }
        Finding {
            rule: RuleId::Squawk(violation.rule),
            file: file.to_owned(),
            line: violation.line,
            title: None,
            detail: violation.excerpt,
            reason,
            docs: Some(squawk::doc_url(violation.rule)),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.rule)?;
        if let Some(title) = self.title {
            write!(f, " {title}")?;
        }
        write!(f, ": {}\n    why: {}", self.detail, self.reason)?;
        if let Some(docs) = &self.docs {
            write!(f, "\n    rule: {docs}")?;
        }
        write!(
            f,
            "\n    if it is intended: `-- lint: allow {} <why>` in the file, or, for a released \
             file (which must not change), an entry in the lint allow-list",
            self.rule
        )
    }
}

/// What keeps the lint from passing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LintProblem {
    #[error("{0}")]
    Finding(Finding),
    #[error("{file}:{line}: {reason}")]
    BadComment {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("{file}: cannot be read as SQL: {reason}")]
    Unreadable { file: String, reason: String },
    #[error(
        "stale lint allow-list entry: {} in {} ({}) silences nothing any more; remove it",
        .0.rule, .0.file, .0.reason
    )]
    StaleEntry(Allowed),
}

/// One file's lint.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FileLint {
    /// Findings the file's comments do not silence.
    pub findings: Vec<Finding>,
    /// How many findings the file's comments silence.
    pub silenced: usize,
    /// Malformed comments, and SQL that cannot be split or parsed.
    pub problems: Vec<LintProblem>,
    /// Allow comments that silence nothing. They do not fail: a released file cannot drop one.
    pub notes: Vec<String>,
}

/// An allow comment: the rule, the name it was given by, its line.
struct AllowComment<'a> {
    rule: RuleId,
    name: &'a str,
    line: usize,
}

/// Lints one file's SQL. `file` is how findings name it (`postgres/0011_….up.sql`).
pub fn lint_file(
    kind: Backend,
    direction: Direction,
    file: &str,
    sql: &str,
    policy: &Policy,
) -> FileLint {
    let mut lint = FileLint::default();
    let unreadable = |reason: String| LintProblem::Unreadable {
        file: file.to_owned(),
        reason,
    };
    let script = match sql::split(sql, kind) {
        Ok(script) => script,
        Err(unterminated) => {
            lint.problems.push(unreadable(unterminated.to_string()));
            return lint;
        }
    };
    let mut allowed = Vec::new();
    for comment in &script.comments {
        let Some(rest) = comment.text.strip_prefix("lint:") else {
            continue;
        };
        let bad = |reason: String| LintProblem::BadComment {
            file: file.to_owned(),
            line: comment.line,
            reason,
        };
        let mut words = rest.split_whitespace();
        match (words.next(), words.next().map(|id| (id, RuleId::named(id)))) {
            (Some("allow"), Some((name, Some(rule)))) if words.next().is_some() => {
                allowed.push(AllowComment {
                    rule,
                    name,
                    line: comment.line,
                })
            }
            (Some("allow"), Some((name, Some(_)))) => lint.problems.push(bad(format!(
                "`lint: allow {name}` needs a reason: `-- lint: allow {name} <why it is safe here>`"
            ))),
            (Some("allow"), Some((name, None))) => lint.problems.push(bad(format!(
                "`lint: allow {name}`: there is no rule {name} (DIDHub's: {}; on PostgreSQL, \
                 squawk's: https://squawkhq.com/docs/rules)",
                RULES.iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
            ))),
            _ => lint.problems.push(bad(
                "a `lint:` comment must read `-- lint: allow RULE <why>`".to_owned(),
            )),
        }
    }
    let mut found: Vec<Finding> = rules::check(kind, direction, &script.statements)
        .into_iter()
        .map(|(rule, hit)| Finding::own(rule, file, hit))
        .collect();
    if kind == Backend::Postgres {
        match squawk::check(sql, direction, &policy.squawk) {
            Ok(violations) => {
                found.extend(violations.into_iter().map(|v| Finding::squawk(v, file)))
            }
            Err(unparsed) => lint.problems.push(unreadable(unparsed.to_string())),
        }
    }
    let mut used = BTreeSet::new();
    for finding in found.into_iter().filter(|f| !policy.excludes(f.rule)) {
        match allowed.iter().position(|a| a.rule.covers(finding.rule)) {
            Some(i) => {
                used.insert(i);
                lint.silenced += 1;
            }
            None => lint.findings.push(finding),
        }
    }
    lint.findings.sort_by_key(|f| f.line);
    for (i, comment) in allowed.iter().enumerate() {
        if !used.contains(&i) {
            lint.notes.push(format!(
                "{file}:{}: `lint: allow {}` silences nothing here",
                comment.line, comment.name
            ));
        }
    }
    lint
}

/// `[lint]` of the settings file: which rules run, and the findings allowed in released files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The PostgreSQL version squawk's rules assume (`"15"` when absent).
    pub pg_version: Option<String>,
    /// Whether squawk's policy rules ([`squawk::POLICY`]) run: off unless a project opts in.
    #[serde(default)]
    pub policy: bool,
    /// squawk's opt-in rules, or some of its policy rules, to turn on.
    #[serde(default)]
    pub include: Vec<String>,
    /// Rules turned off for the project, each with its reason.
    #[serde(default)]
    pub exclude: Vec<Excluded>,
    /// Findings allowed in released files.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
}

/// A rule turned off for a project.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Excluded {
    pub rule: String,
    pub reason: String,
}

impl Settings {
    /// What these settings ask for, checked: every rule named exists, every exclusion says why;
    /// `origin` names the file in errors.
    pub fn policy(&self, origin: &str) -> Result<Policy, SettingsError> {
        let mut policy = Policy::default();
        policy.squawk.policy = self.policy;
        if let Some(version) = &self.pg_version {
            policy.squawk.pg_version = squawk_linter::Version::from_str(version).map_err(|e| {
                SettingsError::PgVersion {
                    origin: origin.to_owned(),
                    version: version.clone(),
                    reason: format!("{e:?}"),
                }
            })?;
        }
        for name in &self.include {
            match RuleId::named(name) {
                Some(RuleId::Squawk(rule)) => policy.squawk.include.push(rule),
                _ => {
                    return Err(SettingsError::NotSquawk {
                        origin: origin.to_owned(),
                        rule: name.clone(),
                    });
                }
            }
        }
        for entry in &self.exclude {
            let rule = RuleId::named(&entry.rule).ok_or_else(|| SettingsError::UnknownRule {
                origin: origin.to_owned(),
                entry: "[[lint.exclude]]".to_owned(),
                rule: entry.rule.clone(),
            })?;
            if entry.reason.trim().is_empty() {
                return Err(SettingsError::NoReason {
                    origin: origin.to_owned(),
                    entry: format!("[[lint.exclude]] {}", entry.rule),
                });
            }
            if let RuleId::Squawk(rule) = rule {
                policy.squawk.exclude.push(rule);
            }
            policy.excluded.push((rule, entry.reason.clone()));
        }
        policy.allow = AllowList::of(&self.allow, origin)?;
        Ok(policy)
    }
}

/// Which rules run and which findings are allowed: the settings' `[lint]`, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    squawk: squawk::Options,
    /// The rules `[[lint.exclude]]` turns off, each with its reason.
    excluded: Vec<(RuleId, String)>,
    /// Findings allowed in released files.
    pub allow: AllowList,
}

impl Policy {
    fn excludes(&self, rule: RuleId) -> bool {
        self.exclusion(rule).is_some()
    }

    /// Why the project turned `rule` off, when it did.
    fn exclusion(&self, rule: RuleId) -> Option<&str> {
        self.excluded
            .iter()
            .find(|(e, _)| e.covers(rule))
            .map(|(_, reason)| reason.as_str())
    }
}

/// An allow-list entry as written: a finding of `rule` allowed in `file`, or in each of `files`
/// (a project that adopts the lint has many released files with the same finding), and why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    /// The rule's id or squawk name.
    pub rule: String,
    /// `folder/file`, relative to the migrations folder.
    pub file: Option<String>,
    /// Several files, instead of `file`.
    #[serde(default)]
    pub files: Vec<String>,
    /// Why the finding is acceptable there.
    pub reason: String,
}

/// A finding of `rule` allowed in one released file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub rule: String,
    /// `folder/file`, relative to the migrations folder.
    pub file: String,
    pub reason: String,
}

impl Allowed {
    fn covers(&self, finding: &Finding) -> bool {
        self.file == finding.file
            && RuleId::named(&self.rule).is_some_and(|r| r.covers(finding.rule))
    }
}

/// Findings allowed in released files, which must not change, one file each.
pub type AllowList = crate::allow::AllowList<Allowed>;

impl crate::allow::Entry for Allowed {
    type Written = AllowEntry;

    /// An entry names a rule, one `file` or some `files`: one entry per file.
    fn read(entry: &AllowEntry, origin: &str) -> Result<Vec<Allowed>, SettingsError> {
        let files: Vec<&String> = entry.file.iter().chain(&entry.files).collect();
        let named = files.first().map_or("(no file)", |f| f.as_str());
        if RuleId::named(&entry.rule).is_none() {
            return Err(SettingsError::UnknownRule {
                origin: origin.to_owned(),
                entry: format!("the entry for {named}"),
                rule: entry.rule.clone(),
            });
        }
        if files.is_empty() || (entry.file.is_some() && !entry.files.is_empty()) {
            return Err(SettingsError::FileOrFiles {
                origin: origin.to_owned(),
                rule: entry.rule.clone(),
            });
        }
        Ok(files
            .into_iter()
            .map(|file| Allowed {
                rule: entry.rule.clone(),
                file: file.clone(),
                reason: entry.reason.clone(),
            })
            .collect())
    }

    fn label(&self) -> String {
        format!("{} {}", self.rule, self.file)
    }

    fn reason(&self) -> &str {
        &self.reason
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn lint_up(kind: Backend, sql: &str, policy: &Policy) -> FileLint {
        lint_file(kind, Direction::Up, "p.up.sql", sql, policy)
    }

    fn rules_found(lint: &FileLint) -> Vec<String> {
        lint.findings.iter().map(|f| f.rule.to_string()).collect()
    }

    fn policy(toml: &str) -> Result<Policy, SettingsError> {
        let settings: Settings = toml::from_str(toml).expect("valid TOML");
        settings.policy("didhub-harness.toml")
    }

    #[test]
    fn allow_comments_need_a_known_rule_and_a_reason() {
        let sql = "-- lint: allow ban-drop-table\n-- lint: allow XX999 because\n\
                   -- lint: ignore PG001 x\n-- lint: allow MY001 nothing to silence\nSELECT 1;";
        let lint = lint_up(Backend::Postgres, sql, &Policy::default());
        let text: Vec<String> = lint.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].starts_with("p.up.sql:1: `lint: allow ban-drop-table` needs a reason"));
        assert!(text[1].contains("there is no rule XX999"));
        assert!(text[1].contains("squawk's: https://squawkhq.com/docs/rules"));
        assert!(text[2].contains("must read `-- lint: allow RULE <why>`"));
        assert_eq!(
            lint.notes,
            ["p.up.sql:4: `lint: allow MY001` silences nothing here"]
        );
    }

    #[test]
    fn a_squawk_finding_names_its_rule_line_statement_and_documentation() {
        let sql = "SET lock_timeout = '5s';\nSET statement_timeout = '5s';\n\
                   ALTER TABLE users\n  ADD COLUMN locale VARCHAR(20);\n";
        let lint = lint_up(Backend::Postgres, sql, &policy("policy = true").unwrap());
        assert_eq!(rules_found(&lint), ["prefer-text-field"]);
        let text = lint.findings[0].to_string();
        assert!(
            text.starts_with("p.up.sql:4: prefer-text-field: VARCHAR(20)\n    why: "),
            "{text}"
        );
        assert!(
            text.contains("Use a `TEXT` field with a `CHECK` constraint."),
            "{text}"
        );
        assert!(
            text.contains("\n    rule: https://squawkhq.com/docs/prefer-text-field\n"),
            "{text}"
        );
        assert!(
            text.contains("`-- lint: allow prefer-text-field <why>`"),
            "{text}"
        );
    }

    #[test]
    fn a_comment_silences_a_squawk_rule_by_its_name_its_alias_or_the_id_it_replaced() {
        let sql = "CREATE INDEX idx_users_email ON users (email);\n";
        let opted_in = policy("policy = true").unwrap();
        let found = lint_up(Backend::Postgres, sql, &opted_in);
        assert_eq!(
            rules_found(&found),
            [
                "require-concurrent-index-creation",
                "require-lock-timeout",
                "require-statement-timeout"
            ]
        );
        for allow in [
            "-- lint: allow require-concurrent-index-creation users is small\n\
             -- lint: allow require-timeout-settings the runner sets them\n",
            "-- lint: allow PG001 users is small\n\
             -- lint: allow require-lock-timeout the runner sets it\n\
             -- lint: allow require-statement-timeout the runner sets it\n",
        ] {
            let lint = lint_up(Backend::Postgres, &format!("{allow}{sql}"), &opted_in);
            assert_eq!(rules_found(&lint), Vec::<String>::new(), "{allow}");
            assert_eq!(lint.silenced, 3, "{allow}");
            assert_eq!(lint.notes, Vec::<String>::new(), "{allow}");
        }
    }

    #[test]
    fn settings_exclude_and_include_rules() {
        let sql = "ALTER TABLE users ADD COLUMN locale VARCHAR(20);\nDROP INDEX CONCURRENTLY i;\n";
        // squawk's policy rules wait for the project: the VARCHAR and the timeouts pass.
        assert_eq!(
            rules_found(&lint_up(Backend::Postgres, sql, &Policy::default())),
            Vec::<String>::new()
        );
        let settings = policy("include = [\"prefer-text-field\"]").unwrap();
        assert_eq!(
            rules_found(&lint_up(Backend::Postgres, sql, &settings)),
            ["prefer-text-field"]
        );
        let settings = policy(
            "policy = true\ninclude = [\"ban-drop-index\"]\n\
             [[exclude]]\nrule = \"require-timeout-settings\"\nreason = \"the runner sets them\"\n\
             [[exclude]]\nrule = \"prefer-text-field\"\nreason = \"VARCHAR(n) on every dialect\"\n",
        )
        .unwrap();
        assert_eq!(
            rules_found(&lint_up(Backend::Postgres, sql, &settings)),
            ["ban-drop-index"]
        );
        // Our own rules are excluded the same way.
        let mysql = "ALTER TABLE users ADD COLUMN x TIMESTAMP;\n";
        assert_eq!(
            rules_found(&lint_up(Backend::MySql, mysql, &Policy::default())),
            ["MY006"]
        );
        let settings = policy("[[exclude]]\nrule = \"MY006\"\nreason = \"no dates before 1970\"\n");
        assert_eq!(
            rules_found(&lint_up(Backend::MySql, mysql, &settings.unwrap())),
            Vec::<String>::new()
        );
    }

    #[test]
    fn settings_that_name_no_rule_or_give_no_reason_are_refused() {
        let errors = [
            ("include = [\"MY006\"]", "none of squawk's rules"),
            ("include = [\"prefer-txt\"]", "none of squawk's rules"),
            (
                "[[exclude]]\nrule = \"XX1\"\nreason = \"r\"",
                "names no rule \"XX1\"",
            ),
            (
                "[[exclude]]\nrule = \"MY006\"\nreason = \" \"",
                "MY006 gives no reason",
            ),
            ("pg_version = \"fifteen\"", "pg_version \"fifteen\""),
            (
                "[[allow]]\nrule = \"prefer-txt\"\nfile = \"f\"\nreason = \"r\"",
                "names no rule",
            ),
        ];
        for (toml, expected) in errors {
            let error = policy(toml).unwrap_err().to_string();
            assert!(error.contains(expected), "{toml}: {error}");
        }
    }

    #[test]
    fn an_entry_with_files_allows_the_finding_in_each() {
        let policy = policy(
            "[[allow]]\nrule = \"PG001\"\nfiles = [\"postgres/a.up.sql\", \"postgres/b.up.sql\"]\n\
             reason = \"small tables\"\n",
        )
        .unwrap();
        let files: Vec<&str> = policy.allow.allow.iter().map(|a| a.file.as_str()).collect();
        assert_eq!(files, ["postgres/a.up.sql", "postgres/b.up.sql"]);
        assert!(
            policy
                .allow
                .allow
                .iter()
                .all(|a| a.rule == "PG001" && a.reason == "small tables")
        );
    }

    /// The findings of the lint of a peer project (another project's real migrations, in
    /// `shared/peers/` beside the checkout), read in place, under its own (absent) settings.
    fn peer_findings(peer: &str) -> Vec<Finding> {
        let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers");
        assert!(
            peers.is_dir(),
            "the peer projects are missing: expected them at {} (shared/peers beside the \
             checkout), where this test lints them in place",
            peers.display()
        );
        let root = peers.join(peer).join("corpus");
        let report = crate::check::run_lint(&root, &Backend::ALL, None)
            .unwrap_or_else(|e| panic!("{peer}: {e}"));
        assert!(report.files > 20, "{peer}: only {} files", report.files);
        report
            .problems
            .into_iter()
            .map(|problem| match problem {
                LintProblem::Finding(finding) => finding,
                other => panic!("{peer}: {other}"),
            })
            .collect()
    }

    fn of_rule<'a>(findings: &'a [Finding], rule: &str) -> Vec<&'a Finding> {
        findings
            .iter()
            .filter(|f| f.rule.to_string() == rule)
            .collect()
    }

    #[test]
    fn on_real_projects_the_lint_keeps_to_hazards() {
        // Before squawk's policy rules waited for an opt-in, ALL001 knew SQLite's table
        // rebuild and SQ001 asked SQLite: vaultwarden 452 findings (386 of them squawk's policy
        // rules, 17 ALL001, 1 SQ001), Plume 420 (400, 20 ALL001), atuin 69 (42).
        let mut counts = Vec::new();
        for peer in ["vaultwarden", "plume", "atuin"] {
            let found = peer_findings(peer);
            let policy: Vec<String> = found
                .iter()
                .filter(
                    |f| matches!(f.rule, RuleId::Squawk(r) if squawk::policy_reason(r).is_some()),
                )
                .map(|f| f.to_string())
                .collect();
            assert_eq!(policy, Vec::<String>::new(), "{peer}: policy rules ran");
            assert_eq!(of_rule(&found, "SQ001").len(), 0, "{peer}");
            counts.push(found.len());
        }
        assert!(
            counts[0] <= 130 && counts[1] <= 80 && counts[2] <= 15,
            "vaultwarden, Plume, atuin: {counts:?} findings"
        );
        // What is left are hazards: squawk's still run (a type change rewrites the table) …
        let vaultwarden = peer_findings("vaultwarden");
        assert!(!of_rule(&vaultwarden, "changing-column-type").is_empty());
        assert!(!of_rule(&vaultwarden, "MY002").is_empty());
        // … and ALL001 fires on tables dropped without their rows copied, not on rebuilds.
        let mut dropped: Vec<String> = of_rule(&vaultwarden, "ALL001")
            .iter()
            .map(|f| format!("{} {}", f.file, f.detail))
            .collect();
        dropped.sort();
        assert_eq!(
            dropped,
            [
                "mysql/20240214170000_add_state_to_sso_nonce.up.sql DROP TABLE sso_nonce",
                "mysql/20240226170000_add_pkce_to_sso_nonce.up.sql DROP TABLE sso_nonce",
                "mysql/20250820120000_sso_nonce_to_auth.up.sql DROP TABLE sso_nonce",
                "mysql/20260309005927_add_archives.up.sql DROP TABLE archives",
                "sqlite/20240214170000_add_state_to_sso_nonce.up.sql DROP TABLE sso_nonce",
                "sqlite/20240226170000_add_pkce_to_sso_nonce.up.sql DROP TABLE sso_nonce",
                "sqlite/20240313170000_sso_userscascade.up.sql DROP TABLE sso_users",
                "sqlite/20250820120000_sso_nonce_to_auth.up.sql DROP TABLE sso_nonce",
                "sqlite/20260309005927_add_archives.up.sql DROP TABLE archives",
            ]
        );
        // Plume rebuilds its SQLite tables 20 times, and drops none.
        assert_eq!(of_rule(&peer_findings("plume"), "ALL001").len(), 0);
    }

    #[test]
    fn squawk_assumes_the_postgres_version_of_the_settings() {
        // Before PostgreSQL 11, a column with a default rewrote the table.
        let sql = "SET lock_timeout = '5s';\nSET statement_timeout = '5s';\n\
                   ALTER TABLE users ADD COLUMN n BIGINT DEFAULT 0;\n";
        assert_eq!(
            rules_found(&lint_up(Backend::Postgres, sql, &Policy::default())),
            Vec::<String>::new()
        );
        let old = policy("pg_version = \"10\"").unwrap();
        assert_eq!(
            rules_found(&lint_up(Backend::Postgres, sql, &old)),
            ["adding-field-with-default"]
        );
    }
}
