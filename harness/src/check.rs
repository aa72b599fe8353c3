//! `check`: integrity, the lock file, the staircase and the data staircase on each requested backend, and
//! parity (of schemas, and of the fixtures' data) across them — what the CLI's `check` runs and
//! what `just test-all-dbs` proves for DIDHub.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::{self, Kind};
use crate::data::Fixture;
use crate::data_staircase::{self, DataStairs};
use crate::integrity;
use crate::lock::{self, LOCK_FILE};
use crate::migrations::MigrationSet;
use crate::parity::{self, AllowList};
use crate::schema::Schema;
use crate::staircase;

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The folder holding `sqlite/`, `postgres/` and `mysql/`.
    pub migrations: PathBuf,
    pub backends: Vec<Kind>,
    /// The parity allow-list; none means no difference is allowed.
    pub allow_list: Option<PathBuf>,
    /// The data fixtures folder (`vNNNN/<table>.json`); none skips the data staircase.
    pub fixtures: Option<PathBuf>,
}

/// The findings, readable as text; `ok` when nothing failed.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub ok: bool,
    pub text: String,
}

/// Runs every check and reports all failures, not only the first.
pub async fn run(options: &CheckOptions) -> CheckReport {
    let mut text = String::new();
    let mut ok = true;
    let mut fail = |text: &mut String, line: String| {
        ok = false;
        let _ = writeln!(text, "FAIL {line}");
    };

    let integrity = integrity::check_folders(&options.migrations);
    if integrity.is_ok() {
        let _ = writeln!(text, "ok   integrity: {integrity}");
    } else {
        fail(&mut text, format!("integrity:\n{integrity}"));
    }

    match lock::verify(&options.migrations) {
        Ok(Some(report)) if report.is_ok() => {
            let _ = writeln!(text, "ok   lock: {report}");
        }
        Ok(Some(report)) => fail(&mut text, format!("lock ({LOCK_FILE}):\n{report}")),
        Ok(None) => {
            let _ = writeln!(
                text,
                "skip lock: no {LOCK_FILE} in {} (didhub-harness lock writes it)",
                options.migrations.display()
            );
        }
        Err(e) => fail(&mut text, format!("lock: {e}")),
    }

    let fixtures = match &options.fixtures {
        Some(dir) => match Fixture::load_all(dir) {
            Ok(fixtures) => Some(fixtures),
            Err(e) => {
                fail(&mut text, format!("data fixtures: {e}"));
                None
            }
        },
        None => {
            let _ = writeln!(text, "skip data staircase: no fixtures folder was given");
            None
        }
    };

    let mut schemas: BTreeMap<i64, BTreeMap<Kind, Schema>> = BTreeMap::new();
    let mut data: Vec<DataStairs> = Vec::new();
    for &kind in &options.backends {
        let started = Instant::now();
        let outcome = async {
            let set = MigrationSet::load(&options.migrations, kind).await?;
            let stairs = staircase::walk(&set).await?;
            Ok::<_, staircase::StaircaseError>((set, stairs))
        }
        .await;
        let server = match kind {
            Kind::Sqlite => "a temporary SQLite file".to_owned(),
            _ => backend::server(kind)
                .await
                .map(|s| format!("{} ({})", s.version, s.origin))
                .unwrap_or_default(),
        };
        match outcome {
            Ok((set, stairs)) => {
                let _ = writeln!(
                    text,
                    "ok   {kind}: {} migrations up, down and up again in {:.1} s on {server}",
                    set.versions().len(),
                    started.elapsed().as_secs_f64()
                );
                for (version, schema) in stairs.steps {
                    schemas.entry(version).or_default().insert(kind, schema);
                }
                if let Some(fixtures) = &fixtures {
                    let started = Instant::now();
                    match data_staircase::walk(&set, fixtures).await {
                        Ok(stairs) => {
                            let _ = writeln!(
                                text,
                                "ok   {kind}: data staircase: {} in {:.1} s",
                                stairs.summary(fixtures),
                                started.elapsed().as_secs_f64()
                            );
                            data.push(stairs);
                        }
                        Err(e) => fail(&mut text, format!("{e}")),
                    }
                }
            }
            Err(e) => fail(&mut text, format!("{e}")),
        }
    }

    if schemas
        .values()
        .next()
        .is_some_and(|by_kind| by_kind.len() >= 2)
    {
        let allow = match &options.allow_list {
            Some(path) => AllowList::load(path),
            None => Ok(AllowList::default()),
        };
        match allow {
            Ok(allow) => {
                let report = parity::check(&schemas, &allow);
                if report.is_ok() {
                    let _ = writeln!(text, "ok   parity: {report}");
                } else {
                    fail(&mut text, format!("parity:\n{report}"));
                }
            }
            Err(e) => fail(&mut text, format!("parity allow-list: {e}")),
        }
    } else {
        let _ = writeln!(
            text,
            "skip parity: it compares two or more backends that walked the staircase"
        );
    }
    if data.len() >= 2 {
        let drift = data_staircase::compare_backends(&data);
        let kinds: Vec<&str> = data.iter().map(|d| d.kind.name()).collect();
        if drift.is_empty() {
            let _ = writeln!(
                text,
                "ok   data parity: every fixture holds the same data on {} at every version",
                kinds.join(", ")
            );
        } else {
            let lines: Vec<String> = drift.iter().map(|d| format!("data drift: {d}")).collect();
            fail(&mut text, format!("data parity:\n{}", lines.join("\n")));
        }
    }
    CheckReport { ok, text }
}

/// DIDHub's data fixtures (`fixtures/data`), relative to this crate.
pub fn didhub_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/data")
}

/// The migrations folder of DIDHub, and its allow-list, relative to this crate.
pub fn didhub_defaults() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    (
        root.join("migrations"),
        root.join("fixtures/parity-allow.toml"),
    )
}
