//! PostgreSQL's lint is squawk's (<https://squawkhq.com/docs/rules>), the linter PostgreSQL
//! migration authors already run, through its crate `squawk-linter`: its parser, its rules and
//! their documentation, rather than rules of our own that would cover less and drift.
//!
//! Run as sqlx runs a migration: in a transaction (squawk's "assume in transaction", which, for
//! example, lets an index on a table created earlier in the same file pass), except for a file
//! whose first line is `-- no-transaction`. A down migration undoes its up, so squawk's rules
//! against dropping things ([`NOT_IN_DOWN`]) are skipped there; every other rule (locks,
//! rewrites, timeouts) applies to both directions.
//!
//! squawk's default rules are of two kinds. Most flag a hazard: a statement that blocks reads or
//! writes, rewrites a table, breaks the clients still running, loses data or fails. A few state
//! a house style instead ([`POLICY`]: column types, timeouts set in each file, statements
//! written to be re-run); on real projects they are most of squawk's findings, so they run only
//! for a project that opts in (`policy = true`, or naming them in `include`).

use std::str::FromStr;

use squawk_linter::{Linter, LinterSettings, Rule, Version};
use squawk_syntax::SourceFile;

use crate::migration_file::Direction;

/// Rules about dropping what exists: in a down file that is what the down is for (it drops what
/// its up created). `ban-drop-database` stays: no migration drops its database.
pub const NOT_IN_DOWN: [Rule; 16] = [
    Rule::BanDropTable,
    Rule::BanDropColumn,
    Rule::BanDropView,
    Rule::BanDropFunction,
    Rule::BanDropType,
    Rule::BanDropDefault,
    Rule::BanDropTrigger,
    Rule::BanDropSchema,
    Rule::BanDropSequence,
    Rule::BanDropDomain,
    Rule::BanDropConstraint,
    Rule::BanDropGeneratedExpression,
    Rule::BanDropExtension,
    Rule::BanDropIndex,
    Rule::BanDropPolicy,
    Rule::BanDropNotNull,
];

/// squawk's default rules that state a policy rather than flag a hazard, each with why it is
/// off unless a project opts in. What they ask for locks, rewrites, breaks and loses nothing
/// in the migration at hand: a type the project may have chosen on purpose, a timeout its
/// runner may set instead, a guard that a file run in a transaction does not need.
pub const POLICY: [(Rule, &str); 9] = [
    (
        Rule::RequireLockTimeout,
        "asks each file to `SET lock_timeout` itself; a runner that bounds lock waits on the \
         migration's connection (as DIDHub's does) or a role's setting does the same for every \
         file",
    ),
    (
        Rule::RequireStatementTimeout,
        "asks each file to `SET statement_timeout`; how long a migration may run is the \
         deployment's choice, and a timeout cuts a long data migration off halfway",
    ),
    (
        Rule::PreferBigintOverInt,
        "a choice of type: an `integer` key overflows after 2^31 rows, which many tables never \
         hold; the column locks and rewrites nothing",
    ),
    (
        Rule::PreferBigintOverSmallint,
        "a choice of type, as prefer-bigint-over-int: a `smallint` is often meant to stay small",
    ),
    (
        Rule::PreferIdentity,
        "`serial` or an identity column: a house style; both number rows the same way, and the \
         statement is safe either way",
    ),
    (
        Rule::PreferTextField,
        "`varchar(n)` is a choice of type (a schema kept alike on several dialects needs it); \
         changing its length later is flagged when a migration does it (changing-column-type)",
    ),
    (
        Rule::PreferTimestampTz,
        "`timestamp` holding UTC is a common convention (and the only one a schema shared with \
         MySQL and SQLite can keep); the column locks and rewrites nothing",
    ),
    (
        Rule::BanCharField,
        "`char(n)` is a choice of type (fixed-length codes, UUIDs kept as text); squawk's own \
         page calls it likely a mistake, not a hazard",
    ),
    (
        Rule::PreferRobustStmts,
        "asks for `IF [NOT] EXISTS` so that a half-applied file can run again; a file run in a \
         transaction (sqlx's default) is never half-applied, and a runner that records applied \
         versions does not run one twice",
    ),
];

/// Why `rule` is off unless the project opts in, when it is one of [`POLICY`].
pub fn policy_reason(rule: Rule) -> Option<&'static str> {
    POLICY.iter().find(|(r, _)| *r == rule).map(|(_, why)| *why)
}

/// The rules that run, as squawk's configuration states them, with DIDHub's policy rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The PostgreSQL version the rules assume (squawk's `pg_version`; 15 unless set).
    pub pg_version: Version,
    /// squawk's opt-in rules, and policy rules, to turn on.
    pub include: Vec<Rule>,
    /// Rules to turn off.
    pub exclude: Vec<Rule>,
    /// Whether every rule of [`POLICY`] runs (`policy = true` in the settings); without it, only
    /// those `include` names.
    pub policy: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            pg_version: Version::from_str("15").expect("a version"),
            include: Vec::new(),
            exclude: Vec::new(),
            policy: false,
        }
    }
}

impl Options {
    /// squawk's linter with the rules that run in an up file: squawk's defaults and the
    /// included ones, less the excluded ones and the policy rules the project did not ask for.
    fn linter(&self) -> Linter {
        let included = |rule: Rule| {
            self.include
                .iter()
                .any(|i| *i == rule || i.expands_to().contains(&rule))
        };
        let mut exclude = self.exclude.clone();
        if !self.policy {
            exclude.extend(POLICY.iter().map(|(r, _)| *r).filter(|r| !included(*r)));
        }
        Linter::with_rules(&self.include, &exclude)
    }

    /// Whether `rule` runs (in an up file; in a down, [`NOT_IN_DOWN`] do not).
    pub fn runs(&self, rule: Rule) -> bool {
        self.linter().rules.contains(&rule)
            || (!rule.expands_to().is_empty() && rule.expands_to().iter().all(|r| self.runs(*r)))
    }
}

/// What a squawk rule found.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub rule: Rule,
    pub line: usize,
    /// squawk's message.
    pub message: String,
    /// squawk's advice, when it gives one.
    pub help: Option<String>,
    /// The start of the statement (or part) it is about, on one line.
    pub excerpt: String,
}

/// The page that documents `rule`.
pub fn doc_url(rule: Rule) -> String {
    format!("https://squawkhq.com/docs/{rule}")
}

/// SQL squawk cannot parse: where, and squawk's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: squawk cannot parse it: {message}")]
pub struct Unparsed {
    pub line: usize,
    pub message: String,
}

/// squawk's findings in one PostgreSQL file. SQL squawk cannot parse is an error: a file the
/// lint did not understand is not a file without findings.
pub fn check(
    sql: &str,
    direction: Direction,
    options: &Options,
) -> Result<Vec<Violation>, Unparsed> {
    let parse = SourceFile::parse(sql);
    if let Some(error) = parse.errors().first() {
        let at = usize::from(error.range().start());
        return Err(Unparsed {
            line: line_of(sql, at),
            message: error.message().to_string(),
        });
    }
    let mut linter = options.linter();
    if !direction.is_up() {
        linter.rules.retain(|r| !NOT_IN_DOWN.contains(r));
    }
    linter.settings = LinterSettings {
        pg_version: options.pg_version,
        assume_in_transaction: !sql.starts_with("-- no-transaction"),
    };
    Ok(linter
        .lint(&parse, sql)
        .into_iter()
        .map(|v| {
            let (start, end) = (usize::from(v.text_range.start()), v.text_range.end());
            Violation {
                rule: v.code,
                line: line_of(sql, start),
                message: v.message,
                help: v.help,
                excerpt: excerpt(&sql[start..usize::from(end)]),
            }
        })
        .collect())
}

/// The 1-based line of byte offset `at`.
fn line_of(sql: &str, at: usize) -> usize {
    sql[..at].matches('\n').count() + 1
}

/// `text` on one line, whitespace collapsed, cut after 80 characters.
fn excerpt(text: &str) -> String {
    one_line(text, 80)
}

/// `text` on one line, whitespace collapsed, cut after `max` characters.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let one_line = words.join(" ");
    match one_line.char_indices().nth(max) {
        Some((at, _)) => format!("{} …", &one_line[..at]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules squawk finds in `sql` as an up file, with their lines, policy rules (but the
    /// timeouts) included.
    fn found(sql: &str) -> Vec<(String, usize)> {
        found_in(sql, Direction::Up)
    }

    fn found_in(sql: &str, direction: Direction) -> Vec<(String, usize)> {
        let options = Options {
            exclude: vec![Rule::RequireTimeoutSettings],
            policy: true,
            ..Options::default()
        };
        found_with(sql, direction, &options)
    }

    fn found_with(sql: &str, direction: Direction, options: &Options) -> Vec<(String, usize)> {
        check(sql, direction, options)
            .unwrap()
            .into_iter()
            .map(|v| (v.rule.to_string(), v.line))
            .collect()
    }

    /// A file that only policy rules find anything in, when they run: a type of each kind they
    /// would change, no timeouts before a statement that locks a table, statements that cannot
    /// run twice.
    const HOUSE_STYLE: &str = "-- no-transaction\n\
        CREATE TABLE notes (\n    id serial PRIMARY KEY,\n    code char(2),\n    \
        title varchar(200),\n    n int,\n    s smallint,\n    at timestamp\n);\n\
        ALTER TABLE users ADD COLUMN bio TEXT;\n";

    #[test]
    fn policy_rules_are_off_until_a_project_opts_in() {
        let off = Options::default();
        assert_eq!(found_with(HOUSE_STYLE, Direction::Up, &off), []);
        let on = Options {
            policy: true,
            ..Options::default()
        };
        let mut found: Vec<String> = found_with(HOUSE_STYLE, Direction::Up, &on)
            .into_iter()
            .map(|(rule, _)| rule)
            .collect();
        found.sort();
        found.dedup();
        let mut policy: Vec<String> = POLICY.iter().map(|(r, _)| r.to_string()).collect();
        policy.sort();
        assert_eq!(found, policy, "each policy rule finds its part of the file");
        // Naming one in `include` turns that one on.
        let one = Options {
            include: vec![Rule::PreferTextField],
            ..Options::default()
        };
        assert_eq!(
            found_with(HOUSE_STYLE, Direction::Up, &one),
            [rule("prefer-text-field", 5)]
        );
        // An exclusion wins over `policy = true`, as over squawk's defaults.
        let but_one = Options {
            policy: true,
            exclude: vec![Rule::PreferTextField],
            ..Options::default()
        };
        assert!(
            !found_with(HOUSE_STYLE, Direction::Up, &but_one)
                .iter()
                .any(|(r, _)| r == "prefer-text-field")
        );
    }

    #[test]
    fn hazards_stay_on_by_default() {
        let sql = "ALTER TABLE users ADD COLUMN locale TEXT NOT NULL;\n\
                   ALTER TABLE alters ALTER COLUMN name TYPE TEXT;\n\
                   CREATE INDEX idx_users_email ON users (email);\n\
                   ALTER TABLE users RENAME COLUMN a TO b;\n\
                   ALTER TABLE users DROP COLUMN c;\nDROP TABLE notes;\n";
        assert_eq!(
            found_with(sql, Direction::Up, &Options::default()),
            [
                rule("adding-required-field", 1),
                rule("changing-column-type", 2),
                rule("require-concurrent-index-creation", 3),
                rule("renaming-column", 4),
                rule("ban-drop-column", 5),
                rule("ban-drop-table", 6)
            ]
        );
    }

    #[test]
    fn policy_rules_are_among_squawks_defaults_and_each_says_why() {
        for (rule, why) in POLICY {
            assert!(!rule.is_opt_in(), "{rule} is already opt-in in squawk");
            assert!(rule.expands_to().is_empty(), "{rule} is an alias");
            assert!(!Options::default().runs(rule), "{rule} runs by default");
            let opted_in = Options {
                policy: true,
                ..Options::default()
            };
            assert!(
                opted_in.runs(rule),
                "{rule} does not run with policy = true"
            );
            assert!(!why.is_empty(), "{rule}");
        }
    }

    fn rule(name: &str, line: usize) -> (String, usize) {
        (name.to_owned(), line)
    }

    #[test]
    fn a_varchar_column_is_prefer_text_field() {
        let sql = "-- a comment\nALTER TABLE users ADD COLUMN locale VARCHAR(20);\n";
        assert_eq!(found(sql), [rule("prefer-text-field", 2)]);
    }

    #[test]
    fn an_index_is_dropped_and_built_concurrently_on_an_existing_table() {
        let sql = "DROP INDEX idx_users_email;\nCREATE INDEX idx_users_email ON users (email);\n";
        assert_eq!(
            found(sql),
            [
                rule("require-concurrent-index-deletion", 1),
                rule("require-concurrent-index-creation", 2)
            ]
        );
    }

    #[test]
    fn an_index_on_a_table_created_in_the_same_migration_passes() {
        let sql = "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT);\n\
                   CREATE INDEX idx_notes_body ON notes (body);\n";
        assert_eq!(found(sql), []);
    }

    #[test]
    fn a_foreign_key_on_an_existing_table_needs_not_valid() {
        let sql = "ALTER TABLE alters ADD CONSTRAINT fk_alters_owner \
                   FOREIGN KEY (owner_id) REFERENCES users (id);\n";
        assert_eq!(
            found(sql),
            [
                rule("constraint-missing-not-valid", 1),
                rule("adding-foreign-key-constraint", 1)
            ]
        );
        let not_valid = "ALTER TABLE alters ADD CONSTRAINT fk_alters_owner \
                         FOREIGN KEY (owner_id) REFERENCES users (id) NOT VALID;\n";
        assert_eq!(found(not_valid), []);
    }

    #[test]
    fn a_not_null_column_without_default_and_a_type_change_are_found() {
        let sql = "ALTER TABLE users ADD COLUMN locale TEXT NOT NULL;\n\
                   ALTER TABLE alters ALTER COLUMN name TYPE TEXT;\n";
        assert_eq!(
            found(sql),
            [
                rule("adding-required-field", 1),
                rule("changing-column-type", 2)
            ]
        );
    }

    #[test]
    fn a_concurrent_index_needs_a_file_without_transaction() {
        let sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email ON users (email);\n\
                   CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_name ON users (name);\n";
        assert_eq!(
            found(sql),
            [
                rule("ban-concurrent-index-creation-in-transaction", 1),
                rule("ban-concurrent-index-creation-in-transaction", 2)
            ]
        );
        assert_eq!(found(&format!("-- no-transaction\n{sql}")), []);
        // Outside a transaction, a failed concurrent build leaves an invalid index behind: the
        // statement must be safe to run again.
        let not_robust = "-- no-transaction\nCREATE INDEX CONCURRENTLY idx_a ON users (a);\n";
        assert_eq!(found(not_robust), [rule("prefer-robust-stmts", 2)]);
    }

    #[test]
    fn drops_are_what_a_down_is_for() {
        let sql = "DROP TABLE notes;\nALTER TABLE users DROP COLUMN locale;\nDROP INDEX idx_a;\n";
        assert_eq!(
            found(sql),
            [
                rule("ban-drop-table", 1),
                rule("ban-drop-column", 2),
                rule("require-concurrent-index-deletion", 3)
            ]
        );
        // The index still locks the table when a down drops it.
        assert_eq!(
            found_in(sql, Direction::Down),
            [rule("require-concurrent-index-deletion", 3)]
        );
    }

    #[test]
    fn timeouts_are_required_once_a_project_opts_in() {
        let sql = "ALTER TABLE users ADD COLUMN bio TEXT;\n";
        assert_eq!(found_with(sql, Direction::Up, &Options::default()), []);
        let timeouts = [
            rule("require-lock-timeout", 1),
            rule("require-statement-timeout", 1),
        ];
        let policy = Options {
            policy: true,
            ..Options::default()
        };
        assert_eq!(found_with(sql, Direction::Up, &policy), timeouts);
        // squawk's alias names both.
        let alias = Options {
            include: vec![Rule::RequireTimeoutSettings],
            ..Options::default()
        };
        assert_eq!(found_with(sql, Direction::Up, &alias), timeouts);
        assert!(alias.runs(Rule::RequireTimeoutSettings));
        let set = "SET lock_timeout = '5s';\nSET statement_timeout = '60s';\n";
        assert_eq!(
            found_with(&format!("{set}{sql}"), Direction::Up, &policy),
            []
        );
    }

    #[test]
    fn sql_squawk_cannot_parse_is_an_error_naming_the_line() {
        let error = check(
            "SELECT 1;\nCREATE TABEL x (a INT);\n",
            Direction::Up,
            &Options::default(),
        )
        .unwrap_err();
        assert_eq!(error.line, 2, "{error}");
        assert!(
            error
                .to_string()
                .starts_with("line 2: squawk cannot parse it"),
            "{error}"
        );
    }

    #[test]
    fn a_long_statement_is_excerpted_on_one_line() {
        let long = format!("CREATE INDEX i ON users\n  ({})", "a, ".repeat(40));
        let text = excerpt(&long);
        assert!(text.starts_with("CREATE INDEX i ON users (a, a,"), "{text}");
        assert!(text.ends_with(" …") && !text.contains('\n'), "{text}");
    }
}
