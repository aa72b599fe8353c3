//! `impact` against known behaviour (fixtures/impact, one version a behaviour): each is found by
//! measurement — the locks the migrating session held, the table's identity, and how long the
//! workload's reads and writes waited while the statement ran. Every test fails when the
//! workload or the lock reading is removed.
//!
//! "Waited for it" is a ratio within one statement: an operation blocked by a statement waits
//! about as long as the statement runs, so the longest wait of its kind is at least half the
//! statement's duration; one that is not blocked takes the few milliseconds it takes alone.
//! The fixtures' row counts make the statements long enough for the two to stand apart.

use std::path::PathBuf;
use std::time::Duration;

use didhub_harness::backends;
use rstest_reuse::apply;

use didhub_harness::impact::{self, ImpactReport, MigrationImpact, Options, StatementImpact, Way};
use didhub_harness::project::Project;
use didhub_migrations::Backend;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/impact")
}

fn options(rows: u64, versions: &[i64]) -> Options {
    let mut options = Options::new(&Default::default(), "test").unwrap();
    options.rows = rows;
    options.versions = versions.to_vec();
    options.baseline = BASELINE;
    options
}

/// How long the workload runs alone before each migration in these tests.
const BASELINE: Duration = Duration::from_millis(300);

async fn run(kind: Backend, options: &Options) -> ImpactReport {
    let project = Project::open(&fixtures()).unwrap();
    let report = impact::run(&project, &[kind], options).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

/// The up of `version`, which must not have failed.
fn up(report: &ImpactReport, version: i64) -> &MigrationImpact {
    let found = report
        .migrations
        .iter()
        .find(|m| m.version == version && m.direction == Way::Up)
        .unwrap_or_else(|| panic!("version {version} was not measured"));
    assert_eq!(found.failed, None, "{}", found.summary());
    found
}

/// The statement that starts with `start`.
fn statement<'a>(m: &'a MigrationImpact, start: &str) -> &'a StatementImpact {
    m.statements
        .iter()
        .find(|s| s.sql.starts_with(start))
        .unwrap_or_else(|| panic!("no statement {start}:\n{}", m.summary()))
}

fn holds(s: &StatementImpact, mode: &str, table: &str) -> bool {
    s.locks.iter().any(|l| l.mode == mode && l.table == table)
}

/// Whether the reads (or writes) waited for the statement: the slowest that overlapped it took
/// at least half its duration, and far fewer of that kind finished while it ran than the
/// baseline's pace would finish in that time (under a quarter, and under two). A reader the
/// statement blocks does one operation at a time, which ends only after the statement (those
/// that finish are the few before its lock was granted); a read slowed by a busy machine
/// leaves the others to finish.
#[cfg(feature = "containers")]
fn reads_waited(m: &MigrationImpact, s: &StatementImpact) -> bool {
    s.worst_read_ms >= s.duration_ms / 2.0 && s.reads_done < few(m.baseline.reads.count, s)
}

fn writes_waited(m: &MigrationImpact, s: &StatementImpact) -> bool {
    s.worst_write_ms >= s.duration_ms / 2.0 && s.writes_done < few(m.baseline.writes.count, s)
}

/// A quarter of the operations the baseline's pace (`count` in the tests' baseline) would
/// finish in the statement's time, and at least two.
fn few(count: usize, s: &StatementImpact) -> usize {
    let baseline_ms = BASELINE.as_millis() as f64;
    let expected = count as f64 * s.duration_ms / baseline_ms;
    ((expected / 4.0) as usize).max(2)
}

fn shown(m: &MigrationImpact) -> String {
    let s: Vec<String> = m
        .statements
        .iter()
        .map(|s| {
            format!(
                "{} {:.1} ms, worst read {:.1}, worst write {:.1}, locks {:?}, rewrote {:?}, {:?}",
                s.sql,
                s.duration_ms,
                s.worst_read_ms,
                s.worst_write_ms,
                s.locks,
                s.rewritten,
                s.algorithm
            )
        })
        .collect();
    format!("{}\n{}", m.summary(), s.join("\n"))
}

/// DIDHub's own migrations, every version up and down, at a small size: the rows generated
/// from the schema fit every table (its checks, foreign keys and unique keys), and every
/// statement runs under the workload. (`just impact` measures at full size.)
#[apply(backends)]
#[tokio::test]
async fn every_didhub_migration_runs_under_load(#[case] kind: Backend) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let project = Project::open(&root).unwrap();
    let mut options = options(2_000, &[]);
    options.baseline = Duration::from_millis(100);
    let report = impact::run(&project, &[kind], &options).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let versions = crate::support::up_files(&root.join(kind.name()));
    assert_eq!(report.migrations.len(), 2 * versions, "{}", report.human());
    for m in &report.migrations {
        assert_eq!(m.failed, None, "{}", shown(m));
        if !m.tables.is_empty() {
            assert!(
                m.baseline.reads.count > 0 && m.baseline.writes.count > 0,
                "{}",
                shown(m)
            );
        }
    }
    // The workload met the tables the migrations alter: 0005 indexes three of them.
    let indexes = up(&report, 5);
    assert_eq!(
        indexes.tables,
        ["users", "alters", "audit_logs"],
        "{}",
        shown(indexes)
    );
    // The fill scaled the newest fixture at or below the version before (fixtures/data/v0004
    // for 0005, v0011 for 0012), in every column no key makes unique.
    for (version, fixture) in [(5, "v0004"), (12, "v0011")] {
        let m = up(&report, version);
        let alters = m.filled.iter().find(|f| f.table == "alters");
        let sample = alters.and_then(|f| f.sample.as_ref());
        assert!(
            sample.is_some_and(|s| s.fixture == fixture
                && s.refused.is_none()
                && s.columns.contains(&"name".to_owned())),
            "{}",
            shown(m)
        );
    }
}

#[tokio::test]
async fn sqlite_ddl_keeps_writers_waiting_and_readers_going() {
    let report = run(Backend::Sqlite, &options(400_000, &[2])).await;
    let m = up(&report, 2);
    let s = statement(m, "CREATE INDEX items_label");
    assert!(holds(s, "database write lock", ""), "{}", shown(m));
    // The writer waits while the statement holds the write lock. (Held against the statement,
    // not the whole transaction: on a loaded machine the commit's time can include a stall of
    // the whole process, during which no operation was even attempted.)
    assert!(writes_waited(m, s), "{}", shown(m));
    assert!(m.during.reads.max_ms < m.duration_ms / 2.0, "{}", shown(m));
    assert!(m.during.reads.count > 0, "{}", shown(m));
}

#[cfg(feature = "containers")]
mod postgres {
    use super::*;

    #[tokio::test]
    async fn create_index_blocks_writes_not_reads_and_concurrently_neither() {
        let report = run(Backend::Postgres, &options(300_000, &[2, 3])).await;
        let plain = up(&report, 2);
        let s = statement(plain, "CREATE INDEX items_label");
        assert!(holds(s, "ShareLock", "items"), "{}", shown(plain));
        assert!(writes_waited(plain, s), "{}", shown(plain));
        assert!(!reads_waited(plain, s), "{}", shown(plain));
        assert!(s.rewritten.is_empty(), "{}", shown(plain));
        // squawk said so before anything ran; the measurement bears it out.
        assert_eq!(
            s.lint,
            ["require-concurrent-index-creation"],
            "{}",
            shown(plain)
        );
        assert_eq!(s.lint_confirmed, Some(true), "{}", shown(plain));

        let concurrent = up(&report, 3);
        let s = statement(concurrent, "CREATE INDEX CONCURRENTLY");
        assert!(
            holds(s, "ShareUpdateExclusiveLock", "items"),
            "{}",
            shown(concurrent)
        );
        assert!(!writes_waited(concurrent, s), "{}", shown(concurrent));
        assert!(!reads_waited(concurrent, s), "{}", shown(concurrent));
        assert!(
            s.lint.is_empty() && s.lint_confirmed.is_none(),
            "{}",
            shown(concurrent)
        );
    }

    /// A dropped table's lock is read by its oid: its name is gone from the catalogue by the
    /// time the lock is read, but the lock is held to the end of the transaction.
    #[tokio::test]
    async fn drop_table_holds_access_exclusive_on_the_table_it_drops() {
        let report = run(Backend::Postgres, &options(100, &[1])).await;
        let down = report
            .migrations
            .iter()
            .find(|m| m.direction == Way::Down)
            .unwrap();
        let s = statement(down, "DROP TABLE items");
        assert!(holds(s, "AccessExclusiveLock", "items"), "{}", shown(down));
        assert!(!s.locks_sampled, "{}", shown(down));
    }

    /// A nullable column is the catalogue's business only: no rewrite, and it takes a small
    /// part of what a type change that rewrites the same table takes (measured alongside).
    #[tokio::test]
    async fn alter_type_rewrites_and_blocks_both_where_add_column_is_instant() {
        let report = run(Backend::Postgres, &options(300_000, &[4, 5])).await;
        let retype = up(&report, 5);
        let s = statement(retype, "ALTER TABLE items ALTER COLUMN n TYPE");
        assert!(
            holds(s, "AccessExclusiveLock", "items"),
            "{}",
            shown(retype)
        );
        assert_eq!(s.rewritten, ["items"], "{}", shown(retype));
        assert!(
            reads_waited(retype, s) && writes_waited(retype, s),
            "{}",
            shown(retype)
        );

        let added = up(&report, 4);
        let a = statement(added, "ALTER TABLE items ADD COLUMN note");
        assert!(holds(a, "AccessExclusiveLock", "items"), "{}", shown(added));
        assert!(a.rewritten.is_empty(), "{}", shown(added));
        assert!(
            a.duration_ms * 5.0 < s.duration_ms,
            "{}\n{}",
            shown(added),
            shown(retype)
        );
    }

    #[tokio::test]
    async fn a_constraint_added_not_valid_then_validated_keeps_writes_going() {
        let report = run(Backend::Postgres, &options(400_000, &[6, 7])).await;
        let added = up(&report, 6);
        let s = statement(added, "ALTER TABLE items ADD CONSTRAINT");
        assert!(
            holds(s, "ShareRowExclusiveLock", "items"),
            "{}",
            shown(added)
        );
        let validated = up(&report, 7);
        let s = statement(validated, "ALTER TABLE items VALIDATE");
        assert!(
            holds(s, "ShareUpdateExclusiveLock", "items"),
            "{}",
            shown(validated)
        );
        assert!(
            !s.locks.iter().any(|l| l.blocks_writes),
            "{}",
            shown(validated)
        );
        assert!(!writes_waited(validated, s), "{}", shown(validated));
        assert!(!reads_waited(validated, s), "{}", shown(validated));
    }

    /// An instant ALTER behind a transaction that stays open: the ALTER waits for its lock and
    /// every read queues behind the ALTER. The lock timeout ends the wait, and with it the
    /// queue; without it the readers wait as long as the transaction stays open.
    #[tokio::test]
    async fn a_migration_behind_a_long_transaction_queues_reads_until_the_lock_timeout() {
        let hold = Duration::from_millis(2000);
        let mut bounded = options(20_000, &[8]);
        bounded.hold_transaction = Some(hold);
        bounded.lock_timeout = Duration::from_millis(300);
        let mut unbounded = bounded.clone();
        unbounded.lock_timeout = Duration::from_secs(30);
        let (short, long) = tokio::join!(
            run(Backend::Postgres, &bounded),
            run(Backend::Postgres, &unbounded)
        );

        let gave_up = short
            .migrations
            .iter()
            .find(|m| m.version == 8 && m.direction == Way::Up)
            .unwrap();
        let failed = gave_up.failed.as_deref().unwrap_or_default();
        assert!(
            failed.starts_with("line 3: ALTER TABLE items ADD COLUMN flag"),
            "{failed}"
        );
        assert!(failed.contains("lock timeout"), "{failed}");
        assert!(failed.contains("the lock was held by pid"), "{failed}");
        assert!(failed.contains("transaction open for"), "{failed}");
        // The reads queued behind the waiting ALTER until the lock timeout ended its wait.
        let bound = bounded.lock_timeout.as_millis() as f64;
        assert!(
            gave_up.during.reads.max_ms >= bound / 2.0,
            "{}",
            shown(gave_up)
        );

        // Without the bound, they queued until the transaction ended: most of `hold`, and far
        // longer than with it. (The worst read, not the count of "blocked" ones, whose
        // threshold follows a baseline that a busy machine inflates.)
        let waited = up(&long, 8);
        assert!(
            waited.during.reads.max_ms > 2.0 * gave_up.during.reads.max_ms,
            "{}\n{}",
            shown(waited),
            shown(gave_up)
        );
        assert!(
            waited.during.reads.max_ms >= hold.as_millis() as f64 / 2.0,
            "{}",
            shown(waited)
        );
    }
}

#[cfg(feature = "containers")]
mod mariadb {
    use super::*;

    #[tokio::test]
    async fn add_column_is_instant_add_index_online_and_a_type_change_copies() {
        let report = run(Backend::MySql, &options(200_000, &[2, 3, 4])).await;
        let added = up(&report, 2);
        let s = statement(added, "ALTER TABLE items ADD COLUMN");
        assert_eq!(
            s.algorithm.as_deref(),
            Some("instant or inplace (no rebuild)"),
            "{}",
            shown(added)
        );
        assert!(s.rewritten.is_empty(), "{}", shown(added));

        let indexed = up(&report, 3);
        let s = statement(indexed, "CREATE INDEX items_label");
        assert_eq!(
            s.algorithm.as_deref(),
            Some("instant or inplace (no rebuild)"),
            "{}",
            shown(indexed)
        );
        assert!(
            !writes_waited(indexed, s) && !reads_waited(indexed, s),
            "{}",
            shown(indexed)
        );

        let copied = up(&report, 4);
        let c = statement(copied, "ALTER TABLE items MODIFY");
        assert_eq!(c.algorithm.as_deref(), Some("copy"), "{}", shown(copied));
        assert_eq!(c.rewritten, ["items"], "{}", shown(copied));
        assert!(
            holds(c, "MDL_SHARED_NO_WRITE", "items"),
            "{}",
            shown(copied)
        );
        assert!(writes_waited(copied, c), "{}", shown(copied));
        assert!(!reads_waited(copied, c), "{}", shown(copied));
    }
}

/// A budget the migration goes over is a finding (exit 1), which an allow entry with its
/// reason accepts; an entry that covers nothing over budget is noted.
#[tokio::test]
async fn a_migration_over_budget_fails_unless_allowed() {
    let mut tight = options(100_000, &[2]);
    tight.max_write_stall = Duration::from_micros(1);
    let report = run(Backend::Sqlite, &tight).await;
    let m = up(&report, 2);
    assert!(
        m.over_budget
            .iter()
            .any(|o| o.contains("max_write_stall_ms")),
        "{}",
        shown(m)
    );
    assert!(!m.ok());
    assert_eq!(report.exit_code(), 1);
    let junit = report.check_report().junit("didhub-harness impact");
    assert!(
        junit.contains("over the budget of 0 ms (max_write_stall_ms)"),
        "{junit}"
    );

    let allow = |version: &str| {
        toml::from_str::<impact::Settings>(&format!(
            "[[allow]]\nversion = \"{version}\"\nbackend = \"sqlite\"\nreason = \"a new index on a small table\"\n"
        ))
        .unwrap()
        .allow
    };
    tight.allow = didhub_harness::allow::AllowList::of(&allow("2"), "test").unwrap();
    let report = run(Backend::Sqlite, &tight).await;
    let m = up(&report, 2);
    assert_eq!(m.allowed.as_deref(), Some("a new index on a small table"));
    assert!(report.ok(), "{}", report.human());

    tight.allow = didhub_harness::allow::AllowList::of(&allow("1"), "test").unwrap();
    tight.max_write_stall = Duration::from_secs(60);
    tight.max_read_stall = Duration::from_secs(60);
    let report = run(Backend::Sqlite, &tight).await;
    assert_eq!(
        report.unused_allows,
        ["[[impact.allow]] version 1 allowed nothing over budget in this run"]
    );
    // Whether a migration goes over depends on the rows and the machine: a note, not a failure.
    assert_eq!(report.exit_code(), 0);
    assert!(report.human().contains("note [[impact.allow]] version 1"));
}

fn cli() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_didhub-harness"));
    command.args(["impact", "--migrations"]).arg(fixtures());
    command
}

/// `--format json` is one document with every figure; stdout holds only it.
#[test]
fn the_cli_prints_every_figure_as_json() {
    let output = cli()
        .args([
            "--db",
            "sqlite",
            "--rows",
            "1000",
            "--version",
            "2",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    let migrations = doc["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 2, "{doc}");
    assert_eq!(migrations[0]["direction"], "up");
    assert_eq!(
        migrations[0]["statements"][0]["locks"][0]["mode"],
        "database write lock"
    );
    assert!(
        migrations[0]["baseline"]["writes"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// Ctrl-C ends the run at once, whatever it is doing (here filling a table), and says so.
#[test]
fn ctrl_c_ends_the_run() {
    let child = cli()
        .args(["--db", "sqlite", "--rows", "5000000", "--version", "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "impact: interrupted"
    );
}

/// The migration runs as the project's runner runs it: the `[runner]` session statements come
/// first on its connection (here SQLite's foreign keys off, without which dropping a table
/// that rows refer to fails).
#[tokio::test]
async fn the_runners_session_statements_come_first() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("sqlite");
    std::fs::create_dir(&folder).unwrap();
    let files = [
        (
            "0001_tables.up.sql",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);\nCREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id));\n",
        ),
        (
            "0001_tables.down.sql",
            "DROP TABLE child;\nDROP TABLE parent;\n",
        ),
        (
            "0002_drop_parent.up.sql",
            "DELETE FROM child WHERE id < 0;\nDROP TABLE parent;\n",
        ),
        (
            "0002_drop_parent.down.sql",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n",
        ),
    ];
    for (name, sql) in files {
        std::fs::write(folder.join(name), sql).unwrap();
    }
    let measure = || async {
        let project = Project::open(dir.path()).unwrap();
        let report = impact::run(&project, &[Backend::Sqlite], &options(100, &[2])).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report.migrations[0].failed.clone()
    };
    let failed = measure().await.unwrap_or_default();
    assert!(failed.contains("FOREIGN KEY constraint failed"), "{failed}");
    std::fs::write(
        dir.path().join("didhub-harness.toml"),
        "[runner.sqlite]\nsession = [\"PRAGMA foreign_keys = OFF\"]\n",
    )
    .unwrap();
    assert_eq!(measure().await, None);
}

/// Where the project has data fixtures, a table they hold is filled with the fixture's rows
/// scaled: its columns that no key makes unique take the fixture's values. Here a check that
/// generated text cannot meet (`length(code) = 6`) is met by the fixture's codes; without the
/// fixture the table cannot be filled, and the report says which columns came from where.
#[apply(backends)]
#[tokio::test]
async fn a_fixture_is_scaled_into_the_tables_it_holds(#[case] kind: Backend) {
    use didhub_harness::impact::{Filled, Sample};
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join(kind.name());
    std::fs::create_dir(&folder).unwrap();
    let drop_index = match kind {
        Backend::MySql => "DROP INDEX idx_notes_code ON notes;\n",
        _ => "DROP INDEX idx_notes_code;\n",
    };
    let files = [
        (
            "0001_notes.up.sql",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, code VARCHAR(12) NOT NULL CHECK (length(code) = 6), body TEXT);\n",
        ),
        ("0001_notes.down.sql", "DROP TABLE notes;\n"),
        (
            "0002_index.up.sql",
            "CREATE INDEX idx_notes_code ON notes (code);\n",
        ),
        ("0002_index.down.sql", drop_index),
    ];
    for (name, sql) in files {
        std::fs::write(folder.join(name), sql).unwrap();
    }
    let data = dir.path().join("data/v0001");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("notes.json"),
        r#"[{"id": 1, "code": "abc123", "body": "first"}, {"id": 2, "code": "xyz789", "body": null}]"#,
    )
    .unwrap();
    let measure = || async {
        let project = Project::open(dir.path()).unwrap();
        impact::run(&project, &[kind], &options(1_000, &[2])).await
    };

    let generated = measure().await;
    let errors: Vec<String> = generated.errors.iter().map(|e| e.2.to_string()).collect();
    assert!(
        errors.len() == 1 && errors[0].contains("cannot fill table notes"),
        "{errors:?}"
    );

    std::fs::write(
        dir.path().join("didhub-harness.toml"),
        "fixtures = \"data\"\n",
    )
    .unwrap();
    let scaled = measure().await;
    assert!(scaled.errors.is_empty(), "{:?}", scaled.errors);
    let m = up(&scaled, 2);
    assert_eq!(
        m.filled,
        [Filled {
            table: "notes".into(),
            sample: Some(Sample {
                fixture: "v0001".into(),
                columns: vec!["code".into(), "body".into()],
                refused: None,
            }),
        }],
        "{}",
        shown(m)
    );
    assert!(
        m.summary()
            .contains("filled notes (fixture v0001 scaled: code, body)")
    );
    // The workload's inserts take the fixture's values too.
    assert!(m.baseline.writes.count > 0, "{}", shown(m));
    assert_eq!(m.workload_errors, 0, "{}", shown(m));
}
