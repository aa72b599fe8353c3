//! `check` on migration sets written the way other projects write theirs (`fixtures/foreign/`):
//! unnamed constraints, each dialect's own spelling of defaults and types, up-only and mixed
//! sets, a generator's single initial file. Each set's verdict and every line `check` prints are
//! an insta snapshot (timings and server versions masked). A copy of `unnamed_reversible/` with
//! exactly three changes in PostgreSQL's files ([`drifted`]) makes parity report exactly those
//! three lines.

use std::path::{Path, PathBuf};

use didhub_harness::check::{self, CheckOptions};
use didhub_harness::project::SETTINGS_FILE;
use didhub_migrations::Backend;

use crate::support;

fn set(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/foreign")
        .join(name)
}

#[cfg(feature = "containers")]
/// `unnamed_reversible/` with three changes in PostgreSQL's files: a column made nullable, a
/// foreign key's ON DELETE action, an index's columns.
fn drifted() -> tempfile::TempDir {
    let copy = support::copy_folders(&set("unnamed_reversible"), Backend::name);
    let edit = |file: &str, from: &str, to: &str| {
        let path = copy.path().join("postgres").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} does not contain {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "0001_create_users_and_projects.up.sql",
        "display_name varchar(100) NOT NULL",
        "display_name varchar(100)",
    );
    edit(
        "0002_create_tasks.up.sql",
        "REFERENCES users(id) ON DELETE SET NULL",
        "REFERENCES users(id) ON DELETE CASCADE",
    );
    edit(
        "0004_add_task_sort_order.up.sql",
        "ON tasks (project_id, sort_order)",
        "ON tasks (sort_order)",
    );
    copy
}

/// `check` as a user runs it on another project: no allow-lists, no fixtures, default settings.
async fn check(name: &str, backends: &[Backend]) -> check::CheckReport {
    check_at(&set(name), backends).await
}

async fn check_at(migrations: &Path, backends: &[Backend]) -> check::CheckReport {
    check::run(&CheckOptions::new(migrations, backends)).await
}

/// The report with what changes from run to run or machine to machine masked: `in 1.2 s on
/// PostgreSQL 15.18 (…)`, where the set is.
fn masked(at: &Path, name: &str, text: &str) -> String {
    let text = text.replace(
        &at.display().to_string(),
        &format!("fixtures/foreign/{name}"),
    );
    text.lines()
        .map(
            |line| match line.find(" in ").filter(|_| line.contains(" s on ")) {
                Some(at) => format!("{} in [time] on [server]", &line[..at]),
                None => line.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(feature = "containers")]
fn drift_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("drift: ")).collect()
}

#[tokio::test]
async fn every_foreign_set_walks_on_sqlite() {
    for name in [
        "unnamed_reversible",
        "generator_initial",
        "up_only",
        "mixed",
    ] {
        let report = check(name, &[Backend::Sqlite]).await;
        assert!(
            report.text.contains("ok   sqlite: "),
            "{name}: {}",
            report.text
        );
        insta::assert_snapshot!(
            format!("sqlite_{name}"),
            masked(&set(name), name, &report.text)
        );
    }
}

/// DIDHub's migrations in the layout of its database guide (`migrations/` for SQLite,
/// `migrations_postgres/`, `migrations_mysql/`), with its settings but neither its `[folders]`
/// nor its fixtures: found without being told, and as clean as in DIDHub's own layout.
fn didhub_in_the_guides_layout() -> tempfile::TempDir {
    let source = check::didhub_migrations();
    let copy = support::copy_folders(&source, |kind| match kind {
        Backend::Sqlite => "migrations",
        Backend::Postgres => "migrations_postgres",
        Backend::MySql => "migrations_mysql",
    });
    let settings = std::fs::read_to_string(source.join(SETTINGS_FILE)).unwrap();
    let (before, after) = settings.split_once("[folders]").unwrap();
    let after = &after[after.find("\n\n").unwrap()..];
    let before = before.replace("fixtures = \"../fixtures/data\"\n", "");
    // The lint allow-list names files by folder: the guide's folders here.
    let after = after
        .replace("\"postgres/", "\"migrations_postgres/")
        .replace("\"mysql/", "\"migrations_mysql/");
    std::fs::write(copy.path().join(SETTINGS_FILE), before + &after).unwrap();
    copy
}

#[tokio::test]
async fn didhubs_migrations_in_the_guides_layout_pass_on_sqlite() {
    let copy = didhub_in_the_guides_layout();
    let report = check_at(copy.path(), &[Backend::Sqlite]).await;
    assert!(report.ok, "{}", report.text);
    assert!(
        report
            .text
            .contains("ok   sqlite: 14 migrations up, down and up again"),
        "{}",
        report.text
    );
}

#[cfg(feature = "containers")]
mod all_backends {
    use super::*;

    #[tokio::test]
    async fn unnamed_constraints_that_agree_are_no_drift() {
        for name in [
            "unnamed_reversible",
            "generator_initial",
            "up_only",
            "mixed",
        ] {
            let report = check(name, &Backend::ALL).await;
            assert!(
                report
                    .text
                    .contains("ok   parity of sqlite, postgres, mysql: the dialects agree"),
                "{name}: {}",
                report.text
            );
            assert!(drift_lines(&report.text).is_empty(), "{}", report.text);
            insta::assert_snapshot!(
                format!("all_{name}"),
                masked(&set(name), name, &report.text)
            );
        }
    }

    /// A set whose dialects name one foreign key differently: `fk_sqlite` in SQLite's file, the
    /// text of `name` in PostgreSQL's and MySQL's.
    fn named_fk_set(name: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        support::plain_sql_settings(dir.path());
        for kind in Backend::ALL {
            let folder = dir.path().join(kind.name());
            std::fs::create_dir(&folder).unwrap();
            let fk = if kind == Backend::Sqlite {
                "fk_sqlite"
            } else {
                name
            };
            std::fs::write(
                folder.join("0001_create.up.sql"),
                format!(
                    "CREATE TABLE u (id INTEGER NOT NULL PRIMARY KEY);\n\
                     CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, u_id INTEGER NOT NULL,\n\
                     CONSTRAINT {fk} FOREIGN KEY (u_id) REFERENCES u (id));\n\
                     CREATE INDEX t_u_id_idx ON t (u_id);\n"
                ),
            )
            .unwrap();
            std::fs::write(
                folder.join("0001_create.down.sql"),
                "DROP TABLE t;\nDROP TABLE u;\n",
            )
            .unwrap();
        }
        dir
    }

    #[tokio::test]
    async fn names_are_compared_only_when_the_project_asks_for_name_parity() {
        let set = named_fk_set("fk_other");
        let options = |names: bool| CheckOptions {
            parity: didhub_harness::parity::Rules {
                names,
                ..Default::default()
            },
            ..CheckOptions::new(set.path(), &Backend::ALL)
        };
        let without = check::run(&options(false)).await;
        assert!(without.ok, "{}", without.text);
        let with = check::run(&options(true)).await;
        assert_eq!(
            drift_lines(&with.text),
            [
                "drift: version 1: t.fk_sqlite name: sqlite=fk_sqlite postgres=fk_other mysql=fk_other"
            ],
            "{}",
            with.text
        );
        // Alike names agree under name parity.
        let same = named_fk_set("fk_sqlite");
        let report = check::run(&CheckOptions {
            migrations: same.path().to_path_buf(),
            ..options(true)
        })
        .await;
        assert!(report.ok, "{}", report.text);
    }

    #[tokio::test]
    async fn didhubs_migrations_in_the_guides_layout_pass_everywhere() {
        let copy = didhub_in_the_guides_layout();
        let report = check_at(copy.path(), &Backend::ALL).await;
        assert!(report.ok, "{}", report.text);
        assert!(
            report
                .text
                .contains("ok   parity of sqlite, postgres, mysql: the dialects agree (3 allowed"),
            "{}",
            report.text
        );
    }

    #[tokio::test]
    async fn three_changes_in_one_dialect_are_three_lines() {
        let drifted = drifted();
        let report = check_at(drifted.path(), &Backend::ALL).await;
        assert!(!report.ok);
        assert_eq!(
            drift_lines(&report.text),
            [
                "drift: version 1: users.display_name nullability: sqlite=false postgres=true mysql=false",
                "drift: version 2: tasks.fk(assignee_id) on_delete: sqlite=SET NULL postgres=CASCADE mysql=SET NULL",
                "drift: version 4: tasks.tasks_project_id_sort_order_idx columns: sqlite=project_id, sort_order postgres=sort_order mysql=project_id, sort_order",
            ],
            "{}",
            report.text
        );
        insta::assert_snapshot!(
            "all_drifted",
            masked(drifted.path(), "drifted", &report.text)
        );
    }
}
