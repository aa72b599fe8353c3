//! DIDHub's own lint rules: what squawk (PostgreSQL's linter, [`super::squawk`]) does not
//! cover — MySQL's and SQLite's dialects, atomicity, and lost data outside PostgreSQL.
//!
//! Every rule is one entry of [`RULES`]: an id, the dialects it applies to, a reason and a
//! check over one statement of a file (split by [`crate::sql`], so comments and strings never
//! match). Down migrations undo their up, so dropping tables and columns is what they are for:
//! the data-loss rule ([`Rule::in_down`] false) looks at up migrations only, and at up-only
//! (`NNNN_name.sql`) ones, which run forward like an up. The atomicity and dialect rules look at
//! both directions: a down that re-creates a table meets MySQL's limits like an up.

use std::cell::OnceCell;
use std::collections::BTreeSet;
use std::fmt;

use super::sqlite::{self, Unasked};
use super::squawk::one_line;
use crate::migration_file::Direction;
use crate::sql::{Statement, Token};
use didhub_migrations::Backend;

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

/// Every rule. The table in docs/migrations.md lists the same.
pub static RULES: &[Rule] = &[
    Rule {
        id: "ALL001",
        dialects: &[Backend::Sqlite, Backend::MySql],
        in_down: false,
        title: "drops a table or a column",
        reason: "DROP TABLE and DROP COLUMN throw data away for good, and no down migration can \
                 bring it back. Keep what must survive (copy it to a new table or column first, \
                 in the same file: a table rebuilt by copying its rows is no loss), and say that \
                 the loss is intended.",
        check: drops_data,
    },
    Rule {
        id: "MY001",
        dialects: &[Backend::MySql],
        in_down: true,
        title: "DDL and data changes in one file",
        reason: "MySQL commits every DDL statement on its own, so a file that mixes DDL with \
                 INSERT/UPDATE/DELETE is not atomic: when the data change fails, the DDL before \
                 it stays and the migration is left dirty. Put the data change in a migration of \
                 its own, or make it one statement that valid data cannot make fail.",
        check: mysql_ddl_and_data,
    },
    Rule {
        id: "MY002",
        dialects: &[Backend::MySql],
        in_down: true,
        title: "inline REFERENCES on a column",
        reason: "MySQL 8 parses a column's inline `REFERENCES t (c) [ON DELETE …]` and ignores it: \
                 no foreign key is created, and nothing says so (MariaDB 10.5+ does create one, \
                 so the two servers end up with different schemas). Declare the key at table \
                 level, `CONSTRAINT fk_… FOREIGN KEY (col) REFERENCES t (c) ON DELETE …`, with \
                 an index on the column.",
        check: mysql_inline_references,
    },
    Rule {
        id: "MY003",
        dialects: &[Backend::MySql],
        in_down: true,
        title: "a reserved word as an unquoted name",
        reason: "A word reserved in MySQL 8.0 or MariaDB (`key`, `order`, `group`, `rank`, \
                 `range`, `system`, `offset`, …) is a syntax error as an unquoted table, column, \
                 index or constraint name on the server that reserves it, and every query that \
                 names it must back-quote it. Servers reserve new words (MySQL 8.0 reserved \
                 `rank`, `system` and `lead`; MariaDB 10.6 `offset`), so a file that runs on one \
                 fails on another. Choose another name, or back-quote it here and in every query.",
        check: mysql_reserved_name,
    },
    Rule {
        id: "MY004",
        dialects: &[Backend::MySql],
        in_down: true,
        title: "CHECK on a column a foreign key's action changes",
        reason: "MySQL refuses a CHECK constraint on a column that a foreign key of the same \
                 table changes by its ON DELETE / ON UPDATE action, CASCADE, SET NULL or SET \
                 DEFAULT (error 3823), and MariaDB one on a SET NULL column (error 1901): the \
                 migration fails there. Make the foreign key's action RESTRICT or NO ACTION, or \
                 leave the CHECK out on MySQL (enforce it in the server, and record the \
                 difference in the parity allow-list, as DIDHub's 0012 does).",
        check: mysql_check_on_fk_action_column,
    },
    Rule {
        id: "MY005",
        dialects: &[Backend::MySql],
        in_down: true,
        title: "an expression (functional) index",
        reason: "MySQL has expression key parts (`INDEX ((lower(x)))`) since 8.0.13; MariaDB has \
                 none, and the statement fails there. Index a generated column instead \
                 (`x_lower VARCHAR(…) AS (lower(x)) VIRTUAL`, then `INDEX (x_lower)`), which both \
                 have, or, for a case-insensitive match, a plain index under a `_ci` collation.",
        check: mysql_expression_index,
    },
    Rule {
        id: "MY006",
        dialects: &[Backend::MySql],
        in_down: true,
        title: "a TIMESTAMP column",
        reason: "MySQL's and MariaDB's TIMESTAMP holds 1970-01-01 to 2038-01-19 UTC only: a date \
                 before 1970 (a birthday) is refused, none after January 2038 fits, and values \
                 are converted through the session's time zone. Use DATETIME(6) holding UTC, as \
                 DIDHub's other timestamps do.",
        check: mysql_timestamp_column,
    },
    Rule {
        id: "SQ001",
        dialects: &[Backend::Sqlite],
        in_down: true,
        title: "an ALTER TABLE form SQLite does not have",
        reason: "SQLite's ALTER TABLE only renames a table or a column, adds a column (not \
                 PRIMARY KEY or UNIQUE, not NOT NULL without a default, with a constant default) \
                 and drops a column, one change per statement; anything else fails (SQLite \
                 itself was asked: its words are above). Rebuild the table instead: create the \
                 new one, copy the rows, drop the old one, rename the new one \
                 (https://www.sqlite.org/lang_altertable.html#otheralter).",
        check: sqlite_unsupported_alter,
    },
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

    /// The statement as an `ALTER TABLE` of a table that existed before this file (one the file
    /// created holds no rows yet, so changing it locks or rewrites nothing).
    fn altered_existing_table(&self) -> Option<AlterTable<'_>> {
        alter_table(self.statement()).filter(|alter| !self.created_here(&alter.table))
    }

    /// Whether an earlier statement of the same file creates `table` (so it holds no rows yet).
    fn created_here(&self, table: &str) -> bool {
        self.statements[..self.index]
            .iter()
            .any(|s| created_table(s).is_some_and(|(name, _)| name == table))
    }

    /// What SQLite says of this statement when it is an ALTER TABLE: its message when it does
    /// not have the form. Every ALTER TABLE of the file is asked at once, the first time.
    fn sqlite_refusal(&self) -> Result<Option<&str>, &Unasked> {
        let answers = self.sqlite.get_or_init(|| {
            let alters: Vec<(usize, String)> = (self.statements.iter().enumerate())
                .filter_map(|(i, s)| alter_table(s).map(|alter| (i, alter.table)))
                .collect();
            let asked: Vec<sqlite::Alter<'_>> = alters
                .iter()
                .map(|(i, table)| sqlite::Alter {
                    table,
                    sql: &self.statements[*i].text,
                })
                .collect();
            let mut all = vec![None; self.statements.len()];
            for ((i, _), answer) in alters.iter().zip(sqlite::refusals(&asked)?) {
                all[*i] = answer;
            }
            Ok(all)
        });
        match answers {
            Ok(all) => Ok(all[self.index].as_deref()),
            Err(unasked) => Err(unasked),
        }
    }

    /// Whether the rows `table` holds before this statement were copied by an earlier one into
    /// a table that keeps them: the rebuild (`INSERT INTO new … SELECT … FROM old`, then `DROP
    /// TABLE old`), and its variant that renames the old table away first.
    fn rows_copied(&self, table: &str) -> bool {
        self.copies_between(0, self.index, |query| reads(query, table))
    }

    /// Whether `column` of `table` was copied before this statement into a table that keeps
    /// it: by an `INSERT … SELECT` (or `CREATE TABLE … AS SELECT`) reading `table` that names
    /// the column (or `*`), or by an `UPDATE` that reads it into another column.
    fn column_copied(&self, table: &str, column: &str) -> bool {
        let by_query = self.copies_between(0, self.index, |query| {
            reads(query, table) && names_column(query, column, false)
        });
        by_query
            || self.statements[..self.index]
                .iter()
                .enumerate()
                .any(|(i, statement)| {
                    updated(statement).is_some_and(|target| {
                        (same_table(&target, table) || reads(&statement.tokens, table))
                            && names_column(&statement.tokens, column, true)
                            && self.kept(&target, i)
                    })
                })
    }

    /// Whether a statement between `from` and `to` (exclusive) copies rows whose query passes
    /// `copied` into another table that keeps them to the end of the file.
    fn copies_between(&self, from: usize, to: usize, copied: impl Fn(&[Token]) -> bool) -> bool {
        (from..to).any(|i| {
            copy(&self.statements[i]).is_some_and(|(target, query)| {
                copied(query) && !reads(query, &target) && self.kept(&target, i)
            })
        })
    }

    /// Whether the rows `table` holds after statement `at` are still somewhere when the file
    /// ends: no later statement drops it, or its rows are copied on before one does.
    fn kept(&self, table: &str, at: usize) -> bool {
        let drop = (at + 1..self.statements.len()).find(|&i| {
            dropped_tables(&self.statements[i])
                .iter()
                .any(|d| same_table(d, table))
        });
        drop.is_none_or(|drop| self.copies_between(at + 1, drop, |query| reads(query, table)))
    }
}

/// Whether two table names name the same table: SQLite compares names without regard to
/// case, and so does a MySQL server that lower-cases its table names.
fn same_table(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A statement that copies rows: `INSERT [OR …|IGNORE] INTO target … SELECT …`, `REPLACE INTO
/// target … SELECT …` or `CREATE TABLE target AS SELECT …`; the target and the query, from its
/// `SELECT`.
fn copy(statement: &Statement) -> Option<(String, &[Token])> {
    let tokens = &statement.tokens;
    let select = tokens.iter().position(|t| t.is("SELECT"))?;
    let target = if statement.starts_with(&["INSERT"]) || statement.starts_with(&["REPLACE"]) {
        let into = tokens[..select].iter().position(|t| t.is("INTO"))?;
        name_at(tokens, into + 1)?.0
    } else {
        created_table(statement)?.0
    };
    Some((target, &tokens[select..]))
}

/// The table an `UPDATE [OR …] table …` changes.
fn updated(statement: &Statement) -> Option<String> {
    if !statement.starts_with(&["UPDATE"]) {
        return None;
    }
    let tokens = &statement.tokens;
    let at = skip_words(tokens, 1, &["LOW_PRIORITY", "IGNORE", "ONLY"]);
    let at = if tokens.get(at).is_some_and(|t| t.is("OR")) {
        at + 2
    } else {
        at
    };
    Some(name_at(tokens, at)?.0)
}

/// Whether `tokens` read `table`: name it after a `FROM` or a `JOIN` (a subquery's too).
fn reads(tokens: &[Token], table: &str) -> bool {
    (0..tokens.len()).any(|i| {
        (tokens[i].is("FROM") || tokens[i].is("JOIN"))
            && name_at(tokens, i + 1).is_some_and(|(name, _)| same_table(&name, table))
    })
}

/// Whether `tokens` name `column` (or select `*`), other than as what an UPDATE's `SET column =`
/// assigns when `update`.
fn names_column(tokens: &[Token], column: &str, update: bool) -> bool {
    (0..tokens.len()).any(|i| {
        let before = i.checked_sub(1).map(|b| &tokens[b]);
        if tokens[i] == Token::Symbol('*') {
            return !update
                && before.is_some_and(|b| {
                    b.is("SELECT") || matches!(b, Token::Symbol(',') | Token::Symbol('.'))
                });
        }
        let assigned = update
            && tokens.get(i + 1) == Some(&Token::Symbol('='))
            && before.is_some_and(|b| b.is("SET") || *b == Token::Symbol(','));
        !assigned
            && tokens[i]
                .ident()
                .is_some_and(|name| name.eq_ignore_ascii_case(column))
    })
}

/// The tables a `DROP [TEMPORARY] TABLE [IF EXISTS] a, b` drops.
fn dropped_tables(statement: &Statement) -> Vec<String> {
    let tokens = &statement.tokens;
    if !statement.starts_with(&["DROP"]) {
        return Vec::new();
    }
    let Some(at) = tokens.iter().position(|t| t.is("TABLE")) else {
        return Vec::new();
    };
    if !tokens[1..at].iter().all(|t| t.is("TEMPORARY")) {
        return Vec::new();
    }
    let at = skip_words(tokens, at + 1, &["IF", "EXISTS"]);
    split_commas(&tokens[at..])
        .into_iter()
        .filter_map(|part| name_at(part, 0))
        .map(|(name, _)| name)
        .collect()
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

fn drops_data(cx: &Context<'_>) -> Vec<Hit> {
    if cx.statement().starts_with(&["DROP"]) {
        return dropped_tables(cx.statement())
            .into_iter()
            .filter(|name| !cx.created_here(name) && !cx.rows_copied(name))
            .map(|name| cx.hit(format!("DROP TABLE {name}")))
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
            (!cx.column_copied(&alter.table, &column)).then_some(())?;
            Some(cx.hit(format!("ALTER TABLE {} DROP COLUMN {column}", alter.table)))
        })
        .collect()
}

const DDL: [&str; 5] = ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"];
const DATA: [&str; 4] = ["INSERT", "UPDATE", "DELETE", "REPLACE"];

fn mysql_ddl_and_data(cx: &Context<'_>) -> Vec<Hit> {
    let verb = cx.statement().verb();
    if !DATA.contains(&verb.as_str()) {
        return Vec::new();
    }
    cx.statements
        .iter()
        .find(|s| DDL.contains(&s.verb().as_str()))
        .map(|ddl| {
            vec![cx.hit(format!(
                "{verb} in a file that also runs DDL ({} at line {})",
                ddl.verb(),
                ddl.line
            ))]
        })
        .unwrap_or_default()
}

fn mysql_inline_references(cx: &Context<'_>) -> Vec<Hit> {
    let Some(definition) = table_definition(cx.statement()) else {
        return Vec::new();
    };
    definition
        .columns
        .iter()
        .filter_map(|column| {
            let at = says(column.definition, "REFERENCES")?;
            let target = name_at(column.definition, at + 1).map_or_else(String::new, |(t, _)| t);
            Some(cx.hit_at(
                &column.definition[at],
                format!(
                    "column {}.{} REFERENCES {target} inline: MySQL 8 creates no foreign key",
                    definition.table,
                    column.name()
                ),
            ))
        })
        .collect()
}

/// Words reserved in MySQL 8.0 (marked (R) in its "Keywords and Reserved Words" list), then
/// those MariaDB reserves besides (its "Reserved Words" list).
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "ACCESSIBLE", "ADD", "ALL", "ALTER", "ANALYZE", "AND", "AS", "ASC", "ASENSITIVE", "BEFORE",
    "BETWEEN", "BIGINT", "BINARY", "BLOB", "BOTH", "BY", "CALL", "CASCADE", "CASE", "CHANGE",
    "CHAR", "CHARACTER", "CHECK", "COLLATE", "COLUMN", "CONDITION", "CONSTRAINT", "CONTINUE",
    "CONVERT", "CREATE", "CROSS", "CUBE", "CUME_DIST", "CURRENT_DATE", "CURRENT_TIME",
    "CURRENT_TIMESTAMP", "CURRENT_USER", "CURSOR", "DATABASE", "DATABASES", "DAY_HOUR",
    "DAY_MICROSECOND", "DAY_MINUTE", "DAY_SECOND", "DEC", "DECIMAL", "DECLARE", "DEFAULT",
    "DELAYED", "DELETE", "DENSE_RANK", "DESC", "DESCRIBE", "DETERMINISTIC", "DISTINCT",
    "DISTINCTROW", "DIV", "DOUBLE", "DROP", "DUAL", "EACH", "ELSE", "ELSEIF", "EMPTY", "ENCLOSED",
    "ESCAPED", "EXCEPT", "EXISTS", "EXIT", "EXPLAIN", "FALSE", "FETCH", "FIRST_VALUE", "FLOAT",
    "FLOAT4", "FLOAT8", "FOR", "FORCE", "FOREIGN", "FROM", "FULLTEXT", "FUNCTION", "GENERATED",
    "GET", "GRANT", "GROUP", "GROUPING", "GROUPS", "HAVING", "HIGH_PRIORITY", "HOUR_MICROSECOND",
    "HOUR_MINUTE", "HOUR_SECOND", "IF", "IGNORE", "IN", "INDEX", "INFILE", "INNER", "INOUT",
    "INSENSITIVE", "INSERT", "INT", "INT1", "INT2", "INT3", "INT4", "INT8", "INTEGER", "INTERSECT",
    "INTERVAL", "INTO", "IO_AFTER_GTIDS", "IO_BEFORE_GTIDS", "IS", "ITERATE", "JOIN", "JSON_TABLE",
    "KEY", "KEYS", "KILL", "LAG", "LAST_VALUE", "LATERAL", "LEAD", "LEADING", "LEAVE", "LEFT",
    "LIKE", "LIMIT", "LINEAR", "LINES", "LOAD", "LOCALTIME", "LOCALTIMESTAMP", "LOCK", "LONG",
    "LONGBLOB", "LONGTEXT", "LOOP", "LOW_PRIORITY", "MASTER_BIND", "MASTER_SSL_VERIFY_SERVER_CERT",
    "MATCH", "MAXVALUE", "MEDIUMBLOB", "MEDIUMINT", "MEDIUMTEXT", "MIDDLEINT", "MINUTE_MICROSECOND",
    "MINUTE_SECOND", "MOD", "MODIFIES", "NATURAL", "NOT", "NO_WRITE_TO_BINLOG", "NTH_VALUE",
    "NTILE", "NULL", "NUMERIC", "OF", "ON", "OPTIMIZE", "OPTIMIZER_COSTS", "OPTION", "OPTIONALLY",
    "OR", "ORDER", "OUT", "OUTER", "OUTFILE", "OVER", "PARTITION", "PERCENT_RANK", "PRECISION",
    "PRIMARY", "PROCEDURE", "PURGE", "RANGE", "RANK", "READ", "READS", "READ_WRITE", "REAL",
    "RECURSIVE", "REFERENCES", "REGEXP", "RELEASE", "RENAME", "REPEAT", "REPLACE", "REQUIRE",
    "RESIGNAL", "RESTRICT", "RETURN", "REVOKE", "RIGHT", "RLIKE", "ROW", "ROWS", "ROW_NUMBER",
    "SCHEMA", "SCHEMAS", "SECOND_MICROSECOND", "SELECT", "SENSITIVE", "SEPARATOR", "SET", "SHOW",
    "SIGNAL", "SMALLINT", "SPATIAL", "SPECIFIC", "SQL", "SQLEXCEPTION", "SQLSTATE", "SQLWARNING",
    "SQL_BIG_RESULT", "SQL_CALC_FOUND_ROWS", "SQL_SMALL_RESULT", "SSL", "STARTING", "STORED",
    "STRAIGHT_JOIN", "SYSTEM", "TABLE", "TERMINATED", "THEN", "TINYBLOB", "TINYINT", "TINYTEXT",
    "TO", "TRAILING", "TRIGGER", "TRUE", "UNDO", "UNION", "UNIQUE", "UNLOCK", "UNSIGNED", "UPDATE",
    "USAGE", "USE", "USING", "UTC_DATE", "UTC_TIME", "UTC_TIMESTAMP", "VALUES", "VARBINARY",
    "VARCHAR", "VARCHARACTER", "VARYING", "VIRTUAL", "WHEN", "WHERE", "WHILE", "WINDOW", "WITH",
    "WRITE", "XOR", "YEAR_MONTH", "ZEROFILL",
    // MariaDB's besides.
    "CURRENT_ROLE", "DELETE_DOMAIN_ID", "DO_DOMAIN_IDS", "GENERAL", "IGNORE_DOMAIN_IDS",
    "IGNORE_SERVER_IDS", "MASTER_HEARTBEAT_PERIOD", "OFFSET", "PAGE_CHECKSUM", "PARSE_VCOL_EXPR",
    "POSITION", "REF_SYSTEM_ID", "RETURNING", "SLOW", "STATS_AUTO_RECALC", "STATS_PERSISTENT",
    "STATS_SAMPLE_PAGES",
];

/// Whether `token` is an unquoted reserved word.
fn reserved(token: &Token) -> bool {
    matches!(token, Token::Word(w) if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)))
}

fn mysql_reserved_name(cx: &Context<'_>) -> Vec<Hit> {
    let statement = cx.statement();
    let tokens = &statement.tokens;
    // Each name: its token, what it names, and the table it belongs to.
    let mut names: Vec<(&Token, &str, String)> = Vec::new();
    if let Some((table, after)) = created_table(statement) {
        // `schema.name` needs no quotes: after a `.` only a name can follow.
        if tokens[after - 2] != Token::Symbol('.') {
            names.push((&tokens[after - 1], "table", table));
        }
    }
    if let Some(definition) = table_definition(statement) {
        for column in &definition.columns {
            names.push((column.name, "column", definition.table.clone()));
        }
        for element in &definition.elements {
            if let (Some(name), _) = constraint_name(element) {
                names.push((name, "constraint", definition.table.clone()));
            }
        }
    }
    for index in indexes(statement) {
        names.extend(index.name.map(|name| (name, "index", index.table)));
    }
    names
        .into_iter()
        .filter(|(name, _, _)| reserved(name))
        .map(|(name, what, table)| {
            let word = name.ident().unwrap_or_default();
            let named = match what {
                "table" => format!("table {word}"),
                "column" => format!("column {table}.{word}"),
                _ => format!("{what} {word} on {table}"),
            };
            cx.hit_at(
                name,
                format!(
                    "{named}: {} is reserved in MySQL 8.0 or MariaDB, and not quoted",
                    word.to_uppercase()
                ),
            )
        })
        .collect()
}

/// A foreign key of a table definition: its name, its columns (lower-cased, as MySQL compares
/// them), and the actions that change them (`ON DELETE CASCADE`, `ON UPDATE SET NULL`, …;
/// RESTRICT and NO ACTION change nothing).
struct ForeignKey {
    name: Option<String>,
    columns: Vec<String>,
    actions: Vec<String>,
}

fn foreign_key(element: &[Token]) -> Option<ForeignKey> {
    let (name, rest) = constraint_name(element);
    if !rest.first()?.is("FOREIGN") {
        return None;
    }
    let open = rest.iter().position(|t| *t == Token::Symbol('('))?;
    let columns = split_commas(parenthesized(&rest[open..])?)
        .into_iter()
        .filter_map(|part| Some(part.first()?.ident()?.to_lowercase()))
        .collect();
    let word = |i: usize| rest.get(i).filter(|t| matches!(t, Token::Word(_)));
    let actions = (open..rest.len())
        .filter(|&i| rest[i].is("ON"))
        .filter_map(|i| {
            let event = word(i + 1).filter(|t| t.is("DELETE") || t.is("UPDATE"))?;
            let action = match word(i + 2)? {
                t if t.is("CASCADE") => "CASCADE",
                t if t.is("SET") && word(i + 3)?.is("NULL") => "SET NULL",
                t if t.is("SET") && word(i + 3)?.is("DEFAULT") => "SET DEFAULT",
                _ => return None,
            };
            Some(format!("ON {} {action}", event.ident()?.to_uppercase()))
        })
        .collect();
    Some(ForeignKey {
        name: name.and_then(Token::ident),
        columns,
        actions,
    })
}

fn mysql_check_on_fk_action_column(cx: &Context<'_>) -> Vec<Hit> {
    let Some(definition) = table_definition(cx.statement()) else {
        return Vec::new();
    };
    // Each CHECK: its `CHECK` token and the names its expression uses.
    let checks = definition
        .elements
        .iter()
        .map(|element| constraint_name(element).1)
        .chain(definition.columns.iter().filter_map(|column| {
            says(column.definition, "CHECK").map(|at| &column.definition[at..])
        }))
        .filter(|rest| rest.first().is_some_and(|t| t.is("CHECK")))
        .filter_map(|rest| {
            let names: BTreeSet<String> = parenthesized(&rest[1..])?
                .iter()
                .filter_map(|t| Some(t.ident()?.to_lowercase()))
                .collect();
            Some((&rest[0], names))
        });
    let checks: Vec<_> = checks.collect();
    if checks.is_empty() {
        return Vec::new();
    }
    // The table's foreign keys anywhere in the file: MySQL refuses the pair in either order.
    let keys: Vec<ForeignKey> = cx
        .statements
        .iter()
        .filter_map(table_definition)
        .filter(|other| other.table == definition.table)
        .flat_map(|other| other.elements.into_iter().filter_map(foreign_key))
        .filter(|key| !key.actions.is_empty())
        .collect();
    let mut hits = Vec::new();
    for (check, names) in &checks {
        for key in &keys {
            for column in key.columns.iter().filter(|c| names.contains(*c)) {
                hits.push(cx.hit_at(
                    check,
                    format!(
                        "CHECK on {}.{column}, which foreign key {} changes {}",
                        definition.table,
                        key.name.as_deref().unwrap_or("(unnamed)"),
                        key.actions.join(" ")
                    ),
                ));
            }
        }
    }
    hits
}

fn mysql_expression_index(cx: &Context<'_>) -> Vec<Hit> {
    indexes(cx.statement())
        .iter()
        .flat_map(|index| {
            split_commas(index.key_parts)
                .into_iter()
                .filter(|part| part.first() == Some(&Token::Symbol('(')))
                .map(|part| {
                    let name = index.name.and_then(Token::ident);
                    cx.hit_at(
                        &part[0],
                        format!(
                            "index {} on {} has an expression key part",
                            name.as_deref().unwrap_or("(unnamed)"),
                            index.table
                        ),
                    )
                })
        })
        .collect()
}

fn mysql_timestamp_column(cx: &Context<'_>) -> Vec<Hit> {
    let Some(definition) = table_definition(cx.statement()) else {
        return Vec::new();
    };
    definition
        .columns
        .iter()
        .filter(|column| column.definition.first().is_some_and(|t| t.is("TIMESTAMP")))
        .map(|column| {
            cx.hit_at(
                &column.definition[0],
                format!("column {}.{} is TIMESTAMP", definition.table, column.name()),
            )
        })
        .collect()
}

fn sqlite_unsupported_alter(cx: &Context<'_>) -> Vec<Hit> {
    if alter_table(cx.statement()).is_none() {
        return Vec::new();
    }
    let said = match cx.sqlite_refusal() {
        Ok(None) => return Vec::new(),
        Ok(Some(message)) => format!("SQLite says: {message}"),
        // Not a pass: a statement SQLite was not asked about is not one it takes.
        Err(unasked) => unasked.to_string(),
    };
    let statement = one_line(cx.statement().text.trim_end_matches(';'), 80);
    vec![cx.hit(format!("{statement}: {said}"))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{FileLint, Policy, RuleId, lint_file};

    const NONE: [usize; 0] = [];

    /// The lines where rule `id` fires in `sql` as an up migration.
    fn up(kind: Backend, id: &str, sql: &str) -> Vec<usize> {
        found(
            id,
            lint_file(kind, Direction::Up, "f.up.sql", sql, &Policy::default()),
        )
    }

    fn down(kind: Backend, id: &str, sql: &str) -> Vec<usize> {
        found(
            id,
            lint_file(kind, Direction::Down, "f.down.sql", sql, &Policy::default()),
        )
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
    fn silenced(kind: Backend, id: &str, sql: &str) {
        let with = format!("-- lint: allow {id} intended, see the issue\n{sql}");
        let lint = lint_file(kind, Direction::Up, "f.up.sql", &with, &Policy::default());
        assert!(
            lint.findings.iter().all(|f| f.rule.to_string() != id),
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
        for kind in [Backend::Sqlite, Backend::MySql] {
            assert_eq!(up(kind, "ALL001", sql), [1, 1, 2, 3], "{kind}");
            silenced(kind, "ALL001", sql);
            // Down migrations drop what their up created.
            assert_eq!(down(kind, "ALL001", sql), NONE, "{kind}");
        }
        // A table created and dropped by the same file held nothing.
        let tmp = "CREATE TABLE tmp (a TEXT);\nDROP TABLE tmp;";
        assert_eq!(up(Backend::Sqlite, "ALL001", tmp), NONE);
        // On PostgreSQL, squawk's ban-drop-table and ban-drop-column say it, once.
        assert_eq!(up(Backend::Postgres, "ALL001", sql), NONE);
        assert_eq!(up(Backend::Postgres, "ban-drop-table", sql), [1]);
    }

    #[test]
    fn all001_passes_a_table_rebuilt_by_copying_its_rows() {
        // SQLite's way to change a table: a new one, the rows copied, the old one dropped.
        let rebuilt = "CREATE TABLE posts2 (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n\
                       INSERT INTO posts2 SELECT * FROM posts;\nDROP TABLE posts;\n\
                       ALTER TABLE posts2 RENAME TO posts;\n";
        // The variant that renames the old table away first.
        let renamed = "ALTER TABLE ciphers RENAME TO oldCiphers;\n\
                       CREATE TABLE ciphers (uuid TEXT PRIMARY KEY, name TEXT);\n\
                       INSERT INTO ciphers (uuid, name)\nSELECT uuid, name FROM oldCiphers;\n\
                       DROP TABLE oldciphers;\n";
        // Through a table of the file's own, copied on before it goes.
        let through = "CREATE TABLE tmp AS SELECT * FROM seers;\nDROP TABLE seers;\n\
                       CREATE TABLE seers (id INTEGER PRIMARY KEY);\n\
                       INSERT INTO seers (id) SELECT s.id FROM tmp AS s WHERE s.id NOT NULL;\n\
                       DROP TABLE tmp;\n";
        // A column whose values a new table keeps (vaultwarden's favorites).
        let moved = "CREATE TABLE favorites (user_uuid CHAR(36), cipher_uuid CHAR(36));\n\
                     INSERT INTO favorites (user_uuid, cipher_uuid)\n\
                     SELECT user_uuid, uuid FROM ciphers WHERE favorite = TRUE;\n\
                     ALTER TABLE ciphers DROP COLUMN favorite;\n";
        // A column copied into another column first.
        let copied = "ALTER TABLE users ADD COLUMN display_name TEXT;\n\
                      UPDATE users SET display_name = username;\n\
                      ALTER TABLE users DROP COLUMN username;\n";
        for kind in [Backend::Sqlite, Backend::MySql] {
            for sql in [rebuilt, renamed, through, moved, copied] {
                assert_eq!(up(kind, "ALL001", sql), NONE, "{kind}: {sql}");
            }
        }
    }

    #[test]
    fn all001_flags_a_drop_whose_rows_are_not_copied_elsewhere() {
        let cases = [
            // Copied after the drop: too late.
            "DROP TABLE posts;\nCREATE TABLE posts2 (id INTEGER);\n\
             INSERT INTO posts2 SELECT * FROM posts;\n",
            // Copied into a table the file drops too, without copying it on.
            "CREATE TABLE keep AS SELECT * FROM posts;\nDROP TABLE posts;\nSELECT 1;\n\
             DROP TABLE keep;\n",
            // Rows of another table copied; the dropped one's not.
            "CREATE TABLE posts2 (id INTEGER);\nINSERT INTO posts2 SELECT * FROM drafts;\n\
             DROP TABLE posts;\n",
            // A copy that does not name the dropped column.
            "CREATE TABLE favorites (user_uuid CHAR(36));\n\
             INSERT INTO favorites (user_uuid) SELECT user_uuid FROM ciphers;\n\
             ALTER TABLE ciphers DROP COLUMN favorite;\n",
            // An UPDATE that only assigns the column before dropping it.
            "UPDATE users SET username = NULL;\nALTER TABLE users DROP COLUMN username;\n",
        ];
        for kind in [Backend::Sqlite, Backend::MySql] {
            for sql in cases {
                assert_eq!(up(kind, "ALL001", sql).len(), 1, "{kind}: {sql}");
            }
        }
    }

    #[test]
    fn my001_flags_data_changes_in_a_file_with_ddl() {
        let sql = "-- 'UPDATE' in a comment is no statement\nALTER TABLE users ADD COLUMN x INT;\n\
                   UPDATE users SET x = 1;\nINSERT INTO log VALUES ('DROP TABLE');\n";
        assert_eq!(up(Backend::MySql, "MY001", sql), [3, 4]);
        assert_eq!(down(Backend::MySql, "MY001", sql), [3, 4]);
        silenced(Backend::MySql, "MY001", sql);
        let data_only = "UPDATE users SET x = 1;\nDELETE FROM log;";
        assert_eq!(up(Backend::MySql, "MY001", data_only), NONE);
        assert_eq!(up(Backend::Postgres, "MY001", sql), NONE);
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
        assert_eq!(
            up(Backend::Sqlite, "SQ001", sql),
            (1..=8).collect::<Vec<_>>()
        );
        silenced(Backend::Sqlite, "SQ001", sql);
        let lint = lint_file(
            Backend::Sqlite,
            Direction::Down,
            "s.down.sql",
            sql,
            &Policy::default(),
        );
        let details: Vec<&str> = lint.findings.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(
            details[..2],
            [
                "ALTER TABLE users ALTER COLUMN name SET NOT NULL: SQLite says: near \"ALTER\": \
                 syntax error",
                "ALTER TABLE users ADD CONSTRAINT ck_x CHECK (x > 0): SQLite says: near \
                 \"CONSTRAINT\": syntax error",
            ]
        );
        assert!(
            details[5]
                .ends_with("SQLite says: Cannot add a NOT NULL column with default value NULL"),
            "{details:?}"
        );
    }

    #[test]
    fn sq001_passes_what_sqlite_takes_though_a_keyword_list_would_not() {
        // `key` and `action` are keywords SQLite lets a column be named by; a type of several
        // words is a type; a REFERENCES column with a NULL default may be added.
        let sql = "ALTER TABLE attachments\n    ADD COLUMN\n    key TEXT;\n\
                   ALTER TABLE attachments ADD action TEXT;\n\
                   ALTER TABLE users ADD COLUMN bio VARYING CHARACTER(40);\n\
                   ALTER TABLE users ADD COLUMN org TEXT REFERENCES orgs (id) ON DELETE SET NULL;\n\
                   ALTER TABLE users RENAME TO people;\n";
        assert_eq!(up(Backend::Sqlite, "SQ001", sql), NONE);
        assert_eq!(down(Backend::Sqlite, "SQ001", sql), NONE);
    }

    #[test]
    fn my002_flags_inline_references_that_mysql_ignores() {
        let sql = "CREATE TABLE notes (\n    id CHAR(36) NOT NULL PRIMARY KEY,\n    \
                   user_id CHAR(36) NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n    \
                   body TEXT COMMENT 'REFERENCES users (id)' CHECK (body <> '')\n);\n\
                   ALTER TABLE notes ADD COLUMN alter_id CHAR(36) REFERENCES alters (id);\n";
        assert_eq!(up(Backend::MySql, "MY002", sql), [3, 6]);
        assert_eq!(down(Backend::MySql, "MY002", sql), [3, 6]);
        silenced(Backend::MySql, "MY002", sql);
        assert_eq!(up(Backend::Sqlite, "MY002", sql), NONE);
        let lint = lint_file(
            Backend::MySql,
            Direction::Up,
            "m.up.sql",
            sql,
            &Policy::default(),
        );
        assert_eq!(
            lint.findings[0].detail,
            "column notes.user_id REFERENCES users inline: MySQL 8 creates no foreign key"
        );
    }

    #[test]
    fn my002_passes_table_level_foreign_keys() {
        let sql = "CREATE TABLE notes (\n    user_id CHAR(36) NOT NULL,\n    \
                   CONSTRAINT fk_notes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,\n    \
                   FOREIGN KEY (alter_id) REFERENCES alters (id)\n);\n\
                   ALTER TABLE notes ADD CONSTRAINT fk_x FOREIGN KEY (x) REFERENCES xs (id);\n";
        assert_eq!(up(Backend::MySql, "MY002", sql), NONE);
    }

    #[test]
    fn my003_flags_reserved_words_as_unquoted_names() {
        let sql = "CREATE TABLE `order` (\n    id INT,\n    `key` TEXT,\n    rank INT,\n    \
                   description TEXT,\n    CONSTRAINT condition CHECK (rank > 0),\n    \
                   INDEX range (id)\n);\n\
                   CREATE TABLE system (id INT);\n\
                   CREATE TABLE didhub.interval (id INT);\n\
                   ALTER TABLE alters ADD COLUMN lag INT, MODIFY COLUMN `lead` INT, CHANGE a window INT;\n\
                   CREATE UNIQUE INDEX release ON alters (id);\n";
        assert_eq!(up(Backend::MySql, "MY003", sql), [4, 6, 7, 9, 11, 11, 12]);
        assert_eq!(down(Backend::MySql, "MY003", sql), [4, 6, 7, 9, 11, 11, 12]);
        silenced(Backend::MySql, "MY003", sql);
        assert_eq!(up(Backend::Sqlite, "MY003", sql), NONE);
        let lint = lint_file(
            Backend::MySql,
            Direction::Up,
            "m.up.sql",
            sql,
            &Policy::default(),
        );
        let details: Vec<&str> = lint.findings.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "column order.rank: RANK is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "constraint condition on order: CONDITION is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "index range on order: RANGE is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "table system: SYSTEM is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "column alters.lag: LAG is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "column alters.window: WINDOW is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "index release on alters: RELEASE is reserved in MySQL 8.0 or MariaDB, and not quoted",
            ]
        );
    }

    #[test]
    fn my003_passes_back_quoted_names_and_keywords_used_as_keywords() {
        let sql = "CREATE TABLE `groups` (\n    `key` VARCHAR(64) NOT NULL PRIMARY KEY,\n    \
                   `order` INT NOT NULL DEFAULT 0 CHECK (`order` >= 0),\n    \
                   created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n    \
                   UNIQUE KEY (`order`),\n    CONSTRAINT fk_g FOREIGN KEY (`key`) REFERENCES k (id) ON DELETE SET NULL\n\
                   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\
                   CREATE INDEX idx_groups_order USING BTREE ON `groups` (`order` DESC);\n";
        assert_eq!(up(Backend::MySql, "MY003", sql), NONE);
    }

    #[test]
    fn my004_flags_a_check_on_a_column_a_foreign_key_cascades_or_nulls() {
        let sql = "CREATE TABLE links (\n    alter_id CHAR(36) NOT NULL,\n    \
                   related_id CHAR(36),\n    kind VARCHAR(16) NOT NULL,\n    \
                   CONSTRAINT fk_links_alter FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE CASCADE,\n    \
                   CONSTRAINT fk_links_related FOREIGN KEY (related_id) REFERENCES alters (id) ON UPDATE SET NULL,\n    \
                   CONSTRAINT ck_links_distinct CHECK (alter_id <> related_id),\n    \
                   CONSTRAINT ck_links_kind CHECK (kind IN ('partner', 'parent'))\n);\n\
                   ALTER TABLE links ADD COLUMN note TEXT CHECK (`ALTER_ID` IS NOT NULL);\n";
        assert_eq!(up(Backend::MySql, "MY004", sql), [7, 7, 10]);
        assert_eq!(down(Backend::MySql, "MY004", sql), [7, 7, 10]);
        silenced(Backend::MySql, "MY004", sql);
        assert_eq!(up(Backend::Sqlite, "MY004", sql), NONE);
        let lint = lint_file(
            Backend::MySql,
            Direction::Up,
            "m.up.sql",
            sql,
            &Policy::default(),
        );
        let details: Vec<&str> = lint.findings.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "CHECK on links.alter_id, which foreign key fk_links_alter changes ON DELETE CASCADE",
                "CHECK on links.related_id, which foreign key fk_links_related changes ON UPDATE SET NULL",
                "CHECK on links.alter_id, which foreign key fk_links_alter changes ON DELETE CASCADE",
            ]
        );
    }

    #[test]
    fn my004_passes_a_check_on_a_column_whose_foreign_key_restricts() {
        let sql = "CREATE TABLE links (\n    alter_id CHAR(36) NOT NULL CHECK (alter_id <> ''),\n    \
                   other_id CHAR(36),\n    \
                   FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE RESTRICT ON UPDATE NO ACTION,\n    \
                   CONSTRAINT fk_other FOREIGN KEY (other_id) REFERENCES others (id) ON DELETE CASCADE,\n    \
                   CHECK (alter_id <> 'x')\n);\n";
        assert_eq!(up(Backend::MySql, "MY004", sql), NONE);
    }

    #[test]
    fn my005_flags_expression_indexes_mariadb_does_not_have() {
        let sql = "CREATE TABLE alters (\n    name VARCHAR(200),\n    \
                   INDEX idx_alters_lower_name ((lower(name)))\n);\n\
                   CREATE INDEX idx_alters_x ON alters (system_id, (json_value(x, '$.a')));\n\
                   ALTER TABLE alters ADD UNIQUE KEY uq_alters_name ((upper(name)));\n";
        assert_eq!(up(Backend::MySql, "MY005", sql), [3, 5, 6]);
        assert_eq!(down(Backend::MySql, "MY005", sql), [3, 5, 6]);
        silenced(Backend::MySql, "MY005", sql);
        assert_eq!(up(Backend::Sqlite, "MY005", sql), NONE);
        let lint = lint_file(
            Backend::MySql,
            Direction::Up,
            "m.up.sql",
            sql,
            &Policy::default(),
        );
        assert_eq!(
            lint.findings[1].detail,
            "index idx_alters_x on alters has an expression key part"
        );
    }

    #[test]
    fn my005_passes_indexes_on_plain_and_prefixed_columns() {
        let sql = "CREATE TABLE alters (\n    name VARCHAR(200),\n    \
                   INDEX idx_alters_name (name(50), system_id),\n    \
                   CHECK ((length(name)) > 0)\n);\n\
                   CREATE INDEX idx_alters_system ON alters (system_id DESC);\n";
        assert_eq!(up(Backend::MySql, "MY005", sql), NONE);
    }

    #[test]
    fn my006_flags_timestamp_columns() {
        let sql = "CREATE TABLE people (\n    id INT,\n    born TIMESTAMP NULL,\n    \
                   created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)\n);\n\
                   ALTER TABLE people ADD COLUMN seen TIMESTAMP(6), MODIFY created_at timestamp;\n";
        assert_eq!(up(Backend::MySql, "MY006", sql), [3, 6, 6]);
        assert_eq!(down(Backend::MySql, "MY006", sql), [3, 6, 6]);
        silenced(Backend::MySql, "MY006", sql);
        assert_eq!(up(Backend::Sqlite, "MY006", sql), NONE);
        let lint = lint_file(
            Backend::MySql,
            Direction::Up,
            "m.up.sql",
            sql,
            &Policy::default(),
        );
        assert_eq!(lint.findings[0].detail, "column people.born is TIMESTAMP");
    }

    #[test]
    fn my006_passes_datetime_columns_and_timestamp_defaults() {
        let sql = "CREATE TABLE people (\n    born DATETIME(6) NULL,\n    \
                   created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),\n    \
                   `timestamp` DATETIME(6)\n);\n";
        assert_eq!(up(Backend::MySql, "MY006", sql), NONE);
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
