//! The backends' own backup tools, as `docs/operations.md` describes them, round trip a DIDHub
//! database: `sqlite3 .backup`/`.restore`, `pg_dump`/`psql` and `mysqldump`/`mysql` (the last two
//! run inside the database containers, so their versions match the server). After a dump and a
//! restore into a fresh database, the schema, every table's content and the migration history are
//! equal, and the server starts on the restored database without migrating anything.

#[cfg(feature = "containers")]
use didhub_harness::TestDatabase;
use didhub_migrations::Backend;
use didhub_server::config::DatabaseConfig;
use didhub_server::data::{Digest, TABLES};
use didhub_server::db::{ArgKind, Db, Stmt};

use crate::support::TestApp;

/// What must survive: schema, table contents, migration history.
#[derive(Debug, PartialEq)]
struct State {
    schema: didhub_harness::schema::Schema,
    digests: Vec<Digest>,
    migrations: String,
}

async fn state_of(backend: Backend, url: &str) -> State {
    let kind = backend;
    let pool = didhub_harness::Pool::connect(kind, url).await.unwrap();
    // Checks are compared in canonical form (`didhub_harness::expression`): pg_dump's restore
    // prints `= ANY (ARRAY[…])` with its casts elsewhere.
    let schema = pool.introspect().await.unwrap();
    pool.close().await;
    let db = Db::connect(&DatabaseConfig::from_url(url).unwrap())
        .await
        .unwrap();
    let mut tx = db.begin_read().await.unwrap();
    let mut digests = Vec::new();
    for &table in TABLES {
        digests.push(Digest::of(table, &mut tx).await.unwrap());
    }
    let history = tx
        .conn()
        .fetch_args(
            Stmt::new(
                "SELECT version, description, success FROM _sqlx_migrations ORDER BY version",
            ),
            &[ArgKind::Int, ArgKind::Text, ArgKind::Bool],
        )
        .await
        .unwrap();
    drop(tx);
    db.close().await;
    State {
        schema,
        digests,
        migrations: format!("{history:?}"),
    }
}

/// A database with data in every area, and its URL.
async fn filled(backend: Backend) -> TestApp {
    let app = TestApp::start(backend).await;
    crate::backup::some_data(&app).await;
    app
}

/// The restored database must equal the original, and the server must accept it as it is.
async fn assert_restored(backend: Backend, original: &str, restored: &str) {
    let (before, after) = (
        state_of(backend, original).await,
        state_of(backend, restored).await,
    );
    assert!(
        before.schema.diff(&after.schema).is_empty(),
        "{backend}: schema differs: {:?}",
        before.schema.diff(&after.schema)
    );
    assert_eq!(before, after, "{backend}");
    let db = Db::connect(&DatabaseConfig::from_url(restored).unwrap())
        .await
        .unwrap();
    db.migrate()
        .await
        .expect("the restored migration history is accepted as is");
}

/// The database name and the credentials of a server URL.
#[cfg(feature = "containers")]
fn parts(url: &str) -> (String, String, String) {
    let url = url::Url::parse(url).unwrap();
    let name = url.path().trim_start_matches('/').to_owned();
    let password = url.password().unwrap_or_default().to_owned();
    (name, url.username().to_owned(), password)
}

#[tokio::test]
async fn sqlite3_backup_and_restore_round_trip() {
    let app = filled(Backend::Sqlite).await;
    let file = app
        .config
        .database
        .url
        .trim_start_matches("sqlite://")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let (copy, restored) = (
        dir.path().join("backup.sqlite"),
        dir.path().join("restored.sqlite"),
    );
    let sqlite3 = |database: &std::path::Path, command: String| {
        let output = std::process::Command::new("sqlite3")
            .arg(database)
            .arg(&command)
            .output()
            .expect("sqlite3 is installed (apt-get install sqlite3)");
        assert!(
            output.status.success(),
            "sqlite3 {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    sqlite3(file.as_ref(), format!(".backup '{}'", copy.display()));
    sqlite3(&restored, format!(".restore '{}'", copy.display()));
    assert_restored(
        Backend::Sqlite,
        app.database_url(),
        &format!("sqlite://{}", restored.display()),
    )
    .await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn pg_dump_and_psql_round_trip() {
    let app = filled(Backend::Postgres).await;
    let server = didhub_harness::backend::server(Backend::Postgres)
        .await
        .unwrap();
    let fresh = TestDatabase::create(Backend::Postgres).await.unwrap();
    let (source, user, password) = parts(app.database_url());
    let (target, _, _) = parts(&fresh.url);
    let env = format!("PGPASSWORD={password}");
    let connect = ["-h", "127.0.0.1", "-U", &user];
    let dump = server
        .exec(
            &[
                &["env", &env, "pg_dump", "--no-owner"][..],
                &connect,
                &["-d", &source],
            ]
            .concat(),
            vec![],
        )
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&dump).contains("CREATE TABLE public.alters"));
    server
        .exec(
            &[
                &["env", &env, "psql", "-q", "-v", "ON_ERROR_STOP=1"][..],
                &connect,
                &["-d", &target],
            ]
            .concat(),
            dump,
        )
        .await
        .unwrap();
    assert_restored(Backend::Postgres, app.database_url(), &fresh.url).await;
}

#[cfg(feature = "containers")]
#[tokio::test]
async fn mysqldump_and_mysql_round_trip() {
    let app = filled(Backend::MySql).await;
    let server = didhub_harness::backend::server(Backend::MySql)
        .await
        .unwrap();
    let fresh = TestDatabase::create(Backend::MySql).await.unwrap();
    let (source, user, password) = parts(app.database_url());
    let (target, _, _) = parts(&fresh.url);
    let (user, password) = (format!("-u{user}"), format!("-p{password}"));
    let connect = ["-h127.0.0.1", "-P3306", &user, &password];
    let dump = server
        .exec(
            &[
                &[
                    "mysqldump",
                    "--single-transaction",
                    "--routines",
                    "--triggers",
                ][..],
                &connect,
                &[&source],
            ]
            .concat(),
            vec![],
        )
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&dump).contains("CREATE TABLE `alters`"));
    server
        .exec(&[&["mysql"][..], &connect, &[&target]].concat(), dump)
        .await
        .unwrap();
    assert_restored(Backend::MySql, app.database_url(), &fresh.url).await;
}
