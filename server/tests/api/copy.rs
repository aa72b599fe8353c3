//! `db copy` between every ordered pair of backends: every table arrives whole and equal (the
//! copy's own verification, and reads through the store on both sides), a non-empty target is
//! refused untouched unless `overwrite`, and a source behind the migrations is refused.

use didhub_migrations::Backend;
use didhub_server::args;
use didhub_server::config::DatabaseConfig;
use didhub_server::data::copy::{CopyError, CopyOptions, copy};
use didhub_server::data::{Digest, TABLES};
use didhub_server::db::{Arg, Db, Id, Stmt, Timestamp};
use didhub_server::generate::{self, Size};
use didhub_server::progress::Progress;
use didhub_server::store::alters;
use serde_json::json;

use crate::support::TestApp;

/// A table, its columns, and rows for them.
type Rows = (&'static str, &'static [&'static str], Vec<Vec<Arg>>);

/// A source with generated data and at least one awkward row in every table.
async fn source(backend: Backend) -> (TestApp, generate::Generated) {
    let app = TestApp::start(backend).await;
    let db = &app.state.db;
    let generated = generate::generate(
        db,
        Size {
            alters: 300,
            seed: 9,
        },
        &Progress::hidden(),
    )
    .await
    .unwrap();
    let sample = &generated.sample;
    let at = Timestamp::from(
        chrono::DateTime::parse_from_rfc3339("2024-02-29T23:59:59.999999Z")
            .unwrap()
            .to_utc(),
    );
    let awkward = "tab\t, newline\n, back\\slash, 'quote', \"double\", ünïcødé 🦊";
    let (group, other_group, third_group) = (Id::new(), Id::new(), Id::new());
    let (subsystem, request) = (Id::new(), Id::new());
    let sibling = Id::new();
    let rows: [Rows; 9] = [
        (
            "alter_groups",
            &[
                "id",
                "system_id",
                "name",
                "description",
                "created_at",
                "updated_at",
            ],
            vec![
                args![group, sample.system, "Protectors", awkward, at, at],
                args![
                    other_group,
                    sample.system,
                    // Different names, but one under MySQL's `_ci` collations.
                    "protectors",
                    None::<String>,
                    at,
                    at
                ],
                args![third_group, sample.system, "Prötectors", "", at, at],
            ],
        ),
        (
            "alter_group_members",
            &["group_id", "alter_id", "is_leader", "created_at"],
            vec![
                args![group, sample.alter, true, at],
                args![other_group, sample.alter, false, at],
                args![third_group, sample.alter, false, at],
            ],
        ),
        (
            "subsystems",
            &[
                "id",
                "system_id",
                "name",
                "description",
                "created_at",
                "updated_at",
            ],
            vec![
                args![subsystem, sample.system, "Inner", None::<String>, at, at],
                args![Id::new(), sample.system, "INNER", None::<String>, at, at],
            ],
        ),
        (
            "subsystem_members",
            &["subsystem_id", "alter_id", "is_leader", "created_at"],
            vec![args![subsystem, sample.alter, false, at]],
        ),
        (
            "alters",
            &[
                "id",
                "system_id",
                "name",
                "interests",
                "is_host",
                "is_dormant",
                "created_at",
                "updated_at",
            ],
            vec![args![
                sibling,
                sample.system,
                awkward,
                json!([]),
                false,
                true,
                at,
                at
            ]],
        ),
        (
            "alter_relationships",
            &[
                "alter_id",
                "related_alter_id",
                "relationship_type",
                "created_at",
            ],
            vec![args![sample.alter, sibling, "parent", at]],
        ),
        (
            "settings",
            &["name", "value", "updated_at"],
            vec![args![
                "instance.name",
                json!({"z": [1, 2.5, null], "a": awkward}),
                at
            ]],
        ),
        (
            "system_requests",
            &[
                "id",
                "user_id",
                "status",
                "note",
                "decided_by",
                "decided_at",
                "created_at",
            ],
            vec![
                args![
                    request,
                    sample.user,
                    "approved",
                    awkward,
                    sample.user,
                    at,
                    at
                ],
                args![
                    Id::new(),
                    sample.user,
                    "pending",
                    None::<String>,
                    None::<Id>,
                    None::<Timestamp>,
                    at
                ],
            ],
        ),
        (
            "password_reset_tokens",
            &[
                "id",
                "user_id",
                "token_hash",
                "expires_at",
                "used_at",
                "created_at",
            ],
            vec![args![
                Id::new(),
                sample.user,
                "0".repeat(64),
                at,
                None::<Timestamp>,
                at
            ]],
        ),
    ];
    for (table, columns, rows) in rows {
        db.insert_rows(table, columns, rows).await.unwrap();
    }
    (app, generated)
}

/// An empty database on `backend`, not yet migrated.
async fn empty(backend: Backend) -> (Db, didhub_harness::TestDatabase) {
    let kind = backend;
    let database = didhub_harness::TestDatabase::create(kind).await.unwrap();
    let db = Db::connect(&DatabaseConfig::from_url(&database.url).unwrap())
        .await
        .unwrap();
    (db, database)
}

async fn digests(db: &Db) -> Vec<Digest> {
    let mut tx = db.begin_read().await.unwrap();
    let mut digests = Vec::new();
    for &table in TABLES {
        digests.push(Digest::of(table, &mut tx).await.unwrap());
    }
    digests
}

async fn copies_every_table_whole(from: Backend, to: Backend) {
    let (app, generated) = source(from).await;
    let (target, _database) = empty(to).await;
    // Small batches, so that keyset paging (composite keys included) runs many times.
    let progress = Progress::hidden();
    let options = CopyOptions {
        overwrite: false,
        batch: 2,
        progress: progress.clone(),
    };
    let copied = copy(&app.state.db, &target, options).await.unwrap();
    // What a terminal's bar shows: every row copied, of as many as the source held.
    assert_eq!(
        (progress.rows_done(), progress.rows_expected()),
        (copied.rows(), copied.rows()),
        "{from} → {to}: progress"
    );

    assert_eq!(copied.tables.len(), TABLES.len());
    for (table, copied) in TABLES.iter().zip(&copied.tables) {
        let source_rows = app.state.db.conn().fetch_int(table.count()).await.unwrap();
        let target_rows = target.conn().fetch_int(table.count()).await.unwrap();
        assert!(source_rows > 0, "{from} → {to}: {} is empty", table.name);
        assert_eq!(
            (copied.digest.rows, target_rows),
            (source_rows as u64, source_rows),
            "{from} → {to}: rows of {}",
            table.name
        );
    }
    assert_eq!(
        digests(&app.state.db).await,
        digests(&target).await,
        "{from} → {to}"
    );
    let id = generated.sample.alter;
    let (there, here) = (
        alters::get(&target, id).await.unwrap(),
        alters::get(&app.state.db, id).await.unwrap(),
    );
    assert_eq!(there, here, "{from} → {to}: alter {id}");
    assert!(there.is_some());
}

/// One test per ordered pair of backends (PostgreSQL and MySQL with the `containers` feature).
macro_rules! pairs {
    ($($name:ident: $from:ident => $to:ident $(if $feature:literal)?;)*) => {$(
        $(#[cfg(feature = $feature)])?
        #[tokio::test]
        async fn $name() {
            copies_every_table_whole(Backend::$from, Backend::$to).await;
        }
    )*};
}

pairs! {
    sqlite_to_sqlite: Sqlite => Sqlite;
    sqlite_to_postgres: Sqlite => Postgres if "containers";
    sqlite_to_mysql: Sqlite => MySql if "containers";
    postgres_to_sqlite: Postgres => Sqlite if "containers";
    postgres_to_mysql: Postgres => MySql if "containers";
    mysql_to_sqlite: MySql => Sqlite if "containers";
    mysql_to_postgres: MySql => Postgres if "containers";
}

#[tokio::test]
async fn a_target_holding_data_is_refused_untouched_unless_overwritten() {
    let (app, _) = source(Backend::Sqlite).await;
    let target = TestApp::start(Backend::Sqlite).await; // holds its bootstrap admin
    let before = digests(&target.state.db).await;

    let refused = copy(&app.state.db, &target.state.db, CopyOptions::default()).await;
    match refused {
        Err(CopyError::TargetNotEmpty { holding, .. }) => {
            assert!(holding.contains("users: 1 rows"), "{holding}")
        }
        other => panic!("expected TargetNotEmpty, got {other:?}"),
    }
    assert_eq!(
        digests(&target.state.db).await,
        before,
        "the target changed"
    );

    copy(
        &app.state.db,
        &target.state.db,
        CopyOptions {
            overwrite: true,
            ..CopyOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        digests(&target.state.db).await,
        digests(&app.state.db).await
    );
}

#[tokio::test]
async fn a_source_behind_the_migrations_is_refused() {
    let (app, _) = source(Backend::Sqlite).await;
    app.state
        .db
        .conn()
        .execute(Stmt::new(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        ))
        .await
        .unwrap();
    let (target, _database) = empty(Backend::Sqlite).await;
    let refused = copy(&app.state.db, &target, CopyOptions::default()).await;
    assert!(
        matches!(refused, Err(CopyError::SourceNotAtHead { .. })),
        "{refused:?}"
    );
}

mod registry {
    use super::*;
    use crate::support::{TestApp, backends};
    use didhub_harness::schema::Logical;
    use didhub_server::db::ArgKind;
    use rstest_reuse::apply;

    fn fits(kind: ArgKind, logical: &Logical) -> bool {
        matches!(
            (kind, logical),
            (ArgKind::Id, Logical::Uuid | Logical::AnyText)
                | (
                    ArgKind::Text,
                    Logical::ShortText(_) | Logical::LongText | Logical::AnyText
                )
                | (ArgKind::Time, Logical::Timestamp | Logical::AnyText)
                | (ArgKind::Bool, Logical::Boolean)
                | (ArgKind::Json, Logical::Json)
                | (
                    ArgKind::Int,
                    Logical::Integer | Logical::BigInt | Logical::AnyInteger
                )
        )
    }

    /// `data::TABLES` names every table and column of the migrated schema, with fitting
    /// kinds, nullability and keys, each table after the tables its foreign keys point to.
    #[apply(backends)]
    #[tokio::test]
    async fn the_table_registry_matches_the_migrated_schema(backend: Backend) {
        let app = TestApp::start(backend).await;
        let kind = app.state.db.backend();
        let pool = didhub_harness::Pool::connect(kind, app.database_url())
            .await
            .unwrap();
        let schema = pool.introspect().await.unwrap();
        let mut expected: Vec<&str> = schema
            .tables
            .keys()
            .map(String::as_str)
            .filter(|t| !t.starts_with("_sqlx"))
            .collect();
        let mut registered: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        expected.sort();
        registered.sort();
        assert_eq!(registered, expected, "tables");
        for (position, table) in TABLES.iter().enumerate() {
            let actual = &schema.tables[table.name];
            let columns: Vec<&str> = actual.columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(table.column_names(), columns, "{}: columns", table.name);
            for (column, actual) in table.columns.iter().zip(&actual.columns) {
                assert!(
                    fits(column.kind, &actual.logical),
                    "{}.{}: {:?} does not hold {}",
                    table.name,
                    column.name,
                    column.kind,
                    actual.logical
                );
                assert_eq!(
                    column.nullable, actual.nullable,
                    "{}.{}: nullable",
                    table.name, column.name
                );
            }
            assert_eq!(table.key, actual.primary_key, "{}: primary key", table.name);
            for fk in actual.foreign_keys.values() {
                let parent = TABLES.iter().position(|t| t.name == fk.ref_table);
                assert!(
                    parent.is_some_and(|p| p < position || fk.ref_table == table.name),
                    "{} refers to {}, which must come first",
                    table.name,
                    fk.ref_table
                );
            }
        }
    }
}
