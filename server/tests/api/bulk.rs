//! Bulk loading: `Db::insert_rows` (COPY on PostgreSQL, batched INSERTs elsewhere) writes every
//! value exactly, across batch boundaries, and the generator writes what it reports.

use didhub_server::args;
use didhub_server::db::{INSERT_BATCH, Id, Stmt, Timestamp};
use didhub_server::generate::{self, Size};
use didhub_server::progress::Progress;
use didhub_server::store::alters;
use serde_json::json;

use crate::support::{TestApp, backends};
use didhub_migrations::Backend;
use rstest_reuse::apply;

#[apply(backends)]
#[tokio::test]
async fn insert_rows_keeps_every_value_across_batches(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let awkward = "tab\there, new\nline, back\\slash, 'quote' \"double\", \r, ünïcødé, %_!";
    let at = Timestamp::from(
        chrono::DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456Z")
            .unwrap()
            .to_utc(),
    );
    let count = INSERT_BATCH + 50;
    let ids: Vec<Id> = (0..count).map(|_| Id::new()).collect();
    let rows = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            args![
                *id,
                system,
                format!("Alter {i}"),
                None::<String>,
                awkward,
                json!([awkward, i.to_string()]),
                i == 0,
                false,
                at,
                at
            ]
        })
        .collect();
    let inserted = app
        .state
        .db
        .insert_rows(
            "alters",
            &[
                "id",
                "system_id",
                "name",
                "pronouns",
                "description",
                "interests",
                "is_host",
                "is_dormant",
                "created_at",
                "updated_at",
            ],
            rows,
        )
        .await
        .unwrap();
    assert_eq!(inserted, count as u64);

    let last = alters::get(&app.state.db, ids[count - 1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.name, format!("Alter {}", count - 1));
    assert_eq!(last.pronouns, None);
    assert_eq!(last.description.as_deref(), Some(awkward));
    assert_eq!(
        last.interests,
        [awkward.to_owned(), (count - 1).to_string()]
    );
    assert!(!last.is_host);
    assert_eq!(last.created_at, at);
    assert!(
        alters::get(&app.state.db, ids[0])
            .await
            .unwrap()
            .unwrap()
            .is_host
    );
}

#[apply(backends)]
#[tokio::test]
async fn the_generator_writes_what_it_reports(backend: Backend) {
    let app = TestApp::start(backend).await;
    let db = &app.state.db;
    let counts = || async {
        let mut counts = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM users",
            "SELECT COUNT(*) FROM systems",
            "SELECT COUNT(*) FROM alters",
            "SELECT COUNT(*) FROM audit_logs",
        ] {
            counts.push(db.conn().fetch_int(Stmt::new(sql)).await.unwrap() as usize);
        }
        counts
    };
    let before = counts().await;
    let progress = Progress::hidden();
    let generated = generate::generate(
        db,
        Size {
            alters: 120,
            seed: 3,
        },
        &progress,
    )
    .await
    .unwrap();
    // What a terminal's bar shows: every row written, of as many as announced.
    let rows = generated.rows() as u64;
    assert_eq!(
        (progress.rows_done(), progress.rows_expected()),
        (rows, rows)
    );
    let after = counts().await;
    let added: Vec<usize> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(
        added,
        [
            generated.users,
            generated.systems,
            120,
            generated.audit_entries
        ],
        "users, systems, alters, audit entries"
    );
    let sample = alters::get(db, generated.sample.alter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sample.name, generated.sample.alter_name);
    assert_eq!(sample.system_id, generated.sample.system);
}
