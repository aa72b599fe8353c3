//! One canonical spelling of a SQL expression (a check, an index key part, a partial index's
//! predicate, a default), whatever the dialect printed.
//!
//! Each backend gives an expression back its own way: PostgreSQL reparses and prints it with
//! casts and a pair of parentheses around every operation (`((status)::text = ANY
//! ((ARRAY['a'::character varying])::text[]))`), MySQL and MariaDB with back-quoted identifiers and
//! charset introducers (`` `status` in (_utf8mb4'a') ``), SQLite as it was written. The harness
//! compares expressions across dialects and before/after a down, so it reads each into one form:
//! words and identifiers lower-case and unquoted, casts dropped (`x::text`, `CAST(x AS t)`),
//! `= ANY (ARRAY[…])` as `IN (…)`, `BETWEEN` as PostgreSQL rewrites it, `interval '1 day'` as
//! PostgreSQL prints it (`'1 day'`, a cast), `!=` as `<>`, `~~` as `LIKE`, a function by what it
//! computes (MySQL's `char_length` is `length`, its `length` `octet_length`), and parentheses
//! only where the operators' precedence needs them. What it cannot parse it keeps as its tokens,
//! lower-cased and joined by single spaces, so two spellings that differ only in layout still
//! agree.

use crate::sql::{self, Token};
use didhub_migrations::Backend;

/// The canonical spelling of `text`, an expression in `kind`'s dialect.
pub fn normalise(text: &str, kind: Backend) -> String {
    // MySQL 8 escapes the quotes of the literals in `check_constraints.check_clause`.
    let text = if kind == Backend::MySql && text.contains("\\'") {
        text.replace("\\'", "'")
    } else {
        text.to_owned()
    };
    let tokens = match sql::split(&text, kind) {
        Ok(script) => script
            .statements
            .into_iter()
            .flat_map(|s| s.tokens)
            .collect::<Vec<_>>(),
        Err(_) => return text.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let tokens = lex(tokens);
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        kind,
    };
    match parser.expr(0) {
        Some(e) if parser.at == tokens.len() => e.text,
        _ => tokens.iter().map(Tok::show).collect::<Vec<_>>().join(" "),
    }
}

/// The column names `expression` (canonical) mentions, sorted: what pairs two checks that are
/// not spelled alike but are about the same columns.
pub fn identifiers(expression: &str) -> Vec<String> {
    let tokens: Vec<Token> = sql::split(expression, Backend::Postgres)
        .map(|s| s.statements.into_iter().flat_map(|s| s.tokens).collect())
        .unwrap_or_default();
    let mut names: Vec<String> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| tokens.get(i + 1) != Some(&Token::Symbol('(')))
        .filter_map(|(_, t)| match t {
            Token::Word(w) if !is_keyword(w) => Some(w.clone()),
            Token::Quoted(q) => Some(q.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn is_keyword(word: &str) -> bool {
    [
        "and", "or", "not", "in", "is", "null", "like", "ilike", "glob", "between", "true",
        "false", "case", "when", "then", "else", "end", "regexp", "escape", "distinct",
    ]
    .contains(&word)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A keyword or identifier, lower-case and unquoted.
    Word(String),
    Str(String),
    Num(String),
    /// An operator or punctuation: `(`, `)`, `,`, `[`, `]`, `.`, `::`, `<=`, `||`, …
    Op(String),
}

impl Tok {
    fn show(&self) -> String {
        match self {
            Tok::Word(w) | Tok::Num(w) | Tok::Op(w) => w.clone(),
            Tok::Str(s) => quote(s),
        }
    }

    fn is(&self, word: &str) -> bool {
        matches!(self, Tok::Word(w) | Tok::Op(w) if w == word)
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Words lower-cased, quoted identifiers unquoted, charset introducers dropped, multi-character
/// operators joined.
fn lex(tokens: Vec<Token>) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    while let Some(token) = iter.next() {
        let tok = match token {
            Token::Word(w) if w.starts_with('_') && matches!(iter.peek(), Some(Token::Str(_))) => {
                continue; // `_utf8mb4'x'`: the introducer says nothing about the value
            }
            Token::Word(w) => Tok::Word(w.to_lowercase()),
            Token::Quoted(q) => Tok::Word(q.to_lowercase()),
            Token::Str(s) => Tok::Str(s),
            Token::Number(n) => Tok::Num(n),
            Token::Symbol(c) => {
                let joined = match (out.last(), c) {
                    (Some(Tok::Op(p)), '=') if ["<", ">", "!"].contains(&p.as_str()) => {
                        Some(format!("{p}="))
                    }
                    (Some(Tok::Op(p)), '>') if p == "<" => Some("<>".into()),
                    (Some(Tok::Op(p)), '|') if p == "|" => Some("||".into()),
                    (Some(Tok::Op(p)), ':') if p == ":" => Some("::".into()),
                    (Some(Tok::Op(p)), '~') if p == "~" || p == "!~" => Some(format!("{p}~")),
                    (Some(Tok::Op(p)), '~') if p == "!" => Some("!~".into()),
                    (Some(Tok::Op(p)), '*') if p == "~~" || p == "!~~" => Some(format!("{p}*")),
                    _ => None,
                };
                match joined {
                    Some(op) => {
                        out.pop();
                        Tok::Op(op)
                    }
                    None => Tok::Op(c.to_string()),
                }
            }
        };
        out.push(tok);
    }
    out.into_iter()
        .map(|t| match t {
            Tok::Op(op) => Tok::Op(
                match op.as_str() {
                    "!=" => "<>",
                    "==" => "=",
                    "~~" => "like",
                    "!~~" => "not like",
                    "~~*" => "ilike",
                    "!~~*" => "not ilike",
                    other => other,
                }
                .to_owned(),
            ),
            other => other,
        })
        .collect()
}

/// A canonical expression and the precedence of its outermost operator.
struct Expr {
    text: String,
    prec: u8,
}

const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const COMPARE: u8 = 4;
const CONCAT: u8 = 5;
const ADD: u8 = 6;
const MUL: u8 = 7;
const UNARY: u8 = 8;
const ATOM: u8 = 9;

fn atom(text: String) -> Expr {
    Expr { text, prec: ATOM }
}

/// `e`, parenthesised when its outermost operator binds less tightly than `prec`.
fn wrap(e: Expr, prec: u8) -> String {
    if e.prec < prec {
        format!("({})", e.text)
    } else {
        e.text
    }
}

struct Parser<'a> {
    tokens: &'a [Tok],
    at: usize,
    kind: Backend,
}

/// A function's name by what it computes, where the dialects spell one function differently:
/// the length in characters is SQLite's and PostgreSQL's `length`, MySQL's `char_length` (whose
/// `length` counts bytes, PostgreSQL's `octet_length`).
fn function_name(kind: Backend, name: &str) -> &str {
    match (kind, name) {
        (_, "char_length" | "character_length") => "length",
        (Backend::MySql, "length") => "octet_length",
        _ => name,
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at)
    }

    fn peek_is(&self, word: &str) -> bool {
        self.peek().is_some_and(|t| t.is(word))
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.peek_is(word) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, word: &str) -> Option<()> {
        self.eat(word).then_some(())
    }

    /// The binary operator at the cursor, its precedence, and how many tokens it takes.
    fn binary(&self) -> Option<(String, u8, usize)> {
        let tok = self.peek()?;
        let next_is = |w: &str| self.tokens.get(self.at + 1).is_some_and(|t| t.is(w));
        Some(match tok {
            Tok::Word(w) => match w.as_str() {
                "or" => ("or".into(), OR, 1),
                "and" => ("and".into(), AND, 1),
                "is" if next_is("not") => ("is not".into(), COMPARE, 2),
                "is" => ("is".into(), COMPARE, 1),
                "in" | "like" | "ilike" | "glob" | "regexp" | "between" => (w.clone(), COMPARE, 1),
                "not" => {
                    let next = self.tokens.get(self.at + 1)?;
                    match next {
                        Tok::Word(n)
                            if ["in", "like", "ilike", "glob", "regexp", "between"]
                                .contains(&n.as_str()) =>
                        {
                            (format!("not {n}"), COMPARE, 2)
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            },
            Tok::Op(op) => match op.as_str() {
                "=" | "<>" | "<" | ">" | "<=" | ">=" | "like" | "not like" | "ilike"
                | "not ilike" => (op.clone(), COMPARE, 1),
                "||" => (op.clone(), CONCAT, 1),
                "+" | "-" => (op.clone(), ADD, 1),
                "*" | "/" | "%" => (op.clone(), MUL, 1),
                _ => return None,
            },
            _ => return None,
        })
    }

    fn expr(&mut self, min: u8) -> Option<Expr> {
        let mut left = self.prefix()?;
        while let Some((op, prec, width)) = self.binary() {
            if prec < min {
                break;
            }
            self.at += width;
            let text = match op.as_str() {
                "in" | "not in" => {
                    let list = self.paren_list()?;
                    format!("{} {op} ({list})", wrap(left, COMPARE + 1))
                }
                "between" | "not between" => {
                    // PostgreSQL prints `x BETWEEN a AND b` as `x >= a AND x <= b`.
                    let low = self.expr(CONCAT)?;
                    self.expect("and")?;
                    let high = self.expr(CONCAT)?;
                    let x = wrap(left, CONCAT);
                    let (low, high) = (wrap(low, CONCAT), wrap(high, CONCAT));
                    let (text, prec) = match op.as_str() {
                        "between" => (format!("{x} >= {low} and {x} <= {high}"), AND),
                        _ => (format!("{x} < {low} or {x} > {high}"), OR),
                    };
                    left = Expr { text, prec };
                    continue;
                }
                "=" | "<>" if self.peek_is("any") || self.peek_is("all") => {
                    // `x = ANY (ARRAY[a, b])` is PostgreSQL's `x IN (a, b)`.
                    let quantifier = if self.eat("any") { "any" } else { "all" };
                    self.at += usize::from(quantifier == "all");
                    let spelled = match (op.as_str(), quantifier) {
                        ("=", "any") => "in",
                        ("<>", "all") => "not in",
                        _ => return None,
                    };
                    let list = self.array_argument()?;
                    format!("{} {spelled} ({list})", wrap(left, COMPARE + 1))
                }
                _ => {
                    // Associative operators chain without parentheses on either side.
                    let associative = matches!(op.as_str(), "or" | "and" | "||" | "+" | "*");
                    let right = self.expr(if associative { prec } else { prec + 1 })?;
                    let right_min = if associative { prec } else { prec + 1 };
                    format!(
                        "{} {op} {}",
                        wrap(left, if prec == COMPARE { COMPARE + 1 } else { prec }),
                        wrap(right, right_min)
                    )
                }
            };
            left = Expr { text, prec };
        }
        Some(left)
    }

    fn prefix(&mut self) -> Option<Expr> {
        if self.eat("not") {
            let inner = self.expr(NOT)?;
            return Some(Expr {
                text: format!("not {}", wrap(inner, NOT)),
                prec: NOT,
            });
        }
        if self.peek_is("-") || self.peek_is("+") {
            let sign = if self.eat("-") { "-" } else { "+" };
            self.at += usize::from(sign == "+");
            let inner = self.postfix()?;
            let text = match sign {
                "-" => format!("-{}", wrap(inner, UNARY)),
                _ => wrap(inner, UNARY),
            };
            return Some(Expr { text, prec: UNARY });
        }
        self.postfix()
    }

    /// A primary followed by any number of `::type` casts, which are dropped.
    fn postfix(&mut self) -> Option<Expr> {
        let mut e = self.primary()?;
        while self.eat("::") {
            let numeric = self.skip_type()?;
            // `'-1'::integer`: PostgreSQL prints a negative number as a cast string.
            if numeric
                && let Some(inner) = e.text.strip_prefix('\'').and_then(|t| t.strip_suffix('\''))
                && inner.parse::<f64>().is_ok()
            {
                e = atom(inner.to_owned());
            }
        }
        Some(e)
    }

    /// Skips a type name (`character varying(16)`, `text[]`, `timestamp with time zone`);
    /// whether it is numeric.
    fn skip_type(&mut self) -> Option<bool> {
        let mut words = Vec::new();
        while let Some(Tok::Word(w)) = self.peek() {
            if !words.is_empty() && !is_type_word(w) {
                break;
            }
            words.push(w.clone());
            self.at += 1;
        }
        if words.is_empty() {
            return None;
        }
        if self.eat("(") {
            while !self.eat(")") {
                self.peek()?;
                self.at += 1;
            }
        }
        while self.peek_is("[") {
            self.at += 1;
            self.expect("]")?;
        }
        Some(words.iter().any(|w| {
            [
                "integer", "int", "bigint", "smallint", "numeric", "decimal", "real", "double",
                "int4", "int8", "int2", "float4", "float8",
            ]
            .contains(&w.as_str())
        }))
    }

    fn primary(&mut self) -> Option<Expr> {
        let tok = self.peek()?.clone();
        self.at += 1;
        match tok {
            Tok::Num(n) => Some(atom(n)),
            Tok::Str(s) => Some(atom(quote(&s))),
            Tok::Op(op) if op == "(" => {
                let first = self.expr(0)?;
                if self.eat(",") {
                    let mut items = vec![first.text];
                    loop {
                        items.push(self.expr(0)?.text);
                        if !self.eat(",") {
                            break;
                        }
                    }
                    self.expect(")")?;
                    return Some(atom(format!("({})", items.join(", "))));
                }
                self.expect(")")?;
                Some(first)
            }
            Tok::Word(w) if w == "case" => self.case(),
            Tok::Word(w) if w == "cast" && self.peek_is("(") => {
                self.at += 1;
                let inner = self.expr(0)?;
                self.expect("as")?;
                self.skip_type()?;
                self.expect(")")?;
                Some(inner)
            }
            // PostgreSQL's `interval '30 days'` is a typed literal, which it prints as a cast
            // (`'30 days'::interval`): the type goes, as a cast's does.
            Tok::Word(w)
                if w == "interval"
                    && matches!(self.peek(), Some(Tok::Str(_)))
                    && !matches!(self.tokens.get(self.at + 1), Some(Tok::Word(_))) =>
            {
                self.primary()
            }
            // MySQL's `INTERVAL 30 DAY`, an operand of `+` and `-` on a time.
            Tok::Word(w)
                if w == "interval"
                    && matches!(self.peek(), Some(Tok::Num(_) | Tok::Op(_) | Tok::Str(_))) =>
            {
                let amount = self.prefix()?;
                let Some(Tok::Word(unit)) = self.peek().cloned() else {
                    return None;
                };
                self.at += 1;
                Some(atom(format!("interval {} {unit}", wrap(amount, UNARY))))
            }
            Tok::Word(w) if w == "array" && self.peek_is("[") => {
                self.at += 1;
                let items = self.list_until("]")?;
                Some(atom(format!("array[{items}]")))
            }
            Tok::Word(w) if !is_keyword(&w) || ["true", "false", "null"].contains(&w.as_str()) => {
                if self.peek_is("(") {
                    self.at += 1;
                    let distinct = if self.eat("distinct") {
                        "distinct "
                    } else {
                        ""
                    };
                    let args = if self.peek_is("*") {
                        self.at += 1;
                        self.expect(")")?;
                        "*".to_owned()
                    } else {
                        self.list_until(")")?
                    };
                    let w = function_name(self.kind, &w);
                    return Some(atom(format!("{w}({distinct}{args})")));
                }
                // `t.col`: the table is the one the expression belongs to.
                if self.peek_is(".")
                    && let Some(Tok::Word(column)) = self.tokens.get(self.at + 1)
                {
                    let column = column.clone();
                    self.at += 2;
                    return Some(atom(column));
                }
                Some(atom(w))
            }
            _ => None,
        }
    }

    /// `CASE [x] WHEN … THEN … [ELSE …] END`.
    fn case(&mut self) -> Option<Expr> {
        let mut text = String::from("case");
        if !self.peek_is("when") {
            text.push(' ');
            text.push_str(&self.expr(0)?.text);
        }
        while self.eat("when") {
            let when = self.expr(0)?;
            self.expect("then")?;
            let then = self.expr(0)?;
            text.push_str(&format!(" when {} then {}", when.text, then.text));
        }
        if self.eat("else") {
            text.push_str(&format!(" else {}", self.expr(0)?.text));
        }
        self.expect("end")?;
        text.push_str(" end");
        Some(atom(text))
    }

    /// Comma-separated expressions up to `close` (consumed).
    fn list_until(&mut self, close: &str) -> Option<String> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Some(String::new());
        }
        loop {
            items.push(self.expr(0)?.text);
            if self.eat(close) {
                break;
            }
            self.expect(",")?;
        }
        Some(items.join(", "))
    }

    /// `(a, b)` after `IN`.
    fn paren_list(&mut self) -> Option<String> {
        self.expect("(")?;
        self.list_until(")")
    }

    /// `(ARRAY[a, b])` or `(ARRAY[a, b])::text[]` after `= ANY`: the items.
    fn array_argument(&mut self) -> Option<String> {
        self.expect("(")?;
        let mut depth = 0;
        while self.eat("(") {
            depth += 1;
        }
        if !(self.eat("array") && self.eat("[")) {
            return None;
        }
        let items = self.list_until("]")?;
        for _ in 0..depth {
            self.expect(")")?;
            while self.eat("::") {
                self.skip_type()?;
            }
        }
        self.expect(")")?;
        Some(items)
    }
}

fn is_type_word(word: &str) -> bool {
    ["varying", "precision", "with", "without", "time", "zone"].contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(text: &str) -> String {
        normalise(text, Backend::Postgres)
    }

    #[test]
    fn each_dialects_spelling_of_an_in_list_reads_the_same() {
        let sqlite = normalise("status IN ('pending', 'approved')", Backend::Sqlite);
        assert_eq!(sqlite, "status in ('pending', 'approved')");
        assert_eq!(
            pg(
                "((status)::text = ANY ((ARRAY['pending'::character varying, 'approved'::character varying])::text[]))"
            ),
            sqlite
        );
        assert_eq!(
            pg("(status = ANY (ARRAY['pending'::text, 'approved'::text]))"),
            sqlite
        );
        // How a pg_dump restore prints it back.
        assert_eq!(
            pg(
                "(((status)::text = ANY (ARRAY[('pending'::character varying)::text, \
                ('approved'::character varying)::text])))"
            ),
            sqlite
        );
        assert_ne!(pg("((status)::text = 'pending'::text)"), sqlite);
        assert_eq!(
            normalise(
                "`status` in (_utf8mb4'pending',_utf8mb4'approved')",
                Backend::MySql
            ),
            sqlite
        );
        assert_eq!(
            normalise(
                "`status` in (_utf8mb4\\'pending\\',_utf8mb4\\'approved\\')",
                Backend::MySql
            ),
            sqlite
        );
    }

    #[test]
    fn parentheses_are_kept_only_where_precedence_needs_them() {
        assert_eq!(
            pg(
                "((((relationship_type)::text <> 'partner'::text) OR (alter_id < related_alter_id)))"
            ),
            normalise(
                "relationship_type <> 'partner' OR alter_id < related_alter_id",
                Backend::Sqlite
            )
        );
        assert_eq!(
            normalise("(a OR b) AND c", Backend::Sqlite),
            "(a or b) and c"
        );
        assert_eq!(normalise("a OR (b AND c)", Backend::Sqlite), "a or b and c");
        assert_ne!(
            normalise("(a OR b) AND c", Backend::Sqlite),
            normalise("a OR b AND c", Backend::Sqlite)
        );
        assert_eq!(normalise("(a - b) - c", Backend::Sqlite), "a - b - c");
        assert_eq!(normalise("a - (b - c)", Backend::Sqlite), "a - (b - c)");
    }

    #[test]
    fn casts_quotes_and_operators_are_spelled_one_way() {
        assert_eq!(pg("(price > (0)::numeric)"), "price > 0");
        assert_eq!(pg("(qty > '-1'::integer)"), "qty > -1");
        assert_eq!(normalise("\"Price\" != 0", Backend::Sqlite), "price <> 0");
        assert_eq!(
            normalise("CAST(x AS INTEGER) >= 1", Backend::Sqlite),
            "x >= 1"
        );
        assert_eq!(pg("(name ~~ 'a%'::text)"), "name like 'a%'");
        assert_eq!(pg("(length((name)::text) > 0)"), "length(name) > 0");
        assert_eq!(
            normalise("LENGTH(name) BETWEEN 1 AND 10", Backend::Sqlite),
            pg("((length((name)::text) >= 1) AND (length((name)::text) <= 10))")
        );
        assert_eq!(
            normalise("x NOT BETWEEN 1 AND 2", Backend::Sqlite),
            pg("((x < 1) OR (x > 2))")
        );
        assert_eq!(
            pg("((ends_at IS NULL) OR (ends_at > starts_at))"),
            "ends_at is null or ends_at > starts_at"
        );
        assert_eq!(
            normalise("lower(`name`)", Backend::MySql),
            pg("lower((name)::text)")
        );
    }

    #[test]
    fn functions_are_named_by_what_they_compute() {
        let sqlite = normalise("length(body) > 0", Backend::Sqlite);
        assert_eq!(normalise("char_length(`body`) > 0", Backend::MySql), sqlite);
        assert_eq!(pg("(length(body) > 0)"), sqlite);
        assert_ne!(normalise("length(`body`) > 0", Backend::MySql), sqlite);
        assert_eq!(
            normalise("length(`body`) > 0", Backend::MySql),
            pg("(octet_length(body) > 0)")
        );
    }

    #[test]
    fn intervals_read_alike() {
        assert_eq!(
            pg("(now() - '30 days'::interval)"),
            normalise("now() - interval '30 days'", Backend::Postgres)
        );
        assert_eq!(
            normalise("(current_timestamp(6) - interval 30 day)", Backend::MySql),
            "current_timestamp(6) - interval 30 day"
        );
        assert_eq!(
            normalise("NOW() + INTERVAL (1 + 2) HOUR", Backend::MySql),
            "now() + interval (1 + 2) hour"
        );
        assert_eq!(
            normalise("now() - INTERVAL '1' DAY", Backend::MySql),
            "now() - interval '1' day"
        );
    }

    #[test]
    fn what_it_cannot_parse_it_keeps_as_tokens() {
        assert_eq!(
            normalise("a  @@  to_tsquery('x')", Backend::Postgres),
            "a @ @ to_tsquery ( 'x' )"
        );
    }

    #[test]
    fn identifiers_are_the_columns_an_expression_mentions() {
        assert_eq!(
            identifiers("b > a and lower(name) in ('x')"),
            ["a", "b", "name"]
        );
    }
}
