//! Defects introduced into a copy of DIDHub's migrations make `check` fail, naming the defect.

use didhub_harness::backends;
use rstest_reuse::apply;
use std::path::Path;
use std::process::Command;

use didhub_harness::check::{self, CheckOptions};
use didhub_harness::lock::{self, Lock};
use didhub_harness::migrations::MigrationSet;
use didhub_harness::project::SETTINGS_FILE;
use didhub_harness::project::{ColumnOrder, Project};
use didhub_harness::staircase;
use didhub_migrations::Backend;

use crate::support;

/// A temporary copy of DIDHub's migration folders and settings (without the fixtures, whose
/// path is relative to the real folder: tests that want them say so).
fn copy_of_migrations() -> tempfile::TempDir {
    let source = check::didhub_migrations();
    let copy = support::copy_folders(&source, Backend::name);
    let settings = std::fs::read_to_string(source.join(SETTINGS_FILE)).unwrap();
    assert!(settings.contains("\nfixtures = \"../fixtures/data\"\n"));
    std::fs::write(
        copy.path().join(SETTINGS_FILE),
        settings.replace("\nfixtures = \"../fixtures/data\"\n", "\n"),
    )
    .unwrap();
    copy
}

/// A temporary copy of DIDHub's migration folders and their lock file.
fn copy_of_locked_migrations() -> tempfile::TempDir {
    let copy = copy_of_migrations();
    let source = check::didhub_migrations();
    std::fs::copy(Lock::path(&source), Lock::path(copy.path())).unwrap();
    copy
}

/// Replaces `from` by `to` in one migration file (the text must be there).
fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} does not contain {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// `check` options for a copy of DIDHub's migrations: as its settings say (no fixtures), but
/// no parity allow-list.
fn didhub_copy(root: &Path, backends: &[Backend]) -> CheckOptions {
    let empty = root.join("no-parity-allow.toml");
    std::fs::write(&empty, "").unwrap();
    CheckOptions {
        allow_list: Some(empty),
        ..CheckOptions::new(root, backends)
    }
}

async fn check(root: &Path, backends: &[Backend]) -> check::CheckReport {
    check::run(&didhub_copy(root, backends)).await
}

/// `check` on a set that is not DIDHub's: no allow-lists, no fixtures.
async fn check_foreign(root: &Path, backends: &[Backend]) -> check::CheckReport {
    check::run(&CheckOptions::new(root, backends)).await
}

#[tokio::test]
async fn didhubs_own_migrations_pass_on_sqlite() {
    let migrations = check::didhub_migrations();
    let report = check::run(&CheckOptions::new(migrations, &[Backend::Sqlite])).await;
    assert!(report.ok, "{}", report.text);
    assert!(
        report
            .text
            .contains("ok   sqlite: data staircase: 2 fixture(s) (v0004, v0011"),
        "{}",
        report.text
    );
}

/// One defect put into a copy of DIDHub's migrations: `file` edited (`from` replaced by `to`),
/// or removed (`None`); `check` on `backends` fails, and its report says each of `named`.
#[rstest]
#[case::a_down_that_leaves_an_index_behind_is_named(
    "sqlite/0005_performance_indexes.down.sql",
    Some(("DROP INDEX idx_alters_name;\n", "")),
    &[Backend::Sqlite],
    &[
        "sqlite: 0005_performance_indexes.down.sql (version 5) does not restore the schema of version 4",
        "alters: index (name): unexpected ((name), named idx_alters_name)",
    ],
)]
#[case::a_missing_down_file_is_named(
    "postgres/0004_audit_logs.down.sql",
    None,
    &[Backend::Sqlite],
    &["postgres: version 4 (audit_logs) has an up migration but no audit_logs.down.sql"],
)]
#[case::a_broken_migration_names_its_file_version_and_backend(
    "sqlite/0003_alters.up.sql",
    Some(("CREATE TABLE alters (", "CREATE TABEL alters (")),
    &[Backend::Sqlite],
    &["sqlite: 0003_alters.up.sql (version 3) failed"],
)]
#[cfg_attr(
    feature = "containers",
    case::a_column_type_that_differs_in_one_dialect_is_drift(
        "postgres/0003_alters.up.sql",
        Some(("name        VARCHAR(200)", "name        VARCHAR(100)")),
        &Backend::ALL,
        &["drift: version 3: alters.name type: sqlite=text postgres=short_text(100) mysql=short_text(200)"],
    )
)]
#[cfg_attr(
    feature = "containers",
    case::a_missing_on_delete_action_in_one_dialect_is_drift(
        "mysql/0002_systems.up.sql",
        Some(("REFERENCES users (id) ON DELETE CASCADE", "REFERENCES users (id)")),
        &Backend::ALL,
        &["drift: version 2: systems.fk_systems_user on_delete: sqlite=CASCADE postgres=CASCADE mysql=RESTRICT/NO ACTION"],
    )
)]
#[tokio::test]
async fn a_defect_is_named(
    #[case] file: &str,
    #[case] edit_to: Option<(&str, &str)>,
    #[case] backends: &[Backend],
    #[case] named: &[&str],
) {
    let copy = copy_of_migrations();
    match edit_to {
        Some((from, to)) => edit(copy.path(), file, from, to),
        None => std::fs::remove_file(copy.path().join(file)).unwrap(),
    }
    let report = check(copy.path(), backends).await;
    assert!(!report.ok, "{}", report.text);
    for name in named {
        assert!(report.text.contains(name), "{name}\n{}", report.text);
    }
}

/// The data staircase on a copy of DIDHub's migrations, with DIDHub's fixtures.
async fn check_with_fixtures(root: &Path, backends: &[Backend]) -> check::CheckReport {
    check::run(&CheckOptions {
        fixtures: Some(check::didhub_fixtures()),
        ..didhub_copy(root, backends)
    })
    .await
}

#[tokio::test]
async fn a_down_that_forgets_to_restore_the_usernames_is_named() {
    let copy = copy_of_migrations();
    std::fs::write(
        copy.path().join("sqlite/0013_lowercase_usernames.down.sql"),
        "ALTER TABLE users DROP COLUMN display_name;\n",
    )
    .unwrap();
    let report = check_with_fixtures(copy.path(), &[Backend::Sqlite]).await;
    assert!(!report.ok);
    // The schema is restored; only the data staircase sees the loss.
    assert!(
        report
            .text
            .lines()
            .any(|l| l.starts_with("ok   sqlite: ")
                && l.contains("migrations up, down and up again")),
        "{}",
        report.text
    );
    assert!(
        report.text.contains(
            "FAIL sqlite: 0013_lowercase_usernames.down.sql (version 13) does not restore the data of users: \
             4 row(s) before the up, 4 after the down, differing (fixture v0011)"
        ),
        "{}",
        report.text
    );
    assert!(
        report.text.contains(r#""username":"Bea.Moss"}"#),
        "{}",
        report.text
    );
}

#[tokio::test]
async fn an_edited_released_migration_fails_check_and_lock_refuses_it() {
    let copy = copy_of_locked_migrations();
    edit(
        copy.path(),
        "mysql/0008_settings.up.sql",
        "name       VARCHAR(100)",
        "name       VARCHAR(120)",
    );
    let report = check(copy.path(), &[Backend::Sqlite]).await;
    assert!(!report.ok);
    assert!(
        report.text.contains(
            "FAIL lock (migrations.lock):\n- mysql/0008_settings.up.sql (version 8) changed after it was released"
        ),
        "{}",
        report.text
    );
    assert!(
        report.text.contains("make the change in a new migration"),
        "{}",
        report.text
    );

    let lock = Command::new(env!("CARGO_BIN_EXE_didhub-harness"))
        .args(["lock", "--migrations"])
        .arg(copy.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&lock.stdout);
    assert!(!lock.status.success(), "{text}");
    assert!(
        text.contains("not rewriting released migrations")
            && text.contains("mysql/0008_settings.up.sql (version 8) changed"),
        "{text}"
    );
}

#[test]
fn didhubs_own_migrations_lint_clean_with_the_checked_in_allow_list() {
    let migrations = check::didhub_migrations();
    let report = check::run_lint(&migrations, &Backend::ALL, None).unwrap();
    assert!(report.is_ok(), "{report}");
    let settings = didhub_harness::project::Settings::load(&migrations).unwrap();
    let policy = settings.lint_policy(&migrations, None).unwrap();
    assert_eq!(report.notes, Vec::<String>::new());
    // Every entry silences something (a stale one would fail), so the list is no larger than
    // what the released files need.
    assert!(report.silenced >= policy.allow.allow.len(), "{report}");
}

#[test]
fn a_stale_lint_allow_list_entry_fails() {
    let copy = copy_of_migrations();
    let settings = copy.path().join(SETTINGS_FILE);
    let text = std::fs::read_to_string(&settings).unwrap()
        + "\n[[lint.allow]]\nrule = \"ALL001\"\nfile = \"sqlite/0001_users.up.sql\"\nreason = \"drops nothing\"\n";
    std::fs::write(&settings, text).unwrap();
    let report = check::run_lint(copy.path(), &Backend::ALL, None).unwrap();
    assert!(!report.is_ok());
    assert_eq!(
        report.to_string(),
        "\n- stale lint allow-list entry: ALL001 in sqlite/0001_users.up.sql (drops nothing) \
         silences nothing any more; remove it"
    );
}

/// Runs the CLI; returns whether it succeeded, and its output.
fn cli(args: &[&str], migrations: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_didhub-harness"))
        .args(args)
        .arg("--migrations")
        .arg(migrations)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), text)
}

/// A new PostgreSQL migration of DIDHub's is linted by squawk, under DIDHub's settings: a
/// `varchar` column, an index dropped without CONCURRENTLY and a foreign key added to an
/// existing table without NOT VALID are each reported by squawk's rule name; an index on a table
/// the same migration creates is not.
#[test]
fn a_new_postgres_migration_is_linted_by_squawk() {
    let copy = copy_of_migrations();
    std::fs::write(
        copy.path().join("postgres/0014_alter_colour.up.sql"),
        "ALTER TABLE alters ADD COLUMN colour VARCHAR(7);\n\
         DROP INDEX idx_alters_name;\n\
         ALTER TABLE alters ADD CONSTRAINT fk_alters_owner FOREIGN KEY (owner_user_id) REFERENCES users (id);\n\
         CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT);\n\
         CREATE INDEX idx_notes_body ON notes (body);\n",
    )
    .unwrap();
    let (ok, text) = cli(&["lint", "--db", "postgres"], copy.path());
    assert!(!ok, "{text}");
    // Line and rule of each finding in the new file.
    let found: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("- postgres/0014_alter_colour.up.sql:"))
        .map(|l| l.split(':').take(2).collect::<Vec<_>>().join(":"))
        .collect();
    assert_eq!(
        found,
        vec![
            "1: prefer-text-field",
            "2: require-concurrent-index-deletion",
            "3: constraint-missing-not-valid",
            "3: adding-foreign-key-constraint"
        ],
        "{text}"
    );
    assert!(
        text.contains("    rule: https://squawkhq.com/docs/constraint-missing-not-valid\n"),
        "{text}"
    );
}

/// The workflow of docs/migrations.md, on a copy of DIDHub's migrations: scaffold, write,
/// lint, check, lock; then the new migration is released like the others.
#[test]
fn a_new_migration_goes_from_scaffold_through_lint_to_the_lock() {
    let copy = copy_of_locked_migrations();
    let root = copy.path();
    let (ok, text) = cli(&["new-migration", "AlterColour"], root);
    assert!(
        !ok && text.contains("\"AlterColour\" is not a migration name"),
        "{text}"
    );
    let (ok, text) = cli(&["new-migration", "lowercase_usernames"], root);
    assert!(
        !ok && text
            .contains("there is already a migration named lowercase_usernames: version 0013"),
        "{text}"
    );
    let (ok, text) = cli(&["new-migration", "alter_colour"], root);
    assert!(ok, "{text}");
    assert!(
        text.starts_with("created version 0015 (alter_colour):"),
        "{text}"
    );
    assert!(
        text.contains("didhub-harness check --migrations") && text.contains("didhub-harness lock"),
        "{text}"
    );

    for (file, sql) in [
        (
            "sqlite/0015_alter_colour.up.sql",
            "ALTER TABLE alters ADD COLUMN colour TEXT;\nCREATE INDEX idx_alters_colour ON alters (colour);\n",
        ),
        (
            "sqlite/0015_alter_colour.down.sql",
            "DROP INDEX idx_alters_colour;\nALTER TABLE alters DROP COLUMN colour;\n",
        ),
        (
            "postgres/0015_alter_colour.up.sql",
            "ALTER TABLE alters ADD COLUMN colour VARCHAR(7);\nCREATE INDEX idx_alters_colour ON alters (colour);\n",
        ),
        (
            "postgres/0015_alter_colour.down.sql",
            "DROP INDEX idx_alters_colour;\nALTER TABLE alters DROP COLUMN colour;\n",
        ),
        (
            "mysql/0015_alter_colour.up.sql",
            "ALTER TABLE alters ADD COLUMN colour VARCHAR(7) NULL;\nCREATE INDEX idx_alters_colour ON alters (colour);\n",
        ),
        (
            "mysql/0015_alter_colour.down.sql",
            "DROP INDEX idx_alters_colour ON alters;\nALTER TABLE alters DROP COLUMN colour;\n",
        ),
    ] {
        std::fs::write(root.join(file), sql).unwrap();
    }
    let (ok, text) = cli(&["lint"], root);
    assert!(!ok, "{text}");
    // squawk's findings, by squawk's rule names.
    let found: Vec<&str> = text.lines().filter(|l| l.starts_with("- ")).collect();
    assert_eq!(
        found,
        [
            "- postgres/0015_alter_colour.down.sql:1: require-concurrent-index-deletion: \
             DROP INDEX idx_alters_colour;",
            "- postgres/0015_alter_colour.up.sql:1: prefer-text-field: VARCHAR(7)",
            "- postgres/0015_alter_colour.up.sql:2: require-concurrent-index-creation: \
             CREATE INDEX idx_alters_colour ON alters (colour);"
        ],
        "{text}"
    );
    for (file, allow) in [
        (
            "up",
            "-- lint: allow require-concurrent-index-creation alters holds a few rows per system\n\
             -- lint: allow prefer-text-field VARCHAR(7) as on MySQL, for parity\n",
        ),
        (
            "down",
            "-- lint: allow require-concurrent-index-deletion alters holds a few rows per system\n",
        ),
    ] {
        let path = root.join(format!("postgres/0015_alter_colour.{file}.sql"));
        let sql = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{allow}{sql}")).unwrap();
    }
    let (ok, text) = cli(&["lint"], root);
    assert!(ok, "{text}");

    let (ok, text) = cli(&["check", "--db", "sqlite"], root);
    assert!(ok, "{text}");
    assert!(text.contains("not locked yet: version 0015"), "{text}");
    let (ok, text) = cli(&["lock"], root);
    assert!(
        ok && text.contains("added   sqlite/0015_alter_colour.up.sql"),
        "{text}"
    );
    let (ok, text) = cli(&["check", "--db", "sqlite"], root);
    assert!(
        ok && text.contains("ok   lock: 90 released file(s) unchanged"),
        "{text}"
    );

    // Released now: an edit is refused like any other.
    std::fs::write(
        root.join("sqlite/0015_alter_colour.down.sql"),
        "SELECT 1;\n",
    )
    .unwrap();
    let (ok, text) = cli(&["check", "--db", "sqlite"], root);
    assert!(
        !ok && text.contains(
            "sqlite/0015_alter_colour.down.sql (version 15) changed after it was released"
        ),
        "{text}"
    );
}

#[test]
fn snapshot_prints_the_normalised_schema_at_a_version() {
    let migrations = check::didhub_migrations();
    let (ok, text) = cli(
        &["snapshot", "--db", "sqlite", "--version", "2"],
        &migrations,
    );
    assert!(ok, "{text}");
    assert!(text.starts_with("== sqlite\ntable systems\n"), "{text}");
    assert!(
        text.contains(
            "  foreign key (user_id) -> users (id) on delete CASCADE on update NO ACTION, \
             named fk_systems_user"
        ),
        "{text}"
    );
    assert!(!text.contains("table alters"), "{text}");
    let (ok, text) = cli(
        &["snapshot", "--db", "sqlite", "--version", "99"],
        &migrations,
    );
    assert!(!ok && text.contains("there is no version 99"), "{text}");
    let (ok, text) = cli(&["parity", "--db", "sqlite"], &migrations);
    assert!(
        !ok && text.contains("parity compares two or more backends"),
        "{text}"
    );
}

#[test]
fn the_cli_exits_non_zero_and_says_why() {
    let copy = copy_of_migrations();
    std::fs::remove_file(copy.path().join("mysql/0002_systems.down.sql")).unwrap();
    let run = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_didhub-harness"))
            .args(["check", "--db", "sqlite", "--migrations"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let broken = run(copy.path());
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(!broken.status.success(), "{text}");
    assert!(
        text.contains("mysql: version 2 (systems) has an up migration but no systems.down.sql"),
        "{text}"
    );
    assert!(text.contains("checks failed"), "{text}");

    let migrations = check::didhub_migrations();
    let fine = run(&migrations);
    assert!(
        fine.status.success(),
        "{}",
        String::from_utf8_lossy(&fine.stdout)
    );
}

/// Nothing checked is never "ok": empty folders fail on the backend and in the lint.
#[tokio::test]
async fn folders_without_walkable_migrations_fail_rather_than_pass() {
    let empty = support::same_in_every_dialect(&[]);
    let report = check_foreign(empty.path(), &[Backend::Sqlite]).await;
    assert!(!report.ok, "{}", report.text);
    assert!(
        report
            .text
            .contains("FAIL sqlite: no migrations to walk in"),
        "{}",
        report.text
    );
    assert!(!report.text.contains("ok   sqlite:"), "{}", report.text);
    assert!(
        report
            .text
            .contains("FAIL lint: no migration files to lint under"),
        "{}",
        report.text
    );
}

/// Three up-only migrations (`NNNN_name.sql`), the same SQL in every dialect; `b_type` is the
/// type of the column the third one adds.
fn up_only_set(b_type: &str) -> tempfile::TempDir {
    support::same_in_every_dialect(&[
        (
            "0001_create.sql",
            "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, a INTEGER NOT NULL);\n\
             CREATE INDEX idx_t_a ON t (a);\n",
        ),
        (
            "0002_add_b.sql",
            &format!("ALTER TABLE t ADD COLUMN b {b_type};\n"),
        ),
        ("0003_add_c.sql", "ALTER TABLE t ADD COLUMN c INTEGER;\n"),
    ])
}

/// An up-only set is walked — each version applied and its schema recorded — and the report
/// says that no down was checked.
#[apply(backends)]
#[tokio::test]
async fn an_up_only_set_is_walked_without_claiming_a_down(#[case] kind: Backend) {
    let dir = up_only_set("INTEGER");
    let report = check_foreign(dir.path(), &[kind]).await;
    assert!(report.ok, "{}", report.text);
    assert!(
        report.text.contains(
            "ok   integrity: 3 migrations, identical in every folder: 0 reversible, 3 up-only"
        ),
        "{}",
        report.text
    );
    let walked = format!("ok   {kind}: 3 migrations: 3 up only (no down to check) in ");
    assert!(report.text.contains(&walked), "{}", report.text);
    assert!(
        !report.text.contains("down and up again"),
        "{}",
        report.text
    );

    let set = MigrationSet::load(dir.path(), kind).await.unwrap();
    let stairs = staircase::walk(&set, ColumnOrder::Ignore).await.unwrap();
    assert!(stairs.downs_checked.is_empty());
    let columns: Vec<Vec<String>> = stairs
        .steps
        .iter()
        .map(|(_, schema)| match schema.tables.get("t") {
            Some(t) => t.columns.iter().map(|c| c.name.clone()).collect(),
            None => Vec::new(),
        })
        .collect();
    assert_eq!(
        columns,
        [
            vec![],
            vec!["id", "a"],
            vec!["id", "a", "b"],
            vec!["id", "a", "b", "c"]
        ]
    );
}

/// `snapshot` prints an up-only set's schema at a version; the lint and the lock file cover its
/// files like any other.
#[test]
fn snapshot_lint_and_lock_cover_up_only_files() {
    let dir = up_only_set("INTEGER");
    std::fs::write(
        dir.path().join("sqlite/0003_add_c.sql"),
        "ALTER TABLE t ADD COLUMN c INTEGER;\nALTER TABLE t DROP COLUMN b;\n",
    )
    .unwrap();
    let (ok, text) = cli(
        &["snapshot", "--db", "sqlite", "--version", "2"],
        dir.path(),
    );
    assert!(ok, "{text}");
    assert!(text.starts_with("== sqlite\ntable t\n"), "{text}");
    assert!(text.contains("  column b integer"), "{text}");
    assert!(!text.contains("column c"), "{text}");

    let report = check::run_lint(dir.path(), &Backend::ALL, None).unwrap();
    assert_eq!(report.files, 9, "{report}");
    // The data-loss rule, which spares downs, applies to up-only files.
    assert!(
        report
            .to_string()
            .contains("sqlite/0003_add_c.sql:2: ALL001"),
        "{report}"
    );

    let locked: Vec<String> = lock::current(&Project::open(dir.path()).unwrap())
        .unwrap()
        .iter()
        .map(|e| e.display())
        .collect();
    assert_eq!(locked.len(), 9, "{locked:?}");
    assert!(
        locked.contains(&"mysql/0002_add_b.sql".to_owned()),
        "{locked:?}"
    );
}

/// A mixed set: 0001 up-only, 0002 reversible, whose down is `down`.
fn mixed_set(down: &str) -> tempfile::TempDir {
    support::same_in_every_dialect(&[
        (
            "0001_create.sql",
            "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, a INTEGER NOT NULL);\n",
        ),
        (
            "0002_add_columns.up.sql",
            "ALTER TABLE t ADD COLUMN b INTEGER;\nALTER TABLE t ADD COLUMN c INTEGER;\n",
        ),
        ("0002_add_columns.down.sql", down),
    ])
}

/// In a mixed set the reversible version's down is checked and the up-only one's is not; a
/// down that forgets a column fails the staircase.
#[apply(backends)]
#[tokio::test]
async fn a_mixed_set_checks_the_downs_it_has(#[case] kind: Backend) {
    let good = mixed_set("ALTER TABLE t DROP COLUMN c;\nALTER TABLE t DROP COLUMN b;\n");
    let report = check_foreign(good.path(), &[kind]).await;
    assert!(report.ok, "{}", report.text);
    assert!(
        report.text.contains(
            "ok   integrity: 2 migrations, identical in every folder: 1 reversible, 1 up-only"
        ),
        "{}",
        report.text
    );
    let walked = format!(
        "ok   {kind}: 2 migrations: 1 up, down and up again, 1 up only (no down to check) in "
    );
    assert!(report.text.contains(&walked), "{}", report.text);

    let forgetful = mixed_set("ALTER TABLE t DROP COLUMN c;\n");
    let report = check_foreign(forgetful.path(), &[kind]).await;
    assert!(!report.ok, "{}", report.text);
    let failed = format!(
        "FAIL {kind}: 0002_add_columns.down.sql (version 2) does not restore the schema of version 1"
    );
    assert!(report.text.contains(&failed), "{}", report.text);
    assert!(
        report.text.contains("t: column b: unexpected"),
        "{}",
        report.text
    );
}

/// The database's message for a statement on a table that does not exist, per backend.
fn no_such_table(kind: Backend) -> &'static str {
    match kind {
        Backend::Sqlite => "no such table: main.missing_table",
        Backend::Postgres => "relation \"missing_table\" does not exist",
        Backend::MySql => ".missing_table' doesn't exist",
    }
}

/// A failed migration names the line of the statement that failed, whether in an up file, a
/// down file, or on the way to `snapshot`'s schema.
#[apply(backends)]
#[tokio::test]
async fn a_failed_statement_is_named_by_its_line(#[case] kind: Backend) {
    let create = "-- the table\nCREATE TABLE t (\n  id INTEGER NOT NULL PRIMARY KEY\n);\n";
    let broken_up = format!(
        "{create}\n-- its index, on the wrong table\nCREATE INDEX idx_t_id\n  ON missing_table (id);\n"
    );
    let dir = support::same_in_every_dialect(&[
        ("0001_create.up.sql", create),
        ("0001_create.down.sql", "DROP TABLE t;\n"),
        (
            "0002_index.up.sql",
            &broken_up.replace("CREATE TABLE t", "CREATE TABLE u"),
        ),
        ("0002_index.down.sql", "DROP TABLE u;\n"),
    ]);
    let report = check_foreign(dir.path(), &[kind]).await;
    assert!(!report.ok, "{}", report.text);
    let failed = format!(
        "FAIL {kind}: 0002_index.up.sql (version 2) failed: line 7: CREATE INDEX idx_t_id ON missing_table (id): "
    );
    let line = report
        .text
        .lines()
        .find(|l| l.starts_with(&failed))
        .unwrap_or_else(|| panic!("no line starting {failed:?} in\n{}", report.text));
    assert!(line.ends_with(no_such_table(kind)), "{line}");

    let set = MigrationSet::load(dir.path(), kind).await.unwrap();
    let error = staircase::schema_at(&set, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.starts_with(&failed[5..]), "{error}");

    std::fs::write(
        dir.path().join(kind.name()).join("0001_create.down.sql"),
        "DROP TABLE t;\nDROP TABLE missing_table;\n",
    )
    .unwrap();
    let set = MigrationSet::load(dir.path(), kind).await.unwrap();
    let error = first_failure(&set).await;
    let failed = format!(
        "{kind}: 0001_create.down.sql (version 1) failed: line 2: DROP TABLE missing_table: "
    );
    assert!(error.starts_with(&failed), "{error}");
    assert!(error.contains("missing_table"), "{error}");
}

/// An up that fails only when applied again after its down (its row is still there) is
/// replayed the way the staircase got there — up, down, then its statements — so the insert is
/// named, not the first statement, and not "not known".
#[apply(backends)]
#[tokio::test]
async fn a_failure_applying_it_again_names_the_statement(#[case] kind: Backend) {
    let dir = support::same_in_every_dialect(&[
        (
            "0001_create.sql",
            "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY);\n",
        ),
        (
            "0002_seed.up.sql",
            "ALTER TABLE t ADD COLUMN b INTEGER;\nINSERT INTO t (id) VALUES (1);\n",
        ),
        ("0002_seed.down.sql", "ALTER TABLE t DROP COLUMN b;\n"),
    ]);
    let set = MigrationSet::load(dir.path(), kind).await.unwrap();
    let error = first_failure(&set).await;
    let failed = format!(
        "{kind}: 0002_seed.up.sql (version 2) failed: applying it again after its down: \
         line 2: INSERT INTO t (id) VALUES (1): "
    );
    assert!(error.starts_with(&failed), "{error}");
}

/// SQLite refuses VACUUM inside the migration's transaction, while each statement alone
/// succeeds: the report says the failing statement is not known instead of inventing a line.
#[tokio::test]
async fn a_failure_no_statement_reproduces_names_no_line() {
    let dir = support::same_in_every_dialect(&[
        (
            "0001_create.up.sql",
            "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY);\nVACUUM;\n",
        ),
        ("0001_create.down.sql", "DROP TABLE t;\n"),
    ]);
    let set = MigrationSet::load(dir.path(), Backend::Sqlite)
        .await
        .unwrap();
    let error = first_failure(&set).await;
    assert!(
        error.starts_with(
            "sqlite: 0001_create.up.sql (version 1) failed: while executing migration 1"
        ),
        "{error}"
    );
    assert!(
        error.ends_with("every statement succeeded: the failing statement is not known)"),
        "{error}"
    );
    assert!(!error.contains("line "), "{error}");
}

/// A migration set written as many projects write theirs, the same SQL in every dialect folder:
/// a table with two unnamed table-level checks, then a version whose down rebuilds the table with
/// `down_checks` only.
fn unnamed_checks(down_checks: &str) -> tempfile::TempDir {
    let table = |checks: &str| {
        format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL, {checks});\n"
        )
    };
    support::same_in_every_dialect(&[
        ("0001_create.up.sql", &table("CHECK (a > 0), CHECK (b > 0)")),
        ("0001_create.down.sql", "DROP TABLE t;\n"),
        ("0002_add_c.up.sql", "ALTER TABLE t ADD COLUMN c INTEGER;\n"),
        (
            "0002_add_c.down.sql",
            &format!("DROP TABLE t;\n{}", table(down_checks)),
        ),
    ])
}

/// A down that rebuilds a table without one of its unnamed checks fails the staircase, and the
/// same down with both checks passes it.
#[apply(backends)]
#[tokio::test]
async fn a_down_that_forgets_an_unnamed_check_fails_the_staircase(#[case] kind: Backend) {
    let good = unnamed_checks("CHECK (a > 0), CHECK (b > 0)");
    let report = check_foreign(good.path(), &[kind]).await;
    let walked = format!("ok   {kind}: 2 migrations up, down and up again");
    assert!(report.text.contains(&walked), "{}", report.text);

    let forgetful = unnamed_checks("CHECK (b > 0)");
    let report = check_foreign(forgetful.path(), &[kind]).await;
    assert!(!report.ok, "{}", report.text);
    let failed =
        format!("{kind}: 0002_add_c.down.sql (version 2) does not restore the schema of version 1");
    assert!(report.text.contains(&failed), "{}", report.text);
    assert!(report.text.contains("t: check "), "{}", report.text);
}

/// Parity defects need all three dialects.
#[cfg(feature = "containers")]
mod across_dialects {
    use super::*;

    /// Parity says which backend it left out when one failed, and compares the others.
    #[tokio::test]
    async fn parity_names_a_backend_whose_staircase_failed() {
        let dir = support::same_in_every_dialect(&[
            (
                "0001_create.up.sql",
                "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, a INTEGER NOT NULL);\n",
            ),
            ("0001_create.down.sql", "DROP TABLE t;\n"),
        ]);
        std::fs::write(
            dir.path().join("mysql/0001_create.up.sql"),
            "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, a INTEGER NOT NULL;\n",
        )
        .unwrap();
        let report = check_foreign(dir.path(), &Backend::ALL).await;
        assert!(!report.ok, "{}", report.text);
        assert!(
            report
                .text
                .contains("FAIL parity: mysql not compared: no staircase walked"),
            "{}",
            report.text
        );
        assert!(
            report.text.contains("ok   parity of sqlite, postgres:"),
            "{}",
            report.text
        );
    }

    /// Parity compares up-only migrations: the same set passes, and a column whose type
    /// differs in one dialect's up-only file is drift.
    #[tokio::test]
    async fn parity_compares_up_only_migrations() {
        let same = up_only_set("INTEGER");
        let report = check_foreign(same.path(), &Backend::ALL).await;
        assert!(report.ok, "{}", report.text);
        assert!(
            report
                .text
                .contains("ok   parity of sqlite, postgres, mysql:"),
            "{}",
            report.text
        );

        let drifting = up_only_set("INTEGER");
        std::fs::write(
            drifting.path().join("postgres/0002_add_b.sql"),
            "ALTER TABLE t ADD COLUMN b INTEGER NOT NULL DEFAULT 0;\n",
        )
        .unwrap();
        let report = check::parity(&CheckOptions {
            lint_allow: None,
            ..didhub_copy(drifting.path(), &Backend::ALL)
        })
        .await;
        assert!(!report.ok, "{}", report.text);
        assert!(
            report.text.contains(
                "drift: version 2: t.b nullability: sqlite=true postgres=false mysql=true"
            ),
            "{}",
            report.text
        );
    }

    #[tokio::test]
    async fn didhubs_own_migrations_pass_everywhere_with_the_checked_in_allow_list() {
        let report = check::run(&CheckOptions::new(
            check::didhub_migrations(),
            &Backend::ALL,
        ))
        .await;
        assert!(report.ok, "{}", report.text);
        assert!(report.text.contains("ok   parity"), "{}", report.text);
        assert!(
            report.text.contains(
                "ok   data parity: every fixture holds the same data on sqlite, postgres, mysql"
            ),
            "{}",
            report.text
        );
    }

    #[test]
    fn the_parity_command_compares_the_dialects() {
        let copy = copy_of_migrations();
        edit(
            copy.path(),
            "postgres/0003_alters.up.sql",
            "name        VARCHAR(200)",
            "name        VARCHAR(100)",
        );
        let (ok, text) = cli(&["parity"], copy.path());
        assert!(!ok, "{text}");
        assert!(
            text.contains("drift: version 3: alters.name type: sqlite=text postgres=short_text(100) mysql=short_text(200)"),
            "{text}"
        );
    }

    /// Under MySQL's _ci collation 'Bea.Moss' <> 'bea.moss' is false: a comparison that is
    /// not binary lower-cases nothing, and the fixture's expectation for 0013 says so.
    #[tokio::test]
    async fn a_collation_blind_username_comparison_in_mysql_is_caught_by_the_fixture() {
        let copy = copy_of_migrations();
        edit(
            copy.path(),
            "mysql/0013_lowercase_usernames.up.sql",
            "WHERE username <> LOWER(username) COLLATE utf8mb4_bin;",
            "WHERE username <> LOWER(username);",
        );
        let report = check_with_fixtures(copy.path(), &[Backend::MySql]).await;
        assert!(!report.ok);
        assert!(
            report
                .text
                .contains("FAIL mysql: fixture v0011: users at version 13 does not hold what"),
            "{}",
            report.text
        );
        assert!(
            report.text.contains(r#"missing    {"display_name":"Bea.Moss","id":"00000001-0000-7000-8000-000000000002","username":"bea.moss"}"#),
            "{}",
            report.text
        );
    }

    #[tokio::test]
    async fn a_stale_allow_list_entry_fails() {
        let migrations = check::didhub_migrations();
        let allow = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            allow.path(),
            "[[allow]]\nsubject = \"alters.name\"\naspect = \"type\"\nreason = \"once differed\"\n",
        )
        .unwrap();
        let report = check::run(&CheckOptions {
            allow_list: Some(allow.path().to_path_buf()),
            ..CheckOptions::new(migrations, &Backend::ALL)
        })
        .await;
        assert!(!report.ok);
        assert!(
            report
                .text
                .contains("stale allow-list entry: alters.name type"),
            "{}",
            report.text
        );
    }

    #[tokio::test]
    async fn an_allowed_difference_passes() {
        let copy = copy_of_migrations();
        edit(
            copy.path(),
            "postgres/0003_alters.up.sql",
            "name        VARCHAR(200)",
            "name        TEXT        ",
        );
        // The checked-in allow-list, plus the difference this test introduces. Each checked-in
        // entry allows one difference (a drift is reported once, at its first version).
        let settings = copy.path().join(SETTINGS_FILE);
        let expected = didhub_harness::project::Settings::load(copy.path())
            .unwrap()
            .parity
            .allow
            .len()
            + 1;
        let text = std::fs::read_to_string(&settings).unwrap()
            + "\n[[parity.allow]]\nsubject = \"alters.name\"\naspect = \"type\"\nreason = \"PostgreSQL has no length limit here\"\n";
        std::fs::write(&settings, text).unwrap();
        let report = check::run(&CheckOptions::new(copy.path(), &Backend::ALL)).await;
        assert!(report.ok, "{}", report.text);
        assert!(
            report
                .text
                .contains(&format!("({expected} allowed difference(s))")),
            "{}",
            report.text
        );
    }
}

#[test]
fn a_backend_that_cannot_start_fails_with_the_reason() {
    let migrations = check::didhub_migrations();
    let output = Command::new(env!("CARGO_BIN_EXE_didhub-harness"))
        .args(["check", "--db", "postgres", "--migrations"])
        .arg(&migrations)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("DIDHUB_TEST_POSTGRES_URL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("FAIL postgres: the Docker daemon is not reachable"),
        "{text}"
    );
    assert!(text.contains("DIDHUB_TEST_POSTGRES_URL"), "{text}");
}

/// The first failure the staircase found on `set`: a walk that finds none fails the test.
async fn first_failure(set: &MigrationSet) -> String {
    let stairs = staircase::walk(set, ColumnOrder::Ignore).await.unwrap();
    match stairs.failures.first() {
        Some(failure) => failure.to_string(),
        None => panic!("{}: the walk found nothing", set.kind),
    }
}
