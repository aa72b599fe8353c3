//! A small SQL tokenizer and statement splitter, enough for [`crate::lint`].
//!
//! It is not a parser: it knows comments (`--`, `#` on MySQL, `/* */`), quoted strings (with
//! `''` and, on MySQL, backslash escapes), quoted identifiers (`"x"`, and `` `x` `` on MySQL),
//! PostgreSQL dollar quoting (`$$…$$`, `$tag$…$tag$`), and that `;` inside a trigger's or a
//! routine's `BEGIN … END` does not end the statement. Everything else is words, numbers and
//! single-character symbols; the lint rules look at those.

use didhub_migrations::Backend;

/// One token. Words keep their spelling; compare them with [`Token::is`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A keyword or an unquoted identifier.
    Word(String),
    /// A quoted identifier, without its quotes.
    Quoted(String),
    /// A string literal (or a dollar-quoted body), without its quotes.
    Str(String),
    Number(String),
    Symbol(char),
}

impl Token {
    /// Whether this is the keyword `word` (case-insensitive).
    pub fn is(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(word))
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
#[error("line {line}: unterminated {opened}")]
pub struct Unterminated {
    /// The line it starts on.
    pub line: usize,
    /// What it opened with: `' quote`, `$body$ quote`, `/* comment`.
    pub opened: String,
}

/// Splits `sql`, in `kind`'s dialect, into statements and comments. An unterminated string,
/// identifier or comment is an error naming the line it starts on.
pub fn split(sql: &str, kind: Backend) -> Result<Script, Unterminated> {
    let chars: Vec<char> = sql.chars().collect();
    let mut script = Script::default();
    let mut current: Option<Statement> = None;
    // BEGIN … END nesting inside a CREATE TRIGGER / PROCEDURE / FUNCTION.
    let mut depth = 0usize;
    let mut line = 1;
    let mut i = 0;
    // Where the current statement's first token starts.
    let mut first = 0;
    let finish = |statement: Option<Statement>, first: usize, end: usize| {
        statement.map(|mut s| {
            s.text = chars[first..end]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_owned();
            s
        })
    };
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        let start_line = line;
        let token_start = i;
        // Reads up to the closing `end` (doubled to escape it), counting lines.
        let unterminated = |opened: String| Unterminated {
            line: start_line,
            opened,
        };
        let mut quoted =
            |i: &mut usize, end: char, backslash: bool| -> Result<String, Unterminated> {
                let mut text = String::new();
                *i += 1;
                loop {
                    match at(*i) {
                        None => return Err(unterminated(format!("{end} quote"))),
                        Some('\\') if backslash => {
                            text.extend(at(*i + 1));
                            *i += 2;
                        }
                        Some(ch) if ch == end && at(*i + 1) == Some(end) => {
                            text.push(end);
                            *i += 2;
                        }
                        Some(ch) if ch == end => {
                            *i += 1;
                            return Ok(text);
                        }
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            text.push(ch);
                            *i += 1;
                        }
                    }
                }
            };
        let token = match c {
            '\n' => {
                line += 1;
                i += 1;
                continue;
            }
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '-' if at(i + 1) == Some('-') => {
                line_comment(&chars, &mut i, 2, start_line, &mut script);
                continue;
            }
            '#' if kind == Backend::MySql => {
                line_comment(&chars, &mut i, 1, start_line, &mut script);
                continue;
            }
            '/' if at(i + 1) == Some('*') => {
                let end = (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
                    .ok_or_else(|| unterminated("/* comment".to_owned()))?;
                let text: String = chars[i + 2..end].iter().collect();
                line += text.matches('\n').count();
                script.comments.push(Comment {
                    line: start_line,
                    text: text.trim().to_owned(),
                });
                i = end + 2;
                continue;
            }
            '\'' => Token::Str(quoted(&mut i, '\'', kind == Backend::MySql)?),
            '"' => Token::Quoted(quoted(&mut i, '"', false)?),
            '`' if kind == Backend::MySql => Token::Quoted(quoted(&mut i, '`', false)?),
            '$' if kind == Backend::Postgres && dollar_tag(&chars, i).is_some() => {
                let tag = dollar_tag(&chars, i).expect("checked");
                let body_start = i + tag.len();
                let end = (body_start..chars.len())
                    .find(|&j| chars[j..].starts_with(&tag))
                    .ok_or_else(|| {
                        unterminated(format!("{} quote", tag.iter().collect::<String>()))
                    })?;
                let body: String = chars[body_start..end].iter().collect();
                line += body.matches('\n').count();
                i = end + tag.len();
                Token::Str(body)
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = (i..chars.len())
                    .find(|&j| !(chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '$'))
                    .unwrap_or(chars.len());
                let word: String = chars[i..end].iter().collect();
                i = end;
                Token::Word(word)
            }
            c if c.is_ascii_digit() => {
                let end = (i..chars.len())
                    .find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '.'))
                    .unwrap_or(chars.len());
                let number: String = chars[i..end].iter().collect();
                i = end;
                Token::Number(number)
            }
            ';' if depth == 0 => {
                script.statements.extend(finish(current.take(), first, i));
                i += 1;
                continue;
            }
            c => {
                i += 1;
                Token::Symbol(c)
            }
        };
        if current.is_none() {
            first = token_start;
        }
        let statement = current.get_or_insert_with(|| Statement {
            line: start_line,
            tokens: Vec::new(),
            lines: Vec::new(),
            text: String::new(),
        });
        if statement.starts_with(&["CREATE"])
            && statement
                .tokens
                .iter()
                .any(|t| t.is("TRIGGER") || t.is("PROCEDURE") || t.is("FUNCTION"))
        {
            if token.is("BEGIN") || token.is("CASE") {
                depth += 1;
            } else if token.is("END") {
                depth = depth.saturating_sub(1);
            }
        }
        statement.tokens.push(token);
        statement.lines.push(start_line);
    }
    script
        .statements
        .extend(finish(current, first, chars.len()));
    Ok(script)
}

/// Reads a comment that runs to the end of the line, after its `marker` characters.
fn line_comment(chars: &[char], i: &mut usize, marker: usize, line: usize, script: &mut Script) {
    let end = (*i..chars.len())
        .find(|&j| chars[j] == '\n')
        .unwrap_or(chars.len());
    script.comments.push(Comment {
        line,
        text: chars[*i + marker..end]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned(),
    });
    *i = end;
}

/// The dollar-quote tag starting at `i` (`$$` or `$tag$`), if one does.
fn dollar_tag(chars: &[char], i: usize) -> Option<Vec<char>> {
    let close = (i + 1..chars.len()).find(|&j| !(chars[j].is_alphanumeric() || chars[j] == '_'))?;
    (chars[close] == '$' && !chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()))
        .then(|| chars[i..=close].to_vec())
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
            "line 2: unterminated ' quote"
        );
        assert_eq!(
            split("/* open", Backend::Sqlite).unwrap_err(),
            Unterminated {
                line: 1,
                opened: "/* comment".to_owned()
            }
        );
    }
}
