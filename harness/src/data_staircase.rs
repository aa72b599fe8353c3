//! The data staircase: fixtures loaded at version N survive up to the newest version and back.
//!
//! For each fixture (see [`crate::data`]), on a fresh database: apply the migrations up to N,
//! load the rows (referenced tables first) and require that they read back as written. Then
//! apply each later version V in turn and record every table's rows in canonical form (a row
//! count and a content hash), checking the fixture's expectations for V where it has them.
//! Then revert one version at a time and require, at each version below, exactly the rows
//! recorded there on the way up. Stepping down one version at a time names the down migration
//! that lost or changed data — with the backend, the table and the row counts.
//!
//! Because rows are compared in a canonical, dialect-independent form, [`compare_backends`]
//! can also require that a fixture gives the same data on every backend at every version:
//! a data migration that transforms rows differently in one dialect shows up there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use didhub_migrations::MigrationFailed;

use crate::HarnessError;
use crate::backend::{Backend, Pool, TestDatabase, why};
use crate::data::{self, Fixture, Row, TableData, TableRows};
use crate::migrations::MigrationSet;
use crate::schema::{Column, Schema};

/// How many differing rows a report shows.
const DIFF_LINES: usize = 10;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataStaircaseError {
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error(
        "{backend}: fixture {fixture}: there is no migration version {version} to load or check it at"
    )]
    UnknownVersion {
        backend: Backend,
        fixture: String,
        version: i64,
    },
    #[error("{backend}: fixture {fixture}: {file} (version {version}) failed: {reason}")]
    MigrationFailed {
        backend: Backend,
        fixture: String,
        version: i64,
        file: String,
        reason: String,
    },
    #[error(
        "{backend}: fixture {fixture} does not fit the schema of version {version}: {table}: {reason}"
    )]
    FixtureDoesNotFit {
        backend: Backend,
        fixture: String,
        version: i64,
        table: String,
        reason: String,
    },
    #[error(
        "{backend}: fixture {fixture}: row {row} of {table} cannot be loaded at version {version}: {reason}"
    )]
    LoadFailed {
        backend: Backend,
        fixture: String,
        version: i64,
        table: String,
        row: usize,
        reason: String,
    },
    #[error("{backend}: fixture {fixture}: {table} at version {version} does not hold what {expected} says:\n  {}", .diff.join("\n  "))]
    NotAsExpected {
        backend: Backend,
        fixture: String,
        version: i64,
        table: String,
        /// The fixture or expectation file.
        expected: String,
        diff: Vec<String>,
    },
    #[error(
        "{backend}: {file} (version {version}) loses data: {table} held {before} row(s) before the up and {after} after the down (fixture {fixture})"
    )]
    DownLosesData {
        backend: Backend,
        fixture: String,
        version: i64,
        file: String,
        table: String,
        before: usize,
        after: usize,
    },
    #[error("{backend}: {file} (version {version}) does not restore the data of {table}: {before} row(s) before the up, {after} after the down, differing (fixture {fixture}):\n  {}", .diff.join("\n  "))]
    DownChangesData {
        backend: Backend,
        fixture: String,
        version: i64,
        file: String,
        table: String,
        before: usize,
        after: usize,
        diff: Vec<String>,
    },
}

/// Every table's data at one version, by table name.
pub type Snapshot = BTreeMap<String, TableData>;

/// What one fixture went through on one backend.
#[derive(Debug, Clone)]
pub struct FixtureRun {
    pub fixture: String,
    /// The version it was loaded at.
    pub version: i64,
    /// The data after each version on the way up, from the fixture's version to the newest.
    pub snapshots: BTreeMap<i64, Snapshot>,
    /// The data at each version below the newest on the way back down (equal to `snapshots`
    /// there, or the walk would have failed), as far as the downs go: an up-only version is
    /// never reverted, so the way down stops there.
    pub restored: BTreeMap<i64, Snapshot>,
    /// The expectations that held: (version, table).
    pub expectations: Vec<(i64, String)>,
}

/// The data staircase of one backend: one run per fixture.
#[derive(Debug, Clone)]
pub struct DataStairs {
    pub kind: Backend,
    pub runs: Vec<FixtureRun>,
}

impl DataStairs {
    /// One line: how many fixtures, rows and expectations.
    pub fn summary(&self, fixtures: &[Fixture]) -> String {
        let names: Vec<&str> = self.runs.iter().map(|r| r.fixture.as_str()).collect();
        let rows: usize = fixtures.iter().map(Fixture::row_count).sum();
        let newest = self
            .runs
            .iter()
            .filter_map(|r| r.snapshots.keys().last())
            .max()
            .copied()
            .unwrap_or_default();
        let expectations: usize = self.runs.iter().map(|r| r.expectations.len()).sum();
        // Where the way down stopped short of a fixture's version: at an up-only migration.
        let short: Vec<String> = self
            .runs
            .iter()
            .filter_map(|r| {
                let lowest = r.restored.keys().next().copied().unwrap_or(newest);
                (lowest > r.version).then(|| format!("{} back to version {lowest} only", r.fixture))
            })
            .collect();
        let back = if short.is_empty() {
            "and back".to_owned()
        } else {
            format!(
                "and back as far as the downs go ({}: up-only below)",
                short.join(", ")
            )
        };
        format!(
            "{} fixture(s) ({}, {rows} rows) survive up to version {newest} {back}; {expectations} expectation(s) hold",
            names.len(),
            names.join(", "),
        )
    }
}

/// Walks every fixture on a fresh database of `set`'s backend each.
pub async fn walk(
    set: &MigrationSet,
    fixtures: &[Fixture],
) -> Result<DataStairs, DataStaircaseError> {
    let mut runs = Vec::new();
    for fixture in fixtures {
        runs.push(walk_fixture(set, fixture).await?);
    }
    Ok(DataStairs {
        kind: set.kind,
        runs,
    })
}

async fn walk_fixture(
    set: &MigrationSet,
    fixture: &Fixture,
) -> Result<FixtureRun, DataStaircaseError> {
    let on = On {
        kind: set.kind,
        fixture: &fixture.name,
    };
    let versions = set.versions();
    for version in std::iter::once(fixture.version).chain(fixture.expectations.keys().copied()) {
        if !versions.contains(&version) {
            return Err(DataStaircaseError::UnknownVersion {
                backend: on.kind,
                fixture: fixture.name.clone(),
                version,
            });
        }
    }
    let db = TestDatabase::create(set.kind).await?;
    let pool = db.connect().await?;
    let result = climb(&on, &pool, set, fixture).await;
    pool.close().await;
    result
}

/// The backend and fixture every error names.
struct On<'a> {
    kind: Backend,
    fixture: &'a str,
}

impl On<'_> {
    fn does_not_fit(&self, version: i64, table: &str, reason: String) -> DataStaircaseError {
        DataStaircaseError::FixtureDoesNotFit {
            backend: self.kind,
            fixture: self.fixture.to_owned(),
            version,
            table: table.to_owned(),
            reason,
        }
    }

    fn migration_failed(&self, version: i64, file: String, reason: String) -> DataStaircaseError {
        DataStaircaseError::MigrationFailed {
            backend: self.kind,
            fixture: self.fixture.to_owned(),
            version,
            file,
            reason,
        }
    }
}

async fn climb(
    on: &On<'_>,
    pool: &Pool,
    set: &MigrationSet,
    fixture: &Fixture,
) -> Result<FixtureRun, DataStaircaseError> {
    let steps: Vec<i64> = set
        .versions()
        .into_iter()
        .filter(|v| *v >= fixture.version)
        .collect();
    let mut snapshots = BTreeMap::new();
    let mut expectations = Vec::new();
    for (i, &version) in steps.iter().enumerate() {
        pool.migrate_up(&set.migrator, version).await.map_err(|e| {
            let failed = match &e {
                MigrationFailed::Error {
                    source: sqlx::migrate::MigrateError::ExecuteMigration(_, v),
                    ..
                } => *v,
                MigrationFailed::LockTimeout(lock) => lock.version.unwrap_or(version),
                MigrationFailed::Error { .. } => version,
            };
            on.migration_failed(failed, set.up_file(failed), why(&e))
        })?;
        let schema = pool.introspect().await?;
        // At the fixture's version the fixture itself is what the tables must hold.
        let expected = if i == 0 {
            load(on, pool, &schema, fixture).await?;
            Some(&fixture.tables)
        } else {
            fixture.expectations.get(&version)
        };
        let snapshot = snapshot(pool, &schema).await?;
        for (table, rows) in expected.into_iter().flatten() {
            check(on, version, table, rows, &schema, &snapshot)?;
            if i > 0 {
                expectations.push((version, table.clone()));
            }
        }
        snapshots.insert(version, snapshot);
    }

    let mut restored = BTreeMap::new();
    // sqlx never reverts an up-only migration, and reverting what lies below one would undo
    // versions out of order: the way down ends there.
    for pair in steps
        .windows(2)
        .rev()
        .take_while(|pair| !set.is_up_only(pair[1]))
    {
        let (previous, version) = (pair[0], pair[1]);
        let file = set.down_file(version);
        pool.migrate_down(&set.migrator, previous)
            .await
            .map_err(|e| on.migration_failed(version, file.clone(), why(&e)))?;
        let schema = pool.introspect().await?;
        let after = snapshot(pool, &schema).await?;
        compare(on, version, &file, &snapshots[&previous], &after)?;
        restored.insert(previous, after);
    }
    Ok(FixtureRun {
        fixture: fixture.name.clone(),
        version: fixture.version,
        snapshots,
        restored,
        expectations,
    })
}

/// A file's rows as canonical values, one per column, in the order of `columns`.
struct Canonical<'s> {
    columns: Vec<&'s Column>,
    rows: Vec<Vec<Option<String>>>,
}

/// The file's rows as canonical values for `table`'s columns at `version`.
fn canonical_rows<'s>(
    on: &On<'_>,
    version: i64,
    name: &str,
    rows: &TableRows,
    schema: &'s Schema,
) -> Result<Canonical<'s>, DataStaircaseError> {
    let file = rows.file.display();
    let table = schema
        .tables
        .get(name)
        .ok_or_else(|| on.does_not_fit(version, name, format!("{file}: there is no such table")))?;
    let columns = rows
        .columns
        .iter()
        .map(|c| {
            table
                .columns
                .iter()
                .find(|column| column.name == *c)
                .ok_or_else(|| {
                    on.does_not_fit(version, name, format!("{file}: there is no column {c}"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let values = rows
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            columns
                .iter()
                .map(|column| {
                    data::canonical_input(column, &row[&column.name]).map_err(|reason| {
                        on.does_not_fit(
                            version,
                            name,
                            format!("{file}: row {i}, column {}: {reason}", column.name),
                        )
                    })
                })
                .collect()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Canonical {
        columns,
        rows: values,
    })
}

/// Inserts the fixture's rows, tables that others reference first.
async fn load(
    on: &On<'_>,
    pool: &Pool,
    schema: &Schema,
    fixture: &Fixture,
) -> Result<(), DataStaircaseError> {
    let references = |table: &str| -> Vec<String> {
        schema
            .tables
            .get(table)
            .map(|t| {
                t.foreign_keys
                    .values()
                    .map(|fk| fk.ref_table.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    for name in data::load_order(fixture.tables.keys().map(String::as_str), references) {
        let Canonical { columns, rows } =
            canonical_rows(on, fixture.version, &name, &fixture.tables[&name], schema)?;
        for (i, values) in rows.into_iter().enumerate() {
            pool.insert_row(&name, &columns, values)
                .await
                .map_err(|e| DataStaircaseError::LoadFailed {
                    backend: on.kind,
                    fixture: on.fixture.to_owned(),
                    version: fixture.version,
                    table: name.clone(),
                    row: i,
                    reason: e.to_string(),
                })?;
        }
    }
    Ok(())
}

/// Every table's rows, canonical.
async fn snapshot(pool: &Pool, schema: &Schema) -> Result<Snapshot, HarnessError> {
    let mut out = Snapshot::new();
    for (name, table) in &schema.tables {
        let rows = pool
            .read_rows(name, table)
            .await?
            .into_iter()
            .map(|values| {
                table
                    .columns
                    .iter()
                    .zip(values)
                    .map(|(column, value)| {
                        (column.name.clone(), data::canonical_output(column, value))
                    })
                    .collect::<Row>()
            })
            .collect();
        out.insert(name.clone(), TableData::new(rows));
    }
    Ok(out)
}

/// The table holds exactly the file's rows, compared on the columns the file lists.
fn check(
    on: &On<'_>,
    version: i64,
    name: &str,
    expected: &TableRows,
    schema: &Schema,
    snapshot: &Snapshot,
) -> Result<(), DataStaircaseError> {
    let Canonical { columns, rows } = canonical_rows(on, version, name, expected, schema)?;
    let mut lines: Vec<String> = rows
        .into_iter()
        .map(|values| {
            let row: Row = columns.iter().map(|c| c.name.clone()).zip(values).collect();
            data::render(&row)
        })
        .collect();
    lines.sort();
    let actual = snapshot
        .get(name)
        .map(|t| t.project(&expected.columns))
        .unwrap_or_default();
    let diff = data::diff_rows(&lines, &actual, DIFF_LINES);
    if diff.is_empty() {
        Ok(())
    } else {
        Err(DataStaircaseError::NotAsExpected {
            backend: on.kind,
            fixture: on.fixture.to_owned(),
            version,
            table: name.to_owned(),
            expected: expected.file.display().to_string(),
            diff,
        })
    }
}

/// After the down of `version`, every table holds what it held before its up.
fn compare(
    on: &On<'_>,
    version: i64,
    file: &str,
    before: &Snapshot,
    after: &Snapshot,
) -> Result<(), DataStaircaseError> {
    let empty = TableData::new(Vec::new());
    let tables: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for table in tables {
        let was = before.get(table).unwrap_or(&empty);
        let is = after.get(table).unwrap_or(&empty);
        if is.count() < was.count() {
            return Err(DataStaircaseError::DownLosesData {
                backend: on.kind,
                fixture: on.fixture.to_owned(),
                version,
                file: file.to_owned(),
                table: table.clone(),
                before: was.count(),
                after: is.count(),
            });
        }
        if is.hash != was.hash {
            return Err(DataStaircaseError::DownChangesData {
                backend: on.kind,
                fixture: on.fixture.to_owned(),
                version,
                file: file.to_owned(),
                table: table.clone(),
                before: was.count(),
                after: is.count(),
                diff: data::diff_rows(&was.lines(), &is.lines(), DIFF_LINES),
            });
        }
    }
    Ok(())
}

/// A fixture's table that holds different data on different backends, at the first version
/// where it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDrift {
    pub fixture: String,
    pub version: i64,
    pub table: String,
    /// Each backend's row count and short hash.
    pub values: Vec<(Backend, usize, String)>,
}

impl fmt::Display for DataDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fixture {} at version {}: {}:",
            self.fixture, self.version, self.table
        )?;
        for (kind, count, hash) in &self.values {
            write!(f, " {kind}={count} rows {hash}")?;
        }
        Ok(())
    }
}

/// Where the backends' data differ: per fixture and table, the first version at which their
/// hashes are not all equal.
pub fn compare_backends(stairs: &[DataStairs]) -> Vec<DataDrift> {
    let Some(first) = stairs.first() else {
        return Vec::new();
    };
    let mut drift = Vec::new();
    for run in &first.runs {
        // This fixture's run on every backend that has one.
        let runs: Vec<(Backend, &FixtureRun)> = stairs
            .iter()
            .filter_map(|s| {
                let r = s.runs.iter().find(|r| r.fixture == run.fixture)?;
                Some((s.kind, r))
            })
            .collect();
        let tables: BTreeSet<&String> = run.snapshots.values().flat_map(|s| s.keys()).collect();
        for table in tables {
            let first_difference = run.snapshots.keys().find_map(|version| {
                let values: Vec<(Backend, &TableData)> = runs
                    .iter()
                    .filter_map(|(kind, r)| Some((*kind, r.snapshots.get(version)?.get(table)?)))
                    .collect();
                values
                    .windows(2)
                    .any(|w| w[0].1.hash != w[1].1.hash)
                    .then_some((*version, values))
            });
            if let Some((version, values)) = first_difference {
                drift.push(DataDrift {
                    fixture: run.fixture.clone(),
                    version,
                    table: table.clone(),
                    values: values
                        .into_iter()
                        .map(|(kind, data)| (kind, data.count(), data.short_hash().to_owned()))
                        .collect(),
                });
            }
        }
    }
    drift
}
