//! `check --replica`: the PostgreSQL staircase walked on a primary with a streaming replica.
//! A migration that rewrites a filled table writes it again into the write-ahead log, which the
//! replica must replay; one that adds a nullable column writes next to nothing. DIDHub's own
//! migrations replay with the replica's schema equal to the primary's after every step.

#![cfg(feature = "containers")]

use std::path::Path;

use didhub_harness::check::{self, CheckOptions};
use didhub_harness::report::{CheckReport, Entry, Status};
use didhub_migrations::Backend;

/// The replica entry's step lines: (version, doing, WAL bytes as printed).
fn steps(text: &str) -> Vec<(i64, String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let line = line.trim();
            let (version, rest) = line.split_once(' ')?;
            let version = version.parse().ok()?;
            let doing = if rest.starts_with("up again") {
                "up again"
            } else {
                rest.split_whitespace().next()?
            };
            let wal = rest
                .split(", ")
                .nth(1)?
                .trim_end_matches(" of WAL")
                .trim()
                .to_owned();
            Some((version, doing.to_owned(), wal))
        })
        .collect()
}

/// `check --replica` of the migrations at `folder` on `kind`, and its replica entry.
async fn replica_check(folder: &Path, kind: Backend) -> (CheckReport, Entry) {
    let options = CheckOptions {
        replica: true,
        ..CheckOptions::new(folder, &[kind])
    };
    let report = Box::pin(check::run(&options)).await;
    let entry = report
        .entries
        .iter()
        .find(|e| e.step.name() == "replica")
        .unwrap_or_else(|| panic!("no replica entry:\n{}", report.text))
        .clone();
    (report, entry)
}

fn bytes(printed: &str) -> f64 {
    let (n, unit) = printed.split_once(' ').unwrap();
    let n: f64 = n.parse().unwrap();
    n * match unit {
        "MiB" => 1048576.0,
        "KiB" => 1024.0,
        _ => 1.0,
    }
}

#[tokio::test]
async fn a_table_rewrite_costs_the_replica_its_size_and_a_nullable_column_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("postgres");
    std::fs::create_dir(&folder).unwrap();
    for (name, sql) in [
        (
            "0001_filled.up.sql",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);\n\
             INSERT INTO t SELECT i, i FROM generate_series(1, 50000) AS i;\n",
        ),
        ("0001_filled.down.sql", "DROP TABLE t;\n"),
        (
            "0002_rewrite.up.sql",
            "ALTER TABLE t ALTER COLUMN n TYPE BIGINT;\n",
        ),
        (
            "0002_rewrite.down.sql",
            "ALTER TABLE t ALTER COLUMN n TYPE INTEGER;\n",
        ),
        (
            "0003_nullable.up.sql",
            "ALTER TABLE t ADD COLUMN note TEXT;\n",
        ),
        (
            "0003_nullable.down.sql",
            "ALTER TABLE t DROP COLUMN note;\n",
        ),
    ] {
        std::fs::write(folder.join(name), sql).unwrap();
    }
    let (report, entry) = replica_check(dir.path(), Backend::Postgres).await;
    assert_eq!(entry.status, Status::Pass, "{}", report.text);
    let steps = steps(&entry.message);
    assert_eq!(
        steps.len(),
        9,
        "three versions, each up, down and up again:\n{}",
        entry.message
    );
    let up = |version: i64| {
        let (_, _, wal) = steps
            .iter()
            .find(|(v, d, _)| *v == version && d == "up")
            .unwrap();
        bytes(wal)
    };
    assert!(
        up(2) > 1024.0 * 1024.0,
        "the rewrite of 50,000 rows:\n{}",
        entry.message
    );
    assert!(
        up(2) > 50.0 * up(3),
        "a nullable column writes next to nothing:\n{}",
        entry.message
    );
}

#[tokio::test]
async fn didhubs_migrations_replay_on_a_replica_with_the_primarys_schema_after_every_step() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (report, entry) = replica_check(&here.join("../migrations"), Backend::Postgres).await;
    assert_eq!(entry.status, Status::Pass, "{}", report.text);
    let versions = crate::support::up_files(&here.join("../migrations/postgres"));
    assert_eq!(
        steps(&entry.message).len(),
        versions * 3,
        "{}",
        entry.message
    );
    assert!(report.ok, "{}", report.text);
}

#[tokio::test]
async fn the_replica_check_of_a_project_without_postgresql_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sqlite")).unwrap();
    std::fs::write(
        dir.path().join("sqlite/0001_t.sql"),
        "CREATE TABLE t (id INTEGER);\n",
    )
    .unwrap();
    let (report, entry) = replica_check(dir.path(), Backend::Sqlite).await;
    // Nothing could be checked: how it was asked, not a finding.
    assert_eq!(entry.status, Status::Error, "{}", report.text);
    assert!(
        entry.message.contains("no PostgreSQL migrations"),
        "{}",
        entry.message
    );
}
