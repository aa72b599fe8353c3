//! `Db::write`, the path every request's change takes: each write is committed whole or not at
//! all, whatever the writes around it do; on SQLite, writes that wait together are committed
//! together.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use didhub_server::db::{Db, Id, Stmt, Timestamp, Written};

use crate::support::{TestApp, backends};
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// How many writes race in each test; every third one fails after writing its row.
const WRITES: usize = 48;

/// How many times each write ran, and how many have been handed to `Db::write`.
#[derive(Default)]
struct Counts {
    runs: AtomicUsize,
    sent: AtomicUsize,
}

/// Writes one audit row named `n` and then, when `n` is a multiple of three, fails.
async fn write(db: Db, n: usize, counts: Arc<Counts>) -> Result<Id, sqlx::Error> {
    counts.sent.fetch_add(1, Ordering::SeqCst);
    let runs = counts.clone();
    db.write(move |tx| {
        let runs = runs.clone();
        Box::pin(async move {
            runs.runs.fetch_add(1, Ordering::SeqCst);
            let id = Id::new();
            tx.conn()
                .execute(
                    Stmt::new(
                        "INSERT INTO audit_logs (id, action, entity_id, metadata, created_at) \
                         VALUES (?, 'test.write', ?, ?, ?)",
                    )
                    .bind(id)
                    .bind(n.to_string())
                    .bind(serde_json::json!({}))
                    .bind(Timestamp::now()),
                )
                .await?;
            if n.is_multiple_of(3) {
                return Err(sqlx::Error::RowNotFound);
            }
            Ok(id)
        })
    })
    .await
}

/// The rows [`write`] left, by name.
async fn written(db: &Db) -> Vec<String> {
    let mut names: Vec<(String,)> = db
        .conn()
        .fetch_all(Stmt::new(
            "SELECT entity_id FROM audit_logs WHERE action = 'test.write'",
        ))
        .await
        .unwrap();
    names.sort();
    names.into_iter().map(|(n,)| n).collect()
}

/// Starts [`WRITES`] writes at once and waits for their answers.
async fn race(db: &Db, counts: &Arc<Counts>) -> Vec<Result<Id, sqlx::Error>> {
    let writes: Vec<_> = (0..WRITES)
        .map(|n| tokio::spawn(write(db.clone(), n, counts.clone())))
        .collect();
    let mut answers = Vec::new();
    for write in writes {
        answers.push(write.await.unwrap());
    }
    answers
}

/// What [`race`] must leave: the rows of the writes that succeeded, and only those.
fn expected() -> Vec<String> {
    let mut names: Vec<String> = (0..WRITES)
        .filter(|n| !n.is_multiple_of(3))
        .map(|n| n.to_string())
        .collect();
    names.sort();
    names
}

fn check_answers(answers: &[Result<Id, sqlx::Error>]) {
    for (n, answer) in answers.iter().enumerate() {
        match answer {
            Ok(_) => assert!(!n.is_multiple_of(3), "write {n} should have failed"),
            Err(sqlx::Error::RowNotFound) => assert!(n.is_multiple_of(3), "write {n} failed"),
            Err(other) => panic!("write {n}: {other}"),
        }
    }
}

/// A write that fails leaves nothing behind, and takes no other write down with it.
#[apply(backends)]
#[tokio::test]
async fn each_write_commits_whole_or_not_at_all(backend: Backend) {
    let app = TestApp::start(backend).await;
    let db = &app.state.db;
    let answers = race(db, &Arc::default()).await;
    check_answers(&answers);
    assert_eq!(written(db).await, expected());
}

/// On SQLite, writes that queue while the writers' turn is taken are committed together; when
/// one of them fails, the group is rolled back and each of its writes runs again alone, so the
/// successful ones still commit and the failed one leaves nothing.
#[tokio::test]
async fn sqlite_writes_queued_together_commit_together_and_a_failure_is_run_again_alone() {
    let app = TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let db = &app.state.db;
    let counts = Arc::new(Counts::default());
    // Hold the writers' turn so that the writes queue up behind it.
    let held = db.begin_write().await.unwrap();
    let racing = {
        let (db, counts) = (db.clone(), counts.clone());
        tokio::spawn(async move { race(&db, &counts).await })
    };
    // A write is queued as soon as it is handed over (or taken by the group task, which then
    // waits for the turn too).
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts.sent.load(Ordering::SeqCst) < WRITES {
        assert!(Instant::now() < deadline, "the writes never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(held);
    let answers = racing.await.unwrap();
    check_answers(&answers);
    assert_eq!(written(db).await, expected());
    let runs = counts.runs.load(Ordering::SeqCst);
    assert!(
        runs > WRITES,
        "{runs} runs of {WRITES} writes: none was committed in a group that then failed"
    );
}

/// Writes that queue while the writers' turn is taken, and all succeed, are committed in fewer
/// transactions than there are writes.
#[tokio::test]
async fn sqlite_writes_queued_together_are_committed_in_one_transaction() {
    let app = TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let db = &app.state.db;
    let held = db.begin_write().await.unwrap();
    let before = db.writes();
    let counts = Arc::new(Counts::default());
    // Numbers that are not multiples of three: every write succeeds.
    let writes: Vec<_> = (0..WRITES)
        .map(|n| tokio::spawn(write(db.clone(), 3 * n + 1, counts.clone())))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts.sent.load(Ordering::SeqCst) < WRITES {
        assert!(Instant::now() < deadline, "the writes never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(held);
    for write in writes {
        write.await.unwrap().unwrap();
    }
    let commits = db.writes() - before;
    assert_eq!(written(db).await.len(), WRITES);
    assert!(
        commits < WRITES as u64 / 2,
        "{commits} commits for {WRITES} writes queued together"
    );
}

/// A write that panics is answered (as unavailable) and the writes after it go on.
#[tokio::test]
async fn sqlite_a_write_that_panics_does_not_stop_the_writes_after_it() {
    let app = TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let db = &app.state.db;
    let panicked = db
        .write(|_tx| -> Written<'_, (), sqlx::Error> {
            Box::pin(async { panic!("a bug in a write") })
        })
        .await;
    assert!(panicked.is_err(), "{panicked:?}");
    let counts = Arc::new(Counts::default());
    let id = write(db.clone(), 1, counts).await.unwrap();
    let stored: Option<(Id,)> = db
        .conn()
        .fetch_optional(Stmt::new("SELECT id FROM audit_logs WHERE id = ?").bind(id))
        .await
        .unwrap();
    assert_eq!(stored, Some((id,)));
}

/// On SQLite no commit copies the write-ahead log into the database file (that would make the
/// writers queued behind it wait); a background task does, so the file still takes the writes.
#[tokio::test]
async fn sqlite_writes_reach_the_database_file_through_background_checkpoints() {
    let app = TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let url = &app.config.database.url;
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap();
    let autocheckpoint = app
        .state
        .db
        .conn()
        .fetch_int(Stmt::new("PRAGMA wal_autocheckpoint"))
        .await
        .unwrap();
    assert_eq!(autocheckpoint, 0, "commits must not checkpoint");
    let size = || std::fs::metadata(path).unwrap().len();
    let before = size();
    const ROWS: usize = 200;
    let padding = "x".repeat(10_000);
    for n in 0..ROWS {
        let metadata = serde_json::json!({ "padding": padding, "n": n });
        app.state
            .db
            .write(move |tx| {
                let metadata = metadata.clone();
                Box::pin(async move {
                    tx.conn()
                        .execute(
                            Stmt::new(
                                "INSERT INTO audit_logs (id, action, metadata, created_at) \
                                 VALUES (?, 'test.padding', ?, ?)",
                            )
                            .bind(Id::new())
                            .bind(metadata)
                            .bind(Timestamp::now()),
                        )
                        .await
                })
            })
            .await
            .unwrap();
    }
    let grown = (ROWS * 10_000) as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while size() < before + grown {
        assert!(
            Instant::now() < deadline,
            "the database file stayed at {} bytes ({before} before {ROWS} rows of 10 kB)",
            size()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
