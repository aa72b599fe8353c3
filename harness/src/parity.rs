//! Parity: the three dialects' schemas describe the same logical schema at every version.
//!
//! Native types are mapped to SPEC §2's logical types first, so `UUID`, `CHAR(36)` and SQLite's
//! `TEXT` agree, as do `BOOLEAN`, `TINYINT(1)` and SQLite's `INTEGER CHECK (x IN (0, 1))`.
//! SQLite's plain `TEXT` and `INTEGER` are compatible with every text-like and integer type.
//! What is compared: tables, columns (order, logical type, nullability, default), primary keys,
//! foreign keys by name (columns, target, ON DELETE/UPDATE — InnoDB's RESTRICT means NO ACTION),
//! indexes by name (key parts with their collation or operator class, uniqueness) and named check
//! constraints (by name: each dialect prints the expression its own way). Anything else that
//! differs is drift, unless an entry of the allow-list says why; an entry that matches nothing is
//! stale and fails too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::backend::Kind;
use crate::schema::{Logical, Schema, Table};

/// One difference between dialects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Drift {
    pub version: i64,
    /// `table`, or `table.part` (a column, key, index or check name).
    pub subject: String,
    /// `presence`, `type`, `nullability`, `default`, `columns`, `on_delete`, …
    pub aspect: String,
    /// Each backend's value.
    pub values: Vec<(Kind, String)>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "version {}: {} {}:",
            self.version, self.subject, self.aspect
        )?;
        for (kind, value) in &self.values {
            write!(f, " {kind}={}", crate::schema::one_line(value))?;
        }
        Ok(())
    }
}

/// `fixtures/parity-allow.toml`: differences that are intended, each with its reason.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    #[serde(default)]
    pub allow: Vec<Allowed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowed {
    pub subject: String,
    pub aspect: String,
    /// Why the dialects may differ here.
    pub reason: String,
}

impl AllowList {
    pub fn load(path: &Path) -> Result<AllowList, String> {
        let list: AllowList = crate::read_toml(path)?;
        if let Some(entry) = list.allow.iter().find(|a| a.reason.trim().is_empty()) {
            return Err(format!(
                "{}: the entry for {} {} gives no reason",
                path.display(),
                entry.subject,
                entry.aspect
            ));
        }
        Ok(list)
    }
}

/// The outcome of comparing every version.
#[derive(Debug, Default)]
pub struct ParityReport {
    /// Drift no entry allows.
    pub drift: Vec<Drift>,
    /// Drift an entry allows.
    pub allowed: Vec<Drift>,
    /// Entries that match nothing any more.
    pub stale: Vec<Allowed>,
}

impl ParityReport {
    pub fn is_ok(&self) -> bool {
        self.drift.is_empty() && self.stale.is_empty()
    }
}

impl fmt::Display for ParityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.drift {
            writeln!(f, "drift: {d}")?;
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

/// Compares the backends' schemas version by version (`schemas[version][backend]`).
pub fn check(schemas: &BTreeMap<i64, BTreeMap<Kind, Schema>>, allow: &AllowList) -> ParityReport {
    let mut all = BTreeSet::new();
    for (version, by_kind) in schemas {
        compare(*version, by_kind, &mut all);
    }
    // A difference that persists is reported once, at the first version that has it (`all` is
    // ordered by version).
    let mut seen = BTreeSet::new();
    let firsts: Vec<Drift> = all
        .into_iter()
        .filter(|d| seen.insert((d.subject.clone(), d.aspect.clone(), d.values.clone())))
        .collect();
    let mut report = ParityReport::default();
    let mut used = vec![false; allow.allow.len()];
    for drift in firsts {
        match allow
            .allow
            .iter()
            .position(|a| a.subject == drift.subject && a.aspect == drift.aspect)
        {
            Some(i) => {
                used[i] = true;
                report.allowed.push(drift);
            }
            None => report.drift.push(drift),
        }
    }
    report.stale = allow
        .allow
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(a, _)| a.clone())
        .collect();
    report
}

fn compatible(a: &Logical, b: &Logical) -> bool {
    use Logical::*;
    let texty = |l: &Logical| matches!(l, Uuid | ShortText(_) | LongText | Timestamp | AnyText);
    let integral = |l: &Logical| matches!(l, Integer | BigInt | AnyInteger);
    match (a, b) {
        _ if a == b => true,
        (AnyText, other) | (other, AnyText) => texty(other),
        (AnyInteger, other) | (other, AnyInteger) => integral(other),
        _ => false,
    }
}

fn on_action(action: &str) -> &str {
    match action {
        "RESTRICT" => "NO ACTION",
        other => other,
    }
}

/// Records a difference when the backends' values for one aspect are not all alike.
fn differ<T: fmt::Display>(
    out: &mut BTreeSet<Drift>,
    version: i64,
    subject: &str,
    aspect: &str,
    values: &[(Kind, T)],
    alike: impl Fn(&T, &T) -> bool,
) {
    let agree = values
        .iter()
        .all(|(_, v)| values.iter().all(|(_, w)| alike(v, w)));
    if !agree {
        out.insert(Drift {
            version,
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

fn compare(version: i64, by_kind: &BTreeMap<Kind, Schema>, out: &mut BTreeSet<Drift>) {
    let tables: BTreeSet<&String> = by_kind.values().flat_map(|s| s.tables.keys()).collect();
    for table in tables {
        let present: Vec<(Kind, Option<&Table>)> = by_kind
            .iter()
            .map(|(k, s)| (*k, s.tables.get(table)))
            .collect();
        let presence: Vec<(Kind, String)> = present
            .iter()
            .map(|(k, t)| {
                (
                    *k,
                    if t.is_some() { "present" } else { "absent" }.to_owned(),
                )
            })
            .collect();
        differ(out, version, table, "presence", &presence, |a, b| a == b);
        let tables: Vec<(Kind, &Table)> = present
            .into_iter()
            .filter_map(|(k, t)| t.map(|t| (k, t)))
            .collect();
        if tables.len() < 2 {
            continue;
        }
        compare_table(version, table, &tables, out);
    }
}

fn compare_table(version: i64, table: &str, tables: &[(Kind, &Table)], out: &mut BTreeSet<Drift>) {
    let order: Vec<(Kind, String)> = tables
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
    differ(out, version, table, "column_order", &order, |a, b| a == b);

    let columns: BTreeSet<&String> = tables
        .iter()
        .flat_map(|(_, t)| t.columns.iter().map(|c| &c.name))
        .collect();
    for column in columns {
        let subject = format!("{table}.{column}");
        let found: Vec<(Kind, Option<&crate::schema::Column>)> = tables
            .iter()
            .map(|(k, t)| (*k, t.columns.iter().find(|c| &c.name == column)))
            .collect();
        let presence: Vec<(Kind, String)> = found
            .iter()
            .map(|(k, c)| (*k, shown(c.map(|_| "present"))))
            .collect();
        differ(out, version, &subject, "presence", &presence, |a, b| a == b);
        let cols: Vec<(Kind, &crate::schema::Column)> = found
            .into_iter()
            .filter_map(|(k, c)| c.map(|c| (k, c)))
            .collect();
        let types: Vec<(Kind, Logical)> =
            cols.iter().map(|(k, c)| (*k, c.logical.clone())).collect();
        differ(out, version, &subject, "type", &types, compatible);
        let nullable: Vec<(Kind, bool)> = cols.iter().map(|(k, c)| (*k, c.nullable)).collect();
        differ(out, version, &subject, "nullability", &nullable, |a, b| {
            a == b
        });
        let defaults: Vec<(Kind, String)> = cols
            .iter()
            .map(|(k, c)| (*k, shown(c.default.as_ref())))
            .collect();
        differ(out, version, &subject, "default", &defaults, |a, b| a == b);
    }

    let pk: Vec<(Kind, String)> = tables
        .iter()
        .map(|(k, t)| (*k, t.primary_key.join(",")))
        .collect();
    differ(
        out,
        version,
        &format!("{table}.primary_key"),
        "columns",
        &pk,
        |a, b| a == b,
    );

    let fks: BTreeSet<&String> = tables
        .iter()
        .flat_map(|(_, t)| t.foreign_keys.keys())
        .collect();
    for name in fks {
        let subject = format!("{table}.{name}");
        let each: Vec<(Kind, Option<&crate::schema::ForeignKey>)> = tables
            .iter()
            .map(|(k, t)| (*k, t.foreign_keys.get(name)))
            .collect();
        let aspect = |f: &dyn Fn(&crate::schema::ForeignKey) -> String| -> Vec<(Kind, String)> {
            each.iter()
                .map(|(k, fk)| (*k, fk.map(f).unwrap_or_else(|| "absent".into())))
                .collect()
        };
        differ(
            out,
            version,
            &subject,
            "presence",
            &aspect(&|_| "present".into()),
            |a, b| a == b,
        );
        let target = aspect(&|fk| {
            format!(
                "({}) -> {}({})",
                fk.columns.join(","),
                fk.ref_table,
                fk.ref_columns.join(",")
            )
        });
        differ(out, version, &subject, "target", &target, |a, b| a == b);
        let on_delete = aspect(&|fk| on_action(&fk.on_delete).to_owned());
        differ(out, version, &subject, "on_delete", &on_delete, |a, b| {
            a == b
        });
        let on_update = aspect(&|fk| on_action(&fk.on_update).to_owned());
        differ(out, version, &subject, "on_update", &on_update, |a, b| {
            a == b
        });
    }

    let indexes: BTreeSet<&String> = tables.iter().flat_map(|(_, t)| t.indexes.keys()).collect();
    for name in indexes {
        let each: Vec<(Kind, String)> = tables
            .iter()
            .map(|(k, t)| {
                let shape = t.indexes.get(name).map(|ix| {
                    format!(
                        "{}({})",
                        if ix.unique { "unique " } else { "" },
                        ix.columns.join(",")
                    )
                });
                (*k, shape.unwrap_or_else(|| "absent".into()))
            })
            .collect();
        differ(
            out,
            version,
            &format!("{table}.{name}"),
            "index",
            &each,
            |a, b| a == b,
        );
    }

    let checks: BTreeSet<&String> = tables
        .iter()
        .flat_map(|(_, t)| t.checks.keys())
        .filter(|k| !k.ends_with("#check"))
        .collect();
    for name in checks {
        let each: Vec<(Kind, String)> = tables
            .iter()
            .map(|(k, t)| {
                (
                    *k,
                    if t.checks.contains_key(name) {
                        "present"
                    } else {
                        "absent"
                    }
                    .to_owned(),
                )
            })
            .collect();
        differ(
            out,
            version,
            &format!("{table}.{name}"),
            "check",
            &each,
            |a, b| a == b,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drift_is_one_line_whatever_its_values_hold() {
        let drift = Drift {
            version: 3,
            subject: "t.ix".into(),
            aspect: "index".into(),
            values: vec![
                (Kind::Sqlite, "lower(name)".into()),
                (Kind::Postgres, "lower(\n  name)".into()),
            ],
        };
        assert_eq!(
            drift.to_string(),
            "version 3: t.ix index: sqlite=lower(name) postgres=lower(\\n  name)"
        );
    }

    #[test]
    fn sqlite_text_is_compatible_with_text_like_types_only() {
        assert!(compatible(&Logical::AnyText, &Logical::Uuid));
        assert!(compatible(&Logical::Timestamp, &Logical::AnyText));
        assert!(!compatible(&Logical::AnyText, &Logical::Boolean));
        assert!(!compatible(&Logical::Uuid, &Logical::ShortText(Some(36))));
        assert!(!compatible(
            &Logical::ShortText(Some(64)),
            &Logical::ShortText(Some(100))
        ));
        assert!(compatible(&Logical::AnyInteger, &Logical::BigInt));
    }

    #[test]
    fn allowed_drift_passes_and_stale_entries_fail() {
        let drift = Drift {
            version: 1,
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
        let mut report = check(&schemas, &allow);
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
