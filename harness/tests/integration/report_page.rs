//! The HTML report in a real browser: Debian's chromium, headless, loads the page from
//! `file://` and prints the DOM it built. Every section is there, every count agrees with the
//! JSON document of the same run, nothing is fetched from elsewhere, and the console is silent.

use std::path::{Path, PathBuf};
use std::process::Command;

use didhub_harness::html::browser::{self, Loaded};

use serde_json::Value;

/// Loads `page` in headless chromium (which `just browser` installs).
fn load(page: &Path) -> Loaded {
    browser::load(page).unwrap()
}

/// How many elements carry `attribute` (`class="entry"`, `data-allowed="true"`).
fn count(dom: &str, attribute: &str) -> usize {
    dom.matches(attribute).count()
}

/// What every page must be: sections present, nothing fetched, the console silent.
fn sound(loaded: &Loaded, sections: &[&str]) {
    for id in sections {
        assert!(
            loaded.dom.contains(&format!("<section id=\"{id}\"")),
            "section {id} is missing"
        );
    }
    // Self-contained: no stylesheet, script or image from anywhere.
    assert_eq!(loaded.fetches(), Vec::<&str>::new(), "the page fetches");
    let console = loaded.console();
    assert!(console.is_empty(), "the console said: {console:#?}");
}

/// The two things `sound` holds a page to are seen when they are there: what a page would
/// fetch, and what its console says.
#[test]
fn a_page_that_fetches_or_errs_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!doctype html><link rel=\"stylesheet\" href=\"x.css\"><p>x</p>\
         <script>console.error(\"boom\"); missing();</script>",
    )
    .unwrap();
    let loaded = load(&page);
    assert_eq!(loaded.fetches(), ["<link "]);
    let console = loaded.console();
    assert!(
        console.len() == 2 && console[1].contains("Uncaught ReferenceError"),
        "{console:#?}"
    );
}

/// The counts a check's page shows, from its JSON document.
fn check_counts(doc: &Value) -> (usize, usize, usize, usize) {
    let entries = doc["entries"].as_array().unwrap();
    let lint = entries
        .iter()
        .filter(|e| e["step"] == "lint")
        .flat_map(|e| e["findings"].as_array().unwrap())
        .filter(|f| f["rule"].is_string())
        .count();
    let stairs = doc["staircases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["stairs"].as_array().unwrap().len())
        .sum();
    let allowed = doc["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["allowed"].is_null())
        .count();
    (entries.len(), lint, stairs, allowed)
}

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_didhub-harness"))
}

/// `--format html --output FILE` from the CLI: the page holds every entry of the JSON document
/// of the same check, and the impact page a chart with a text alternative per migration.
#[test]
fn the_clis_pages_show_what_its_json_says() {
    let dir = tempfile::tempdir().unwrap();
    let impact = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/impact");
    let json = dir.path().join("check.json");
    let run = |args: &[&str], output: &Path| {
        let out = harness()
            .args(args)
            .arg("--migrations")
            .arg(&impact)
            .args(["--db", "sqlite", "--output"])
            .arg(output)
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c < 2), "{out:?}");
    };
    run(&["check", "--format", "json"], &json);
    let page = dir.path().join("pages/check.html");
    run(&["check", "--format", "html"], &page);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let loaded = load(&page);
    sound(&loaded, &["summary", "staircase", "lint"]);
    let (entries, lint, stairs, _) = check_counts(&doc);
    assert_eq!(count(&loaded.dom, "class=\"entry\""), entries);
    assert_eq!(count(&loaded.dom, "class=\"finding\""), lint);
    assert_eq!(count(&loaded.dom, "class=\"stair "), stairs);

    let impact_json = dir.path().join("impact.json");
    let impact_page = dir.path().join("impact.html");
    for (format, output) in [("json", &impact_json), ("html", &impact_page)] {
        run(
            &[
                "impact",
                "--rows",
                "500",
                "--version",
                "2",
                "--format",
                format,
            ],
            output,
        );
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&impact_json).unwrap()).unwrap();
    let loaded = load(&impact_page);
    sound(&loaded, &["impact"]);
    let measured = doc["migrations"].as_array().unwrap().len();
    assert_eq!(measured, 2);
    assert_eq!(count(&loaded.dom, "<figure class=\"impact\""), measured);
    assert_eq!(
        count(
            &loaded.dom,
            "<svg role=\"img\" aria-label=\"sqlite 0002_create_index"
        ),
        measured
    );
}

/// A real project's page (vaultwarden, read in place from `../shared/peers`, on every backend)
/// with its impact beside it: one page from the two JSON documents of the same run, as
/// `didhub-harness report` writes it. The parity matrix has a row per difference, the allowed
/// ones apart; the lint a row per finding, grouped by rule; the staircase a step per version.
#[cfg(feature = "containers")]
#[tokio::test]
async fn a_real_projects_page_shows_what_its_json_says() {
    use didhub_harness::check::{self, CheckOptions};
    use didhub_harness::html::Page;
    use didhub_harness::impact;
    use didhub_harness::project::{Layout, Project, SETTINGS_FILE};
    use didhub_migrations::Backend;

    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = here.join("../../shared/peers/vaultwarden/corpus");
    assert!(
        corpus.is_dir(),
        "{}: the peers are read in place",
        corpus.display()
    );
    // vaultwarden's own runner turns MySQL's foreign key checks off (fixtures/peers).
    let linked = tempfile::tempdir().unwrap();
    for (_, dialect) in Layout::of(&corpus).unwrap().folders() {
        std::os::unix::fs::symlink(corpus.join(dialect), linked.path().join(dialect)).unwrap();
    }
    std::fs::copy(
        here.join("../fixtures/peers/vaultwarden.toml"),
        linked.path().join(SETTINGS_FILE),
    )
    .unwrap();
    let options = CheckOptions::new(linked.path(), &Backend::ALL);
    let report = Box::pin(check::run(&options)).await;
    let check_doc: Value = serde_json::from_str(&report.json()).unwrap();

    let fixtures = here.join("../fixtures/impact");
    let project = Project::open(&fixtures).unwrap();
    let mut impact_options = impact::Options::new(&Default::default(), "test").unwrap();
    impact_options.rows = 1_000;
    impact_options.versions = vec![2];
    let measured = impact::run(&project, &[Backend::Sqlite], &impact_options).await;
    let impact_doc: Value = serde_json::from_str(&measured.json()).unwrap();

    let page = Page {
        title: "vaultwarden".into(),
        source: Some(corpus.display().to_string()),
        check: Some(check_doc.clone()),
        impact: Some(impact_doc.clone()),
        plans: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.html");
    std::fs::write(&path, page.render().unwrap()).unwrap();
    let loaded = load(&path);
    sound(
        &loaded,
        &["summary", "staircase", "parity", "lint", "impact"],
    );
    let (entries, lint, stairs, allowed) = check_counts(&check_doc);
    let differences = check_doc["differences"].as_array().unwrap().len();
    assert!(
        lint > 0 && differences > 0,
        "vaultwarden has lint findings and differences"
    );
    assert_eq!(count(&loaded.dom, "class=\"entry\""), entries);
    assert_eq!(count(&loaded.dom, "class=\"finding\""), lint);
    assert_eq!(count(&loaded.dom, "class=\"stair "), stairs);
    assert_eq!(count(&loaded.dom, "<tr class=\"difference "), differences);
    assert_eq!(count(&loaded.dom, "data-allowed=\"true\""), allowed);
    // Three walks, each under its backend's heading; a failed step says why.
    for kind in Backend::ALL {
        assert!(
            loaded
                .dom
                .contains(&format!("<h3 id=\"staircase-{kind}\">"))
        );
    }
    let failed = check_doc["staircases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["stairs"].as_array().unwrap())
        .filter(|s| s["outcome"] == "failed")
        .count();
    assert!(failed > 0);
    assert_eq!(count(&loaded.dom, "data-outcome=\"failed\""), failed);
    // The verdict agrees with the document's.
    assert!(loaded.dom.contains("data-ok=\"false\""));
    let measured = impact_doc["migrations"].as_array().unwrap().len();
    assert_eq!(count(&loaded.dom, "<figure class=\"impact\""), measured);
}
