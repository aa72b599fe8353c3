//! One canonical spelling of a SQL expression (a check, an index key part, a partial index's
//! predicate, a default), whatever the dialect printed.
//!
//! Each backend gives an expression back its own way: PostgreSQL reparses and prints it with
//! casts and a pair of parentheses around every operation (`((status)::text = ANY
//! ((ARRAY['a'::character varying])::text[]))`), MySQL and MariaDB with back-quoted identifiers and
//! charset introducers (`` `status` in (_utf8mb4'a') ``), SQLite as it was written. The harness
//! compares expressions across dialects and before/after a down, so it reads each with sqlparser
//! (in the dialect that printed it) and rewrites the tree into one form: identifiers lower-case
//! and unqualified, casts dropped (`x::text`, `CAST(x AS t)`), `= ANY (ARRAY[…])` as `IN (…)`,
//! `BETWEEN` as PostgreSQL rewrites it, `interval '1 day'` as PostgreSQL prints it (`'1 day'`,
//! a cast), `~~` as `LIKE`, introducers dropped, a function by what it computes (MySQL's
//! `char_length` is `length`, its `length` `octet_length`), and parentheses only where the
//! operators' precedence needs them; printed with keywords lower-case. What sqlparser cannot
//! parse is kept as its tokens, lower-cased and joined by single spaces, so two spellings that
//! differ only in layout still agree.

use std::ops::ControlFlow;

use crate::sql::ast::{
    BinaryOperator as Op, DataType, Expr, Ident, InTarget, ObjectName, UnaryOperator, Value,
    visit_expressions, visit_expressions_mut,
};
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
    match sql::parse_expression(&text, kind) {
        Ok(mut expression) => {
            let _ = visit_expressions_mut(&mut expression, |e| {
                canonical(e, kind);
                ControlFlow::<()>::Continue(())
            });
            lower_case_outside_strings(&expression.to_string())
        }
        Err(_) => match tokens(&text, kind) {
            Ok(tokens) => tokens
                .iter()
                .map(|token| match token {
                    Token::Word(w) | Token::Quoted(w) => w.to_lowercase(),
                    Token::Number(n) => n.clone(),
                    Token::Str(s) => format!("'{}'", s.replace('\'', "''")),
                    Token::Symbol(c) => c.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" "),
            // Not even tokens (an unterminated quote): its words, one space apart.
            Err(_) => text.split_whitespace().collect::<Vec<_>>().join(" "),
        },
    }
}

/// The column names `expression` (canonical) mentions, sorted: what pairs two checks that are
/// not spelled alike but are about the same columns.
pub fn identifiers(expression: &str) -> Vec<String> {
    let mut names: Vec<String> = match sql::parse_expression(expression, Backend::Postgres) {
        Ok(tree) => {
            let mut names = Vec::new();
            let _ = visit_expressions(&tree, |e| {
                if let Expr::Identifier(ident) = e {
                    names.push(ident.value.clone());
                }
                ControlFlow::<()>::Continue(())
            });
            names
        }
        // The canonical form of what sqlparser cannot parse: its words not followed by `(`.
        Err(_) => {
            let tokens = tokens(expression, Backend::Postgres).unwrap_or_default();
            tokens
                .iter()
                .enumerate()
                .filter(|(i, _)| tokens.get(i + 1) != Some(&Token::Symbol('(')))
                .filter_map(|(_, t)| match t {
                    Token::Word(w) => Some(w.clone()),
                    _ => None,
                })
                .collect()
        }
    };
    names.sort();
    names.dedup();
    names
}

/// The tokens of `text`, all its statements' in a row.
fn tokens(text: &str, kind: Backend) -> Result<Vec<Token>, sql::Unterminated> {
    Ok(sql::split(text, kind)?
        .statements
        .into_iter()
        .flat_map(|s| s.tokens)
        .collect())
}

/// sqlparser prints keywords upper-case; the canonical form is lower-case but for the text of
/// string literals and of the quoted names it was not rewritten to unquote (a collation's).
fn lower_case_outside_strings(printed: &str) -> String {
    let mut out = String::with_capacity(printed.len());
    let mut quote: Option<char> = None;
    for c in printed.chars() {
        // A doubled quote inside closes and reopens it: the same characters either way.
        match quote {
            Some(open) if c == open => quote = None,
            None if matches!(c, '\'' | '"' | '`') => quote = Some(c),
            _ => {}
        }
        if quote.is_some() || matches!(c, '\'' | '"' | '`') {
            out.push(c);
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// A function's name by what it computes, where the dialects spell one function differently:
/// the length in characters is SQLite's and PostgreSQL's `length`, MySQL's `char_length` (whose
/// `length` counts bytes, PostgreSQL's `octet_length`).
fn function_name(kind: Backend, name: &str) -> String {
    let name = name.to_lowercase();
    match (kind, name.as_str()) {
        (_, "char_length" | "character_length") => "length".to_owned(),
        (Backend::MySql, "length") => "octet_length".to_owned(),
        _ => name,
    }
}

fn lower_ident(ident: &Ident) -> Ident {
    Ident::new(ident.value.to_lowercase())
}

/// Rewrites `e`, whose operands are canonical already (the tree is walked bottom-up), into
/// the canonical form.
fn canonical(e: &mut Expr, kind: Backend) {
    let taken = std::mem::replace(e, Expr::Value(Value::Null.into()));
    *e = match taken {
        Expr::Nested(inner) => *inner,
        Expr::Cast {
            expr, data_type, ..
        } => match *expr {
            // `'-1'::integer`: PostgreSQL prints a negative number as a cast string.
            Expr::Value(v)
                if is_numeric(&data_type)
                    && matches!(&v.value, Value::SingleQuotedString(s) if s.parse::<f64>().is_ok()) =>
            {
                let Value::SingleQuotedString(number) = v.value else {
                    unreachable!("matched above")
                };
                match number.strip_prefix('-') {
                    Some(positive) => Expr::UnaryOp {
                        op: UnaryOperator::Minus,
                        expr: Box::new(Expr::value(Value::Number(positive.to_owned(), false))),
                    },
                    None => Expr::value(Value::Number(number, false)),
                }
            }
            inner => inner,
        },
        Expr::Identifier(ident) => Expr::Identifier(lower_ident(&ident)),
        // `t.col`: the table is the one the expression belongs to.
        Expr::CompoundIdentifier(mut parts) => match parts.pop() {
            Some(column) => Expr::Identifier(lower_ident(&column)),
            None => Expr::CompoundIdentifier(parts),
        },
        // `_utf8mb4'x'`: the introducer says nothing about the value.
        Expr::Prefixed { value, .. } => *value,
        // `x = ANY (ARRAY[a, b])` is PostgreSQL's `x IN (a, b)`, `<> ALL` its `NOT IN`.
        Expr::AnyOp {
            left,
            compare_op: Op::Eq,
            right,
            ..
        } if matches!(*right, Expr::Array(_)) => in_list(left, *right, false),
        Expr::AllOp {
            left,
            compare_op: Op::NotEq,
            right,
        } if matches!(*right, Expr::Array(_)) => in_list(left, *right, true),
        // PostgreSQL prints `x BETWEEN a AND b` as `x >= a AND x <= b`.
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let (low_op, high_op, join) = match negated {
                false => (Op::GtEq, Op::LtEq, Op::And),
                true => (Op::Lt, Op::Gt, Op::Or),
            };
            binary(
                binary((*expr).clone(), low_op, *low),
                join,
                binary(*expr, high_op, *high),
            )
        }
        Expr::BinaryOp { left, op, right } => match op {
            Op::PGLikeMatch | Op::PGNotLikeMatch | Op::PGILikeMatch | Op::PGNotILikeMatch => {
                let negated = matches!(op, Op::PGNotLikeMatch | Op::PGNotILikeMatch);
                let (expr, pattern) = (left, right);
                let like = match op {
                    Op::PGLikeMatch | Op::PGNotLikeMatch => Expr::Like {
                        negated,
                        any: false,
                        expr,
                        pattern,
                        escape_char: None,
                    },
                    _ => Expr::ILike {
                        negated,
                        any: false,
                        expr,
                        pattern,
                        escape_char: None,
                    },
                };
                parenthesised(like)
            }
            op => binary(*left, op, *right),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => *expr,
        // PostgreSQL's `interval '30 days'` is a typed literal, which it prints as a cast
        // (`'30 days'::interval`): the type goes, as a cast's does. MySQL's `INTERVAL 30 DAY`
        // keeps its unit.
        Expr::Interval(interval) if interval.leading_field.is_none() => *interval.value,
        Expr::Interval(mut interval) => {
            interval.value = Box::new(wrapped(*interval.value, UNARY));
            Expr::Interval(interval)
        }
        Expr::Function(mut function) => {
            function.name = ObjectName::from(vec![Ident::new(function_name(
                kind,
                &function.name.to_string(),
            ))]);
            Expr::Function(function)
        }
        other => parenthesised(other),
    };
}

/// `left [NOT] IN (…)`, the items of `array`, an `ARRAY[…]`.
fn in_list(left: Box<Expr>, array: Expr, negated: bool) -> Expr {
    let Expr::Array(array) = array else {
        unreachable!("called with an ARRAY")
    };
    Expr::In {
        expr: left,
        target: InTarget::List(array.elem),
        negated,
        global: false,
    }
}

fn is_numeric(data_type: &DataType) -> bool {
    let name = data_type.to_string().to_lowercase();
    [
        "int", "bigint", "smallint", "numeric", "decimal", "real", "double", "float",
    ]
    .iter()
    .any(|numeric| name.starts_with(numeric))
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

/// How tightly `e`'s outermost operator binds.
fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::BinaryOp { op, .. } => binary_precedence(op),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        } => NOT,
        Expr::UnaryOp { .. } => UNARY,
        Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::In { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::SimilarTo { .. }
        | Expr::RLike { .. }
        | Expr::AnyOp { .. }
        | Expr::AllOp { .. } => COMPARE,
        _ => ATOM,
    }
}

fn binary_precedence(op: &Op) -> u8 {
    match op {
        Op::Or => OR,
        Op::And => AND,
        Op::StringConcat => CONCAT,
        Op::Plus | Op::Minus => ADD,
        Op::Multiply | Op::Divide | Op::Modulo => MUL,
        _ => COMPARE,
    }
}

/// `e` in parentheses when its outermost operator binds less tightly than `at_least`.
fn wrapped(e: Expr, at_least: u8) -> Expr {
    if precedence(&e) < at_least {
        Expr::Nested(Box::new(e))
    } else {
        e
    }
}

/// `left op right`, each side in parentheses only where precedence needs them: associative
/// operators chain without, a comparison's operands are never comparisons themselves.
fn binary(left: Expr, op: Op, right: Expr) -> Expr {
    let prec = binary_precedence(&op);
    let associative = matches!(
        op,
        Op::Or | Op::And | Op::StringConcat | Op::Plus | Op::Multiply
    );
    Expr::BinaryOp {
        left: Box::new(wrapped(
            left,
            if prec == COMPARE { COMPARE + 1 } else { prec },
        )),
        op,
        right: Box::new(wrapped(right, if associative { prec } else { prec + 1 })),
    }
}

/// `e` with its operands in parentheses where precedence needs them.
fn parenthesised(e: Expr) -> Expr {
    let operand = |x: Box<Expr>| Box::new(wrapped(*x, COMPARE + 1));
    match e {
        Expr::UnaryOp { op, expr } => {
            let at_least = if op == UnaryOperator::Not { NOT } else { UNARY };
            Expr::UnaryOp {
                op,
                expr: Box::new(wrapped(*expr, at_least)),
            }
        }
        Expr::IsNull(x) => Expr::IsNull(operand(x)),
        Expr::IsNotNull(x) => Expr::IsNotNull(operand(x)),
        Expr::In {
            expr,
            target,
            negated,
            global,
        } => Expr::In {
            expr: operand(expr),
            target,
            negated,
            global,
        },
        Expr::Like {
            negated,
            any,
            expr,
            pattern,
            escape_char,
        } => Expr::Like {
            negated,
            any,
            expr: operand(expr),
            pattern: operand(pattern),
            escape_char,
        },
        Expr::ILike {
            negated,
            any,
            expr,
            pattern,
            escape_char,
        } => Expr::ILike {
            negated,
            any,
            expr: operand(expr),
            pattern: operand(pattern),
            escape_char,
        },
        other => other,
    }
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
        // PostgreSQL prints an XML predicate this way; sqlparser has no PASSING clause.
        let printed = "xmlexists('//a'  PASSING BY REF x)";
        assert!(sql::parse_expression(printed, Backend::Postgres).is_err());
        assert_eq!(pg(printed), "xmlexists ( '//a' passing by ref x )");
        assert_eq!(identifiers(&pg(printed)), ["by", "passing", "ref", "x"]);
        // Not even tokens: the words as written, one space apart.
        assert_eq!(pg("A  = 'open"), "A = 'open");
        assert_eq!(identifiers("A = 'open"), Vec::<String>::new());
    }

    #[test]
    fn quoted_names_it_does_not_rewrite_keep_their_case() {
        assert_eq!(pg("((name)::text COLLATE \"C\")"), "name collate \"C\"");
    }

    #[test]
    fn identifiers_are_the_columns_an_expression_mentions() {
        assert_eq!(
            identifiers("b > a and lower(name) in ('x')"),
            ["a", "b", "name"]
        );
    }
}
