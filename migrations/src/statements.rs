//! Just enough of SQL to say which tables a migration's statements lock.
//!
//! A database that gives up a lock wait says so ("canceling statement due to lock timeout",
//! "Lock wait timeout exceeded", "database is locked") without naming the table or the
//! statement. The migration's own SQL names them: this splits it into statements (comments,
//! quoted strings and identifiers, PostgreSQL's dollar quoting and the `BEGIN … END` bodies of
//! triggers understood) and reads the tables named after the words that lock one: `ALTER TABLE`,
//! `CREATE INDEX … ON`, `CREATE TRIGGER … ON`, `REFERENCES`, `DROP TABLE`, `DROP INDEX … ON`,
//! `RENAME TABLE`, `TRUNCATE`, `LOCK TABLE`, `UPDATE`, `INSERT INTO`, `REPLACE INTO` and
//! `DELETE FROM`. A table the file created before the statement is left out: nobody else can
//! hold a lock on it. It is not a parser; what it cannot read it leaves out, and the message
//! then says less, never something wrong.

use crate::Backend;

/// One statement of a migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    /// The line of the file it starts on (1-based).
    pub line: usize,
    /// Its text, from its first token to its last (the `;` not included).
    pub text: String,
    tokens: Vec<Token>,
}

/// A table a migration waits for when another session holds a lock on it, and the statements
/// of the file that lock it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTarget {
    /// The table as the file spells it (unquoted), e.g. `alters` or `public.alters`; for
    /// `DROP INDEX name` without its table, `the table of index name`.
    pub table: String,
    /// `(line, excerpt)` of each statement that locks it.
    pub statements: Vec<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// An unquoted word: a keyword or a name.
    Word,
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`), its content unquoted.
    Quoted,
    /// A string or number literal.
    Literal,
    Punct(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: Kind,
    /// A word as written, a quoted identifier's name; empty for the rest.
    text: String,
    /// Byte range in the file.
    start: usize,
    end: usize,
    line: usize,
}

impl Token {
    fn is(&self, keyword: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(keyword)
    }

    fn is_any(&self, keywords: &[&str]) -> bool {
        keywords.iter().any(|k| self.is(k))
    }

    fn is_name(&self) -> bool {
        matches!(self.kind, Kind::Word | Kind::Quoted)
    }
}

/// The statements of `sql`, in order; comments and empty statements left out.
pub(crate) fn split(sql: &str, backend: Backend) -> Vec<Statement> {
    let tokens = tokenize(sql, backend);
    let mut statements = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    // Inside a CREATE (a trigger's or a routine's body), `;` ends the body's statements, not
    // the CREATE: count BEGIN and CASE against END.
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        if token.kind == Kind::Punct(';') && depth == 0 {
            finish(sql, &mut current, &mut statements);
            continue;
        }
        if current.first().is_some_and(|first| first.is("CREATE")) {
            if token.is_any(&["BEGIN", "CASE"]) {
                depth += 1;
            } else if token.is("END") && depth > 0 {
                // `END IF`, `END WHILE`, … close blocks that were not counted.
                let closes_uncounted = tokens
                    .get(i + 1)
                    .is_some_and(|next| next.is_any(&["IF", "WHILE", "LOOP", "REPEAT"]));
                if !closes_uncounted {
                    depth -= 1;
                }
            }
        }
        current.push(token.clone());
    }
    finish(sql, &mut current, &mut statements);
    statements
}

fn finish(sql: &str, current: &mut Vec<Token>, statements: &mut Vec<Statement>) {
    let tokens = std::mem::take(current);
    if let (Some(first), Some(last)) = (tokens.first(), tokens.last()) {
        statements.push(Statement {
            line: first.line,
            text: sql[first.start..last.end].to_owned(),
            tokens,
        });
    }
}

/// The tables `statements` lock, in the order the file first names them.
pub(crate) fn lock_targets(statements: &[Statement]) -> Vec<LockTarget> {
    let mut created: Vec<String> = Vec::new();
    let mut targets: Vec<LockTarget> = Vec::new();
    for statement in statements {
        let (locked, creates) = read(&statement.tokens);
        for table in locked {
            let key = table.to_ascii_lowercase();
            if created.contains(&key) {
                continue;
            }
            let at = (statement.line, excerpt(&statement.text));
            match targets
                .iter_mut()
                .find(|t| t.table.eq_ignore_ascii_case(&table))
            {
                Some(target) if !target.statements.contains(&at) => target.statements.push(at),
                Some(_) => {}
                None => targets.push(LockTarget {
                    table,
                    statements: vec![at],
                }),
            }
        }
        created.extend(creates.into_iter().map(|c| c.to_ascii_lowercase()));
    }
    targets
}

/// The first 80 characters of a statement, on one line.
pub fn excerpt(statement: &str) -> String {
    let one_line = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// What one statement locks, and the table it creates.
fn read(t: &[Token]) -> (Vec<String>, Option<String>) {
    let mut locked = Vec::new();
    let mut created = None;
    let Some(first) = t.first() else {
        return (locked, created);
    };
    let word = |i: usize, keyword: &str| t.get(i).is_some_and(|token| token.is(keyword));
    match first.text.to_ascii_uppercase().as_str() {
        _ if first.kind != Kind::Word => {}
        "ALTER" => {
            // ALTER [ONLINE | IGNORE] TABLE [IF EXISTS] [ONLY] name
            if let Some(i) = (1..=2).find(|&i| word(i, "TABLE")) {
                let i = skip(t, i + 1, &["IF", "EXISTS", "ONLY"]);
                locked.extend(name(t, i).map(|(n, _)| n));
                locked.extend(references(t));
            }
        }
        "CREATE" => {
            // The object's keyword comes after OR REPLACE, TEMPORARY, UNIQUE, DEFINER = …
            let object = (1..t.len().min(10)).find(|&i| {
                t[i].is_any(&["TABLE", "INDEX", "TRIGGER", "VIEW", "FUNCTION", "PROCEDURE"])
            });
            match object {
                Some(i) if t[i].is("TABLE") => {
                    let i = skip(t, i + 1, &["IF", "NOT", "EXISTS"]);
                    created = name(t, i).map(|(n, _)| n);
                    let own = created.as_deref().map(str::to_ascii_lowercase);
                    locked.extend(
                        references(t)
                            .into_iter()
                            .filter(|r| Some(r.to_ascii_lowercase()) != own),
                    );
                }
                Some(i) if t[i].is_any(&["INDEX", "TRIGGER"]) => {
                    if let Some(on) = first_at_depth_zero(t, i + 1, "ON") {
                        let i = skip(t, on + 1, &["ONLY"]);
                        locked.extend(name(t, i).map(|(n, _)| n));
                    }
                }
                _ => {}
            }
        }
        "DROP" if word(1, "TABLE") => {
            let i = skip(t, 2, &["IF", "EXISTS"]);
            locked.extend(names_list(t, i));
        }
        "DROP" if word(1, "INDEX") => {
            let i = skip(t, 2, &["CONCURRENTLY", "IF", "EXISTS"]);
            if let Some((index, next)) = name(t, i) {
                match t.get(next) {
                    Some(on) if on.is("ON") => locked.extend(name(t, next + 1).map(|(n, _)| n)),
                    _ => locked.push(format!("the table of index {index}")),
                }
            }
        }
        "RENAME" if word(1, "TABLE") => {
            // RENAME TABLE a TO b, c TO d: a and c.
            let mut i = 2;
            while let Some((table, next)) = name(t, i) {
                locked.push(table);
                match first_punct_at_depth_zero(t, next, ',') {
                    Some(comma) => i = comma + 1,
                    None => break,
                }
            }
        }
        "TRUNCATE" => {
            let i = skip(t, 1, &["TABLE", "ONLY"]);
            locked.extend(names_list(t, i));
        }
        "LOCK" => {
            // PostgreSQL: LOCK [TABLE] [ONLY] a, b IN … MODE; MySQL: LOCK TABLES a READ, b WRITE.
            let mut i = skip(t, 1, &["TABLE", "TABLES", "ONLY"]);
            while let Some((table, next)) = name(t, i) {
                locked.push(table);
                match first_punct_at_depth_zero(t, next, ',') {
                    Some(comma) => i = skip(t, comma + 1, &["ONLY"]),
                    None => break,
                }
            }
        }
        "UPDATE" => {
            // UPDATE [LOW_PRIORITY] [IGNORE] [OR …] [ONLY] name
            let i = skip(
                t,
                1,
                &[
                    "LOW_PRIORITY",
                    "IGNORE",
                    "ONLY",
                    "OR",
                    "ROLLBACK",
                    "ABORT",
                    "REPLACE",
                    "FAIL",
                ],
            );
            locked.extend(name(t, i).map(|(n, _)| n));
        }
        "INSERT" | "REPLACE" => {
            if let Some(into) = (1..t.len().min(6)).find(|&i| word(i, "INTO")) {
                locked.extend(name(t, into + 1).map(|(n, _)| n));
            }
        }
        "DELETE" => {
            if let Some(from) = (1..t.len().min(6)).find(|&i| word(i, "FROM")) {
                let i = skip(t, from + 1, &["ONLY"]);
                locked.extend(name(t, i).map(|(n, _)| n));
            }
        }
        _ => {}
    }
    (locked, created)
}

/// The index of the first token at or after `i` that is none of `words`.
fn skip(t: &[Token], mut i: usize, words: &[&str]) -> usize {
    while t.get(i).is_some_and(|token| token.is_any(words)) {
        i += 1;
    }
    i
}

/// A (possibly qualified) name starting at `i`, and the index after it.
fn name(t: &[Token], i: usize) -> Option<(String, usize)> {
    let first = t.get(i).filter(|token| token.is_name())?;
    let mut name = first.text.clone();
    let mut next = i + 1;
    while t.get(next).is_some_and(|p| p.kind == Kind::Punct('.'))
        && t.get(next + 1).is_some_and(Token::is_name)
    {
        name.push('.');
        name.push_str(&t[next + 1].text);
        next += 2;
    }
    Some((name, next))
}

/// Names separated by commas, from `i` (`DROP TABLE a, b`).
fn names_list(t: &[Token], mut i: usize) -> Vec<String> {
    let mut names = Vec::new();
    while let Some((table, next)) = name(t, i) {
        names.push(table);
        if t.get(next).is_some_and(|p| p.kind == Kind::Punct(',')) {
            i = next + 1;
        } else {
            break;
        }
    }
    names
}

/// Every table named after `REFERENCES`: a foreign key locks the table it refers to.
fn references(t: &[Token]) -> Vec<String> {
    (0..t.len())
        .filter(|&i| t[i].is("REFERENCES"))
        .filter_map(|i| name(t, i + 1).map(|(n, _)| n))
        .collect()
}

fn first_at_depth_zero(t: &[Token], from: usize, keyword: &str) -> Option<usize> {
    at_depth_zero(t, from).find(|&i| t[i].is(keyword))
}

fn first_punct_at_depth_zero(t: &[Token], from: usize, punct: char) -> Option<usize> {
    at_depth_zero(t, from).find(|&i| t[i].kind == Kind::Punct(punct))
}

/// The indexes from `from` on that are outside parentheses opened from there.
fn at_depth_zero(t: &[Token], from: usize) -> impl Iterator<Item = usize> + '_ {
    let mut depth = 0i32;
    (from..t.len()).filter(move |&i| {
        match t[i].kind {
            Kind::Punct('(') => depth += 1,
            Kind::Punct(')') => depth -= 1,
            _ => return depth == 0,
        }
        false
    })
}

fn tokenize(sql: &str, backend: Backend) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let lines = |from: usize, to: usize| bytes[from..to].iter().filter(|b| **b == b'\n').count();
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        let start = i;
        let (kind, end) = match c {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if next == Some(b'-') => {
                i = line_end(bytes, i);
                continue;
            }
            b'#' if backend == Backend::MySql => {
                i = line_end(bytes, i);
                continue;
            }
            b'/' if next == Some(b'*') => {
                let end = find(bytes, i + 2, b"*/").map_or(bytes.len(), |e| e + 2);
                line += lines(i, end);
                i = end;
                continue;
            }
            b'\'' => {
                // MySQL strings, and PostgreSQL's E'…', take backslash escapes.
                let backslash = backend == Backend::MySql
                    || tokens.last().is_some_and(|t: &Token| {
                        t.end == i && t.kind == Kind::Word && t.text.eq_ignore_ascii_case("E")
                    });
                if backslash {
                    tokens.pop_if(|t: &mut Token| t.end == i && t.text.eq_ignore_ascii_case("E"));
                }
                (Kind::Literal, quoted_end(bytes, i, b'\'', backslash))
            }
            b'"' if backend == Backend::MySql => (Kind::Literal, quoted_end(bytes, i, b'"', true)),
            b'"' => (Kind::Quoted, quoted_end(bytes, i, b'"', false)),
            b'`' => (Kind::Quoted, quoted_end(bytes, i, b'`', false)),
            b'[' if backend == Backend::Sqlite => (
                Kind::Quoted,
                find(bytes, i + 1, b"]").map_or(bytes.len(), |e| e + 1),
            ),
            b'$' if backend == Backend::Postgres => match dollar_tag(bytes, i) {
                Some(tag) => {
                    let body = i + tag.len();
                    let end = find(bytes, body, tag).map_or(bytes.len(), |e| e + tag.len());
                    (Kind::Literal, end)
                }
                None => (Kind::Literal, word_end(bytes, i + 1)),
            },
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                (Kind::Word, word_end(bytes, i))
            }
            _ if c.is_ascii_digit() => (Kind::Literal, word_end(bytes, i)),
            _ => (Kind::Punct(c as char), i + 1),
        };
        let text = match kind {
            Kind::Word => sql[start..end].to_owned(),
            Kind::Quoted => unquote(&sql[start..end]),
            Kind::Literal | Kind::Punct(_) => String::new(),
        };
        tokens.push(Token {
            kind,
            text,
            start,
            end,
            line,
        });
        line += lines(start, end);
        i = end;
    }
    tokens
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    find(bytes, from, b"\n").unwrap_or(bytes.len())
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn word_end(bytes: &[u8], mut i: usize) -> usize {
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$' || *b >= 0x80)
    {
        i += 1;
    }
    i
}

/// The end of a quoted run starting at `start` (its quote): a doubled quote stands for itself,
/// and with `backslash` a backslash escapes the next byte.
fn quoted_end(bytes: &[u8], start: usize, quote: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `$tag$` (or `$$`) starting at `i`: PostgreSQL's dollar quote. `$1` is not one.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<&[u8]> {
    let mut j = i + 1;
    while bytes
        .get(j)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80)
    {
        j += 1;
    }
    let starts_like_a_tag = bytes.get(i + 1).is_some_and(|b| !b.is_ascii_digit());
    (bytes.get(j) == Some(&b'$') && (j == i + 1 || starts_like_a_tag)).then(|| &bytes[i..=j])
}

/// A quoted identifier's name: the quotes removed, doubled quotes made single.
fn unquote(quoted: &str) -> String {
    let (open, close) = match quoted.chars().next() {
        Some('[') => ('[', ']'),
        Some(q) => (q, q),
        None => return String::new(),
    };
    let inner = quoted
        .strip_prefix(open)
        .map(|s| s.strip_suffix(close).unwrap_or(s))
        .unwrap_or(quoted);
    inner.replace(&format!("{close}{close}"), &close.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(sql: &str, backend: Backend) -> Vec<String> {
        lock_targets(&split(sql, backend))
            .into_iter()
            .map(|t| t.table)
            .collect()
    }

    #[test]
    fn the_tables_after_each_locking_word_are_named() {
        let sql = "
            ALTER TABLE IF EXISTS ONLY alters ADD COLUMN colour TEXT;
            CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON ONLY systems (lower(name));
            DROP TABLE IF EXISTS old_a, \"Old B\" CASCADE;
            TRUNCATE TABLE audit_logs;
            LOCK TABLE settings, public.groups IN SHARE MODE;
            UPDATE users SET x = (SELECT 1 FROM ignored_in_subquery);
            INSERT INTO relationships (a) SELECT a FROM not_this_one;
            DELETE FROM tokens WHERE used;
            CREATE TRIGGER t AFTER INSERT ON subsystems FOR EACH ROW EXECUTE FUNCTION f();
            DROP INDEX idx_alone;
            SELECT * FROM never_locked;
        ";
        assert_eq!(
            targets(sql, Backend::Postgres),
            [
                "alters",
                "systems",
                "old_a",
                "Old B",
                "audit_logs",
                "settings",
                "public.groups",
                "users",
                "relationships",
                "tokens",
                "subsystems",
                "the table of index idx_alone",
            ]
        );
    }

    #[test]
    fn mysql_spellings_are_read() {
        let sql = "
            # a MySQL comment: ALTER TABLE not_me
            RENAME TABLE a TO b, c TO d;
            LOCK TABLES e READ, f AS ff WRITE;
            REPLACE INTO `g` VALUES ('it\\'s; ALTER TABLE not_me');
            DELETE LOW_PRIORITY QUICK FROM h;
            UPDATE IGNORE i SET x = \"ALTER TABLE not_me\";
            DROP INDEX idx_j ON j;
            ALTER ONLINE TABLE k ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES l (id);
        ";
        assert_eq!(
            targets(sql, Backend::MySql),
            ["a", "c", "e", "f", "g", "h", "i", "j", "k", "l"]
        );
    }

    #[test]
    fn tables_the_file_creates_are_not_waited_for() {
        // SQLite's table rebuild: only the old table can be held by someone else.
        let sql = "
            CREATE TABLE alters_new (id TEXT, system_id TEXT REFERENCES systems (id));
            INSERT INTO alters_new SELECT * FROM alters;
            DROP TABLE alters;
            ALTER TABLE alters_new RENAME TO alters;
            CREATE INDEX idx_alters_new ON alters_new (id);
        ";
        assert_eq!(targets(sql, Backend::Sqlite), ["systems", "alters"]);
    }

    #[test]
    fn comments_strings_and_bodies_hide_nothing_and_invent_nothing() {
        let sql = "
            -- ALTER TABLE in_a_comment ADD x;
            /* DROP TABLE in_a_block
               comment; */
            CREATE FUNCTION f() RETURNS trigger AS $body$
            BEGIN UPDATE in_a_body SET x = 1; RETURN NEW; END
            $body$ LANGUAGE plpgsql;
            UPDATE real_one SET note = E'it\\'s; DROP TABLE in_a_string' WHERE id = $1;
        ";
        assert_eq!(targets(sql, Backend::Postgres), ["real_one"]);
        let statements = split(sql, Backend::Postgres);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert_eq!(statements[0].line, 5);
        assert_eq!(statements[1].line, 8);
        assert!(statements[1].text.starts_with("UPDATE real_one SET note"));
    }

    #[test]
    fn a_trigger_body_is_one_statement_with_its_create() {
        let sql = "
            CREATE TRIGGER trg AFTER UPDATE ON alters
            BEGIN
                UPDATE systems SET n = CASE WHEN 1 THEN 2 ELSE 3 END;
                INSERT INTO audit_logs (x) VALUES (1);
            END;
            ALTER TABLE users ADD COLUMN y TEXT;
        ";
        let statements = split(sql, Backend::Sqlite);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert_eq!(targets(sql, Backend::Sqlite), ["alters", "users"]);
    }

    #[test]
    fn each_table_lists_the_lines_that_lock_it() {
        let sql =
            "ALTER TABLE alters ADD COLUMN colour TEXT;\n\nUPDATE alters\n  SET colour = 'red';\n";
        let found = lock_targets(&split(sql, Backend::Sqlite));
        assert_eq!(
            found,
            [LockTarget {
                table: "alters".into(),
                statements: vec![
                    (1, "ALTER TABLE alters ADD COLUMN colour TEXT".into()),
                    (3, "UPDATE alters SET colour = 'red'".into()),
                ],
            }]
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
