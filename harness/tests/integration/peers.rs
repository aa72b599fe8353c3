//! `check --db all` on real projects, read in place from `../shared/peers` (never copied into
//! this repository): every backend walks every version, nothing is left unchecked, and the true
//! findings known of each project are reported. `just peers` runs this with the figures printed.

#![cfg(feature = "containers")]

use std::path::{Path, PathBuf};

use didhub_harness::check::{self, CheckOptions, CheckReport};
use didhub_harness::project::{Layout, SETTINGS_FILE};
use didhub_harness::report::{Status, Step};

fn peers() -> PathBuf {
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers");
    assert!(
        peers.is_dir(),
        "{}: the peers' migrations are read from here (shared/ beside the checkout)",
        peers.display()
    );
    peers
}

/// The migrations folder of a peer: the folder itself, or, when `fixtures/peers/<name>.toml`
/// says how the project's own runner runs it, a folder of links to its dialect folders beside
/// those settings (the peer's folder is not ours to write to).
fn project(name: &str, folder: &str) -> (PathBuf, Option<tempfile::TempDir>) {
    let root = peers().join(name).join(folder);
    let settings = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/peers")
        .join(format!("{name}.toml"));
    if !settings.exists() {
        return (root, None);
    }
    let linked = tempfile::tempdir().unwrap();
    for (_, dialect) in Layout::of(&root).unwrap().folders() {
        std::os::unix::fs::symlink(root.join(dialect), linked.path().join(dialect)).unwrap();
    }
    std::fs::copy(&settings, linked.path().join(SETTINGS_FILE)).unwrap();
    (linked.path().to_owned(), Some(linked))
}

/// Runs `check` on every backend the peer has, and holds what every run must hold: each step
/// ran (no error), every backend walked every version (nothing left unchecked), and parity
/// compared every backend that reached a version. Prints the figures.
async fn check_peer(name: &str, folder: &str) -> CheckReport {
    let (root, _linked) = project(name, folder);
    let backends = Layout::of(&root).unwrap().backends();
    let report = check::run(&CheckOptions::new(&root, &backends)).await;
    let count = |step: Step| -> usize {
        report
            .entries
            .iter()
            .filter(|e| e.step == step && e.status == Status::Fail)
            .map(|e| e.findings.len())
            .sum()
    };
    println!(
        "{name}/{folder}: staircase {} finding(s), parity {}, lint {}",
        count(Step::Staircase),
        count(Step::Parity),
        count(Step::Lint)
    );
    for entry in report.entries.iter().filter(|e| e.step == Step::Staircase) {
        if matches!(entry.status, Status::Pass | Status::Note) {
            println!("  {}", entry.message.lines().next().unwrap_or_default());
        }
    }
    let errors: Vec<_> = report
        .entries
        .iter()
        .filter(|e| e.status == Status::Error)
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{}", report.text);
    for kind in &backends {
        let summary = report
            .entries
            .iter()
            .find(|e| {
                e.step == Step::Staircase
                    && e.backend == Some(*kind)
                    && matches!(e.status, Status::Pass | Status::Note)
            })
            .unwrap_or_else(|| panic!("{name}: no summary of {kind}'s walk\n{}", report.text));
        assert!(
            !summary.message.contains("migrations walked")
                && !summary.message.contains(" versions ("),
            "{name}: {kind} did not walk every version: {}",
            summary.message
        );
    }
    let reached_none = |kind: &str| {
        report
            .text
            .contains(&format!("note {kind}: 1 migrations: 1 with a failure"))
    };
    // A backend left out is named at the start of a parity line (the note of what went
    // uncompared across dialects is not about a backend).
    let left_out = |l: &&str| {
        l.trim_start_matches("FAIL ").starts_with("parity: ") && l.contains("not compared")
    };
    for line in report.text.lines().filter(left_out) {
        let kind = line
            .trim_start_matches("FAIL parity: ")
            .split(' ')
            .next()
            .unwrap();
        assert!(
            reached_none(kind),
            "{name}: parity left out a backend that walked\n{}",
            report.text
        );
    }
    report
}

fn says(report: &CheckReport, what: &str) {
    assert!(
        report.text.contains(what),
        "{what:?} is not reported:\n{}",
        report.text
    );
}

#[tokio::test]
async fn vaultwarden_is_walked_whole_on_every_backend() {
    let report = check_peer("vaultwarden", "corpus").await;
    // Its SQLite and PostgreSQL downs that re-add nothing (empty or a comment) are true.
    says(
        &report,
        "sqlite: 20230111205851_add_avatar_color.down.sql (version 20230111205851, a file \
         without a statement) does not restore the schema of version 20230106151600:\n  users: \
         column avatar_color: unexpected",
    );
    // A down that drops a table other tables still refer to.
    says(
        &report,
        "postgres: 20220727110000_add_group_support.down.sql (version 20220727110000) failed: \
         line 1: DROP TABLE groups: cannot drop table groups because other objects depend on it",
    );
    // Lasting differences of the newest schemas.
    says(
        &report,
        "drift: newest schemas: organization_api_key.api_key nullability: sqlite=false \
         postgres=true mysql=false",
    );
    says(
        &report,
        "drift: newest schemas: users.akey nullability: sqlite=false postgres=false mysql=true",
    );
}

#[tokio::test]
async fn plume_is_walked_whole_on_every_backend() {
    let report = check_peer("plume", "corpus").await;
    // A down whose INSERT lost its table name.
    says(
        &report,
        "sqlite: 20181006161156_change_default_license.down.sql (version 20181006161156) failed: \
         line 38: INSERT INTO SELECT * FROM posts: near \"SELECT\": syntax error",
    );
    // diesel's setup, version 0, is applied and never counted as reverted.
    says(
        &report,
        "1 up only: version 0 (sqlx cannot revert version 0)",
    );
    // SQLite keeps a second foreign key on users.avatar_id that PostgreSQL does not have.
    says(
        &report,
        "drift: newest schemas: users.fk(avatar_id) presence: sqlite=present postgres=absent",
    );
    assert!(!report.text.contains("transient drift"), "{}", report.text);
}

#[tokio::test]
async fn atuin_is_walked_whole_on_every_backend() {
    let report = check_peer("atuin", "corpus").await;
    says(
        &report,
        "ok   sqlite: 7 migrations: 7 up only (no down to check)",
    );
    says(
        &report,
        "ok   postgres: 20 migrations: 20 up only (no down to check)",
    );
    // The SQLite server has no records table, and a local time where PostgreSQL has now().
    says(
        &report,
        "drift: newest schemas: records presence: sqlite=absent postgres=present",
    );
    says(
        &report,
        "drift: newest schemas: users.created_at default: sqlite=\"datetime('now', 'localtime')\" \
         postgres=\"now\"",
    );
}

#[tokio::test]
async fn didhubs_generated_schema_is_walked_whole_on_every_backend() {
    let whole = check_peer("didhub-generated", "migrations").await;
    // The generated MySQL file does not load on MariaDB 10.11: named with its statement.
    says(
        &whole,
        "FAIL mysql: 0001_initial.up.sql (version 1) failed: line ",
    );
    let trunc = check_peer("didhub-generated", "migrations-trunc").await;
    says(&trunc, "ok   mysql: 1 migrations up, down and up again");
    let simple = check_peer("didhub-generated", "migrations-simple").await;
    says(
        &simple,
        "ok   sqlite: 1 migrations: 1 up only (no down to check)",
    );
    let probe = check_peer("didhub-generated", "probe-checks").await;
    says(&probe, "does not restore the schema of version 1");
}
