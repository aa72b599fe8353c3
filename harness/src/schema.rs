//! One normalised model of a database schema, whatever the backend.
//!
//! Each backend's introspection fills a [`Schema`]; everything else — the staircase's "down
//! restores the previous schema", the snapshots, the parity check — compares or prints these
//! values, so it is written once. Everything is sorted, so two introspections of the same schema
//! are equal and print identically. Migration bookkeeping tables (`_sqlx_migrations`) and the
//! indexes that merely back a primary key are left out.

use std::collections::BTreeMap;
use std::fmt;

/// The logical types of SPEC §2, as far as a backend's native type tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Logical {
    Uuid,
    /// `VARCHAR(n)` (`None`: no length, as SQLite's TEXT).
    ShortText(Option<u32>),
    LongText,
    Boolean,
    Timestamp,
    Json,
    Integer,
    BigInt,
    /// SQLite's TEXT without more to go on: any of uuid, short/long text or timestamp.
    AnyText,
    /// SQLite's INTEGER: integer or bigint.
    AnyInteger,
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
            Logical::Json => f.write_str("json"),
            Logical::Integer => f.write_str("integer"),
            Logical::BigInt => f.write_str("bigint"),
            Logical::AnyText => f.write_str("text"),
            Logical::AnyInteger => f.write_str("any_integer"),
            Logical::Other(native) => write!(f, "other({native})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type as the backend reports it, lower-case (`varchar(64)`, `timestamp with time zone`).
    pub native_type: String,
    pub logical: Logical,
    pub nullable: bool,
    /// The default expression, normalised (casts stripped, booleans as `true`/`false`).
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    /// `CASCADE`, `SET NULL`, `RESTRICT`, `NO ACTION`, `SET DEFAULT`.
    pub on_delete: String,
    pub on_update: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    /// The key parts in order: a column name or an expression, followed by ` COLLATE x`, an
    /// operator class or ` DESC` where the index does not use the default.
    pub columns: Vec<String>,
    pub unique: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// In declaration order.
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    /// Named foreign keys, by name.
    pub foreign_keys: BTreeMap<String, ForeignKey>,
    /// Check constraints: name → expression as the backend prints it. SQLite reports no names
    /// for column checks; those are keyed `<column>#check`.
    pub checks: BTreeMap<String, String>,
    /// Secondary indexes by name (unique constraints included, primary key excluded).
    pub indexes: BTreeMap<String, Index>,
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
    /// equal.
    pub fn diff(&self, actual: &Schema) -> Vec<String> {
        let mut out = Vec::new();
        for (name, table) in &self.tables {
            match actual.tables.get(name) {
                None => out.push(format!("table {name}: missing")),
                Some(other) => diff_table(name, table, other, &mut out),
            }
        }
        for name in actual.tables.keys() {
            if !self.tables.contains_key(name) {
                out.push(format!("table {name}: unexpected"));
            }
        }
        out.iter().map(|line| one_line(line)).collect()
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

fn diff_table(name: &str, expected: &Table, actual: &Table, out: &mut Vec<String>) {
    let expected_cols: BTreeMap<_, _> = expected.columns.iter().map(|c| (&c.name, c)).collect();
    let actual_cols: BTreeMap<_, _> = actual.columns.iter().map(|c| (&c.name, c)).collect();
    diff_maps(
        &format!("{name}: column"),
        &expected_cols,
        &actual_cols,
        out,
        |c| column_line(c),
    );
    let names = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if expected_cols.keys().eq(actual_cols.keys()) && names(expected) != names(actual) {
        out.push(format!(
            "{name}: column order {:?} became {:?}",
            names(expected),
            names(actual)
        ));
    }
    if expected.primary_key != actual.primary_key {
        out.push(format!(
            "{name}: primary key ({}) became ({})",
            expected.primary_key.join(", "),
            actual.primary_key.join(", ")
        ));
    }
    diff_maps(
        &format!("{name}: foreign key"),
        &expected.foreign_keys,
        &actual.foreign_keys,
        out,
        fk_line,
    );
    diff_maps(
        &format!("{name}: check"),
        &expected.checks,
        &actual.checks,
        out,
        |c| c.clone(),
    );
    diff_maps(
        &format!("{name}: index"),
        &expected.indexes,
        &actual.indexes,
        out,
        index_line,
    );
}

fn diff_maps<K: fmt::Display + Ord, V: PartialEq>(
    what: &str,
    expected: &BTreeMap<K, V>,
    actual: &BTreeMap<K, V>,
    out: &mut Vec<String>,
    show: impl Fn(&V) -> String,
) {
    for (key, value) in expected {
        match actual.get(key) {
            None => out.push(format!("{what} {key}: missing (expected {})", show(value))),
            Some(other) if other != value => out.push(format!(
                "{what} {key}: expected {}, found {}",
                show(value),
                show(other)
            )),
            Some(_) => {}
        }
    }
    for (key, value) in actual {
        if !expected.contains_key(key) {
            out.push(format!("{what} {key}: unexpected ({})", show(value)));
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
        "({}) -> {} ({}) on delete {} on update {}",
        fk.columns.join(", "),
        fk.ref_table,
        fk.ref_columns.join(", "),
        fk.on_delete,
        fk.on_update
    )
}

fn index_line(ix: &Index) -> String {
    format!(
        "{}({})",
        if ix.unique { "unique " } else { "" },
        ix.columns.join(", ")
    )
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
            for (fk_name, fk) in &table.foreign_keys {
                writeln!(f, "  foreign key {fk_name} {}", fk_line(fk))?;
            }
            for (check_name, expr) in &table.checks {
                writeln!(f, "  check {check_name} {expr}")?;
            }
            for (ix_name, ix) in &table.indexes {
                writeln!(f, "  index {ix_name} {}", index_line(ix))?;
            }
        }
        Ok(())
    }
}

/// Normalises a default expression: drops PostgreSQL casts (`'x'::character varying`), the
/// MariaDB `NULL` string, surrounding parentheses, and spells booleans `true`/`false`.
pub fn normalise_default(raw: Option<&str>, logical: &Logical) -> Option<String> {
    let mut text = raw?.trim().to_owned();
    if text.eq_ignore_ascii_case("null") {
        return None;
    }
    while text.starts_with('(') && text.ends_with(')') {
        text = text[1..text.len() - 1].trim().to_owned();
    }
    if let Some(pos) = text.rfind("::")
        && !text[pos..].contains('\'')
    {
        text.truncate(pos);
    }
    if *logical == Logical::Boolean {
        match text.to_ascii_lowercase().as_str() {
            "0" | "false" | "'0'" | "b'0'" => return Some("false".into()),
            "1" | "true" | "'1'" | "b'1'" => return Some("true".into()),
            _ => {}
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_difference_is_one_line_however_the_expression_was_written() {
        let mut expected = Schema::default();
        let mut t = Table::default();
        t.checks.insert("ck".into(), "a > 0\n    AND b > 0".into());
        expected.tables.insert("t".into(), t);
        let diff = expected.diff(&Schema {
            tables: [("t".to_owned(), Table::default())].into(),
        });
        assert_eq!(
            diff,
            ["t: check ck: missing (expected a > 0\\n    AND b > 0)"]
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
    fn identical_schemas_have_no_diff() {
        let mut s = Schema::default();
        s.tables.insert("t".into(), table(&[("id", "text")]));
        assert_eq!(s.diff(&s.clone()), Vec::<String>::new());
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
        t.indexes.insert(
            "idx_t_a".into(),
            Index {
                columns: vec!["a".into()],
                unique: false,
            },
        );
        actual.tables.insert("u".into(), Table::default());
        assert_eq!(
            expected.diff(&actual),
            [
                "t: column a: expected text [text] not null, found integer [text] not null",
                "t: index idx_t_a: unexpected ((a))",
                "table u: unexpected",
            ]
        );
    }

    #[test]
    fn defaults_are_normalised_across_dialects() {
        let b = Logical::Boolean;
        assert_eq!(normalise_default(Some("0"), &b).as_deref(), Some("false"));
        assert_eq!(
            normalise_default(Some("false"), &b).as_deref(),
            Some("false")
        );
        let t = Logical::ShortText(Some(16));
        assert_eq!(
            normalise_default(Some("'pending'::character varying"), &t).as_deref(),
            Some("'pending'")
        );
        assert_eq!(normalise_default(Some("NULL"), &t), None);
        assert_eq!(normalise_default(None, &t), None);
    }
}
