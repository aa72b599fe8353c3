//! The CLI's machine formats and exit status, run as CI runs it: `check --format junit` is
//! well-formed JUnit XML with one test case per entry, `--format json` one JSON document, and
//! nothing else is printed on stdout; the exit status is 0 when every check passed, 1 on a
//! finding, 2 on a usage error or when a check could not run. SQLite only: no Docker needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use didhub_migrations::Backend;

use crate::support;

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
        ("tests", "7"),
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
            ("staircase", "sqlite: staircase summary"),
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

/// The published JSON Schema of the report, as a validator.
fn report_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/harness-report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every finding is an object a machine can sort by: the staircase's with its backend,
/// version, file and kind, the lint's with its file, line and rule; the document is what
/// docs/harness-report.schema.json says, and a document without a finding's field is not.
#[test]
fn findings_in_json_are_objects_the_published_schema_describes() {
    let copy = down_forgets_a_column();
    std::fs::write(
        copy.path().join("sqlite/0005_drop_notes.up.sql"),
        "ALTER TABLE tasks DROP COLUMN sort_order;\n",
    )
    .unwrap();
    std::fs::write(
        copy.path().join("sqlite/0005_drop_notes.down.sql"),
        "ALTER TABLE tasks ADD COLUMN sort_order INTEGER NOT NULL DEFAULT 0;\n",
    )
    .unwrap();
    let output = check(copy.path(), "json");
    let mut json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let schema = report_schema();
    let errors: Vec<String> = schema.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{json:#}");

    let findings: Vec<&serde_json::Value> = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["findings"].as_array().unwrap())
        .collect();
    let down = findings
        .iter()
        .find(|f| f["check"] == "staircase")
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(down["backend"], "sqlite");
    assert_eq!(down["version"], 4);
    assert_eq!(down["file"], "0004_add_task_sort_order.down.sql");
    assert_eq!(down["rule"], "down does not restore");
    assert_eq!(down["table"], "tasks");
    let lint = findings
        .iter()
        .find(|f| f["check"] == "lint" && f["rule"] == "ALL001")
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(lint["file"], "sqlite/0005_drop_notes.up.sql");
    assert_eq!(lint["line"], 1);

    json["entries"][0]["findings"] = serde_json::json!([{"check": "lint", "message": "x"}]);
    assert!(
        !schema.is_valid(&json),
        "the schema holds a finding to every field"
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
fn lint_as_junit_is_one_testcase_per_finding() {
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
    assert!(cases.len() >= 2, "{xml}");
    let index = cases
        .iter()
        .find(|c| {
            c.attribute("name")
                == Some(
                    "lint: postgres/0004_add_task_sort_order.up.sql:3 \
                     require-concurrent-index-creation",
                )
        })
        .unwrap_or_else(|| panic!("{xml}"));
    let failure = index
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some(
            "postgres/0004_add_task_sort_order.up.sql:3: require-concurrent-index-creation: \
             CREATE INDEX tasks_project_id_sort_order_idx ON tasks (project_id, sort_order);"
        )
    );
    assert_eq!(
        tagged(&doc, "failure").len(),
        cases.len(),
        "every finding is a failure: {xml}"
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
