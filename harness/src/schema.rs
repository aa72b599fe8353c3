//! One normalised model of a database schema, whatever the backend.
//!
//! Each backend's introspection fills a [`Schema`]; everything else — the staircase's "down
//! restores the previous schema", the snapshots, the parity check — compares or prints these
//! values, so it is written once. Everything is sorted, so two introspections of the same schema
//! are equal and print identically. Migration bookkeeping tables (`_sqlx_migrations`) and the
//! indexes that merely back a primary key are left out.

use std::collections::BTreeMap;
use std::fmt;

use crate::expression;
use didhub_migrations::Backend;

/// The logical types every dialect maps to (the types table in docs/migrations.md: uuid, text,
/// boolean, timestamp, JSON), and the other types sqlx maps, as far as a backend's native type
/// tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Logical {
    /// `uuid`, and `CHAR(36)` in every dialect. MySQL has no UUID type (MariaDB's came in
    /// 10.7), so `CHAR(36)` is how a project stores one there, and PostgreSQL's `UUID` must
    /// agree with it; a declared type must read the same in every dialect, so PostgreSQL's and
    /// SQLite's `CHAR(36)` are a uuid too (a fixed 36-character text is a uuid's text in
    /// practice). `VARCHAR(36)` stays short text.
    Uuid,
    /// `VARCHAR(n)` (`None`: no length).
    ShortText(Option<u32>),
    LongText,
    Boolean,
    /// A point in time, with or without a zone (`timestamptz`, `timestamp`, `datetime(6)`).
    Timestamp,
    Date,
    Time,
    Json,
    SmallInt,
    Integer,
    BigInt,
    /// Single precision (`real`, `float`).
    Float,
    /// Double precision (`double precision`, `double`).
    Double,
    /// `numeric(p, s)` / `decimal(p, s)` (`None`: no precision given).
    Decimal(Option<(u32, u32)>),
    /// `bytea`, `blob`, `varbinary(n)`.
    Blob,
    /// SQLite's TEXT without more to go on: any of uuid, short/long text, timestamp, date, time
    /// or decimal (SQLite has no such types; it stores them as text).
    AnyText,
    /// SQLite's INTEGER: any integer, or a boolean.
    AnyInteger,
    /// SQLite's REAL: single or double precision.
    AnyReal,
    /// A native type the harness does not map.
    Other(String),
}

impl fmt::Display for Logical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Logical::Uuid => f.write_str("uuid"),
            Logical::ShortText(Some(n)) => write!(f, "short_text({n})"),
            Logical::ShortText(None) => f.write_str("short_text"),
            Logical::LongText => f.write_str("long_text"),
            Logical::Boolean => f.write_str("boolean"),
            Logical::Timestamp => f.write_str("timestamp"),
            Logical::Date => f.write_str("date"),
            Logical::Time => f.write_str("time"),
            Logical::Json => f.write_str("json"),
            Logical::SmallInt => f.write_str("smallint"),
            Logical::Integer => f.write_str("integer"),
            Logical::BigInt => f.write_str("bigint"),
            Logical::Float => f.write_str("float"),
            Logical::Double => f.write_str("double"),
            Logical::Decimal(Some((p, s))) => write!(f, "decimal({p},{s})"),
            Logical::Decimal(None) => f.write_str("decimal"),
            Logical::Blob => f.write_str("blob"),
            Logical::AnyText => f.write_str("text"),
            Logical::AnyInteger => f.write_str("any_integer"),
            Logical::AnyReal => f.write_str("any_real"),
            Logical::Other(native) => write!(f, "other({native})"),
        }
    }
}

impl Logical {
    /// `numeric(10,2)`'s precision and scale.
    pub fn decimal(native: &str) -> Logical {
        let args = native
            .split_once('(')
            .and_then(|(_, rest)| rest.strip_suffix(')'))
            .and_then(|args| args.split_once(','))
            .and_then(|(p, s)| Some((p.trim().parse().ok()?, s.trim().parse().ok()?)));
        Logical::Decimal(args)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type as the backend reports it, lower-case (`varchar(64)`, `timestamp with time zone`).
    pub native_type: String,
    pub logical: Logical,
    pub nullable: bool,
    /// The default, normalised (see [`normalise_default`]).
    pub default: Option<String>,
}

/// A constraint's or an index's name, and whether the backend made it up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Name {
    /// `None`: the backend keeps no name (SQLite's unnamed constraints).
    pub text: Option<String>,
    /// The backend generated it (`users_email_key`, `tasks_ibfk_1`, `sqlite_autoindex_users_1`):
    /// the migration gave none, so it is not compared.
    pub generated: bool,
}

impl Name {
    pub fn given(text: impl Into<String>) -> Name {
        Name {
            text: Some(text.into()),
            generated: false,
        }
    }

    /// A name the backend generated.
    pub fn generated(text: Option<String>) -> Name {
        Name {
            text,
            generated: true,
        }
    }

    /// The name the migration gave, if any.
    pub fn given_text(&self) -> Option<&str> {
        self.text.as_deref().filter(|_| !self.generated)
    }

    /// `, named x` for a given name; nothing for a generated one.
    fn suffix(&self) -> String {
        self.given_text()
            .map(|n| format!(", named {n}"))
            .unwrap_or_default()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.text, self.generated) {
            (Some(text), false) => f.write_str(text),
            (Some(text), true) => write!(f, "{text} (generated)"),
            (None, _) => f.write_str("(unnamed)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    pub name: Name,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    /// `CASCADE`, `SET NULL`, `RESTRICT`, `NO ACTION`, `SET DEFAULT`.
    pub on_delete: String,
    pub on_update: String,
}

impl ForeignKey {
    /// What the key is: its columns and what they refer to. Names and actions are aspects.
    pub fn key(&self) -> String {
        format!(
            "({}) -> {} ({})",
            self.columns.join(", "),
            self.ref_table,
            self.ref_columns.join(", ")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    pub name: Name,
    /// The key parts in order: a column name or a canonical expression, followed by
    /// ` COLLATE x`, an operator class or ` DESC` where the index does not use the default.
    pub columns: Vec<String>,
    pub unique: bool,
    /// A partial index's `WHERE`, canonical.
    pub predicate: Option<String>,
    /// An index the backend made by itself to back a foreign key (InnoDB does, where no index
    /// starts with the key's columns).
    pub implicit: bool,
}

impl Index {
    /// What the index is: unique or not, its key parts and its predicate. The name is an aspect.
    pub fn key(&self) -> String {
        let mut key = format!(
            "{}({})",
            if self.unique { "unique " } else { "" },
            self.columns.join(", ")
        );
        if let Some(predicate) = &self.predicate {
            key.push_str(&format!(" where {predicate}"));
        }
        key
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Check {
    pub name: Name,
    /// Canonical ([`expression::normalise`]).
    pub expression: String,
    /// How the dialect spells a type (SQLite's `flag IN (0, 1)` for a boolean,
    /// `json_valid(doc)` for JSON, MariaDB's `json_valid` on a JSON column): part of the column's
    /// type, not a rule of the schema, so parity leaves it out.
    pub spells_type: bool,
}

/// The logical type a check spells for `column`: `json_valid(c)` JSON, `c in (0, 1)` boolean.
pub fn spelled_type(expression: &str, column: &str) -> Option<Logical> {
    let column = column.to_lowercase();
    if expression == format!("json_valid({column})") {
        Some(Logical::Json)
    } else if expression == format!("{column} in (0, 1)") {
        Some(Logical::Boolean)
    } else {
        None
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// In declaration order.
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    /// Foreign keys by [`ForeignKey::key`].
    pub foreign_keys: BTreeMap<String, ForeignKey>,
    /// Check constraints by canonical expression.
    pub checks: BTreeMap<String, Check>,
    /// Secondary indexes by [`Index::key`] (unique constraints included, primary key excluded).
    pub indexes: BTreeMap<String, Index>,
}

/// Inserts `value` under `key`, or `key #2`, `key #3`… when two objects are alike (two equal
/// foreign keys under different names).
fn insert_unique<V>(map: &mut BTreeMap<String, V>, key: String, value: V) {
    let mut candidate = key.clone();
    let mut n = 1;
    while map.contains_key(&candidate) {
        n += 1;
        candidate = format!("{key} #{n}");
    }
    map.insert(candidate, value);
}

impl Table {
    pub fn add_foreign_key(&mut self, fk: ForeignKey) {
        insert_unique(&mut self.foreign_keys, fk.key(), fk);
    }

    pub fn add_index(&mut self, index: Index) {
        insert_unique(&mut self.indexes, index.key(), index);
    }

    /// Adds a check given as the backend prints it; a check that spells a column's type marks
    /// it and sets that column's logical type.
    pub fn add_check(&mut self, name: Name, expression: &str, kind: Backend) {
        let expression = expression::normalise(expression, kind);
        let mut spells_type = false;
        for column in &mut self.columns {
            if let Some(logical) = spelled_type(&expression, &column.name) {
                let fits = matches!(
                    (&logical, &column.logical),
                    (Logical::Json, Logical::AnyText | Logical::LongText)
                        | (Logical::Boolean, Logical::AnyInteger)
                );
                if fits {
                    column.logical = logical;
                }
                spells_type = fits || column.logical == Logical::Json;
            }
        }
        let check = Check {
            name,
            expression: expression.clone(),
            spells_type,
        };
        insert_unique(&mut self.checks, expression, check);
    }

    /// The index called `name`, whatever its key.
    pub fn index_named(&self, name: &str) -> Option<&Index> {
        self.indexes
            .values()
            .find(|ix| ix.name.text.as_deref() == Some(name))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
}

impl Schema {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// What differs between `self` (expected) and `actual`, one line per difference; empty when
    /// equal. Names the backend generated are not compared: InnoDB numbers a foreign key it
    /// re-creates anew.
    pub fn diff(&self, actual: &Schema) -> Vec<Difference> {
        let mut out = Vec::new();
        for (name, table) in &self.tables {
            match actual.tables.get(name) {
                None => out.push(Difference::new(name, "table", None, "missing")),
                Some(other) => diff_table(name, table, other, &mut out),
            }
        }
        for name in actual.tables.keys() {
            if !self.tables.contains_key(name) {
                out.push(Difference::new(name, "table", None, "unexpected"));
            }
        }
        out
    }
}

/// One way a schema differs from the one expected: its table, the part of it (`table` itself,
/// `column`, `column order`, `primary key`, `foreign key`, `check`, `index`) and which one, and
/// the line that says it (`alters: index (name): unexpected …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub table: String,
    pub part: &'static str,
    /// The column, key, check or index, as the line names it.
    pub object: Option<String>,
    pub line: String,
}

impl Difference {
    fn new(table: &str, part: &'static str, object: Option<String>, what: &str) -> Difference {
        let line = match (part, &object) {
            ("table", _) => format!("table {table}: {what}"),
            (_, Some(object)) => format!("{table}: {part} {object}: {what}"),
            (_, None) => format!("{table}: {part} {what}"),
        };
        Difference {
            table: table.to_owned(),
            part,
            object,
            line: one_line(&line),
        }
    }

    /// The lines of `differences`, one under the other (indented as a report shows them).
    pub fn lines(differences: &[Difference]) -> String {
        let lines: Vec<&str> = differences.iter().map(|d| d.line.as_str()).collect();
        lines.join("\n  ")
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

/// `text` on one line: line breaks and tabs written as `\n`, `\r` and `\t`, so that every
/// difference is one line of output however an expression was written (a multi-line check or
/// index expression), and two texts that differ only there still read differently.
pub fn one_line(text: &str) -> String {
    text.replace('\r', "\\r")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

fn diff_table(name: &str, expected: &Table, actual: &Table, out: &mut Vec<Difference>) {
    let expected_cols: BTreeMap<_, _> = expected.columns.iter().map(|c| (&c.name, c)).collect();
    let actual_cols: BTreeMap<_, _> = actual.columns.iter().map(|c| (&c.name, c)).collect();
    diff_maps(name, "column", &expected_cols, &actual_cols, out, |c| {
        column_line(c)
    });
    let names = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if expected_cols.keys().eq(actual_cols.keys()) && names(expected) != names(actual) {
        let what = format!("{:?} became {:?}", names(expected), names(actual));
        out.push(Difference::new(name, "column order", None, &what));
    }
    if expected.primary_key != actual.primary_key {
        let what = format!(
            "({}) became ({})",
            expected.primary_key.join(", "),
            actual.primary_key.join(", ")
        );
        out.push(Difference::new(name, "primary key", None, &what));
    }
    diff_maps(
        name,
        "foreign key",
        &expected.foreign_keys,
        &actual.foreign_keys,
        out,
        fk_line,
    );
    diff_maps(
        name,
        "check",
        &expected.checks,
        &actual.checks,
        out,
        check_line,
    );
    diff_maps(
        name,
        "index",
        &expected.indexes,
        &actual.indexes,
        out,
        index_line,
    );
}

/// Compares by what `show` prints, which leaves out what is not compared (generated names).
fn diff_maps<K: fmt::Display + Ord, V>(
    table: &str,
    part: &'static str,
    expected: &BTreeMap<K, V>,
    actual: &BTreeMap<K, V>,
    out: &mut Vec<Difference>,
    show: impl Fn(&V) -> String,
) {
    let mut differ = |key: &K, what: String| {
        out.push(Difference::new(table, part, Some(key.to_string()), &what));
    };
    for (key, value) in expected {
        match actual.get(key) {
            None => differ(key, format!("missing (expected {})", show(value))),
            Some(other) if show(other) != show(value) => differ(
                key,
                format!("expected {}, found {}", show(value), show(other)),
            ),
            Some(_) => {}
        }
    }
    for (key, value) in actual {
        if !expected.contains_key(key) {
            differ(key, format!("unexpected ({})", show(value)));
        }
    }
}

fn column_line(c: &Column) -> String {
    let mut line = format!("{} [{}]", c.native_type, c.logical);
    if !c.nullable {
        line.push_str(" not null");
    }
    if let Some(default) = &c.default {
        line.push_str(&format!(" default {default}"));
    }
    line
}

fn fk_line(fk: &ForeignKey) -> String {
    format!(
        "{} on delete {} on update {}{}",
        fk.key(),
        fk.on_delete,
        fk.on_update,
        fk.name.suffix()
    )
}

fn check_line(check: &Check) -> String {
    let spells = if check.spells_type {
        " (spells the column's type)"
    } else {
        ""
    };
    format!("{}{spells}{}", check.expression, check.name.suffix())
}

fn index_line(ix: &Index) -> String {
    let implicit = if ix.implicit {
        " (made for a foreign key)"
    } else {
        ""
    };
    format!("{}{implicit}{}", ix.key(), ix.name.suffix())
}

/// The snapshot form: one line per fact, tables and their parts in a fixed order.
impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tables.is_empty() {
            return writeln!(f, "(no tables)");
        }
        for (name, table) in &self.tables {
            writeln!(f, "table {name}")?;
            for c in &table.columns {
                writeln!(f, "  column {} {}", c.name, column_line(c))?;
            }
            writeln!(f, "  primary key ({})", table.primary_key.join(", "))?;
            for fk in table.foreign_keys.values() {
                writeln!(f, "  foreign key {}", fk_line(fk))?;
            }
            for check in table.checks.values() {
                writeln!(f, "  check {}", one_line(&check_line(check)))?;
            }
            for ix in table.indexes.values() {
                writeln!(f, "  index {}", one_line(&index_line(ix)))?;
            }
        }
        Ok(())
    }
}

/// The default of every column that numbers itself: a PostgreSQL sequence or identity, MySQL's
/// `AUTO_INCREMENT`.
pub const AUTO_INCREMENT: &str = "auto increment";

/// The default of SQLite's `INTEGER PRIMARY KEY`, the rowid: numbered by SQLite when no value is
/// given. Every SQLite table keyed by one integer has it, whether the project relies on it or
/// not, so parity takes it to agree with [`AUTO_INCREMENT`] and with no default.
pub const ROWID: &str = "auto increment (rowid)";

/// Normalises a default expression, as `kind` prints it, for a column of type `logical`: one
/// canonical expression ([`expression::normalise`]: casts, quotes and parentheses dropped);
/// every dialect's current time (`now()`, `CURRENT_TIMESTAMP`, `current_timestamp(6)`,
/// `datetime('now')`) is `now` and its current date `today` (see [`clock`]); a sequence is
/// [`AUTO_INCREMENT`]; numbers are spelled without trailing zeros; booleans `true`/`false`.
/// `DEFAULT NULL` is no default (see below).
pub fn normalise_default(raw: Option<&str>, logical: &Logical, kind: Backend) -> Option<String> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return None;
    }
    let text = expression::normalise(raw, kind);
    // A column without a default defaults to NULL, so `DEFAULT NULL` is no default, however the
    // dialect prints it: SQLite keeps `NULL` as written, PostgreSQL stores it cast to the
    // column's type (`NULL::character varying`, whose cast is dropped), MariaDB reports `NULL`
    // for a nullable column with no default. The string 'NULL' stays quoted (`'NULL'`) in every
    // dialect that tells the two apart, and stays a default.
    if text == "null" {
        return None;
    }
    if text.starts_with("nextval(") {
        return Some(AUTO_INCREMENT.to_owned());
    }
    if let Some(clock) = clock(&text) {
        return Some(clock.to_owned());
    }
    if let Ok(number) = text.parse::<f64>()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Some(boolean(&number.to_string(), logical).unwrap_or_else(|| number.to_string()));
    }
    Some(boolean(&text, logical).unwrap_or(text))
}

/// `true`/`false` for a boolean column's default, however the dialect spells it.
pub fn boolean(text: &str, logical: &Logical) -> Option<String> {
    if *logical != Logical::Boolean {
        return None;
    }
    match text {
        "0" | "false" | "'0'" | "b'0'" | "'f'" | "'false'" => Some("false".into()),
        "1" | "true" | "'1'" | "b'1'" | "'t'" | "'true'" => Some("true".into()),
        _ => None,
    }
}

/// `now` or `today` when `text` (canonical) is exactly a dialect's current time or date, and
/// nothing else: a precision (`current_timestamp(6)`, SQLite's `'subsec'`) changes how much of
/// the time is kept, not which time it is, but an offset or any other modifier
/// (`datetime('now', '-30 days')`, `now() - '1 day'`, `datetime('now', 'localtime')`) makes
/// another time, so such a default keeps its canonical text and differs from `now`.
fn clock(text: &str) -> Option<&'static str> {
    // `name`, `name()` or `name(6)`.
    let call = |name: &str| match text.strip_prefix(name) {
        Some("" | "()") => true,
        Some(rest) => rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit())),
        None => false,
    };
    let today = ["current_date", "curdate", "utc_date"];
    if today.iter().any(|n| call(n)) || sqlite_clock(text, "date", 0) {
        return Some("today");
    }
    let now = [
        "now",
        "current_timestamp",
        "localtimestamp",
        "transaction_timestamp",
        "statement_timestamp",
        "clock_timestamp",
        "utc_timestamp",
        "sysdate",
    ];
    let now = now.iter().any(|n| call(n))
        || sqlite_clock(text, "datetime", 0)
        || sqlite_clock(text, "strftime", 1)
        || utc(text);
    now.then_some("now")
}

/// SQLite's `name('now')` (or `name()`, which means the same), after `formats` leading
/// arguments (`strftime`'s format), with no modifier but `'subsec'`.
fn sqlite_clock(text: &str, name: &str, formats: usize) -> bool {
    let Some(args) = text
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.strip_suffix(')'))
        .and_then(string_arguments)
    else {
        return false;
    };
    let Some(rest) = args.get(formats..) else {
        return false;
    };
    let (time, modifiers) = rest.split_first().unwrap_or((&"now", &[]));
    time.eq_ignore_ascii_case("now")
        && modifiers
            .iter()
            .all(|m| m.eq_ignore_ascii_case("subsec") || m.eq_ignore_ascii_case("subsecond"))
}

/// A canonical argument list of string literals only (`'now', '-30 days'`): their texts.
fn string_arguments(list: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = list.trim();
    while !rest.is_empty() {
        let body = rest.strip_prefix('\'')?;
        // The literal ends at a quote that is not doubled.
        let mut end = None;
        let bytes = body.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\'' {
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                end = Some(i);
                break;
            }
            i += 1;
        }
        let end = end?;
        out.push(&body[..end]);
        rest = body[end + 1..].trim_start();
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
            if rest.is_empty() {
                return None;
            }
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// PostgreSQL's `timezone('utc', now())` (`now() AT TIME ZONE 'utc'`): the current time as a
/// timestamp without zone, in UTC as SQLite's `CURRENT_TIMESTAMP` and a UTC `DATETIME` hold it.
/// In another zone it is another wall-clock time, and keeps its text.
fn utc(text: &str) -> bool {
    text.strip_prefix("timezone(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.split_once(", "))
        .is_some_and(|(zone, time)| {
            ["'utc'", "'etc/utc'", "'gmt'", "'etc/gmt'", "'z'"]
                .iter()
                .any(|z| zone.eq_ignore_ascii_case(z))
                && clock(time) == Some("now")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(diff: &[Difference]) -> Vec<&str> {
        diff.iter().map(|d| d.line.as_str()).collect()
    }

    #[test]
    fn each_difference_is_one_line_however_the_expression_was_written() {
        let mut expected = Schema::default();
        let mut t = Table::default();
        let check = Check {
            name: Name::given("ck"),
            expression: "a > 0\n    AND b > 0".into(),
            spells_type: false,
        };
        t.checks.insert(check.expression.clone(), check);
        expected.tables.insert("t".into(), t);
        let diff = expected.diff(&Schema {
            tables: [("t".to_owned(), Table::default())].into(),
        });
        assert_eq!(
            lines(&diff),
            ["t: check a > 0\\n    AND b > 0: missing (expected a > 0\\n    AND b > 0, named ck)"]
        );
    }

    fn table(columns: &[(&str, &str)]) -> Table {
        Table {
            columns: columns
                .iter()
                .map(|(name, ty)| Column {
                    name: name.to_string(),
                    native_type: ty.to_string(),
                    logical: Logical::AnyText,
                    nullable: false,
                    default: None,
                })
                .collect(),
            primary_key: vec!["id".into()],
            ..Table::default()
        }
    }

    #[test]
    fn names_the_backend_generated_are_not_compared_and_given_ones_are() {
        let fk = |name: Name| ForeignKey {
            name,
            columns: vec!["user_id".into()],
            ref_table: "users".into(),
            ref_columns: vec!["id".into()],
            on_delete: "CASCADE".into(),
            on_update: "NO ACTION".into(),
        };
        let with = |name: Name| {
            let mut t = table(&[("id", "text"), ("user_id", "text")]);
            t.add_foreign_key(fk(name));
            Schema {
                tables: [("t".to_owned(), t)].into(),
            }
        };
        let generated = |n: &str| Name::generated(Some(n.into()));
        assert!(
            with(generated("t_ibfk_1"))
                .diff(&with(generated("t_ibfk_2")))
                .is_empty()
        );
        assert_eq!(
            lines(&with(Name::given("fk_a")).diff(&with(Name::given("fk_b")))),
            [
                "t: foreign key (user_id) -> users (id): expected (user_id) -> users (id) on delete \
              CASCADE on update NO ACTION, named fk_a, found (user_id) -> users (id) on delete \
              CASCADE on update NO ACTION, named fk_b"
            ]
        );
    }

    #[test]
    fn identical_schemas_have_no_diff() {
        let mut s = Schema::default();
        s.tables.insert("t".into(), table(&[("id", "text")]));
        assert!(s.diff(&s.clone()).is_empty());
    }

    #[test]
    fn diffs_name_the_table_and_the_part() {
        let mut expected = Schema::default();
        expected
            .tables
            .insert("t".into(), table(&[("id", "text"), ("a", "text")]));
        let mut actual = expected.clone();
        let t = actual.tables.get_mut("t").unwrap();
        t.columns[1].native_type = "integer".into();
        t.add_index(Index {
            name: Name::given("idx_t_a"),
            columns: vec!["a".into()],
            unique: false,
            predicate: None,
            implicit: false,
        });
        actual.tables.insert("u".into(), Table::default());
        let diff = expected.diff(&actual);
        let parts: Vec<_> = diff
            .iter()
            .map(|d| (d.table.as_str(), d.part, d.object.as_deref()))
            .collect();
        assert_eq!(
            parts,
            [
                ("t", "column", Some("a")),
                ("t", "index", Some("(a)")),
                ("u", "table", None)
            ]
        );
        assert_eq!(
            lines(&diff),
            [
                "t: column a: expected text [text] not null, found integer [text] not null",
                "t: index (a): unexpected ((a), named idx_t_a)",
                "table u: unexpected",
            ]
        );
    }

    #[test]
    fn a_default_is_now_only_when_it_is_exactly_the_current_time() {
        let ts = Logical::Timestamp;
        let d = |raw: &str, kind: Backend| normalise_default(Some(raw), &ts, kind).unwrap();
        for (raw, kind, canonical) in [
            (
                "datetime('now','-30 days')",
                Backend::Sqlite,
                "datetime('now', '-30 days')",
            ),
            (
                "datetime('now', 'localtime')",
                Backend::Sqlite,
                "datetime('now', 'localtime')",
            ),
            (
                "strftime('%Y-%m-%d', 'now', 'start of month')",
                Backend::Sqlite,
                "strftime('%Y-%m-%d', 'now', 'start of month')",
            ),
            (
                "datetime('2024-01-01')",
                Backend::Sqlite,
                "datetime('2024-01-01')",
            ),
            (
                "(now() - '30 days'::interval)",
                Backend::Postgres,
                "now() - '30 days'",
            ),
            (
                "(timezone('utc'::text, now()) - '1 day'::interval)",
                Backend::Postgres,
                "timezone('utc', now()) - '1 day'",
            ),
            (
                "timezone('Europe/Paris'::text, now())",
                Backend::Postgres,
                "timezone('Europe/Paris', now())",
            ),
            (
                "now() - make_interval(days => 30)",
                Backend::Postgres,
                "now() - make_interval(days => 30)",
            ),
        ] {
            assert_eq!(d(raw, kind), canonical, "{raw}");
        }
        assert_eq!(
            normalise_default(
                Some("date('now', '+1 day')"),
                &Logical::Date,
                Backend::Sqlite
            ),
            Some("date('now', '+1 day')".to_owned())
        );
    }

    #[test]
    fn defaults_are_normalised_across_dialects() {
        let b = Logical::Boolean;
        let d = |raw: &str, logical: &Logical, kind: Backend| {
            normalise_default(Some(raw), logical, kind).unwrap_or_default()
        };
        assert_eq!(d("0", &b, Backend::Sqlite), "false");
        assert_eq!(d("false", &b, Backend::Postgres), "false");
        assert_eq!(d("b'1'", &b, Backend::MySql), "true");
        let t = Logical::ShortText(Some(16));
        assert_eq!(
            d("'pending'::character varying", &t, Backend::Postgres),
            "'pending'"
        );
        assert_eq!(normalise_default(Some("NULL"), &t, Backend::MySql), None);
        assert_eq!(normalise_default(None, &t, Backend::Sqlite), None);
        let ts = Logical::Timestamp;
        for (raw, kind) in [
            ("now()", Backend::Postgres),
            ("CURRENT_TIMESTAMP", Backend::Postgres),
            ("timezone('utc'::text, now())", Backend::Postgres),
            ("current_timestamp()", Backend::MySql),
            ("CURRENT_TIMESTAMP(6)", Backend::MySql),
            ("CURRENT_TIMESTAMP", Backend::Sqlite),
            ("datetime('now')", Backend::Sqlite),
            ("(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", Backend::Sqlite),
            ("datetime()", Backend::Sqlite),
            ("datetime('now', 'subsec')", Backend::Sqlite),
        ] {
            assert_eq!(d(raw, &ts, kind), "now", "{raw}");
        }
        assert_eq!(
            d("CURRENT_DATE", &Logical::Date, Backend::Postgres),
            "today"
        );
        assert_eq!(d("date('now')", &Logical::Date, Backend::Sqlite), "today");
        assert_eq!(d("curdate()", &Logical::Date, Backend::MySql), "today");
        for (raw, kind) in [
            ("NULL", Backend::Sqlite),
            ("(NULL)", Backend::Sqlite),
            ("NULL::character varying", Backend::Postgres),
            ("NULL::timestamp with time zone", Backend::Postgres),
            ("NULL", Backend::MySql),
        ] {
            assert_eq!(normalise_default(Some(raw), &t, kind), None, "{raw}");
        }
        for (raw, kind) in [
            ("'NULL'", Backend::Sqlite),
            ("'NULL'::character varying", Backend::Postgres),
            ("'NULL'", Backend::MySql),
        ] {
            assert_eq!(d(raw, &t, kind), "'NULL'", "{raw}");
        }
        let money = Logical::Decimal(Some((10, 2)));
        assert_eq!(
            d("0.00", &money, Backend::MySql),
            d("0", &money, Backend::Sqlite)
        );
        assert_eq!(d("'0'::numeric", &money, Backend::Postgres), "0");
        assert_eq!(
            d(
                "nextval('t_id_seq'::regclass)",
                &Logical::BigInt,
                Backend::Postgres
            ),
            AUTO_INCREMENT
        );
    }
}
