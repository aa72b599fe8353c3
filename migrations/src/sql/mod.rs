//! The one SQL reader of the workspace: a migration file split into statements and comments,
//! each statement's tokens (with their lines) for the lint rules, and its syntax tree where
//! sqlparser reads it.
//!
//! The tokens are sqlparser's, in the backend's dialect: comments (`--`, `/* */`, and `#` on
//! MySQL), quoted strings (backslash escapes on MySQL), quoted identifiers (`"x"`; `` `x` `` on
//! MySQL and SQLite, where MySQL's `"x"` is a string) and PostgreSQL's dollar quoting. The
//! splitting is this module's: a `;` ends a statement except inside the `BEGIN … END` body of a
//! trigger, routine or event, which sqlparser's own splitting does not keep together (it
//! parses the body's statements as the file's). [`Statement::parse`] gives the statement's
//! tree; what sqlparser cannot parse (see the tests of [`locks`] and `harness::expression`)
//! is read from the tokens instead.

mod locks;

use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token as Lexed, TokenWithSpan, Tokenizer, Whitespace};

use crate::Backend;

pub use locks::{LockTarget, lock_targets};
pub use sqlparser::ast;

/// One token. Words keep their spelling; compare them with [`Token::is`]. Operators of more
/// than one character come as one [`Token::Symbol`] per character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A keyword or an unquoted identifier.
    Word(String),
    /// A quoted identifier, without its quotes.
    Quoted(String),
    /// A string literal (or a dollar-quoted body), without its quotes and escapes.
    Str(String),
    Number(String),
    Symbol(char),
}

impl Token {
    /// Whether this is the keyword `word` (case-insensitive).
    pub fn is(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(word))
    }

    /// Whether this is one of `words`.
    pub fn is_any(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.is(w))
    }

    /// The name this token spells, as written (a quoted identifier without its quotes).
    pub fn name(&self) -> Option<String> {
        match self {
            Token::Word(name) | Token::Quoted(name) => Some(name.clone()),
            _ => None,
        }
    }

    /// The identifier this token names: unquoted words lower-cased (as PostgreSQL folds them),
    /// quoted ones as written.
    pub fn ident(&self) -> Option<String> {
        match self {
            Token::Word(w) => Some(w.to_ascii_lowercase()),
            Token::Quoted(q) => Some(q.clone()),
            _ => None,
        }
    }
}

/// One statement: its tokens without the final `;`, the line it starts on (1-based), and its
/// text from its first token up to the `;` (comments inside it included), ready to run alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub line: usize,
    pub tokens: Vec<Token>,
    /// The line each token starts on (`lines[i]` for `tokens[i]`), so that a finding about one
    /// column of a long CREATE TABLE names that column's line.
    pub lines: Vec<usize>,
    pub text: String,
}

impl Statement {
    /// Whether the statement starts with these keywords.
    pub fn starts_with(&self, words: &[&str]) -> bool {
        words.len() <= self.tokens.len() && words.iter().zip(&self.tokens).all(|(w, t)| t.is(w))
    }

    /// The first keyword, upper-cased (`CREATE`, `UPDATE`, …).
    pub fn verb(&self) -> String {
        match self.tokens.first() {
            Some(Token::Word(w)) => w.to_ascii_uppercase(),
            _ => String::new(),
        }
    }

    /// The statement's syntax tree, as sqlparser reads it in `kind`'s dialect.
    pub fn parse(&self, kind: Backend) -> Result<ast::Statement, ParserError> {
        let mut parsed = Parser::parse_sql(dialect(kind).as_ref(), &self.text)?;
        match parsed.len() {
            1 => Ok(parsed.remove(0)),
            n => Err(ParserError::ParserError(format!(
                "{n} statements where one was expected"
            ))),
        }
    }
}

/// A comment's text (without `--`, `#` or `/* */`) and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub line: usize,
    pub text: String,
}

/// A file, split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub statements: Vec<Statement>,
    pub comments: Vec<Comment>,
}

/// A string, quoted identifier or comment that never ends: the file cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct Unterminated {
    /// The line the unreadable text starts on.
    pub line: usize,
    /// sqlparser's account of it, e.g. `Unterminated string literal`.
    pub what: String,
}

/// sqlparser's dialect for `kind`.
pub fn dialect(kind: Backend) -> Box<dyn Dialect> {
    match kind {
        Backend::Sqlite => Box::new(SQLiteDialect {}),
        Backend::Postgres => Box::new(PostgreSqlDialect {}),
        Backend::MySql => Box::new(MySqlDialect {}),
    }
}

/// `text` read as one expression (a check, a default, an index key part) in `kind`'s dialect.
pub fn parse_expression(text: &str, kind: Backend) -> Result<ast::Expr, ParserError> {
    let dialect = dialect(kind);
    let mut parser = Parser::new(dialect.as_ref()).try_with_sql(text)?;
    let expression = parser.parse_expr()?;
    match parser.peek_token().token {
        Lexed::EOF => Ok(expression),
        after => Err(ParserError::ParserError(format!(
            "{after} after the expression"
        ))),
    }
}

/// Splits `sql`, in `kind`'s dialect, into statements and comments. An unterminated string,
/// identifier or comment is an error naming the line it starts on.
pub fn split(sql: &str, kind: Backend) -> Result<Script, Unterminated> {
    let dialect = dialect(kind);
    let mut lexed: Vec<TokenWithSpan> = Vec::new();
    if let Err(error) =
        Tokenizer::new(dialect.as_ref(), sql).tokenize_with_location_into_buf(&mut lexed)
    {
        // What never ends starts where the last token read ended: sqlparser reports where it
        // noticed (for a comment, the end of the file).
        let from = lexed
            .last()
            .map_or(0, |t| Offsets::new(sql).byte(t.span.end));
        let skipped = sql[from..].len() - sql[from..].trim_start().len();
        return Err(Unterminated {
            line: 1 + sql[..from + skipped].matches('\n').count(),
            what: error.message,
        });
    }
    let offsets = Offsets::new(sql);
    let mut script = Script::default();
    let mut current: Option<(usize, Statement)> = None;
    // BEGIN … END nesting inside a CREATE TRIGGER / PROCEDURE / FUNCTION / EVENT.
    let mut depth = 0usize;
    let significant: Vec<&TokenWithSpan> = lexed
        .iter()
        .filter(|t| {
            !matches!(
                t.token,
                Lexed::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab)
            )
        })
        .collect();
    for (i, lexed) in significant.iter().enumerate() {
        let line = lexed.span.start.line as usize;
        let tokens: Vec<Token> = match &lexed.token {
            Lexed::Whitespace(Whitespace::SingleLineComment { comment, .. }) => {
                script.comments.push(Comment {
                    line,
                    text: comment.trim().to_owned(),
                });
                continue;
            }
            Lexed::Whitespace(Whitespace::MultiLineComment(comment)) => {
                script.comments.push(Comment {
                    line,
                    text: comment.trim().to_owned(),
                });
                continue;
            }
            Lexed::SemiColon if depth == 0 => {
                let end = offsets.byte(lexed.span.start);
                script.statements.extend(finish(sql, current.take(), end));
                continue;
            }
            Lexed::Word(word) if word.quote_style.is_some() => {
                vec![Token::Quoted(word.value.clone())]
            }
            Lexed::Word(word) => vec![Token::Word(word.value.clone())],
            Lexed::Number(number, _) => vec![Token::Number(number.clone())],
            Lexed::DollarQuotedString(quoted) => vec![Token::Str(quoted.value.clone())],
            Lexed::SingleQuotedString(s)
            | Lexed::DoubleQuotedString(s)
            | Lexed::NationalStringLiteral(s)
            | Lexed::EscapedStringLiteral(s)
            | Lexed::UnicodeStringLiteral(s)
            | Lexed::HexStringLiteral(s)
            | Lexed::SingleQuotedByteStringLiteral(s)
            | Lexed::DoubleQuotedByteStringLiteral(s) => vec![Token::Str(s.clone())],
            other => other.to_string().chars().map(Token::Symbol).collect(),
        };
        let (_, statement) = current.get_or_insert_with(|| {
            (
                offsets.byte(lexed.span.start),
                Statement {
                    line,
                    tokens: Vec::new(),
                    lines: Vec::new(),
                    text: String::new(),
                },
            )
        });
        if statement.starts_with(&["CREATE"])
            && statement
                .tokens
                .iter()
                .any(|t| t.is_any(&["TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"]))
        {
            let word = &tokens[0];
            if word.is_any(&["BEGIN", "CASE"]) {
                depth += 1;
            } else if word.is("END") {
                // `END IF`, `END WHILE`, … close blocks that were not counted.
                let closes_uncounted = significant.get(i + 1).is_some_and(|next| {
                    matches!(&next.token, Lexed::Word(w) if w.quote_style.is_none()
                        && ["IF", "WHILE", "LOOP", "REPEAT"].iter().any(|k| w.value.eq_ignore_ascii_case(k)))
                });
                if !closes_uncounted {
                    depth = depth.saturating_sub(1);
                }
            }
        }
        statement
            .lines
            .extend(std::iter::repeat_n(line, tokens.len()));
        statement.tokens.extend(tokens);
    }
    script.statements.extend(finish(sql, current, sql.len()));
    Ok(script)
}

/// The statement begun at the byte offset paired with it, its text ending at `end`.
fn finish(sql: &str, current: Option<(usize, Statement)>, end: usize) -> Option<Statement> {
    current.map(|(start, mut statement)| {
        statement.text = sql[start..end].trim_end().to_owned();
        statement
    })
}

/// The first 80 characters of a statement, on one line.
pub fn excerpt(statement: &str) -> String {
    let one_line = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Byte offsets of sqlparser's locations (1-based lines, columns counted in characters).
struct Offsets<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(sql: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Offsets { sql, line_starts }
    }

    fn byte(&self, at: sqlparser::tokenizer::Location) -> usize {
        let Some(&start) = self.line_starts.get((at.line as usize).saturating_sub(1)) else {
            return self.sql.len();
        };
        self.sql[start..]
            .char_indices()
            .nth((at.column as usize).saturating_sub(1))
            .map_or(self.sql.len(), |(i, _)| start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(statement: &Statement) -> Vec<String> {
        statement
            .tokens
            .iter()
            .map(|t| match t {
                Token::Word(w) | Token::Number(w) => w.clone(),
                Token::Quoted(q) => format!("<{q}>"),
                Token::Str(s) => format!("'{s}'"),
                Token::Symbol(c) => c.to_string(),
            })
            .collect()
    }

    #[test]
    fn statements_split_on_semicolons_outside_strings_and_comments() {
        let sql = "-- a comment; not a statement\nCREATE TABLE t (a TEXT DEFAULT 'x;y');\n\
                   /* block; comment */ INSERT INTO \"we;ird\" VALUES ('it''s');\nDROP TABLE t";
        let script = split(sql, Backend::Postgres).unwrap();
        assert_eq!(script.statements.len(), 3);
        assert_eq!(script.statements[0].line, 2);
        assert_eq!(
            words(&script.statements[1]),
            ["INSERT", "INTO", "<we;ird>", "VALUES", "(", "'it's'", ")"]
        );
        assert_eq!(script.statements[1].line, 3);
        assert_eq!(script.statements[1].lines, [3; 7]);
        assert_eq!(script.statements[2].verb(), "DROP");
        assert_eq!(
            script.comments,
            [
                Comment {
                    line: 1,
                    text: "a comment; not a statement".into()
                },
                Comment {
                    line: 3,
                    text: "block; comment".into()
                }
            ]
        );
    }

    #[test]
    fn dialects_quote_their_own_way() {
        let mysql = split(
            "UPDATE `t` SET a = 'x\\';y'; # hash comment;\nDO 0;",
            Backend::MySql,
        )
        .unwrap();
        assert_eq!(mysql.statements.len(), 2);
        assert_eq!(
            words(&mysql.statements[0]),
            ["UPDATE", "<t>", "SET", "a", "=", "'x';y'"]
        );
        assert_eq!(mysql.comments[0].text, "hash comment;");

        let pg = split(
            "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\nSELECT $$a;b$$;",
            Backend::Postgres,
        )
        .unwrap();
        assert_eq!(pg.statements.len(), 2);
        assert_eq!(pg.statements[1].line, 2);
    }

    #[test]
    fn each_token_knows_its_line() {
        let sql = "CREATE TABLE t (\n  a TEXT,\n  b TEXT 'x\ny' NOT NULL\n)";
        let script = split(sql, Backend::Postgres).unwrap();
        let lines: Vec<(String, usize)> = words(&script.statements[0])
            .into_iter()
            .zip(script.statements[0].lines.iter().copied())
            .collect();
        let at = |word: &str| lines.iter().find(|(w, _)| w == word).map(|(_, l)| *l);
        assert_eq!(
            (
                at("CREATE"),
                at("a"),
                at("b"),
                at("'x\ny'"),
                at("NOT"),
                at(")")
            ),
            (Some(1), Some(2), Some(3), Some(3), Some(4), Some(5))
        );
    }

    #[test]
    fn each_statement_keeps_its_text_to_run_alone() {
        let sql = "-- no-transaction\nCREATE TABLE a (s TEXT DEFAULT 'x;y'); INSERT INTO a VALUES ('1');\n\
                   /* a ; comment */\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  DELETE FROM a;\nEND;\n\
                   SELECT 1 -- last\n";
        let script = split(sql, Backend::Sqlite).unwrap();
        let found: Vec<(usize, &str)> = script
            .statements
            .iter()
            .map(|s| (s.line, s.text.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (2, "CREATE TABLE a (s TEXT DEFAULT 'x;y')"),
                (2, "INSERT INTO a VALUES ('1')"),
                (
                    4,
                    "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  DELETE FROM a;\nEND"
                ),
                (7, "SELECT 1 -- last"),
            ]
        );
    }

    #[test]
    fn trigger_bodies_stay_in_one_statement() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE b SET n = n + 1;\n  \
                   UPDATE c SET m = CASE WHEN 1 THEN 2 END;\nEND;\nSELECT 1;";
        let script = split(sql, Backend::Sqlite).unwrap();
        assert_eq!(script.statements.len(), 2, "{script:?}");
        assert_eq!(script.statements[1].line, 5);
    }

    #[test]
    fn unterminated_strings_and_comments_name_their_line() {
        assert_eq!(
            split("SELECT 1;\nSELECT 'oops;", Backend::Sqlite)
                .unwrap_err()
                .to_string(),
            "line 2: Unterminated string literal"
        );
        assert_eq!(
            split("SELECT 1;\n/* open\n\n", Backend::Postgres).unwrap_err(),
            Unterminated {
                line: 2,
                what: "Unexpected EOF while in a multi-line comment".to_owned()
            }
        );
    }

    #[test]
    fn an_excerpt_is_one_line_of_at_most_80_characters() {
        let long = format!("SELECT {}", "1, ".repeat(40));
        let cut = excerpt(&long);
        assert!(cut.starts_with("SELECT 1, 1,"), "{cut}");
        assert_eq!(cut.chars().count(), 81, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("DROP\n\tTABLE  t"), "DROP TABLE t");
    }
}
