//! `compat` against known breaks: a project whose migrations make, one version each, the
//! changes that break a running application's queries (a column renamed, a column dropped, a
//! type narrowed, a table renamed) and those that do not (a nullable column, a table, an
//! index, a widened type). Every break is reported at the version that made it, on every backend, and nothing
//! else is; a query one dialect does not take is reported on that dialect alone.

use std::path::Path;

use didhub_harness::compat::{self, Options, corpus};
use didhub_harness::project::Project;
use didhub_harness::report::{CheckReport, Status};
use didhub_migrations::Backend;
use rstest_reuse::apply;

use didhub_harness::backends;

use crate::support::newest_version;

/// The migrations, one change a version, in `kind`'s dialect.
fn migrations(kind: Backend) -> Vec<(&'static str, String)> {
    let widen = match kind {
        Backend::Postgres => "ALTER TABLE people ALTER COLUMN score TYPE BIGINT;\n",
        Backend::MySql => "ALTER TABLE people MODIFY score BIGINT;\n",
        Backend::Sqlite => "",
    };
    let narrow = match kind {
        Backend::Postgres => "ALTER TABLE people ALTER COLUMN age TYPE INTEGER;".to_owned(),
        Backend::MySql => "ALTER TABLE people MODIFY age INTEGER;".to_owned(),
        // SQLite cannot change a type but by rebuilding the table; it reports both as INTEGER.
        Backend::Sqlite => "SELECT 1;".to_owned(),
    };
    vec![
        (
            "0001_people.sql",
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, age BIGINT, score INTEGER);\n\
             CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER);\n"
                .to_owned(),
        ),
        (
            "0002_additive.sql",
            format!(
                "ALTER TABLE people ADD COLUMN nick VARCHAR(20);\n\
                 CREATE TABLE toys (id INTEGER PRIMARY KEY);\n\
                 CREATE INDEX idx_people_age ON people (age);\n{widen}"
            ),
        ),
        (
            "0003_rename_column.sql",
            "ALTER TABLE people RENAME COLUMN name TO full_name;\n".to_owned(),
        ),
        (
            "0004_drop_column.sql",
            "ALTER TABLE people DROP COLUMN nick;\n".to_owned(),
        ),
        ("0005_narrow_type.sql", format!("{narrow}\n")),
        (
            "0006_rename_table.sql",
            "ALTER TABLE pets RENAME TO animals;\n".to_owned(),
        ),
    ]
}

const QUERIES: &str = "\
-- name: names
SELECT id, name FROM people;
-- name: nick
SELECT nick FROM people;
-- name: age
SELECT age FROM people;
-- name: score
SELECT score FROM people WHERE score > 1;
-- name: owners
SELECT owner_id FROM pets;
-- name: toys
-- since: 2
SELECT id FROM toys;
-- name: one person
SELECT id FROM people WHERE id = 1;
-- name: case-insensitive
SELECT id FROM people WHERE full_name ILIKE 'a%';
-- name: cast
SELECT id::text FROM people;
-- name: backticks
SELECT `id` FROM people;
";

fn write(dir: &Path, kind: Backend) {
    let folder = dir.join(kind.name());
    std::fs::create_dir_all(&folder).unwrap();
    for (name, sql) in migrations(kind) {
        std::fs::write(folder.join(name), sql).unwrap();
    }
}

/// The findings as `rule name@version`.
fn found(report: &CheckReport) -> Vec<String> {
    let mut out: Vec<String> = report
        .entries
        .iter()
        .flat_map(|e| &e.findings)
        .map(|f| {
            // `query <name> (file:line) …`, or `query file:line …` for an unnamed one.
            let rest = f.message.trim_start_matches("query ");
            let end = [" (", " fails", " prepares", " on "]
                .iter()
                .filter_map(|marker| rest.find(marker))
                .min()
                .unwrap_or(rest.len());
            let name = &rest[..end];
            format!(
                "{} {name}@{}",
                f.rule.clone().unwrap_or_default(),
                f.version.unwrap_or(0)
            )
        })
        .collect();
    out.sort();
    out
}

#[apply(backends)]
#[tokio::test]
async fn every_breaking_change_is_reported_at_its_version_and_additive_ones_pass(
    #[case] kind: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), kind);
    let queries_dir = dir.path().join("queries");
    std::fs::create_dir(&queries_dir).unwrap();
    std::fs::write(queries_dir.join("app.sql"), QUERIES).unwrap();
    let project = Project::open(dir.path()).unwrap();
    let queries = corpus::load(&queries_dir).unwrap();
    let report = compat::run(&project, &[kind], &queries, &Options::default()).await;
    assert_eq!(report.entries.len(), 1, "{}", report.text);
    assert_eq!(report.entries[0].status, Status::Fail, "{}", report.text);
    let mut expected = vec![
        "fails names@3",
        "fails nick@4",
        "fails owners@6",
        "changed age@5",
    ];
    match kind {
        // SQLite reports BIGINT and INTEGER alike, and reads ILIKE and PostgreSQL's `::` cast
        // as syntax errors; it takes MySQL's backticks.
        Backend::Sqlite => {
            expected.retain(|e| *e != "changed age@5");
            expected.push("never prepares case-insensitive@6");
            expected.push("never prepares cast@6");
        }
        Backend::MySql => {
            expected.push("never prepares case-insensitive@6");
            expected.push("never prepares cast@6");
        }
        Backend::Postgres => expected.push("never prepares backticks@6"),
    }
    expected.sort();
    assert_eq!(found(&report), expected, "{}", report.text);
    // The break names the migration that made it and what the database said.
    assert!(
        report.text.contains("query names (app.sql:2) fails on")
            && report
                .text
                .contains("at version 3 (0003_rename_column.sql)"),
        "{}",
        report.text
    );
}

/// MySQL: a text column given a binary collation (case-sensitive comparison) is still read as
/// text, although the protocol flags it BINARY and sqlx names it VARBINARY: no change; a column
/// made VARBINARY for real is one.
#[cfg(feature = "containers")]
#[tokio::test]
async fn a_binary_collation_is_no_change_of_type_on_mysql_and_varbinary_is() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("mysql");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, sql) in [
        (
            "0001_codes.sql",
            "CREATE TABLE codes (id INT PRIMARY KEY, code VARCHAR(10), tag VARCHAR(10));",
        ),
        (
            "0002_case_sensitive.sql",
            "ALTER TABLE codes MODIFY code VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;",
        ),
        (
            "0003_bytes.sql",
            "ALTER TABLE codes MODIFY tag VARBINARY(10);",
        ),
    ] {
        std::fs::write(folder.join(name), sql).unwrap();
    }
    let file = dir.path().join("q.sql");
    std::fs::write(
        &file,
        "-- name: code\nSELECT code FROM codes;\n-- name: tag\nSELECT tag FROM codes;\n",
    )
    .unwrap();
    let project = Project::open(dir.path()).unwrap();
    let queries = corpus::load(&file).unwrap();
    let report = compat::run(&project, &[Backend::MySql], &queries, &Options::default()).await;
    assert_eq!(found(&report), ["changed tag@3"], "{}", report.text);
    assert!(
        report.text.contains("VARCHAR → VARBINARY"),
        "{}",
        report.text
    );
}

/// `--since` leaves out the versions before it; a query whose `-- since:` is later is checked
/// from then on only.
#[tokio::test]
async fn since_leaves_out_the_versions_before_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), Backend::Sqlite);
    let file = dir.path().join("q.sql");
    std::fs::write(
        &file,
        "-- since: 5\nSELECT owner_id FROM pets;\nSELECT full_name FROM people;\n",
    )
    .unwrap();
    let project = Project::open(dir.path()).unwrap();
    let queries = corpus::load(&file).unwrap();
    assert_eq!(queries[0].since, Some(5));
    let report = compat::run(
        &project,
        &[Backend::Sqlite],
        &queries,
        &Options { since: Some(4) },
    )
    .await;
    assert_eq!(found(&report), ["fails q.sql:2@6"], "{}", report.text);
    assert!(
        report.text.contains("2 queries prepared at 3 version(s)"),
        "{}",
        report.text
    );
}

/// sqlx's offline data (`.sqlx/query-*.json`): each query is prepared on the backend sqlx
/// prepared it on, and held to the columns sqlx recorded: a column renamed since the
/// application was built is reported.
#[tokio::test]
async fn sqlx_offline_data_is_held_to_what_sqlx_recorded() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), Backend::Sqlite);
    let sqlx = dir.path().join(".sqlx");
    std::fs::create_dir(&sqlx).unwrap();
    let record = |query: &str, columns: &str| {
        format!(
            r#"{{"db_name": "SQLite", "query": "{query}", "describe": {{"columns": [{columns}],
               "parameters": {{"Right": 0}}, "nullable": [false, false]}}, "hash": "x"}}"#
        )
    };
    std::fs::write(
        sqlx.join("query-1.json"),
        record(
            "SELECT id, full_name FROM people",
            r#"{"name": "id", "ordinal": 0, "type_info": "Integer"},
               {"name": "name", "ordinal": 1, "type_info": "Text"}"#,
        ),
    )
    .unwrap();
    std::fs::write(
        sqlx.join("query-2.json"),
        record(
            "SELECT id FROM toys",
            r#"{"name": "id", "ordinal": 0, "type_info": "Integer"}"#,
        ),
    )
    .unwrap();
    let queries = corpus::load(&sqlx).unwrap();
    assert_eq!(queries.len(), 2);
    assert_eq!(queries[0].backends, [Backend::Sqlite]);
    let project = Project::open(dir.path()).unwrap();
    // sqlx's queries go to the backend they were prepared on: the others have none.
    let report = compat::run(&project, &[Backend::Sqlite], &queries, &Options::default()).await;
    assert_eq!(
        found(&report),
        ["differs from sqlx's record query-1.json@6"],
        "{}",
        report.text
    );
    assert!(
        report
            .text
            .contains("against what sqlx recorded: result column name is now called full_name"),
        "{}",
        report.text
    );
}

/// A rolling deploy runs the previous release beside the new schema: `--previous GIT-REF`
/// reads the corpus as it was at that commit, and its queries must prepare on every version
/// too. Here the release renamed its query with the column (0003); the previous release's query
/// still reads the old name, and is reported at the migration that broke it.
#[test]
fn the_previous_releases_queries_are_read_from_git_and_held_to_the_new_schema() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), Backend::Sqlite);
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(
        queries.join("app.sql"),
        "-- name: names\nSELECT id, name FROM people;\n",
    )
    .unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "release 1"]);
    std::fs::write(
        queries.join("app.sql"),
        "-- name: names\n-- since: 3\nSELECT id, full_name FROM people;\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_didhub-harness"))
        .args(["compat", "--db", "sqlite", "--migrations"])
        .arg(dir.path())
        .arg("--queries")
        .arg(&queries)
        .args(["--previous", "HEAD", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings: Vec<&str> = doc["entries"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        findings[0].starts_with("query previous HEAD: names (previous HEAD: app.sql:2) fails on sqlite: no such column: name")
            && findings[0].ends_with("at version 3 (0003_rename_column.sql)"),
        "{findings:#?}"
    );
}

/// A column added NOT NULL without a default leaves every INSERT that does not name it
/// refused, although the INSERT still prepares: each INSERT of the corpus is also run, with
/// generated values, in a transaction rolled back, and the version that broke it is reported.
#[apply(backends)]
#[tokio::test]
async fn an_insert_that_a_not_null_column_breaks_is_reported(#[case] kind: Backend) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), kind);
    let not_null = match kind {
        // SQLite adds no NOT NULL column without a default: the table is made again.
        Backend::Sqlite => {
            "CREATE TABLE people_new (id INTEGER PRIMARY KEY, full_name VARCHAR(50) NOT NULL, \
             age BIGINT, email VARCHAR(100) NOT NULL);\n\
             INSERT INTO people_new (id, full_name, age, email) SELECT id, full_name, age, '' FROM people;\n\
             DROP TABLE people;\n\
             ALTER TABLE people_new RENAME TO people;\n"
        }
        _ => "ALTER TABLE people ADD COLUMN email VARCHAR(100) NOT NULL;\n",
    };
    std::fs::write(
        dir.path().join(kind.name()).join("0007_not_null.sql"),
        not_null,
    )
    .unwrap();
    let placeholders = match kind {
        Backend::Postgres => "$1, $2, $3",
        _ => "?, ?, ?",
    };
    let file = dir.path().join("writes.sql");
    std::fs::write(
        &file,
        format!(
            "-- name: add person\n-- since: 3\nINSERT INTO people (id, full_name, age) VALUES ({placeholders});\n"
        ),
    )
    .unwrap();
    let project = Project::open(dir.path()).unwrap();
    let queries = corpus::load(&file).unwrap();
    let report = compat::run(&project, &[kind], &queries, &Options::default()).await;
    let mut expected = vec!["insert fails add person@7"];
    // PostgreSQL describes the parameters' types too: the age narrowed at 5 is the third's.
    if kind == Backend::Postgres {
        expected.insert(0, "changed add person@5");
        assert!(
            report.text.contains("parameter 3 changed type INT8 → INT4"),
            "{}",
            report.text
        );
    }
    assert_eq!(found(&report), expected, "{}", report.text);
    assert!(report.text.contains("email"), "{}", report.text);
}

/// DIDHub's own server: every statement it prepared during the test suite (recorded, and kept
/// in `fixtures/compat/didhub` by `just server-queries`; `just test-all-dbs` fails when the
/// server sends one the corpus lacks) prepares on the newest schema of every backend.
#[apply(backends)]
#[tokio::test]
async fn didhubs_server_statements_prepare_on_the_newest_schema(#[case] kind: Backend) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let project = Project::open(&here.join("../migrations")).unwrap();
    let queries = corpus::load(&here.join("../fixtures/compat/didhub")).unwrap();
    let sent = queries.iter().filter(|q| q.backends == [kind]).count();
    assert!(sent > 100, "{sent} statements for {kind}");
    let newest = newest_version(&here.join("../migrations").join(kind.name()));
    let options = Options {
        since: Some(newest),
    };
    let report = compat::run(&project, &[kind], &queries, &options).await;
    assert!(report.ok, "{}", report.text);
    assert!(
        report
            .text
            .contains(&format!("{sent} queries prepared at 1 version(s)")),
        "{}",
        report.text
    );
}

/// Each earlier release of DIDHub's server (`fixtures/compat/releases/<version>`: what it sent
/// during its own API tests, recorded by scripts/release_queries.py), with the first version it
/// ran on, as that release's queries: a rolling deploy runs it on every later schema.
fn releases(here: &Path) -> Vec<(i64, Vec<corpus::Query>)> {
    let root = here.join("../fixtures/compat/releases");
    let mut out: Vec<(i64, Vec<corpus::Query>)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let version: i64 = path.file_name().unwrap().to_str().unwrap().parse().unwrap();
            let queries = corpus::load(&path)
                .unwrap()
                .into_iter()
                .map(|q| corpus::Query {
                    name: format!("release {version:04}: {}", q.name),
                    since: Some(version),
                    ..q
                })
                .collect();
            (version, queries)
        })
        .collect();
    out.sort_by_key(|(version, _)| *version);
    out
}

/// Every statement of every earlier release of the server prepares on each schema from the one
/// it ran on to the newest (and its INSERTs still go in): DIDHub's migrations have all been
/// expand-only, so each release survives the next one's deploy.
#[apply(backends)]
#[tokio::test]
async fn didhubs_earlier_releases_prepare_on_every_later_schema(#[case] kind: Backend) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let project = Project::open(&here.join("../migrations")).unwrap();
    let releases = releases(here);
    let first = releases[0].0;
    let newest = newest_version(&here.join("../migrations").join(kind.name()));
    // A migration added without keeping the release it replaces fails here:
    // `just release-queries <commit> <version>` keeps it.
    assert_eq!(
        releases.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        (first..newest).collect::<Vec<_>>(),
        "one corpus per earlier release, each version from {first} to {}",
        newest - 1
    );
    let mut queries = Vec::new();
    for (version, corpus) in releases {
        let sent = corpus.iter().filter(|q| q.backends == [kind]).count();
        assert!(sent > 50, "release {version}: {sent} statements for {kind}");
        queries.extend(corpus);
    }
    let sent = queries.iter().filter(|q| q.backends == [kind]).count();
    let options = Options { since: Some(first) };
    let report = compat::run(&project, &[kind], &queries, &options).await;
    assert!(report.ok, "{}", report.text);
    let versions = newest - first + 1;
    assert!(
        report
            .text
            .contains(&format!("{sent} queries prepared at {versions} version(s)")),
        "{}",
        report.text
    );
}

/// The check above can fail: DIDHub's migrations and a next one that renames `alters.name`
/// (contract without expand) break each release's queries that read it, every one reported at
/// that migration with the database's words about that column, and nothing else.
#[apply(backends)]
#[tokio::test]
async fn a_rename_after_didhubs_migrations_breaks_every_releases_queries_that_read_it(
    #[case] kind: Backend,
) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join(kind.name());
    std::fs::create_dir(&folder).unwrap();
    for file in std::fs::read_dir(here.join("../migrations").join(kind.name())).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), folder.join(file.file_name())).unwrap();
    }
    let next = newest_version(&here.join("../migrations").join(kind.name())) + 1;
    std::fs::write(
        folder.join(format!("{next:04}_rename.up.sql")),
        "ALTER TABLE alters RENAME COLUMN name TO display_name;\n",
    )
    .unwrap();
    std::fs::write(
        folder.join(format!("{next:04}_rename.down.sql")),
        "ALTER TABLE alters RENAME COLUMN display_name TO name;\n",
    )
    .unwrap();
    let project = Project::open(dir.path()).unwrap();
    let releases = releases(here);
    let mut queries = Vec::new();
    for (_, corpus) in &releases {
        queries.extend(corpus.iter().cloned());
    }
    let options = Options {
        since: Some(next - 1),
    };
    let report = compat::run(&project, &[kind], &queries, &options).await;
    assert!(!report.ok, "{}", report.text);
    let findings: Vec<_> = report.entries.iter().flat_map(|e| &e.findings).collect();
    assert!(findings.len() > 10, "{}", report.text);
    for finding in &findings {
        assert_eq!(finding.version, Some(next), "{}", finding.message);
        assert_eq!(
            finding.rule.as_deref(),
            Some("fails"),
            "{}",
            finding.message
        );
        let said = finding.message.to_lowercase();
        assert!(
            said.contains("column") && said.contains("name") && !said.contains("display_name"),
            "{}",
            finding.message
        );
    }
    for (version, _) in &releases {
        let label = format!("release {version:04}:");
        assert!(
            findings.iter().any(|f| f.message.contains(&label)),
            "no break reported for {label}\n{}",
            report.text
        );
    }
}
