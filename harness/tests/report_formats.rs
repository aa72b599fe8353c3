//! The CLI's machine formats and exit status, run as CI runs it: `check --format junit` is
//! well-formed JUnit XML with one test case per entry, `--format json` one JSON document, and
//! nothing else is printed on stdout; the exit status is 0 when every check passed, 1 on a
//! finding, 2 on a usage error or when a check could not run. SQLite only: no Docker needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use didhub_migrations::Backend;

mod support;

fn set(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/foreign")
        .join(name)
}

/// `unnamed_reversible/` whose SQLite down of version 4 drops the index and forgets the column:
/// one staircase finding, on SQLite, over several lines.
fn down_forgets_a_column() -> tempfile::TempDir {
    let copy = support::copy_folders(&set("unnamed_reversible"), Backend::name);
    std::fs::write(
        copy.path().join("sqlite/0004_add_task_sort_order.down.sql"),
        "DROP INDEX tasks_project_id_sort_order_idx;\n",
    )
    .unwrap();
    copy
}

/// Runs the CLI with no server configured from the environment (no URL, no test session).
fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_didhub-harness"))
        .args(args)
        .env_remove("DIDHUB_TEST_POSTGRES_URL")
        .env_remove("DIDHUB_TEST_MYSQL_URL")
        .env_remove("DIDHUB_TEST_SESSION")
        .output()
        .unwrap()
}

/// The whole of `xml` as a document: it must parse, so nothing but the report was printed.
fn junit(xml: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"))
}

/// Every element of `doc` named `tag`, in document order.
fn tagged<'a, 'i>(doc: &'a roxmltree::Document<'i>, tag: &str) -> Vec<roxmltree::Node<'a, 'i>> {
    doc.descendants().filter(|n| n.has_tag_name(tag)).collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn check(migrations: &Path, format: &str) -> Output {
    harness(&[
        "check",
        "--db",
        "sqlite",
        "--migrations",
        migrations.to_str().unwrap(),
        "--format",
        format,
    ])
}

#[test]
fn check_as_junit_is_one_testcase_per_entry_with_the_finding_as_a_failure() {
    let copy = down_forgets_a_column();
    let output = check(copy.path(), "junit");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    // The whole of stdout parses: nothing but the report is printed there.
    let xml = stdout(&output);
    let doc = junit(&xml);

    let suites: Vec<_> = tagged(&doc, "testsuite");
    assert_eq!(suites.len(), 1, "{xml}");
    let suite = suites[0];
    for (attribute, value) in [
        ("name", "didhub-harness check"),
        ("tests", "6"),
        ("failures", "1"),
        ("errors", "0"),
        ("skipped", "3"),
    ] {
        assert_eq!(
            suite.attribute(attribute),
            Some(value),
            "{attribute}: {xml}"
        );
    }

    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let named: Vec<(&str, &str)> = cases
        .iter()
        .map(|c| {
            (
                c.attribute("classname").unwrap(),
                c.attribute("name").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("integrity", "integrity"),
            ("lock", "lock"),
            ("lint", "lint"),
            ("data staircase", "data staircase"),
            ("staircase", "sqlite: staircase"),
            ("parity", "parity"),
        ]
    );

    let failures: Vec<_> = tagged(&doc, "failure");
    assert_eq!(failures.len(), 1, "{xml}");
    let failure = failures[0];
    assert_eq!(
        failure.parent().unwrap().attribute("name"),
        Some("sqlite: staircase")
    );
    assert_eq!(
        failure.attribute("message"),
        Some(
            "sqlite: 0004_add_task_sort_order.down.sql (version 4) does not restore the schema \
             of version 3:"
        )
    );
    let text = failure.text().unwrap();
    assert!(
        text.starts_with(failure.attribute("message").unwrap()) && text.contains("\n  tasks"),
        "the failure's text is the whole message: {text}"
    );

    let skipped: Vec<_> = tagged(&doc, "skipped")
        .iter()
        .map(|n| n.attribute("message").unwrap())
        .collect();
    assert_eq!(skipped.len(), 3, "{xml}");
    assert!(
        skipped[0].starts_with("lock: no migrations.lock in "),
        "{xml}"
    );
    assert_eq!(
        &skipped[1..],
        [
            "data staircase: no fixtures folder was given",
            "parity: it compares two or more backends (--db all)"
        ]
    );
}

#[test]
fn check_as_json_is_one_document_with_ok_and_every_entry() {
    let output = check(&set("unnamed_reversible"), "json");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["ok"], true);
    let entries = json["entries"].as_array().unwrap();
    let shape: Vec<(&str, &str, Option<&str>)> = entries
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap(),
                e["step"].as_str().unwrap(),
                e["backend"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("pass", "integrity", None),
            ("skip", "lock", None),
            ("pass", "lint", None),
            ("skip", "data staircase", None),
            ("pass", "staircase", Some("sqlite")),
            ("skip", "parity", None),
        ]
    );
    assert_eq!(
        entries[0]["message"],
        "integrity: 4 migrations, identical in every folder, all reversible"
    );
    assert!(
        entries[4]["message"]
            .as_str()
            .unwrap()
            .starts_with("sqlite: 4 migrations up, down and up again in "),
        "{json}"
    );
}

#[test]
fn a_finding_in_json_is_a_fail_entry_with_its_whole_message() {
    let copy = down_forgets_a_column();
    let output = check(copy.path(), "json");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["ok"], false);
    let failed: Vec<&serde_json::Value> = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{json}");
    assert_eq!(failed[0]["step"], "staircase");
    assert_eq!(failed[0]["backend"], "sqlite");
    let message = failed[0]["message"].as_str().unwrap();
    assert!(
        message.contains("does not restore the schema of version 3:\n  tasks"),
        "{message}"
    );
}

#[test]
fn the_human_format_is_the_default_and_says_what_it_checks() {
    let output = harness(&[
        "check",
        "--db",
        "sqlite",
        "--migrations",
        set("unnamed_reversible").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(text.starts_with("checking "), "{text}");
    assert!(
        text.contains("\nok   sqlite: 4 migrations up, down and up again in ")
            && text.ends_with(
                "skip parity: it compares two or more backends (--db all)\nall checks passed\n"
            ),
        "{text}"
    );
}

#[test]
fn exit_status_is_0_on_success_and_1_on_a_finding() {
    assert_eq!(
        check(&set("unnamed_reversible"), "human").status.code(),
        Some(0)
    );
    let copy = down_forgets_a_column();
    assert_eq!(check(copy.path(), "human").status.code(), Some(1));
}

#[test]
fn exit_status_is_2_on_a_usage_error() {
    // Clap's own: a format it does not know.
    let output = check(&set("unnamed_reversible"), "xml");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty());
    // Ours: parity of one backend.
    let output = harness(&[
        "parity",
        "--db",
        "sqlite",
        "--migrations",
        set("unnamed_reversible").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["entries"][0]["status"], "error");
}

#[test]
fn exit_status_is_2_when_the_migrations_folder_cannot_be_read() {
    let missing = tempfile::tempdir().unwrap();
    let output = check(&missing.path().join("no-such-folder"), "json");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["entries"][0]["step"], "integrity");
    assert_eq!(json["entries"][0]["status"], "error");
}

#[test]
fn exit_status_is_2_when_the_settings_file_cannot_be_used() {
    let copy = down_forgets_a_column();
    std::fs::write(
        copy.path().join(didhub_harness::project::SETTINGS_FILE),
        "[parity]\nname = true\n",
    )
    .unwrap();
    let output = check(copy.path(), "json");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["entries"][0]["step"], "settings");
    assert_eq!(json["entries"][0]["status"], "error");
    let message = json["entries"][0]["message"].as_str().unwrap();
    assert!(message.contains("unknown field `name`"), "{message}");
}

/// How a missing Docker daemon surfaces: `docker info` fails, the staircase of that backend is
/// an error (not a finding), and the run exits 2.
#[test]
fn exit_status_is_2_when_docker_cannot_be_reached() {
    let output = Command::new(env!("CARGO_BIN_EXE_didhub-harness"))
        .args([
            "check",
            "--db",
            "postgres",
            "--migrations",
            set("unnamed_reversible").to_str().unwrap(),
            "--format",
            "junit",
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DIDHUB_TEST_POSTGRES_URL")
        .env_remove("DIDHUB_TEST_POSTGRES_IMAGE")
        .env_remove("DIDHUB_TEST_SESSION")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let xml = stdout(&output);
    let doc = junit(&xml);
    let errors: Vec<_> = tagged(&doc, "error");
    assert_eq!(errors.len(), 1, "{xml}");
    assert_eq!(
        errors[0].parent().unwrap().attribute("name"),
        Some("postgres: staircase")
    );
    assert!(
        errors[0]
            .attribute("message")
            .unwrap()
            .starts_with("postgres: the Docker daemon is not reachable"),
        "{xml}"
    );
}

#[test]
fn lint_as_junit_is_one_testcase_with_the_finding() {
    let output = harness(&[
        "lint",
        "--db",
        "postgres",
        "--migrations",
        set("unnamed_reversible").to_str().unwrap(),
        "--format",
        "junit",
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let xml = stdout(&output);
    let doc = junit(&xml);
    let cases: Vec<_> = tagged(&doc, "testcase");
    assert_eq!(cases.len(), 1, "{xml}");
    let failure = cases[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(failure.attribute("message"), Some("lint:"));
    assert!(
        failure
            .text()
            .unwrap()
            .contains("- postgres/0004_add_task_sort_order.up.sql:3: require-concurrent-index-creation: CREATE INDEX"),
        "{xml}"
    );
}

/// The tool says its version, and every command's `--help` ends with an example of its use
/// (and, where it checks, the exit status contract).
#[test]
fn the_version_and_every_commands_help_with_an_example() {
    let version = harness(&["--version"]);
    assert_eq!(version.status.code(), Some(0), "{version:?}");
    assert!(
        stdout(&version).starts_with(&format!("didhub-harness {}", env!("CARGO_PKG_VERSION"))),
        "{version:?}"
    );
    for command in [
        "check",
        "lint",
        "parity",
        "snapshot",
        "lock",
        "new-migration",
    ] {
        let help = harness(&[command, "--help"]);
        let text = stdout(&help);
        assert_eq!(help.status.code(), Some(0), "{text}");
        assert!(
            text.contains(&format!("Examples:\n  didhub-harness {command} ")),
            "{command}: {text}"
        );
        let checks = ["check", "lint", "parity"].contains(&command);
        assert_eq!(text.contains("Exit status: 0"), checks, "{command}: {text}");
    }
}
