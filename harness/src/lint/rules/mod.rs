//! DIDHub's own lint rules: what squawk (PostgreSQL's linter, [`super::squawk`]) does not
//! cover — MySQL's and SQLite's dialects, atomicity, and lost data outside PostgreSQL.
//!
//! Every rule is one file of this folder, with its tests: an id, the dialects it applies to, a
//! reason and a check over one statement of a file (split by [`crate::sql`], so comments and
//! strings never match), listed in [`RULES`]. What several rules read of a statement (a table's
//! name, its columns, its indexes) is written once, here. Down migrations undo their up, so dropping tables and columns is what they are for:
//! the data-loss rule ([`Rule::in_down`] false) looks at up migrations only, and at up-only
//! (`NNNN_name.sql`) ones, which run forward like an up. The atomicity and dialect rules look at
//! both directions: a down that re-creates a table meets MySQL's limits like an up.

use std::cell::OnceCell;
use std::fmt;

use super::sqlite::Unasked;
use crate::migration_file::Direction;
use crate::sql::{Statement, Token};
use didhub_migrations::Backend;

mod drops_data;
mod mysql_check_on_fk_action_column;
mod mysql_ddl_and_data;
mod mysql_expression_index;
mod mysql_inline_references;
mod mysql_reserved_name;
mod mysql_timestamp_column;
mod sqlite_unsupported_alter;

/// One lint rule.
pub struct Rule {
    /// `ALL001`, `MY001`, …: what a silencing comment or allow-list entry names.
    pub id: &'static str,
    /// The dialects it applies to.
    pub dialects: &'static [Backend],
    /// Whether it applies to down migrations too.
    pub in_down: bool,
    /// What it flags, in a few words.
    pub title: &'static str,
    /// Why that matters, and what to do instead.
    pub reason: &'static str,
    /// The findings in the statement at `Context::index`.
    check: fn(&Context<'_>) -> Vec<Hit>,
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

impl Eq for Rule {}

/// Every rule, in the order their findings on one line are reported. The table in
/// docs/migrations.md lists the same.
pub static RULES: &[Rule] = &[
    drops_data::RULE,
    mysql_ddl_and_data::RULE,
    mysql_inline_references::RULE,
    mysql_reserved_name::RULE,
    mysql_check_on_fk_action_column::RULE,
    mysql_expression_index::RULE,
    mysql_timestamp_column::RULE,
    sqlite_unsupported_alter::RULE,
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// What a rule found: the line it is on and a short description.
pub struct Hit {
    pub line: usize,
    pub detail: String,
}

/// What the rules for `kind` find in one file's statements, in rule order.
pub fn check(
    kind: Backend,
    direction: Direction,
    statements: &[Statement],
) -> Vec<(&'static Rule, Hit)> {
    let rules = RULES
        .iter()
        .filter(|r| r.dialects.contains(&kind) && (r.in_down || direction.is_up()));
    let mut hits = Vec::new();
    let sqlite = OnceCell::new();
    for rule in rules {
        for index in 0..statements.len() {
            let cx = Context {
                statements,
                index,
                sqlite: &sqlite,
            };
            hits.extend((rule.check)(&cx).into_iter().map(|hit| (rule, hit)));
        }
    }
    hits
}

/// What SQLite says of each statement of a file: its message where it refuses an ALTER
/// TABLE's form, `None` for every other statement.
type SqliteAnswers = Result<Vec<Option<String>>, Unasked>;

/// One statement of a file, with the file's other statements around it.
struct Context<'a> {
    statements: &'a [Statement],
    index: usize,
    /// SQLite's answers for the file, asked once, when a rule first needs them.
    sqlite: &'a OnceCell<SqliteAnswers>,
}

impl Context<'_> {
    fn statement(&self) -> &Statement {
        &self.statements[self.index]
    }

    /// A finding about the whole statement, on its first line.
    fn hit(&self, detail: String) -> Hit {
        Hit {
            line: self.statement().line,
            detail,
        }
    }

    /// A finding about `token`, one of the statement's tokens, on that token's line (so that a
    /// finding about one column of a long CREATE TABLE names the column's line).
    fn hit_at(&self, token: &Token, detail: String) -> Hit {
        let statement = self.statement();
        let line = statement
            .tokens
            .iter()
            .position(|t| std::ptr::eq(t, token))
            .map_or(statement.line, |i| statement.lines[i]);
        Hit { line, detail }
    }
}

/// `CREATE [TEMPORARY …] TABLE [IF NOT EXISTS] name`: the table's name and the position after it.
fn created_table(statement: &Statement) -> Option<(String, usize)> {
    let tokens = &statement.tokens;
    let at = tokens.iter().position(|t| t.is("TABLE"))?;
    let create = statement.starts_with(&["CREATE"])
        && tokens[1..at]
            .iter()
            .all(|t| t.is("TEMP") || t.is("TEMPORARY") || t.is("UNLOGGED") || t.is("GLOBAL"));
    create.then_some(())?;
    name_at(tokens, skip_words(tokens, at + 1, &["IF", "NOT", "EXISTS"]))
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

/// Words after `DROP` / `ADD` in ALTER TABLE, or first in a CREATE TABLE's element, that name
/// something other than a column.
const NOT_A_COLUMN: [&str; 11] = [
    "CONSTRAINT",
    "INDEX",
    "KEY",
    "FOREIGN",
    "PRIMARY",
    "UNIQUE",
    "CHECK",
    "PARTITION",
    "EXCLUDE",
    "FULLTEXT",
    "SPATIAL",
];

fn names_a_column(token: Option<&Token>) -> bool {
    token.is_some_and(|t| !NOT_A_COLUMN.iter().any(|w| t.is(w)))
}

/// A column a statement defines: the token naming it, and the rest of its definition (its
/// type first).
struct Column<'a> {
    name: &'a Token,
    definition: &'a [Token],
}

impl Column<'_> {
    fn name(&self) -> String {
        self.name.ident().unwrap_or_default()
    }
}

/// `name definition…` as a column, unless its first word says it is a constraint or an index.
fn column(part: &[Token]) -> Option<Column<'_>> {
    let (name, definition) = part.split_first()?;
    (names_a_column(Some(name)) && name.ident().is_some()).then_some(Column { name, definition })
}

/// ALTER TABLE's `ADD [COLUMN] [IF NOT EXISTS] name …`.
fn added_column(action: &[Token]) -> Option<Column<'_>> {
    if !action.first()?.is("ADD") {
        return None;
    }
    let at = skip_words(action, 1, &["COLUMN"]);
    if !names_a_column(action.get(at)) {
        return None;
    }
    column(&action[skip_words(action, at, &["IF", "NOT", "EXISTS"])..])
}

/// The tokens inside the parentheses that open at `tokens[0]`, if it is `(` and they close.
fn parenthesized(tokens: &[Token]) -> Option<&[Token]> {
    (tokens.first()? == &Token::Symbol('(')).then_some(())?;
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Symbol('(') => depth += 1,
            Token::Symbol(')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(&tokens[1..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// What a CREATE TABLE or an ALTER TABLE defines in one table.
struct TableDefinition<'a> {
    table: String,
    /// A CREATE TABLE's columns; an ALTER TABLE's added, modified (`MODIFY`) and changed
    /// (`CHANGE old new …`: the new one) columns.
    columns: Vec<Column<'a>>,
    /// Constraints and indexes, from the word that starts them (`CONSTRAINT`, `FOREIGN`,
    /// `INDEX`, …); an ALTER TABLE's without their `ADD`.
    elements: Vec<&'a [Token]>,
}

fn table_definition(statement: &Statement) -> Option<TableDefinition<'_>> {
    if let Some((table, at)) = created_table(statement) {
        let mut definition = TableDefinition {
            table,
            columns: Vec::new(),
            elements: Vec::new(),
        };
        for part in split_commas(parenthesized(&statement.tokens[at..])?) {
            match column(part) {
                Some(column) => definition.columns.push(column),
                None => definition.elements.push(part),
            }
        }
        return Some(definition);
    }
    let alter = alter_table(statement)?;
    let mut definition = TableDefinition {
        table: alter.table,
        columns: Vec::new(),
        elements: Vec::new(),
    };
    for action in alter.actions {
        let Some(verb) = action.first() else {
            continue;
        };
        let at = skip_words(action, 1, &["COLUMN"]);
        if verb.is("ADD") && !names_a_column(action.get(at)) {
            definition.elements.push(&action[1..]);
        } else if let Some(added) = added_column(action) {
            definition.columns.push(added);
        } else if verb.is("MODIFY") || verb.is("CHANGE") {
            let at = skip_words(action, at, &["IF", "EXISTS"]);
            let at = if verb.is("CHANGE") { at + 1 } else { at };
            definition
                .columns
                .extend(column(action.get(at..).unwrap_or_default()));
        }
    }
    Some(definition)
}

/// A constraint's or an index's element without its `CONSTRAINT [name]`: the name, if given,
/// and the rest (from `PRIMARY`, `UNIQUE`, `FOREIGN`, `CHECK`, `INDEX`, …).
fn constraint_name(element: &[Token]) -> (Option<&Token>, &[Token]) {
    if !element.first().is_some_and(|t| t.is("CONSTRAINT")) {
        return (None, element);
    }
    match element.get(1) {
        Some(name)
            if name.ident().is_some()
                && !["PRIMARY", "UNIQUE", "FOREIGN", "CHECK"]
                    .iter()
                    .any(|w| name.is(w)) =>
        {
            (Some(name), &element[2..])
        }
        _ => (None, &element[1..]),
    }
}

/// Words that start an index (or a key that has one) in a table definition.
const INDEX_WORDS: [&str; 7] = [
    "UNIQUE", "FULLTEXT", "SPATIAL", "PRIMARY", "FOREIGN", "INDEX", "KEY",
];

/// An index: its name token, if given, the table, and its key parts (inside the parentheses).
struct Index<'a> {
    name: Option<&'a Token>,
    table: String,
    key_parts: &'a [Token],
}

/// The indexes a statement creates: `CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name ON t (…)`, and
/// a CREATE or ALTER TABLE's `[CONSTRAINT [name]] {PRIMARY KEY|UNIQUE|FOREIGN KEY|INDEX|KEY|…}
/// [name] [USING …] (…)`.
fn indexes(statement: &Statement) -> Vec<Index<'_>> {
    let tokens = &statement.tokens;
    let at = skip_words(tokens, 1, &["UNIQUE", "FULLTEXT", "SPATIAL"]);
    if statement.starts_with(&["CREATE"]) && tokens.get(at).is_some_and(|t| t.is("INDEX")) {
        let Some(on) = tokens.iter().position(|t| t.is("ON")) else {
            return Vec::new();
        };
        let named = skip_words(tokens, at + 1, &["IF", "NOT", "EXISTS"]);
        let name = tokens[..on].get(named).filter(|t| t.ident().is_some());
        return name_at(tokens, on + 1)
            .and_then(|(table, after)| {
                let key_parts = parenthesized(&tokens[after..])?;
                Some(Index {
                    name,
                    table,
                    key_parts,
                })
            })
            .into_iter()
            .collect();
    }
    let Some(definition) = table_definition(statement) else {
        return Vec::new();
    };
    definition
        .elements
        .iter()
        .filter_map(|element| {
            let (_, rest) = constraint_name(element);
            if !rest
                .first()
                .is_some_and(|t| INDEX_WORDS.iter().any(|w| t.is(w)))
            {
                return None;
            }
            let at = skip_words(rest, 0, &INDEX_WORDS);
            let name = rest
                .get(at)
                .filter(|t| t.ident().is_some() && !t.is("USING"));
            let open = rest[at..].iter().position(|t| *t == Token::Symbol('('))?;
            Some(Index {
                name,
                table: definition.table.clone(),
                key_parts: parenthesized(&rest[at + open..])?,
            })
        })
        .collect()
}

/// What every rule's tests do: lint a file as an up or a down, and see where one rule fires.
#[cfg(test)]
mod testing {
    use super::*;
    use crate::lint::{FileLint, Policy, RuleId, lint_file};

    pub(super) const NONE: [usize; 0] = [];

    /// `sql` linted as an up or a down migration.
    fn lint(kind: Backend, direction: Direction, sql: &str) -> FileLint {
        let name = match direction {
            Direction::Up => "f.up.sql",
            Direction::Down => "f.down.sql",
            Direction::Simple => "f.sql",
        };
        lint_file(kind, direction, name, sql, &Policy::default())
    }

    /// The lines where rule `id` fires in `sql` as an up migration.
    pub(super) fn up(kind: Backend, id: &str, sql: &str) -> Vec<usize> {
        found(id, lint(kind, Direction::Up, sql))
    }

    pub(super) fn down(kind: Backend, id: &str, sql: &str) -> Vec<usize> {
        found(id, lint(kind, Direction::Down, sql))
    }

    /// What each finding in `sql` says, in order.
    pub(super) fn details(kind: Backend, direction: Direction, sql: &str) -> Vec<String> {
        lint(kind, direction, sql)
            .findings
            .into_iter()
            .map(|f| f.detail)
            .collect()
    }

    fn found(id: &str, lint: FileLint) -> Vec<usize> {
        assert_eq!(lint.problems, [], "unexpected problems");
        lint.findings
            .iter()
            .filter(|f| f.rule == RuleId::named(id).unwrap())
            .map(|f| f.line)
            .collect()
    }

    /// With an allow comment for `id`, rule `id` no longer fires, and the comment is used.
    pub(super) fn silenced(kind: Backend, id: &str, sql: &str) {
        let with = format!("-- lint: allow {id} intended, see the issue\n{sql}");
        let lint = lint(kind, Direction::Up, &with);
        assert!(
            lint.findings.iter().all(|f| f.rule.to_string() != id),
            "{id} should be silenced"
        );
        assert!(lint.silenced >= 1, "{id}");
        assert_eq!(lint.notes, Vec::<String>::new());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

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
    fn every_rule_is_documented_in_the_migrations_guide() {
        let guide = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/migrations.md"
        ));
        let undocumented: Vec<&str> = RULES
            .iter()
            .map(|r| r.id)
            .filter(|id| !guide.contains(&format!("| `{id}` |")))
            .collect();
        assert_eq!(
            undocumented,
            Vec::<&str>::new(),
            "rules missing from the Lint table"
        );
    }
}
