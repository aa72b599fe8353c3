//! Parity: the three dialects' schemas describe the same logical schema at every version.
//!
//! Native types are mapped to logical types first, so `UUID`, `CHAR(36)` and SQLite's `TEXT`
//! agree, as do `BOOLEAN`, `TINYINT(1)` and SQLite's `INTEGER CHECK (x IN (0, 1))`. By default
//! ([`SqliteTypes::Affinity`]) SQLite's `TEXT`, `INTEGER` and `REAL` are compatible with every
//! type SQLite stores that way (a uuid, a timestamp or a decimal as text, a boolean as an integer).
//!
//! What is compared: tables; columns (order, logical type, nullability, default, with every
//! dialect's current time as `now` and booleans read by the column's type); primary keys; and
//! constraints and indexes by what they are, not by what they are called:
//! - foreign keys by their columns and what they refer to; then ON DELETE and ON UPDATE
//!   (on MySQL, RESTRICT and NO ACTION are one action);
//! - indexes (unique constraints among them) by uniqueness, canonical key parts (collation and
//!   operator class included) and partial predicate; the index InnoDB adds by itself to back a
//!   foreign key agrees with an index on those columns or with none;
//! - checks by canonical expression ([`crate::expression`]), leaving out the checks that spell a
//!   type (SQLite's JSON and boolean checks, MariaDB's JSON check).
//!
//! Objects that match nowhere else are paired before they are reported, so that one change is
//! one line: by name (an index whose columns changed in one dialect), then by their columns (a
//! foreign key whose target changed; a check on the same columns with another expression). A
//! drift's subject is `table.<name>` when any dialect names the object, else a description
//! (`tasks.fk(project_id)`, `users.unique(email)`, `items.check(price > 0)`). Names are an
//! aspect of their own, compared only when the project asks for name parity
//! ([`Rules::names`]); names a backend generated agree with each other.
//!
//! Anything else that differs is drift, unless an entry of the allow-list says why; an entry that
//! matches nothing is stale and fails too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use crate::report::{Difference, Finding};
use crate::schema::{self, Check, ForeignKey, Index, Logical, Name, Schema, Table};
use crate::settings_file::SettingsError;
use didhub_migrations::Backend;

/// How parity reads what the dialects cannot say alike: a project's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// Constraint and index names must agree across dialects (where a migration gave one).
    pub names: bool,
    pub sqlite_types: SqliteTypes,
}

/// What SQLite's declared types must say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteTypes {
    /// SQLite's storage classes: `TEXT` holds any text-like type (uuid, timestamp, date, time,
    /// decimal, JSON), `INTEGER` any integer or a boolean, `REAL` a float or a double: the types
    /// SQLite cannot express are not drift.
    #[default]
    Affinity,
    /// The declared type must name the logical type (`UUID`, `DATETIME`, `BOOLEAN`,
    /// `VARCHAR(n)`); `TEXT` and `INTEGER` agree only with text and integers.
    Declared,
}

/// One state of the schemas that parity compares across the dialects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Point {
    /// The same version in every dialect: a history the dialects share.
    Version(i64),
    /// A checkpoint the project names, where each dialect's own version is meant to agree.
    Checkpoint(BTreeMap<Backend, i64>),
    /// Each dialect's newest version reached: where dialects with histories of their own are
    /// meant to agree.
    Newest(BTreeMap<Backend, i64>),
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let each = |versions: &BTreeMap<Backend, i64>| {
            versions
                .iter()
                .map(|(kind, v)| format!("{kind} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Point::Version(v) => write!(f, "version {v}"),
            Point::Checkpoint(versions) => write!(f, "checkpoint ({})", each(versions)),
            // The newest versions are said once, above the differences.
            Point::Newest(_) => write!(f, "newest schemas"),
        }
    }
}

/// What a drift's subject names: a table, one of its columns, or one of its keys, indexes and
/// checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Table,
    Column,
    Object,
}

/// One difference between dialects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Drift {
    /// The first state compared that has it.
    pub at: Point,
    /// The last state compared that has it, when the dialects agree again after it: a
    /// transient difference, one that the newest schemas no longer have. `None` for a lasting
    /// one.
    pub until: Option<Point>,
    /// What the subject names.
    pub part: Part,
    /// `table`, or `table.part` (a column, key, index or check name).
    pub subject: String,
    /// `presence`, `type`, `nullability`, `default`, `columns`, `on_delete`, …
    pub aspect: String,
    /// Each backend's value: where it was last seen.
    pub values: Vec<(Backend, String)>,
}

impl Drift {
    /// Whether the dialects still differ so in the newest state compared.
    pub fn lasting(&self) -> bool {
        self.until.is_none()
    }

    /// The drift as a report's finding: table, column or object, aspect, each backend's value,
    /// the version where the dialects share one, and whether it lasts.
    pub fn finding(&self) -> Finding {
        let (table, part) = match self.subject.split_once('.') {
            Some((table, part)) => (table, Some(part.to_owned())),
            None => (self.subject.as_str(), None),
        };
        Finding {
            version: self.version(),
            table: Some(table.to_owned()),
            column: part.clone().filter(|_| self.part == Part::Column),
            object: part.filter(|_| self.part == Part::Object),
            aspect: Some(self.aspect.clone()),
            values: self
                .values
                .iter()
                .map(|(kind, value)| (kind.name().to_owned(), value.clone()))
                .collect(),
            lasting: Some(self.lasting()),
            message: self.to_string(),
            ..Finding::default()
        }
    }

    /// The version the drift is first seen at, when the dialects share their versions.
    pub fn version(&self) -> Option<i64> {
        match self.at {
            Point::Version(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.until {
            None => write!(f, "{}", self.at)?,
            Some(until) if *until == self.at => {
                write!(f, "{}, not in the newest schemas", self.at)?;
            }
            Some(until) => write!(f, "{} to {until}, not in the newest schemas", self.at)?,
        }
        write!(f, ": {} {}:", self.subject, self.aspect)?;
        for (kind, value) in &self.values {
            write!(f, " {kind}={}", crate::schema::one_line(value))?;
        }
        Ok(())
    }
}

/// Differences that are intended, each with its reason: the settings file's `[[parity.allow]]`,
/// or a file of `[[allow]]` entries given instead.
pub type AllowList = crate::allow::AllowList<Allowed>;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowed {
    pub subject: String,
    pub aspect: String,
    /// Why the dialects may differ here.
    pub reason: String,
}

impl crate::allow::Entry for Allowed {
    type Written = Allowed;

    fn read(entry: &Allowed, _origin: &str) -> Result<Vec<Allowed>, SettingsError> {
        Ok(vec![entry.clone()])
    }

    fn label(&self) -> String {
        format!("{} {}", self.subject, self.aspect)
    }

    fn reason(&self) -> &str {
        &self.reason
    }
}

/// The outcome of comparing every version.
#[derive(Debug, Default)]
pub struct ParityReport {
    /// Drift no entry allows.
    pub drift: Vec<Drift>,
    /// Drift an entry allows, with the entry's reason.
    pub allowed: Vec<(Drift, String)>,
    /// Entries that match nothing any more.
    pub stale: Vec<Allowed>,
}

impl ParityReport {
    pub fn is_ok(&self) -> bool {
        self.drift.is_empty() && self.stale.is_empty()
    }

    /// Every difference compared, failing and allowed, as the report's model holds them.
    pub fn differences(&self) -> Vec<Difference> {
        let failing = self.drift.iter().map(|d| (d, None));
        let allowed = self.allowed.iter().map(|(d, why)| (d, Some(why.clone())));
        failing
            .chain(allowed)
            .map(|(d, allowed)| Difference {
                table: d.subject.split('.').next().unwrap_or_default().to_owned(),
                subject: d.subject.clone(),
                aspect: d.aspect.clone(),
                at: d.at.to_string(),
                values: d
                    .values
                    .iter()
                    .map(|(kind, value)| (kind.name().to_owned(), schema::one_line(value)))
                    .collect(),
                lasting: d.lasting(),
                allowed,
            })
            .collect()
    }
}

impl fmt::Display for ParityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The lasting differences first: they are what the dialects still disagree on.
        for d in self.drift.iter().filter(|d| d.lasting()) {
            writeln!(f, "drift: {d}")?;
        }
        for d in self.drift.iter().filter(|d| !d.lasting()) {
            writeln!(f, "transient drift: {d}")?;
        }
        for a in &self.stale {
            writeln!(
                f,
                "stale allow-list entry: {} {} ({}) matches no difference any more; remove it",
                a.subject, a.aspect, a.reason
            )?;
        }
        if self.is_ok() {
            write!(
                f,
                "the dialects agree ({} allowed difference(s))",
                self.allowed.len()
            )?;
        }
        Ok(())
    }
}

/// Compares the backends' schemas version by version (`schemas[version][backend]`): a history
/// the dialects share.
pub fn check(
    schemas: &BTreeMap<i64, BTreeMap<Backend, Schema>>,
    allow: &AllowList,
    rules: Rules,
) -> ParityReport {
    let points: Vec<(Point, &BTreeMap<Backend, Schema>)> = schemas
        .iter()
        .map(|(version, by_kind)| (Point::Version(*version), by_kind))
        .collect();
    check_points(&points, allow, rules)
}

/// Compares the backends' schemas at each state of `points`, oldest first. A difference is
/// reported once: lasting when the last state that compares its backends still has it (with
/// the values it has there), transient otherwise (from the first state that has it to the
/// last).
pub fn check_points(
    points: &[(Point, &BTreeMap<Backend, Schema>)],
    allow: &AllowList,
    rules: Rules,
) -> ParityReport {
    /// A difference's first and last state (indexes into `points`), and its values there.
    struct Seen {
        first: usize,
        last: usize,
        part: Part,
        values: Vec<(Backend, String)>,
    }
    let mut seen: BTreeMap<(String, String), Seen> = BTreeMap::new();
    for (i, (point, by_kind)) in points.iter().enumerate() {
        let mut found = BTreeSet::new();
        compare(point, by_kind, rules, &mut found);
        for drift in found {
            let key = (drift.subject, drift.aspect);
            seen.entry(key)
                .and_modify(|seen| {
                    seen.last = i;
                    seen.values.clone_from(&drift.values);
                })
                .or_insert(Seen {
                    first: i,
                    last: i,
                    part: drift.part,
                    values: drift.values,
                });
        }
    }
    // The last state that compares every backend of a difference: one that stopped walking
    // early is not compared after it, which does not make its difference go away.
    let last_with = |values: &[(Backend, String)]| {
        points
            .iter()
            .rposition(|(_, by_kind)| values.iter().all(|(k, _)| by_kind.contains_key(k)))
            .unwrap_or(0)
    };
    let mut all: Vec<Drift> = seen
        .into_iter()
        .map(
            |(
                (subject, aspect),
                Seen {
                    first,
                    last,
                    part,
                    values,
                },
            )| Drift {
                at: points[first].0.clone(),
                part,
                until: (last < last_with(&values)).then(|| points[last].0.clone()),
                subject,
                aspect,
                values,
            },
        )
        .collect();
    all.sort();
    let mut report = ParityReport::default();
    let mut uses = allow.uses();
    for drift in all {
        let covers = |a: &Allowed| a.subject == drift.subject && a.aspect == drift.aspect;
        if uses.allows(covers) {
            let reason = allow
                .allow
                .iter()
                .find(|a| covers(a))
                .map(|a| a.reason.clone());
            report.allowed.push((drift, reason.unwrap_or_default()));
        } else {
            report.drift.push(drift);
        }
    }
    report.stale = uses.unused().cloned().collect();
    report
}

fn compatible(a: &Logical, b: &Logical, sqlite: SqliteTypes) -> bool {
    use Logical::*;
    let affinity = sqlite == SqliteTypes::Affinity;
    let texty = |l: &Logical| match l {
        ShortText(_) | LongText | AnyText => true,
        Uuid | Timestamp | Date | Time | Decimal(_) | Json => affinity,
        _ => false,
    };
    let integral = |l: &Logical| match l {
        SmallInt | Integer | BigInt | AnyInteger => true,
        Boolean => affinity,
        _ => false,
    };
    match (a, b) {
        _ if a == b => true,
        (AnyText, other) | (other, AnyText) => texty(other),
        (AnyInteger, other) | (other, AnyInteger) => integral(other),
        (AnyReal, other) | (other, AnyReal) => {
            matches!(other, Float | Double) || (affinity && matches!(other, Decimal(_)))
        }
        _ => false,
    }
}

/// A foreign key's action as parity compares it. InnoDB enforces RESTRICT and NO ACTION alike
/// (immediately), and MariaDB reports an action left out as RESTRICT, so on MySQL either is
/// [`EITHER`], which agrees with both. On PostgreSQL and SQLite they differ (NO ACTION waits for
/// a deferred check).
fn on_action(kind: Backend, action: &str) -> String {
    match action {
        "RESTRICT" | "NO ACTION" if kind == Backend::MySql => EITHER.to_owned(),
        other => other.to_owned(),
    }
}

const EITHER: &str = "RESTRICT/NO ACTION";

fn same_action(a: &String, b: &String) -> bool {
    let either = |x: &String, y: &String| x == EITHER && (y == "RESTRICT" || y == "NO ACTION");
    a == b || either(a, b) || either(b, a)
}

/// Records a difference when the backends' values for one aspect are not all alike.
fn differ<T: fmt::Display>(
    out: &mut BTreeSet<Drift>,
    at: &Point,
    part: Part,
    subject: &str,
    aspect: &str,
    values: &[(Backend, T)],
    alike: impl Fn(&T, &T) -> bool,
) {
    let agree = values
        .iter()
        .all(|(_, v)| values.iter().all(|(_, w)| alike(v, w)));
    if !agree {
        out.insert(Drift {
            at: at.clone(),
            until: None,
            part,
            subject: subject.to_owned(),
            aspect: aspect.to_owned(),
            values: values.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        });
    }
}

fn shown<T: fmt::Debug>(v: Option<T>) -> String {
    v.map(|v| format!("{v:?}"))
        .unwrap_or_else(|| "absent".into())
}

fn compare(
    at: &Point,
    by_kind: &BTreeMap<Backend, Schema>,
    rules: Rules,
    out: &mut BTreeSet<Drift>,
) {
    let tables: BTreeSet<&String> = by_kind.values().flat_map(|s| s.tables.keys()).collect();
    for table in tables {
        let present: Vec<(Backend, Option<&Table>)> = by_kind
            .iter()
            .map(|(k, s)| (*k, s.tables.get(table)))
            .collect();
        let presence: Vec<(Backend, String)> = present
            .iter()
            .map(|(k, t)| {
                (
                    *k,
                    if t.is_some() { "present" } else { "absent" }.to_owned(),
                )
            })
            .collect();
        differ(
            out,
            at,
            Part::Table,
            table,
            "presence",
            &presence,
            |a, b| a == b,
        );
        let tables: Vec<(Backend, &Table)> = present
            .into_iter()
            .filter_map(|(k, t)| t.map(|t| (k, t)))
            .collect();
        if tables.len() < 2 {
            continue;
        }
        compare_table(at, table, &tables, rules, out);
    }
}

fn compare_table(
    at: &Point,
    table: &str,
    tables: &[(Backend, &Table)],
    rules: Rules,
    out: &mut BTreeSet<Drift>,
) {
    let order: Vec<(Backend, String)> = tables
        .iter()
        .map(|(k, t)| {
            (
                *k,
                t.columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })
        .collect();
    differ(
        out,
        at,
        Part::Table,
        table,
        "column_order",
        &order,
        |a, b| a == b,
    );

    let columns: BTreeSet<&String> = tables
        .iter()
        .flat_map(|(_, t)| t.columns.iter().map(|c| &c.name))
        .collect();
    for column in columns {
        let subject = format!("{table}.{column}");
        let found: Vec<(Backend, Option<&crate::schema::Column>)> = tables
            .iter()
            .map(|(k, t)| (*k, t.columns.iter().find(|c| &c.name == column)))
            .collect();
        let presence: Vec<(Backend, String)> = found
            .iter()
            .map(|(k, c)| (*k, shown(c.map(|_| "present"))))
            .collect();
        differ(
            out,
            at,
            Part::Column,
            &subject,
            "presence",
            &presence,
            |a, b| a == b,
        );
        let cols: Vec<(Backend, &crate::schema::Column)> = found
            .into_iter()
            .filter_map(|(k, c)| c.map(|c| (k, c)))
            .collect();
        let types: Vec<(Backend, Logical)> =
            cols.iter().map(|(k, c)| (*k, c.logical.clone())).collect();
        differ(out, at, Part::Column, &subject, "type", &types, |a, b| {
            compatible(a, b, rules.sqlite_types)
        });
        let nullable: Vec<(Backend, bool)> = cols.iter().map(|(k, c)| (*k, c.nullable)).collect();
        differ(
            out,
            at,
            Part::Column,
            &subject,
            "nullability",
            &nullable,
            |a, b| a == b,
        );
        // A boolean's default is read as a boolean in every dialect, whatever its type there
        // (SQLite's INTEGER `0` is PostgreSQL's `false`): a type difference is reported once.
        let boolean = cols.iter().any(|(_, c)| c.logical == Logical::Boolean);
        let defaults: Vec<(Backend, String)> = cols
            .iter()
            .map(|(k, c)| {
                let default = c.default.as_ref().map(|d| match boolean {
                    true => schema::boolean(d, &Logical::Boolean).unwrap_or_else(|| d.clone()),
                    false => d.clone(),
                });
                (*k, shown(default.as_ref()))
            })
            .collect();
        // SQLite's rowid agrees with a sequence and with no default (see `schema::ROWID`).
        let rowid = format!("{:?}", schema::ROWID);
        let numbered = [format!("{:?}", schema::AUTO_INCREMENT), "absent".to_owned()];
        differ(
            out,
            at,
            Part::Column,
            &subject,
            "default",
            &defaults,
            |a, b| {
                a == b
                    || (*a == rowid && numbered.contains(b))
                    || (*b == rowid && numbered.contains(a))
            },
        );
    }

    let pk: Vec<(Backend, String)> = tables
        .iter()
        .map(|(k, t)| (*k, t.primary_key.join(",")))
        .collect();
    differ(
        out,
        at,
        Part::Object,
        &format!("{table}.primary_key"),
        "columns",
        &pk,
        |a, b| a == b,
    );

    compare_objects(at, table, tables, rules, out, |t| {
        t.foreign_keys.values().collect()
    });
    compare_objects(at, table, tables, rules, out, |t| {
        t.indexes.values().collect()
    });
    compare_objects(at, table, tables, rules, out, |t| {
        t.checks.values().filter(|c| !c.spells_type).collect()
    });
}

/// A kind of object parity matches by what it is: a foreign key, an index, a check.
trait Object {
    /// What it is: equal keys are one object in every dialect.
    fn key(&self) -> String;
    fn name(&self) -> &Name;
    /// What it is about (its columns): pairs two objects that changed in one dialect.
    fn anchor(&self) -> String;
    /// Its label in a drift's subject when no dialect names it.
    fn describe(&self) -> String;
    /// Made by the backend itself, so that it agrees with its presence or its absence elsewhere.
    fn optional(&self) -> bool {
        false
    }
    /// The aspects compared, each as `kind` has it.
    fn aspects(&self, kind: Backend) -> Vec<(&'static str, String)>;
    /// Whether two values of `aspect` agree.
    fn alike(_aspect: &str, a: &String, b: &String) -> bool {
        a == b
    }
}

impl Object for ForeignKey {
    fn key(&self) -> String {
        ForeignKey::key(self)
    }
    fn name(&self) -> &Name {
        &self.name
    }
    fn anchor(&self) -> String {
        self.columns.join(", ")
    }
    fn describe(&self) -> String {
        format!("fk({})", self.columns.join(", "))
    }
    fn aspects(&self, kind: Backend) -> Vec<(&'static str, String)> {
        vec![
            ("target", ForeignKey::key(self)),
            ("on_delete", on_action(kind, &self.on_delete)),
            ("on_update", on_action(kind, &self.on_update)),
        ]
    }
    fn alike(aspect: &str, a: &String, b: &String) -> bool {
        match aspect {
            "on_delete" | "on_update" => same_action(a, b),
            _ => a == b,
        }
    }
}

impl Object for Index {
    fn key(&self) -> String {
        Index::key(self)
    }
    fn name(&self) -> &Name {
        &self.name
    }
    fn anchor(&self) -> String {
        self.columns.join(", ")
    }
    fn describe(&self) -> String {
        let kind = if self.unique { "unique" } else { "index" };
        format!("{kind}({})", self.columns.join(", "))
    }
    fn optional(&self) -> bool {
        self.implicit
    }
    fn aspects(&self, _: Backend) -> Vec<(&'static str, String)> {
        vec![
            ("columns", self.columns.join(", ")),
            ("unique", self.unique.to_string()),
            ("predicate", shown(self.predicate.as_ref())),
        ]
    }
}

impl Object for Check {
    fn key(&self) -> String {
        self.expression.clone()
    }
    fn name(&self) -> &Name {
        &self.name
    }
    fn anchor(&self) -> String {
        crate::expression::identifiers(&self.expression).join(", ")
    }
    fn describe(&self) -> String {
        format!("check({})", self.expression)
    }
    fn aspects(&self, _: Backend) -> Vec<(&'static str, String)> {
        vec![("expression", self.expression.clone())]
    }
}

/// One object as each dialect has it (a dialect that has the table but not the object is
/// missing from the map).
type Group<'a, T> = BTreeMap<Backend, &'a T>;

/// Compares one kind of object (`objects` of each table) across the dialects: grouped by
/// [`pair`], each group reports the dialects that lack it, then each aspect on which those that
/// have it differ, then, under name parity, its name. Names agree when spelled alike or when
/// every dialect made its own up.
fn compare_objects<T: Object>(
    at: &Point,
    table: &str,
    tables: &[(Backend, &Table)],
    rules: Rules,
    out: &mut BTreeSet<Drift>,
    objects: for<'t> fn(&'t Table) -> Vec<&'t T>,
) {
    for group in pair(tables, objects) {
        let any = group.values().next().expect("a group has one object");
        let label = group
            .values()
            .find_map(|o| o.name().given_text().map(str::to_owned))
            .unwrap_or_else(|| any.describe());
        let subject = format!("{table}.{label}");
        let presence: Vec<(Backend, String)> = tables
            .iter()
            .map(|(kind, _)| {
                let value = match group.get(kind) {
                    None => "absent",
                    Some(o) if o.optional() => "implicit",
                    Some(_) => "present",
                };
                (*kind, value.to_owned())
            })
            .collect();
        differ(
            out,
            at,
            Part::Object,
            &subject,
            "presence",
            &presence,
            |a, b| a == b || a == "implicit" || b == "implicit",
        );
        if group.len() < tables.len() {
            continue;
        }
        let aspects: Vec<(Backend, Vec<(&str, String)>)> =
            group.iter().map(|(k, o)| (*k, o.aspects(*k))).collect();
        for (i, (aspect, _)) in aspects[0].1.iter().enumerate() {
            let values: Vec<(Backend, String)> = aspects
                .iter()
                .map(|(k, values)| (*k, values[i].1.clone()))
                .collect();
            differ(out, at, Part::Object, &subject, aspect, &values, |a, b| {
                T::alike(aspect, a, b)
            });
        }
        if rules.names {
            let names: Vec<(Backend, Name)> =
                group.iter().map(|(k, o)| (*k, o.name().clone())).collect();
            differ(out, at, Part::Object, &subject, "name", &names, |a, b| {
                a.text == b.text || (a.generated && b.generated)
            });
        }
    }
}

/// Groups the objects of one kind across dialects: first by what they are (their key); then
/// groups that no dialect has twice are joined by a name that two dialects share, then by what
/// they are about (their anchor), so that an object that changed in one dialect is one group
/// with a difference, not two groups each missing somewhere.
fn pair<'a, T: Object>(
    tables: &[(Backend, &'a Table)],
    objects: fn(&'a Table) -> Vec<&'a T>,
) -> Vec<Group<'a, T>> {
    let mut by_key: BTreeMap<String, Group<'a, T>> = BTreeMap::new();
    for (kind, table) in tables {
        for object in objects(table) {
            let key = object.key();
            // Two alike objects in one dialect: the second is a group of its own.
            let mut slot = key.clone();
            let mut n = 1;
            while by_key.get(&slot).is_some_and(|g| g.contains_key(kind)) {
                n += 1;
                slot = format!("{key} #{n}");
            }
            by_key.entry(slot).or_default().insert(*kind, object);
        }
    }
    let mut groups: Vec<Group<'a, T>> = by_key.into_values().collect();
    let join = |groups: &mut Vec<Group<'a, T>>, by: &dyn Fn(&T) -> Option<String>| {
        let mut i = 0;
        while i < groups.len() {
            let mut j = i + 1;
            while j < groups.len() && groups[i].len() < tables.len() {
                let disjoint = groups[j].keys().all(|k| !groups[i].contains_key(k));
                let shared =
                    |g: &Group<'a, T>| g.values().filter_map(|o| by(o)).collect::<BTreeSet<_>>();
                if disjoint && !shared(&groups[i]).is_disjoint(&shared(&groups[j])) {
                    let other = groups.remove(j);
                    groups[i].extend(other);
                } else {
                    j += 1;
                }
            }
            i += 1;
        }
    };
    join(&mut groups, &|o: &T| o.name().text.clone());
    join(&mut groups, &|o: &T| Some(o.anchor()));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drift_is_one_line_whatever_its_values_hold() {
        let drift = Drift {
            at: Point::Version(3),
            until: None,
            part: Part::Object,
            subject: "t.ix".into(),
            aspect: "index".into(),
            values: vec![
                (Backend::Sqlite, "lower(name)".into()),
                (Backend::Postgres, "lower(\n  name)".into()),
            ],
        };
        assert_eq!(
            drift.to_string(),
            "version 3: t.ix index: sqlite=lower(name) postgres=lower(\\n  name)"
        );
    }

    /// One table `t` whose foreign key deletes with `on_delete`, as `kind` reports it.
    fn with_action(kind: Backend, on_delete: &str) -> (Backend, Schema) {
        let mut table = Table::default();
        table.add_foreign_key(ForeignKey {
            name: Name::generated(None),
            columns: vec!["u_id".into()],
            ref_table: "u".into(),
            ref_columns: vec!["id".into()],
            on_delete: on_delete.into(),
            on_update: "NO ACTION".into(),
        });
        let schema = Schema {
            tables: [("t".to_owned(), table)].into(),
        };
        (kind, schema)
    }

    fn drift_of(schemas: [(Backend, Schema); 2]) -> Vec<String> {
        let schemas = [(1, schemas.into_iter().collect())].into();
        let report = check(&schemas, &AllowList::default(), Rules::default());
        report.drift.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_key_whose_target_changed_in_one_dialect_is_one_line() {
        let (kind, mut changed) = with_action(Backend::Postgres, "CASCADE");
        let table = changed.tables.get_mut("t").unwrap();
        let mut fk = table.foreign_keys.pop_first().unwrap().1;
        fk.ref_table = "v".into();
        table.add_foreign_key(fk);
        assert_eq!(
            drift_of([with_action(Backend::Sqlite, "CASCADE"), (kind, changed)]),
            ["version 1: t.fk(u_id) target: sqlite=(u_id) -> u (id) postgres=(u_id) -> v (id)"]
        );
    }

    #[test]
    fn restrict_is_no_action_on_mysql_only() {
        for (sqlite, mysql) in [
            ("NO ACTION", "RESTRICT"),
            ("RESTRICT", "NO ACTION"),
            ("RESTRICT", "RESTRICT"),
        ] {
            assert!(
                drift_of([
                    with_action(Backend::Sqlite, sqlite),
                    with_action(Backend::MySql, mysql)
                ])
                .is_empty()
            );
        }
        assert_eq!(
            drift_of([
                with_action(Backend::Sqlite, "CASCADE"),
                with_action(Backend::MySql, "RESTRICT")
            ]),
            ["version 1: t.fk(u_id) on_delete: sqlite=CASCADE mysql=RESTRICT/NO ACTION"]
        );
        assert_eq!(
            drift_of([
                with_action(Backend::Sqlite, "NO ACTION"),
                with_action(Backend::Postgres, "RESTRICT")
            ]),
            ["version 1: t.fk(u_id) on_delete: sqlite=NO ACTION postgres=RESTRICT"]
        );
    }

    #[test]
    fn sqlite_text_is_compatible_with_text_like_types_only() {
        let affinity = |a: &Logical, b: &Logical| compatible(a, b, SqliteTypes::Affinity);
        assert!(affinity(&Logical::AnyText, &Logical::Uuid));
        assert!(affinity(&Logical::Timestamp, &Logical::AnyText));
        assert!(!affinity(&Logical::AnyText, &Logical::Boolean));
        assert!(!affinity(&Logical::Uuid, &Logical::ShortText(Some(36))));
        assert!(!affinity(
            &Logical::ShortText(Some(64)),
            &Logical::ShortText(Some(100))
        ));
        assert!(affinity(&Logical::AnyInteger, &Logical::BigInt));
        assert!(affinity(&Logical::AnyInteger, &Logical::Boolean));
        assert!(affinity(&Logical::AnyReal, &Logical::Double));
        assert!(!affinity(&Logical::AnyReal, &Logical::AnyText));
        let declared = |a: &Logical, b: &Logical| compatible(a, b, SqliteTypes::Declared);
        assert!(!declared(&Logical::AnyText, &Logical::Uuid));
        assert!(!declared(&Logical::AnyInteger, &Logical::Boolean));
        assert!(declared(&Logical::AnyText, &Logical::LongText));
    }

    /// A lasting difference (the newest schemas have it) and a transient one (gone by the
    /// newest) are told apart, each reported once; a backend that stopped walking early keeps
    /// its difference lasting where it was last compared.
    #[test]
    fn a_transient_difference_is_never_shown_as_a_lasting_one() {
        let cascade = |kind| with_action(kind, "CASCADE");
        let restrict = |kind| with_action(kind, "RESTRICT");
        let schemas: BTreeMap<i64, BTreeMap<Backend, Schema>> = [
            (
                1,
                [cascade(Backend::Sqlite), restrict(Backend::Postgres)].into(),
            ),
            (
                2,
                [cascade(Backend::Sqlite), restrict(Backend::Postgres)].into(),
            ),
            (
                3,
                [cascade(Backend::Sqlite), cascade(Backend::Postgres)].into(),
            ),
        ]
        .into();
        let report = check(&schemas, &AllowList::default(), Rules::default());
        let lines: Vec<String> = report.to_string().lines().map(str::to_owned).collect();
        assert_eq!(
            lines,
            [
                "transient drift: version 1 to version 2, not in the newest schemas: \
                 t.fk(u_id) on_delete: sqlite=CASCADE postgres=RESTRICT"
            ]
        );
        assert!(!report.drift[0].lasting());
        assert!(!report.is_ok(), "a transient difference still fails");

        let stopped: BTreeMap<i64, BTreeMap<Backend, Schema>> = [
            (
                1,
                [cascade(Backend::Sqlite), restrict(Backend::Postgres)].into(),
            ),
            (2, [cascade(Backend::Sqlite)].into()),
        ]
        .into();
        let report = check(&stopped, &AllowList::default(), Rules::default());
        assert_eq!(report.drift.len(), 1);
        assert!(report.drift[0].lasting(), "{}", report.drift[0]);
        assert_eq!(
            report.drift[0].finding().values,
            BTreeMap::from([
                ("postgres".to_owned(), "RESTRICT".to_owned()),
                ("sqlite".to_owned(), "CASCADE".to_owned())
            ])
        );
    }

    #[test]
    fn allowed_drift_passes_and_stale_entries_fail() {
        let drift = Drift {
            at: Point::Version(1),
            until: None,
            part: Part::Column,
            subject: "t.c".into(),
            aspect: "type".into(),
            values: vec![],
        };
        let mut out = BTreeSet::new();
        out.insert(drift.clone());
        let allow = AllowList {
            allow: vec![
                Allowed {
                    subject: "t.c".into(),
                    aspect: "type".into(),
                    reason: "why".into(),
                },
                Allowed {
                    subject: "t.gone".into(),
                    aspect: "type".into(),
                    reason: "old".into(),
                },
            ],
        };
        let mut schemas = BTreeMap::new();
        schemas.insert(1, BTreeMap::new());
        let mut report = check(&schemas, &allow, Rules::default());
        assert!(report.drift.is_empty());
        assert_eq!(
            report.stale.len(),
            2,
            "nothing drifted, so both entries are stale"
        );
        report.stale.clear();
        assert!(report.is_ok());
    }
}
