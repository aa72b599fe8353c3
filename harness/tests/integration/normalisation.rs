//! How each dialect's real introspection reads a column's type and default: the same declared
//! type is one logical type in every dialect, `DEFAULT NULL` is no default, and a default is
//! `now` only when it is exactly the current time. Each table is made on the real backend and
//! read back through the harness's introspection.

use didhub_harness::backends;
use rstest_reuse::apply;

use didhub_harness::schema::{Column, Logical};
use didhub_harness::{Pool, TestDatabase};
use didhub_migrations::Backend;

/// The columns of table `t` after `sql` ran on a fresh database of `kind`, by name.
async fn columns(kind: Backend, sql: &str) -> Vec<Column> {
    let db = TestDatabase::create(kind).await.unwrap();
    let pool = db.connect().await.unwrap();
    pool.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: {e}\n{sql}"));
    let schema = pool.introspect().await.unwrap();
    pool.close().await;
    db.discard().await.unwrap();
    schema.tables["t"].columns.clone()
}

fn column<'a>(columns: &'a [Column], name: &str) -> &'a Column {
    columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name} in {columns:?}"))
}

/// `(column, logical type)` of every column, in order.
fn types(columns: &[Column]) -> Vec<(&str, Logical)> {
    columns
        .iter()
        .map(|c| (c.name.as_str(), c.logical.clone()))
        .collect()
}

/// `(column, default)` of every column, in order.
fn defaults(columns: &[Column]) -> Vec<(&str, Option<&str>)> {
    columns
        .iter()
        .map(|c| (c.name.as_str(), c.default.as_deref()))
        .collect()
}

#[apply(backends)]
#[tokio::test]
async fn char_36_reads_as_a_uuid_in_every_dialect(#[case] kind: Backend) {
    let columns = columns(
        kind,
        "CREATE TABLE t (id CHAR(36) NOT NULL PRIMARY KEY, code CHAR(35), \
         name VARCHAR(36), other_id CHAR(36))",
    )
    .await;
    assert_eq!(
        types(&columns),
        [
            ("id", Logical::Uuid),
            ("code", Logical::ShortText(Some(35))),
            ("name", Logical::ShortText(Some(36))),
            ("other_id", Logical::Uuid),
        ],
        "{kind:?}"
    );
}

/// PostgreSQL's native UUID, and MariaDB's (10.7 and newer), are the uuid that `CHAR(36)` is.
#[apply(backends)]
#[tokio::test]
async fn a_native_uuid_reads_as_char_36_does(#[case] kind: Backend) {
    if kind == Backend::MySql && !mariadb().await {
        return; // MySQL has no UUID type
    }
    let columns = columns(kind, "CREATE TABLE t (id UUID NOT NULL PRIMARY KEY)").await;
    assert_eq!(types(&columns), [("id", Logical::Uuid)], "{kind:?}");
}

/// Whether the MySQL-protocol server is MariaDB.
async fn mariadb() -> bool {
    let db = TestDatabase::create(Backend::MySql).await.unwrap();
    let pool = db.connect().await.unwrap();
    let Pool::MySql(p) = &pool else {
        unreachable!()
    };
    let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
        .fetch_one(p)
        .await
        .unwrap();
    pool.close().await;
    db.discard().await.unwrap();
    version.contains("MariaDB")
}

#[apply(backends)]
#[tokio::test]
async fn default_null_is_no_default_and_the_string_null_is_a_string(#[case] kind: Backend) {
    let timestamp = match kind {
        Backend::Sqlite => "TEXT",
        Backend::Postgres => "TIMESTAMPTZ",
        Backend::MySql => "DATETIME(6)",
    };
    let sql = format!(
        "CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, \
           name VARCHAR(20) DEFAULT NULL, \
           count INTEGER DEFAULT NULL, \
           at {timestamp} NULL DEFAULT NULL, \
           plain VARCHAR(20), \
           word VARCHAR(20) DEFAULT 'NULL', \
           body TEXT DEFAULT NULL); \
         ALTER TABLE t ADD COLUMN added VARCHAR(20) DEFAULT NULL;"
    );
    let columns = columns(kind, &sql).await;
    let rowid = match kind {
        Backend::Sqlite => Some("auto increment (rowid)"),
        Backend::Postgres | Backend::MySql => None,
    };
    assert_eq!(
        defaults(&columns),
        [
            ("id", rowid),
            ("name", None),
            ("count", None),
            ("at", None),
            ("plain", None),
            ("word", Some("'NULL'")),
            ("body", None),
            ("added", None),
        ],
        "{kind:?}"
    );
    assert!(column(&columns, "name").nullable);
}

#[apply(backends)]
#[tokio::test]
async fn a_default_is_now_only_when_it_is_exactly_the_current_time(#[case] kind: Backend) {
    // Each dialect's spellings of the current time, then of a time computed from it.
    let (sql, expected): (&str, &[(&str, &str)]) = match kind {
        Backend::Sqlite => (
            "CREATE TABLE t (\
               a TEXT DEFAULT CURRENT_TIMESTAMP, \
               b TEXT DEFAULT (datetime('now')), \
               c TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), \
               d TEXT DEFAULT (datetime('now', 'subsec')), \
               e TEXT DEFAULT (date('now')), \
               f TEXT DEFAULT (datetime('now','-30 days')), \
               g TEXT DEFAULT (datetime('now', 'localtime')), \
               h TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 hour')), \
               i TEXT DEFAULT (date('now', '+1 day')))",
            &[
                ("a", "now"),
                ("b", "now"),
                ("c", "now"),
                ("d", "now"),
                ("e", "today"),
                ("f", "datetime('now', '-30 days')"),
                ("g", "datetime('now', 'localtime')"),
                ("h", "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 hour')"),
                ("i", "date('now', '+1 day')"),
            ],
        ),
        Backend::Postgres => (
            "CREATE TABLE t (\
               a TIMESTAMPTZ DEFAULT now(), \
               b TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, \
               c TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP(3), \
               d TIMESTAMP DEFAULT LOCALTIMESTAMP, \
               e TIMESTAMP DEFAULT timezone('utc', now()), \
               f TIMESTAMPTZ DEFAULT now() - interval '30 days', \
               g TIMESTAMP DEFAULT timezone('utc', now()) - interval '1 day', \
               h TIMESTAMP DEFAULT timezone('Europe/Paris', now()), \
               i DATE DEFAULT CURRENT_DATE)",
            &[
                ("a", "now"),
                ("b", "now"),
                ("c", "now"),
                ("d", "now"),
                ("e", "now"),
                ("f", "now() - '30 days'"),
                ("g", "timezone('utc', now()) - '1 day'"),
                ("h", "timezone('Europe/Paris', now())"),
                ("i", "today"),
            ],
        ),
        Backend::MySql => (
            "CREATE TABLE t (\
               a DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6), \
               b TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP, \
               c DATETIME DEFAULT NOW(), \
               d DATETIME(6) DEFAULT (CURRENT_TIMESTAMP(6) - INTERVAL 30 DAY))",
            &[
                ("a", "now"),
                ("b", "now"),
                ("c", "now"),
                ("d", "current_timestamp(6) - interval 30 day"),
            ],
        ),
    };
    let columns = columns(kind, sql).await;
    let found: Vec<(&str, &str)> = columns
        .iter()
        .map(|c| (c.name.as_str(), c.default.as_deref().unwrap_or("(none)")))
        .collect();
    assert_eq!(found, expected, "{kind:?}");
}
