//! Lint: migrations that lock or rewrite big tables, lose data, are not atomic, or use DDL the
//! dialect does not have — found by reading the SQL, before any database runs it.
//!
//! Every rule is one entry of [`RULES`]: an id, the dialect it applies to, a reason and a check
//! over one statement of a file (split by [`crate::sql`], so comments and strings never match).
//! A finding is silenced in one of two ways, each with a reason:
//!
//! - in a new migration, a comment anywhere in the file: `-- lint: allow PG001 <why>` (it
//!   silences that rule for the whole file);
//! - for a released migration, which must not change (its checksum is locked, and sqlx refuses
//!   databases whose applied file changed), an entry in the settings file's `[[lint.allow]]`
//!   (`migrations/didhub-harness.toml` for DIDHub): `rule`, `file` (`postgres/0011_….up.sql`),
//!   `reason`. An entry that silences nothing fails as stale.
//!
//! Down migrations undo their up, so dropping tables and columns is what they are for: the
//! data-loss rule ([`Rule::in_down`] false) looks at up migrations only, and at up-only
//! (`NNNN_name.sql`) ones, which run forward like an up. The locking, atomicity
//! and dialect rules look at both directions: a down that builds an index locks the table too.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::backend::Kind;
use crate::integrity::{self, Direction};
use crate::sql::{self, Statement, Token};

/// One lint rule.
pub struct Rule {
    /// `PG001`, `MY001`, …: what a silencing comment or allow-list entry names.
    pub id: &'static str,
    /// The dialect it applies to; `None` for every dialect.
    pub dialect: Option<Kind>,
    /// Whether it applies to down migrations too.
    pub in_down: bool,
    /// What it flags, in a few words.
    pub title: &'static str,
    /// Why that matters, and what to do instead.
    pub reason: &'static str,
    /// The findings in the statement at `Context::index`, each a short description.
    check: fn(&Context<'_>) -> Vec<String>,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// Every rule. The table in docs/migrations.md lists the same.
pub static RULES: &[Rule] = &[
    Rule {
        id: "ALL001",
        dialect: None,
        in_down: false,
        title: "drops a table or a column",
        reason: "DROP TABLE and DROP COLUMN throw data away for good, and no down migration can \
                 bring it back. Keep what must survive (copy it to a new table or column first), \
                 and say that the loss is intended.",
        check: drops_data,
    },
    Rule {
        id: "PG001",
        dialect: Some(Kind::Postgres),
        in_down: true,
        title: "CREATE INDEX without CONCURRENTLY on an existing table",
        reason: "CREATE INDEX blocks every write to the table until the index is built: minutes \
                 on a big table. CREATE INDEX CONCURRENTLY does not, but cannot run in a \
                 transaction: put it in a migration of its own whose first line is \
                 `-- no-transaction`.",
        check: pg_index_without_concurrently,
    },
    Rule {
        id: "PG002",
        dialect: Some(Kind::Postgres),
        in_down: true,
        title: "ADD COLUMN … NOT NULL without DEFAULT",
        reason: "It fails on a table that has rows (they would hold NULL), so it passes on an \
                 empty test database and breaks in production. Give it a DEFAULT (PostgreSQL 11+ \
                 adds a column with a constant default without rewriting the table), or add it \
                 nullable, fill it, then SET NOT NULL.",
        check: pg_not_null_without_default,
    },
    Rule {
        id: "PG003",
        dialect: Some(Kind::Postgres),
        in_down: true,
        title: "ALTER COLUMN … TYPE",
        reason: "Changing a column's type rewrites the whole table and its indexes under an \
                 ACCESS EXCLUSIVE lock (no reads, no writes), unless the types are binary \
                 compatible (e.g. VARCHAR(n) to a longer VARCHAR or TEXT). Prefer a new column, \
                 filled in batches.",
        check: pg_column_type_change,
    },
    Rule {
        id: "MY001",
        dialect: Some(Kind::MySql),
        in_down: true,
        title: "DDL and data changes in one file",
        reason: "MySQL commits every DDL statement on its own, so a file that mixes DDL with \
                 INSERT/UPDATE/DELETE is not atomic: when the data change fails, the DDL before \
                 it stays and the migration is left dirty. Put the data change in a migration of \
                 its own, or make it one statement that valid data cannot make fail.",
        check: mysql_ddl_and_data,
    },
    Rule {
        id: "SQ001",
        dialect: Some(Kind::Sqlite),
        in_down: true,
        title: "an ALTER TABLE form SQLite does not have",
        reason: "SQLite's ALTER TABLE only renames a table or a column, adds a column (not \
                 PRIMARY KEY or UNIQUE, not NOT NULL without a default, with a constant default) \
                 and drops a column, one change per statement; anything else fails. Rebuild the \
                 table instead: create the new one, copy the rows, drop the old one, rename the \
                 new one (https://www.sqlite.org/lang_altertable.html#otheralter).",
        check: sqlite_unsupported_alter,
    },
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// One statement of a file, with the file's other statements around it.
struct Context<'a> {
    statements: &'a [Statement],
    index: usize,
}

impl Context<'_> {
    fn statement(&self) -> &Statement {
        &self.statements[self.index]
    }

    /// The statement as an `ALTER TABLE` of a table that existed before this file (one the file
    /// created holds no rows yet, so changing it locks or rewrites nothing).
    fn altered_existing_table(&self) -> Option<AlterTable<'_>> {
        alter_table(self.statement()).filter(|alter| !self.created_here(&alter.table))
    }

    /// Whether an earlier statement of the same file creates `table` (so it holds no rows yet).
    fn created_here(&self, table: &str) -> bool {
        self.statements[..self.index].iter().any(|s| {
            let tokens = &s.tokens;
            let Some(at) = tokens.iter().position(|t| t.is("TABLE")) else {
                return false;
            };
            s.starts_with(&["CREATE"])
                && tokens[1..at].iter().all(|t| {
                    t.is("TEMP") || t.is("TEMPORARY") || t.is("UNLOGGED") || t.is("GLOBAL")
                })
                && name_at(tokens, skip_words(tokens, at + 1, &["IF", "NOT", "EXISTS"]))
                    .is_some_and(|(name, _)| name == table)
        })
    }
}

/// The position after any of `words` starting at `at`.
fn skip_words(tokens: &[Token], mut at: usize, words: &[&str]) -> usize {
    while tokens
        .get(at)
        .is_some_and(|t| words.iter().any(|w| t.is(w)))
    {
        at += 1;
    }
    at
}

/// The (possibly schema-qualified) name at `at`: its last part, and the position after it.
fn name_at(tokens: &[Token], mut at: usize) -> Option<(String, usize)> {
    let mut name = tokens.get(at)?.ident()?;
    at += 1;
    while tokens.get(at) == Some(&Token::Symbol('.')) {
        name = tokens.get(at + 1)?.ident()?;
        at += 2;
    }
    Some((name, at))
}

/// Splits `tokens` at commas outside parentheses.
fn split_commas(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Symbol('(') => depth += 1,
            Token::Symbol(')') => depth = depth.saturating_sub(1),
            Token::Symbol(',') if depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts
}

/// The positions of the tokens outside parentheses (the parentheses themselves left out).
fn top_level(tokens: &[Token]) -> Vec<usize> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Symbol('(') => depth += 1,
            Token::Symbol(')') => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(i),
            _ => {}
        }
    }
    out
}

/// Whether a column definition says NOT NULL (outside parentheses, so not in a CHECK).
fn says_not_null(definition: &[Token]) -> bool {
    top_level(definition)
        .windows(2)
        .any(|w| definition[w[0]].is("NOT") && definition[w[1]].is("NULL"))
}

/// Where a column definition says `word` (outside parentheses).
fn says(definition: &[Token], word: &str) -> Option<usize> {
    top_level(definition)
        .into_iter()
        .find(|&i| definition[i].is(word))
}

/// `ALTER TABLE [IF EXISTS] [ONLY] name action, action, …`
struct AlterTable<'a> {
    table: String,
    actions: Vec<&'a [Token]>,
}

fn alter_table(statement: &Statement) -> Option<AlterTable<'_>> {
    if !statement.starts_with(&["ALTER", "TABLE"]) {
        return None;
    }
    let tokens = &statement.tokens;
    let (table, mut at) = name_at(tokens, skip_words(tokens, 2, &["IF", "EXISTS", "ONLY"]))?;
    if tokens.get(at) == Some(&Token::Symbol('*')) {
        at += 1;
    }
    Some(AlterTable {
        table,
        actions: split_commas(&tokens[at..]),
    })
}

/// Words after `DROP` / `ADD` in ALTER TABLE that name something other than a column.
const NOT_A_COLUMN: [&str; 9] = [
    "CONSTRAINT",
    "INDEX",
    "KEY",
    "FOREIGN",
    "PRIMARY",
    "UNIQUE",
    "CHECK",
    "PARTITION",
    "EXCLUDE",
];

fn names_a_column(token: Option<&Token>) -> bool {
    token.is_some_and(|t| !NOT_A_COLUMN.iter().any(|w| t.is(w)))
}

/// ALTER TABLE's `ADD [COLUMN] [IF NOT EXISTS] name …`: the column's name and definition.
fn added_column(action: &[Token]) -> Option<(String, &[Token])> {
    if !action.first()?.is("ADD") {
        return None;
    }
    let at = skip_words(action, 1, &["COLUMN"]);
    if !names_a_column(action.get(at)) {
        return None;
    }
    let at = skip_words(action, at, &["IF", "NOT", "EXISTS"]);
    Some((action.get(at)?.ident()?, &action[at + 1..]))
}

fn drops_data(cx: &Context<'_>) -> Vec<String> {
    let statement = cx.statement();
    let tokens = &statement.tokens;
    if statement.starts_with(&["DROP"]) {
        let Some(at) = tokens.iter().position(|t| t.is("TABLE")) else {
            return Vec::new();
        };
        if !tokens[1..at].iter().all(|t| t.is("TEMPORARY")) {
            return Vec::new();
        }
        let at = skip_words(tokens, at + 1, &["IF", "EXISTS"]);
        return split_commas(&tokens[at..])
            .into_iter()
            .filter_map(|part| name_at(part, 0))
            .map(|(name, _)| name)
            .filter(|name| !cx.created_here(name))
            .map(|name| format!("DROP TABLE {name}"))
            .collect();
    }
    let Some(alter) = cx.altered_existing_table() else {
        return Vec::new();
    };
    alter
        .actions
        .iter()
        .filter(|a| a.first().is_some_and(|t| t.is("DROP")))
        .filter_map(|action| {
            let at = skip_words(action, 1, &["COLUMN"]);
            names_a_column(action.get(at)).then_some(())?;
            let at = skip_words(action, at, &["IF", "EXISTS"]);
            let column = action.get(at)?.ident()?;
            Some(format!("ALTER TABLE {} DROP COLUMN {column}", alter.table))
        })
        .collect()
}

fn pg_index_without_concurrently(cx: &Context<'_>) -> Vec<String> {
    let statement = cx.statement();
    let tokens = &statement.tokens;
    let at = skip_words(tokens, 1, &["UNIQUE"]);
    if !statement.starts_with(&["CREATE"]) || !tokens.get(at).is_some_and(|t| t.is("INDEX")) {
        return Vec::new();
    }
    if tokens.get(at + 1).is_some_and(|t| t.is("CONCURRENTLY")) {
        return Vec::new();
    }
    let Some(on) = tokens.iter().position(|t| t.is("ON")) else {
        return Vec::new();
    };
    let index = tokens[at + 1..on]
        .iter()
        .filter(|t| !(t.is("IF") || t.is("NOT") || t.is("EXISTS")))
        .find_map(Token::ident)
        .unwrap_or_else(|| "(unnamed)".to_owned());
    match name_at(tokens, skip_words(tokens, on + 1, &["ONLY"])) {
        Some((table, _)) if !cx.created_here(&table) => vec![format!(
            "CREATE INDEX {index} ON {table} without CONCURRENTLY; {table} exists before this migration"
        )],
        _ => Vec::new(),
    }
}

fn pg_not_null_without_default(cx: &Context<'_>) -> Vec<String> {
    let Some(alter) = cx.altered_existing_table() else {
        return Vec::new();
    };
    alter
        .actions
        .iter()
        .filter_map(|action| added_column(action))
        .filter(|(_, definition)| {
            says_not_null(definition) && says(definition, "DEFAULT").is_none()
        })
        .map(|(column, _)| {
            format!(
                "ALTER TABLE {} ADD COLUMN {column} NOT NULL without DEFAULT",
                alter.table
            )
        })
        .collect()
}

fn pg_column_type_change(cx: &Context<'_>) -> Vec<String> {
    let Some(alter) = cx.altered_existing_table() else {
        return Vec::new();
    };
    alter
        .actions
        .iter()
        .filter(|a| a.first().is_some_and(|t| t.is("ALTER")))
        .filter_map(|action| {
            let at = skip_words(action, 1, &["COLUMN"]);
            let column = action.get(at)?.ident()?;
            let rest = &action[at + 1..];
            let changes_type = rest.first().is_some_and(|t| t.is("TYPE"))
                || (rest.len() >= 3
                    && rest[0].is("SET")
                    && rest[1].is("DATA")
                    && rest[2].is("TYPE"));
            changes_type.then(|| format!("ALTER TABLE {} ALTER COLUMN {column} TYPE", alter.table))
        })
        .collect()
}

const DDL: [&str; 5] = ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"];
const DATA: [&str; 4] = ["INSERT", "UPDATE", "DELETE", "REPLACE"];

fn mysql_ddl_and_data(cx: &Context<'_>) -> Vec<String> {
    let verb = cx.statement().verb();
    if !DATA.contains(&verb.as_str()) {
        return Vec::new();
    }
    cx.statements
        .iter()
        .find(|s| DDL.contains(&s.verb().as_str()))
        .map(|ddl| {
            vec![format!(
                "{verb} in a file that also runs DDL ({} at line {})",
                ddl.verb(),
                ddl.line
            )]
        })
        .unwrap_or_default()
}

fn sqlite_unsupported_alter(cx: &Context<'_>) -> Vec<String> {
    let Some(alter) = alter_table(cx.statement()) else {
        return Vec::new();
    };
    let table = &alter.table;
    if alter.actions.len() > 1 {
        return vec![format!(
            "ALTER TABLE {table} makes {} changes in one statement",
            alter.actions.len()
        )];
    }
    let action = alter.actions[0];
    let word = |i: usize| match action.get(i) {
        Some(Token::Word(w)) => w.to_ascii_uppercase(),
        _ => String::new(),
    };
    let unsupported = match word(0).as_str() {
        "RENAME" => None,
        "DROP" => {
            let at = skip_words(action, 1, &["COLUMN"]);
            (!names_a_column(action.get(at))).then(|| format!("DROP {}", word(at)))
        }
        "ADD" => match added_column(action) {
            None => Some(format!("ADD {}", word(skip_words(action, 1, &["COLUMN"])))),
            Some((column, definition)) => {
                let default = says(definition, "DEFAULT");
                let non_constant = default
                    .and_then(|d| definition.get(d + 1))
                    .is_some_and(|t| {
                        *t == Token::Symbol('(')
                            || ["CURRENT_TIME", "CURRENT_DATE", "CURRENT_TIMESTAMP"]
                                .iter()
                                .any(|w| t.is(w))
                    });
                if says(definition, "PRIMARY").is_some() {
                    Some(format!("ADD COLUMN {column} … PRIMARY KEY"))
                } else if says(definition, "UNIQUE").is_some() {
                    Some(format!("ADD COLUMN {column} … UNIQUE"))
                } else if says_not_null(definition) && default.is_none() {
                    Some(format!("ADD COLUMN {column} … NOT NULL without a default"))
                } else if non_constant {
                    Some(format!("ADD COLUMN {column} with a non-constant default"))
                } else {
                    None
                }
            }
        },
        other => Some(format!("{other} {}", word(1)).trim_end().to_owned()),
    };
    unsupported
        .map(|what| vec![format!("ALTER TABLE {table} {what}")])
        .unwrap_or_default()
}

/// One thing a rule found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static Rule,
    /// `folder/file`.
    pub file: String,
    pub line: usize,
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} {}: {}\n    why: {}\n    if it is intended: `-- lint: allow {} <why>` in the file, or, for a released \
             file (which must not change), an entry in the lint allow-list",
            self.file,
            self.line,
            self.rule.id,
            self.rule.title,
            self.detail,
            self.rule.reason,
            self.rule.id
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
    /// Malformed comments, and SQL that cannot be split.
    pub problems: Vec<LintProblem>,
    /// Allow comments that silence nothing. They do not fail: a released file cannot drop one.
    pub notes: Vec<String>,
}

/// Lints one file's SQL. `file` is how findings name it (`postgres/0011_….up.sql`).
pub fn lint_file(kind: Kind, direction: Direction, file: &str, sql: &str) -> FileLint {
    let mut lint = FileLint::default();
    let script = match sql::split(sql, kind) {
        Ok(script) => script,
        Err(reason) => {
            lint.problems.push(LintProblem::Unreadable {
                file: file.to_owned(),
                reason,
            });
            return lint;
        }
    };
    let mut allowed: Vec<(&'static Rule, usize)> = Vec::new();
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
        match (words.next(), words.next().map(|id| (id, rule(id)))) {
            (Some("allow"), Some((_, Some(rule)))) if words.next().is_some() => {
                allowed.push((rule, comment.line))
            }
            (Some("allow"), Some((id, Some(_)))) => lint.problems.push(bad(format!(
                "`lint: allow {id}` needs a reason: `-- lint: allow {id} <why it is safe here>`"
            ))),
            (Some("allow"), Some((id, None))) => lint.problems.push(bad(format!(
                "`lint: allow {id}`: there is no rule {id} (rules: {})",
                RULES.iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
            ))),
            _ => lint.problems.push(bad(
                "a `lint:` comment must read `-- lint: allow RULE <why>`".to_owned(),
            )),
        }
    }
    let rules = RULES
        .iter()
        .filter(|r| r.dialect.is_none_or(|d| d == kind) && (r.in_down || direction.is_up()));
    let mut used = BTreeSet::new();
    for rule in rules {
        for index in 0..script.statements.len() {
            let cx = Context {
                statements: &script.statements,
                index,
            };
            for detail in (rule.check)(&cx) {
                if allowed.iter().any(|(r, _)| r == &rule) {
                    used.insert(rule.id);
                    lint.silenced += 1;
                } else {
                    lint.findings.push(Finding {
                        rule,
                        file: file.to_owned(),
                        line: cx.statement().line,
                        detail,
                    });
                }
            }
        }
    }
    lint.findings.sort_by_key(|f| f.line);
    for (rule, line) in allowed {
        if !used.contains(rule.id) {
            lint.notes.push(format!(
                "{file}:{line}: `lint: allow {}` silences nothing here",
                rule.id
            ));
        }
    }
    lint
}

/// Findings allowed in released files, which must not change (TOML, `[[allow]]` entries).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    #[serde(default)]
    pub allow: Vec<Allowed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowed {
    /// The rule's id.
    pub rule: String,
    /// `folder/file`, relative to the migrations folder.
    pub file: String,
    /// Why the finding is acceptable there.
    pub reason: String,
}

impl AllowList {
    pub fn load(path: &Path) -> Result<AllowList, String> {
        let list: AllowList = crate::read_toml(path)?;
        list.validate(&path.display().to_string())?;
        Ok(list)
    }

    /// Every entry names a rule and gives a reason; `origin` names the file in the error.
    pub fn validate(&self, origin: &str) -> Result<(), String> {
        for entry in &self.allow {
            if rule(&entry.rule).is_none() {
                return Err(format!(
                    "{origin}: the entry for {} names no rule {:?}",
                    entry.file, entry.rule
                ));
            }
            if entry.reason.trim().is_empty() {
                return Err(format!(
                    "{origin}: the entry for {} {} gives no reason",
                    entry.rule, entry.file
                ));
            }
        }
        Ok(())
    }
}

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

/// Lints the migration files of `kinds` under `root`, with `allow` (the settings' list, or a
/// file given instead). Finding no file at all is an error: nothing was checked.
pub fn run(root: &Path, kinds: &[Kind], allow: &AllowList) -> Result<LintReport, String> {
    let report = lint(root, kinds, allow)?;
    if report.files == 0 {
        return Err(format!(
            "no migration files to lint under {}: nothing was checked",
            root.display()
        ));
    }
    Ok(report)
}

/// Lints the migration files of `kinds` under `root`, with `allow` for released files.
pub fn lint(root: &Path, kinds: &[Kind], allow: &AllowList) -> Result<LintReport, String> {
    let mut report = LintReport::default();
    let mut used = vec![false; allow.allow.len()];
    for file in integrity::migration_files(root)? {
        let kind = file.kind;
        if !kinds.contains(&kind) {
            continue;
        }
        let name = file.display();
        let sql = std::fs::read_to_string(&file.path)
            .map_err(|e| format!("cannot read {}: {e}", file.path.display()))?;
        let lint = lint_file(kind, file.migration.direction, &name, &sql);
        report.files += 1;
        report.silenced += lint.silenced;
        report.problems.extend(lint.problems);
        report.notes.extend(lint.notes);
        for finding in lint.findings {
            match allow
                .allow
                .iter()
                .position(|a| a.rule == finding.rule.id && a.file == finding.file)
            {
                Some(i) => {
                    used[i] = true;
                    report.silenced += 1;
                }
                None => report.problems.push(LintProblem::Finding(finding)),
            }
        }
    }
    for (entry, used) in allow.allow.iter().zip(used) {
        let linted = kinds
            .iter()
            .any(|k| entry.file.starts_with(&format!("{k}/")));
        if !used && linted {
            report.problems.push(LintProblem::StaleEntry(entry.clone()));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [usize; 0] = [];

    /// The lines where rule `id` fires in `sql` as an up migration.
    fn up(kind: Kind, id: &str, sql: &str) -> Vec<usize> {
        found(id, lint_file(kind, Direction::Up, "f.up.sql", sql))
    }

    fn down(kind: Kind, id: &str, sql: &str) -> Vec<usize> {
        found(id, lint_file(kind, Direction::Down, "f.down.sql", sql))
    }

    fn found(id: &str, lint: FileLint) -> Vec<usize> {
        assert_eq!(lint.problems, [], "unexpected problems");
        lint.findings
            .iter()
            .filter(|f| f.rule.id == id)
            .map(|f| f.line)
            .collect()
    }

    /// With an allow comment for `id`, rule `id` no longer fires, and the comment is used.
    fn silenced(kind: Kind, id: &str, sql: &str) {
        let with = format!("-- lint: allow {id} intended, see the issue\n{sql}");
        let lint = lint_file(kind, Direction::Up, "f.up.sql", &with);
        assert!(
            lint.findings.iter().all(|f| f.rule.id != id),
            "{id} should be silenced"
        );
        assert!(lint.silenced >= 1, "{id}");
        assert_eq!(lint.notes, Vec::<String>::new());
    }

    #[test]
    fn every_rule_has_a_unique_id_and_a_reason() {
        let ids: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), RULES.len());
        assert!(
            RULES
                .iter()
                .all(|r| !r.reason.is_empty() && !r.title.is_empty())
        );
    }

    #[test]
    fn all001_flags_dropped_tables_and_columns_in_up_migrations() {
        let sql = "DROP TABLE IF EXISTS notes, tags;\nALTER TABLE users DROP COLUMN avatar;\n\
                   ALTER TABLE users DROP email;\nDROP INDEX idx_users_email;\n\
                   ALTER TABLE users DROP CONSTRAINT ck_users;\n";
        for kind in Kind::ALL {
            assert_eq!(up(kind, "ALL001", sql), [1, 1, 2, 3], "{kind}");
            silenced(kind, "ALL001", sql);
            // Down migrations drop what their up created.
            assert_eq!(down(kind, "ALL001", sql), NONE, "{kind}");
        }
        // A table created and dropped by the same file held nothing.
        let tmp = "CREATE TABLE tmp (a TEXT);\nDROP TABLE tmp;";
        assert_eq!(up(Kind::Sqlite, "ALL001", tmp), NONE);
    }

    #[test]
    fn pg001_flags_indexes_on_existing_tables_built_without_concurrently() {
        let sql = "CREATE TABLE notes (id UUID);\nCREATE INDEX idx_notes_id ON notes (id);\n\
                   CREATE UNIQUE INDEX IF NOT EXISTS idx_users_email ON public.users (email);\n\
                   CREATE INDEX CONCURRENTLY idx_users_name ON users (name);\n";
        assert_eq!(up(Kind::Postgres, "PG001", sql), [3]);
        assert_eq!(down(Kind::Postgres, "PG001", sql), [3]);
        silenced(Kind::Postgres, "PG001", sql);
        assert_eq!(up(Kind::MySql, "PG001", sql), NONE);
        let lint = lint_file(Kind::Postgres, Direction::Up, "p/f.up.sql", sql);
        assert!(
            lint.findings[0].to_string().starts_with(
                "p/f.up.sql:3: PG001 CREATE INDEX without CONCURRENTLY on an existing table: \
                 CREATE INDEX idx_users_email ON users without CONCURRENTLY; users exists before this migration"
            ),
            "{}",
            lint.findings[0]
        );
    }

    #[test]
    fn pg002_flags_not_null_columns_added_without_default() {
        let sql = "ALTER TABLE users ADD COLUMN locale TEXT NOT NULL;\n\
                   ALTER TABLE users ADD COLUMN theme TEXT NOT NULL DEFAULT 'light';\n\
                   ALTER TABLE users ADD COLUMN bio TEXT CHECK (bio IS NOT NULL);\n\
                   ALTER TABLE users ADD CONSTRAINT ck_x CHECK (a IS NOT NULL), ADD tz TEXT NOT NULL;\n";
        assert_eq!(up(Kind::Postgres, "PG002", sql), [1, 4]);
        silenced(Kind::Postgres, "PG002", sql);
    }

    #[test]
    fn pg003_flags_column_type_changes() {
        let sql = "ALTER TABLE alters ALTER COLUMN name TYPE TEXT;\n\
                   ALTER TABLE alters ALTER name SET DATA TYPE VARCHAR(300);\n\
                   ALTER TABLE alters ALTER COLUMN type SET NOT NULL;\n";
        assert_eq!(up(Kind::Postgres, "PG003", sql), [1, 2]);
        silenced(Kind::Postgres, "PG003", sql);
    }

    #[test]
    fn my001_flags_data_changes_in_a_file_with_ddl() {
        let sql = "-- 'UPDATE' in a comment is no statement\nALTER TABLE users ADD COLUMN x INT;\n\
                   UPDATE users SET x = 1;\nINSERT INTO log VALUES ('DROP TABLE');\n";
        assert_eq!(up(Kind::MySql, "MY001", sql), [3, 4]);
        assert_eq!(down(Kind::MySql, "MY001", sql), [3, 4]);
        silenced(Kind::MySql, "MY001", sql);
        let data_only = "UPDATE users SET x = 1;\nDELETE FROM log;";
        assert_eq!(up(Kind::MySql, "MY001", data_only), NONE);
        assert_eq!(up(Kind::Postgres, "MY001", sql), NONE);
    }

    #[test]
    fn sq001_flags_alter_table_forms_sqlite_does_not_have() {
        let sql = "ALTER TABLE users ALTER COLUMN name SET NOT NULL;\n\
                   ALTER TABLE users ADD CONSTRAINT ck_x CHECK (x > 0);\n\
                   ALTER TABLE users DROP CONSTRAINT ck_x;\n\
                   ALTER TABLE users ADD COLUMN code TEXT UNIQUE;\n\
                   ALTER TABLE users ADD COLUMN n INTEGER PRIMARY KEY;\n\
                   ALTER TABLE users ADD COLUMN m INTEGER NOT NULL;\n\
                   ALTER TABLE users ADD COLUMN t TEXT DEFAULT CURRENT_TIMESTAMP;\n\
                   ALTER TABLE users ADD COLUMN a TEXT, ADD COLUMN b TEXT;\n\
                   ALTER TABLE users ADD COLUMN ok TEXT NOT NULL DEFAULT 'x' CHECK (ok <> '');\n\
                   ALTER TABLE users RENAME COLUMN a TO b;\n\
                   ALTER TABLE users DROP COLUMN b;\n";
        assert_eq!(up(Kind::Sqlite, "SQ001", sql), (1..=8).collect::<Vec<_>>());
        silenced(Kind::Sqlite, "SQ001", sql);
        let lint = lint_file(Kind::Sqlite, Direction::Down, "s.down.sql", sql);
        assert_eq!(lint.findings[0].detail, "ALTER TABLE users ALTER COLUMN");
    }

    #[test]
    fn allow_comments_need_a_known_rule_and_a_reason() {
        let sql = "-- lint: allow PG001\n-- lint: allow XX999 because\n-- lint: ignore PG001 x\n\
                   -- lint: allow PG003 nothing to silence\nSELECT 1;";
        let lint = lint_file(Kind::Postgres, Direction::Up, "p.up.sql", sql);
        let text: Vec<String> = lint.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].starts_with("p.up.sql:1: `lint: allow PG001` needs a reason"));
        assert!(text[1].contains("there is no rule XX999"));
        assert!(text[2].contains("must read `-- lint: allow RULE <why>`"));
        assert_eq!(
            lint.notes,
            ["p.up.sql:4: `lint: allow PG003` silences nothing here"]
        );
    }
}
