//! schemathesis against the reference server, so that the served document is what the server
//! does: `just fuzz [db] [examples]`, and a test that `just test-all-dbs` runs with a bounded
//! count on every backend.
//!
//! The server is the real one ([`didhub_server::Application`]: its listener, limits and
//! timeouts) on a fresh database; schemathesis reads `/api/openapi.json` and runs every check
//! (`--checks all`, the stateful phase included) with `fixtures/schemathesis.toml`, one of them
//! ([`REPLACED`]) told about DIDHub's cascades by `fixtures/schemathesis_hooks.py`. Three passes:
//!
//! 1. as an administrator, every operation but those that change or remove an account's
//!    password or the account itself: changing its own password revokes the token
//!    schemathesis holds (as it must), and every later request would only see 401;
//! 2. as a normal (approved) user, every operation;
//! 3. as an administrator, the operations left out of the first pass, last, since they may
//!    change either account.
//!
//! A pass that fails, or a schemathesis that cannot be run, fails the whole. Each pass keeps
//! every request and answer in `target/fuzz/{backend}-{pass}/` (HAR), to read a failure in its
//! sequence.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use didhub_harness::TestDatabase;
use didhub_migrations::Backend;
use serde_json::{Value, json};

/// The schemathesis `just fuzz` installs and CI runs.
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// The operations that change or remove an account or its password (pass 2).
const ACCOUNT_CHANGES: &str =
    r"^/api/(users/\{id\}|users/\{id\}/password-reset|me/password|auth/password-reset/consume)$";

/// The built-in check the hooks file replaces with `ensure_resource_availability_with_cascades`:
/// the same check (a resource a POST created must not answer 404 unless it was deleted), which
/// also knows that deleting a row deletes the rows that name it. schemathesis sees a deletion
/// only in a DELETE of the resource or of a path above it, and DIDHub's paths are flat: deleting
/// a system deletes its alters, groups and subsystems (README, "Rules"), which it reported as
/// ST302 (twice in eight SQLite user passes at 100 examples). Seen in a HAR: `POST /api/systems`,
/// `POST /api/alters` in it, `DELETE /api/systems/{id}` (204), then `DELETE /api/alters/{id}`
/// (404); "Reproduce with" shows only the POST of the alter and the 404. Any other 404 of a
/// created resource still fails the pass.
const REPLACED: &str = "ensure_resource_availability";

const ADMIN: &str = "fuzz-admin";
const USER: &str = "fuzz-user";
const PASSWORD: &str = "correct horse battery staple";

/// One schemathesis pass and how it ended.
#[derive(Debug)]
pub struct Pass {
    pub name: &'static str,
    pub success: bool,
    /// schemathesis's summary (its output from the SUMMARY line on).
    pub summary: String,
}

/// Runs the three passes against a fresh server on `backend`, `examples` test cases per
/// operation and phase.
pub async fn run(backend: Backend, examples: u32) -> anyhow::Result<Vec<Pass>> {
    check_schemathesis()?;
    let database = TestDatabase::create(backend).await?;
    let config = crate::server_config(&database.url, ADMIN, PASSWORD)?;
    let app = didhub_server::Application::build(&config).await?;
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped());

    let client = reqwest::Client::new();
    let admin = login(&client, &base, ADMIN).await?;
    let made = client
        .post(format!("{base}/api/users"))
        .bearer_auth(&admin)
        .json(&json!({"username": USER, "password": PASSWORD, "is_approved": true}))
        .send()
        .await?;
    if made.status() != 201 {
        bail!("creating {USER}: {} {}", made.status(), made.text().await?);
    }
    // Both tokens now: schemathesis's failed logins from this address are limited (429), so a
    // login between passes may be refused.
    let user = login(&client, &base, USER).await?;

    let schema = format!("{base}/api/openapi.json");
    let exclude = ["--exclude-path-regex", ACCOUNT_CHANGES];
    let include = ["--include-path-regex", ACCOUNT_CHANGES];
    // The pass that may change accounts (and so revoke either token) comes last.
    let passes: [(&'static str, &str, &[&str]); 3] = [
        ("administrator", &admin, &exclude),
        ("user", &user, &[]),
        ("administrator, account changes", &admin, &include),
    ];
    let mut results = Vec::new();
    for (name, token, filter) in passes {
        let token = token.to_owned();
        let schema = schema.clone();
        let examples = examples.to_string();
        let filter: Vec<String> = filter.iter().map(|s| s.to_string()).collect();
        let pass = tokio::task::spawn_blocking(move || {
            schemathesis(name, backend, &schema, &token, &examples, &filter)
        })
        .await??;
        results.push(pass);
    }
    Ok(results)
}

async fn login(client: &reqwest::Client, base: &str, username: &str) -> anyhow::Result<String> {
    let answer = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await?;
    let status = answer.status();
    let body: Value = answer.json().await?;
    match body["token"].as_str() {
        Some(token) if status == 200 => Ok(token.to_owned()),
        _ => bail!("logging in as {username}: {status} {body}"),
    }
}

/// A checked-in file of `fixtures/`: the configuration, the hooks.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

/// schemathesis must be there, at the pinned version: a fuzz run that did not run is a failure.
fn check_schemathesis() -> anyhow::Result<()> {
    let output = Command::new("schemathesis")
        .arg("--version")
        .output()
        .context("schemathesis is not installed: `just fuzz-tools` installs it (pip)")?;
    let version = String::from_utf8_lossy(&output.stdout);
    if !version.contains(SCHEMATHESIS_VERSION) {
        bail!(
            "schemathesis {SCHEMATHESIS_VERSION} is expected, found {}: `just fuzz-tools`",
            version.trim()
        );
    }
    Ok(())
}

/// Where a pass keeps every request it made and every answer, as a HAR file
/// (`target/fuzz/{backend}-{pass}/`), so that a failure can be read in its sequence.
fn report_dir(backend: Backend, name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let pass: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    target.join("fuzz").join(format!("{backend}-{pass}"))
}

fn schemathesis(
    name: &'static str,
    backend: Backend,
    schema: &str,
    token: &str,
    examples: &str,
    filter: &[String],
) -> anyhow::Result<Pass> {
    let report = report_dir(backend, name);
    // The last run's requests only: one HAR per pass, not one more per run.
    let _ = std::fs::remove_dir_all(&report);
    std::fs::create_dir_all(&report).with_context(|| format!("creating {}", report.display()))?;
    // The 404s the replacing check found explained by a cascade, one line per case.
    let cascades = report.join("cascades.txt");
    let output = Command::new("schemathesis")
        .arg("--no-color")
        .arg("--config-file")
        .arg(fixture("schemathesis.toml"))
        .args(["run", schema, "--checks", "all", "--max-examples", examples])
        .args(["--exclude-checks", REPLACED])
        .args(["--report", "har", "--report-dir"])
        .arg(&report)
        .args(filter)
        .env("DIDHUB_FUZZ_TOKEN", token)
        .env("SCHEMATHESIS_HOOKS", fixture("schemathesis_hooks.py"))
        .env("DIDHUB_FUZZ_CASCADES", &cascades)
        .output()
        .context("running schemathesis")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = match stdout.find("SUMMARY") {
        Some(at) => stdout[at..].to_owned(),
        None => format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)),
    };
    let cascaded = std::fs::read_to_string(&cascades).unwrap_or_default();
    let cascaded: std::collections::BTreeSet<&str> = cascaded.lines().collect();
    let summary = if cascaded.is_empty() {
        summary
    } else {
        format!(
            "{summary}\n{} created resources answered 404 after a DELETE that cascaded to them \
             (not failures; {})\n",
            cascaded.len(),
            cascades.display()
        )
    };
    // Failures are printed in full before the summary.
    let summary = if output.status.success() {
        summary
    } else {
        format!(
            "{stdout}\nevery request of this pass and its answer: {}",
            report.display()
        )
    };
    Ok(Pass {
        name,
        success: output.status.success(),
        summary,
    })
}
