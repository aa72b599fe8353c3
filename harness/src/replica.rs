//! Migrations on a primary with a streaming replica (`check --replica`): the staircase walked on
//! a PostgreSQL primary — each version up, and down and up again where it can be reverted —
//! with a replica of it beside, started from it (`pg_basebackup -R`, the local image). After
//! each step the replica must have replayed it and hold the primary's schema; and each step's
//! write-ahead log, with how long the replica took to replay it after the step ended, is what
//! it costs replication: a table rewrite writes the table again into the log, and a replica
//! falls that far behind.

use std::time::{Duration, Instant};

use crate::HarnessError;
use crate::backend::{self, Backend, Pool};
use crate::migrations::MigrationSet;
use crate::project::Project;
use crate::report::{CheckReport, Finding, Step};

/// How long a replica may take to replay one step before it counts as stuck.
const CATCH_UP: Duration = Duration::from_secs(60);

/// One step of the walk on the primary, as the replica saw it.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub version: i64,
    /// `up`, `down`, or `up again`.
    pub doing: &'static str,
    pub file: String,
    /// How long the step took on the primary.
    pub took: Duration,
    /// Write-ahead log the step wrote.
    pub wal_bytes: u64,
    /// How long after the step ended the replica had replayed it.
    pub caught_up: Duration,
    /// How the replica's schema differs from the primary's after the step (empty: equal).
    pub differs: Vec<String>,
}

/// Walks `project`'s PostgreSQL migrations on a primary with a replica and adds the outcome to
/// `report`.
pub async fn check(project: &Project, report: &mut CheckReport) {
    let kind = Backend::Postgres;
    if !project.layout.backends().contains(&kind) {
        report.fail(
            Step::Replica,
            Some(kind),
            "replica: the project has no PostgreSQL migrations (replicas are PostgreSQL's)",
            true,
        );
        return;
    }
    match walk(project).await {
        Err(e) => report.fail(Step::Replica, Some(kind), format!("replica: {e}"), true),
        Ok((steps, unchecked)) => {
            let mut text = format!(
                "postgres replica: {} step(s) replayed; write-ahead log and the replica's catch-up per step:",
                steps.len()
            );
            let mut findings = Vec::new();
            for step in &steps {
                text.push_str(&format!(
                    "\n  {:>4} {:<8} {:>7.1} ms on the primary, {:>9} of WAL, replica {:>7.1} ms behind",
                    step.version,
                    step.doing,
                    step.took.as_secs_f64() * 1000.0,
                    bytes(step.wal_bytes),
                    step.caught_up.as_secs_f64() * 1000.0,
                ));
                for line in &step.differs {
                    let message = format!(
                        "after {} {} (version {}), the replica's schema differs: {line}",
                        step.doing, step.file, step.version
                    );
                    text.push_str(&format!("\n    {message}"));
                    findings.push(Finding {
                        backend: Some(kind),
                        version: Some(step.version),
                        file: Some(step.file.clone()),
                        rule: Some("replica schema".into()),
                        message,
                        ..Finding::default()
                    });
                }
            }
            if let Some(why) = &unchecked {
                text.push_str(&format!("\n  not checked further: {why}"));
            }
            if findings.is_empty() && unchecked.is_none() {
                report.pass(Step::Replica, Some(kind), text);
            } else {
                let cannot_check = findings.is_empty();
                report.fail_with(Step::Replica, Some(kind), text, findings, cannot_check);
            }
        }
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The walk; the steps done, and why the walk stopped early if it did (a migration failed on
/// the primary: the staircase reports that itself).
async fn walk(project: &Project) -> Result<(Vec<Replayed>, Option<String>), HarnessError> {
    let kind = Backend::Postgres;
    let set = MigrationSet::of(project, kind).await?;
    let primary = backend::dedicated(kind).await?;
    let replica = primary.replica(&[]).await?;
    let database = primary.database().await?;
    let on_primary = database.connect().await?;
    let replica_url = replica.url_of(&database.url);
    // The database itself reaches the replica first.
    let on_replica = crate::images::retry(CATCH_UP, || Pool::connect_one(kind, &replica_url))
        .await
        .map_err(|e| HarnessError::database(kind, e))?;
    let mut steps = Vec::new();
    let mut previous = 0;
    let mut unchecked = None;
    for version in set.versions() {
        let mut moves = vec![("up", version, set.up_file(version))];
        if set.can_revert(version) {
            moves.push(("down", previous, set.down_file(version)));
            moves.push(("up again", version, set.up_file(version)));
        }
        for (doing, target, file) in moves {
            let before = on_primary.wal_position().await?;
            let started = Instant::now();
            let done = if doing == "down" {
                on_primary.migrate_down(&set.migrator, target).await
            } else {
                on_primary.migrate_up(&set.migrator, target).await
            };
            let took = started.elapsed();
            if let Err(e) = done {
                unchecked = Some(format!(
                    "{file} (version {version}) failed on the primary: {}",
                    backend::why(&e)
                ));
                break;
            }
            let after = on_primary.wal_position().await?;
            let ended = Instant::now();
            loop {
                if on_replica.replayed_position().await? >= after {
                    break;
                }
                if ended.elapsed() > CATCH_UP {
                    unchecked = Some(format!(
                        "the replica had not replayed {doing} {file} {CATCH_UP:?} after it ended"
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let caught_up = ended.elapsed();
            let expected = on_primary.introspect().await?;
            let seen = on_replica.introspect().await?;
            steps.push(Replayed {
                version,
                doing,
                file,
                took,
                wal_bytes: u64::try_from(after - before).unwrap_or(0),
                caught_up,
                differs: expected.diff(&seen).into_iter().map(|d| d.line).collect(),
            });
            if unchecked.is_some() {
                break;
            }
        }
        if unchecked.is_some() {
            break;
        }
        previous = version;
    }
    on_primary.close().await;
    on_replica.close().await;
    Ok((steps, unchecked))
}
