//! Projects in the layouts other tools write, read as they are: diesel's folders
//! (`<timestamp>_<name>/up.sql` and `down.sql`, PostgreSQL's folder `postgresql/`), refinery's
//! `V1__name.sql`; and a project's runner settings (`[runner.<backend>]`), files without a
//! statement, and what sqlx cannot revert.
//!
//! The peers' migrations (`../shared/peers`, beside the checkout) are read in place: vaultwarden
//! and Plume are diesel projects whose files were renamed into sqlx's names, and a test puts
//! them back in diesel's layout (their `renames.tsv`) to prove that both read alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use didhub_harness::backends;
use didhub_harness::migrations::MigrationSet;
use didhub_harness::project::{Project, SETTINGS_FILE};
use didhub_harness::{TestDatabase, staircase};
use didhub_migrations::{Backend, MigrationFailed};
use rstest_reuse::apply;

/// The peers' migration sets, read in place.
fn peers() -> PathBuf {
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers");
    assert!(
        peers.is_dir(),
        "{} is missing: these tests read the peers' migration sets in place (../shared/peers \
         beside the checkout)",
        peers.display()
    );
    peers
}

/// A peer put back in its upstream layout: every file of its corpus copied to the path it had
/// upstream. `renames.tsv` maps each original path (`migrations/sqlite/2018-…/up.sql`) to its
/// path in the corpus (`sqlite/2018….up.sql`). Returns the folder and the map, corpus path →
/// original path.
fn upstream_copy(peer: &str) -> (tempfile::TempDir, BTreeMap<String, String>) {
    let root = peers().join(peer);
    let renames = root.join("renames.tsv");
    let text = std::fs::read_to_string(&renames)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", renames.display()));
    let copy = tempfile::tempdir().unwrap();
    let mut original_of = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (original, renamed) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("{}: not `original<TAB>renamed`: {line}", renames.display()));
        let to = copy.path().join(original);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join("corpus").join(renamed), &to)
            .unwrap_or_else(|e| panic!("{peer}: cannot copy {renamed}: {e}"));
        original_of.insert(renamed.to_owned(), original.to_owned());
    }
    (copy, original_of)
}

/// What sqlx knows of each migration of a set: version, kind, description, transaction mode
/// and checksum (the SHA-384 of the SQL it runs).
fn as_sqlx_sees(set: &MigrationSet) -> Vec<(i64, String, String, bool, Vec<u8>)> {
    set.migrator
        .iter()
        .map(|m| {
            (
                m.version,
                format!("{:?}", m.migration_type),
                m.description.to_string(),
                m.no_tx,
                m.checksum.to_vec(),
            )
        })
        .collect()
}

/// vaultwarden and Plume in diesel's layout read as their renamed corpus does: the same
/// backends, versions, files (each named by its path upstream) and the same migrations as sqlx
/// runs them; and SQLite's staircase reaches the same versions on both.
#[rstest]
#[case::vaultwarden("vaultwarden", &[(Backend::Sqlite, 56), (Backend::Postgres, 46), (Backend::MySql, 55)])]
#[case::plume("plume", &[(Backend::Sqlite, 37), (Backend::Postgres, 59)])]
#[tokio::test]
async fn diesels_layout_reads_as_the_renamed_corpus(
    #[case] peer: &str,
    #[case] versions: &[(Backend, usize)],
) {
    let (copy, original_of) = upstream_copy(peer);
    let diesel = Project::open(&copy.path().join("migrations")).unwrap();
    let renamed = Project::open(&peers().join(peer).join("corpus")).unwrap();
    let backends: Vec<(Backend, usize)> = diesel
        .layout
        .backends()
        .into_iter()
        .map(|kind| (kind, 0))
        .collect();
    assert_eq!(
        backends.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        renamed.layout.backends()
    );
    let upstream = |corpus_folder: &str, file: &str| -> String {
        let key = format!("{corpus_folder}/{file}");
        original_of
            .get(&key)
            .unwrap_or_else(|| panic!("{key} is not in renames.tsv"))
            .clone()
    };
    for &(kind, count) in versions {
        let folder = diesel.layout.folder(kind).unwrap();
        let corpus_folder = renamed.layout.folder(kind).unwrap();
        let from_diesel = MigrationSet::of(&diesel, kind).await.unwrap();
        let from_corpus = MigrationSet::of(&renamed, kind).await.unwrap();
        assert_eq!(from_diesel.versions().len(), count, "{peer} {kind}");
        assert_eq!(
            from_diesel.versions(),
            from_corpus.versions(),
            "{peer} {kind}"
        );
        for version in from_diesel.versions() {
            for (diesel_file, corpus_file) in [
                (from_diesel.up_file(version), from_corpus.up_file(version)),
                (
                    from_diesel.down_file(version),
                    from_corpus.down_file(version),
                ),
            ] {
                assert_eq!(
                    format!("migrations/{folder}/{diesel_file}"),
                    upstream(corpus_folder, &corpus_file)
                );
                assert!(from_diesel.path(&diesel_file).is_file(), "{diesel_file}");
            }
        }
        assert_eq!(
            as_sqlx_sees(&from_diesel),
            as_sqlx_sees(&from_corpus),
            "{peer} {kind}"
        );
        assert_eq!(
            from_diesel.empty_files().len(),
            from_corpus.empty_files().len(),
            "{peer} {kind}"
        );
    }
    // The lock file and the lint name every file by its path upstream.
    let diesel_files: Vec<String> = diesel
        .migration_files()
        .unwrap()
        .iter()
        .map(|f| format!("migrations/{}", f.display()))
        .collect();
    let mut corpus_files: Vec<String> = renamed
        .migration_files()
        .unwrap()
        .iter()
        .map(|f| upstream(&f.folder, &f.name))
        .collect();
    corpus_files.sort();
    let mut sorted = diesel_files.clone();
    sorted.sort();
    assert_eq!(sorted, corpus_files);
    assert_eq!(
        didhub_harness::lock::current(&diesel).unwrap().len(),
        diesel_files.len()
    );

    // Both walk as far on SQLite, and each names its own files: sqlx runs the same text, but a
    // walk remembered for the one layout must not report the other's file names.
    let walked = |project: Project| async move {
        let set = MigrationSet::of(&project, Backend::Sqlite).await.unwrap();
        let stairs = staircase::walk(&set, Default::default()).await.unwrap();
        let reached = stairs.steps.iter().map(|(v, _)| *v).collect::<Vec<i64>>();
        let named: Vec<String> = stairs
            .failures
            .iter()
            .filter_map(|f| f.file().map(str::to_owned))
            .collect();
        (reached, named)
    };
    let (diesel_reached, diesel_named) = walked(diesel).await;
    assert!(diesel_reached.len() > 1, "{peer}: {diesel_reached:?}");
    let (renamed_reached, renamed_named) = walked(renamed).await;
    assert_eq!(diesel_reached, renamed_reached);
    assert_eq!(diesel_named.len(), renamed_named.len(), "{peer}");
    assert!(
        diesel_named
            .iter()
            .all(|f| f.ends_with("/up.sql") || f.ends_with("/down.sql")),
        "{peer}: {diesel_named:?}"
    );
    assert!(
        renamed_named.iter().all(|f| !f.contains('/')),
        "{peer}: {renamed_named:?}"
    );
}

/// A project of `(path under the migrations folder, text)`, with `settings` when given.
fn project(files: &[(String, &str)], settings: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (file, text) in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    if let Some(settings) = settings {
        std::fs::write(dir.path().join(SETTINGS_FILE), settings).unwrap();
    }
    dir
}

/// `set` applied on a fresh SQLite database, then reverted down to version 1: what sqlx said.
async fn up_then_down_to_1(set: &MigrationSet) -> Result<(), MigrationFailed> {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let pool = db.connect().await.unwrap();
    let result = async {
        pool.migrate_up(&set.migrator, i64::MAX).await?;
        pool.migrate_down(&set.migrator, 1).await
    }
    .await;
    pool.close().await;
    result
}

/// The message of a migration that failed.
fn refused<T>(result: Result<T, impl std::fmt::Display>) -> String {
    match result {
        Ok(_) => panic!("applied"),
        Err(e) => e.to_string(),
    }
}

/// A file with only comments, as diesel writes a down with nothing to undo, applies and reverts
/// as nothing on every backend (MySQL refuses such a script as "Query was empty"), and the set
/// names it.
#[apply(backends)]
#[tokio::test]
async fn a_file_without_a_statement_applies_as_nothing(backend: Backend) {
    let folder = match backend {
        Backend::Postgres => "postgresql",
        Backend::Sqlite | Backend::MySql => backend.name(),
    };
    let nothing = match backend {
        Backend::MySql => "# nothing to undo\n-- nor here\n",
        Backend::Sqlite | Backend::Postgres => "-- This file should undo anything in `up.sql`\n",
    };
    let dir = project(
        &[
            (
                format!("{folder}/2018-01-01-000000_tags/up.sql"),
                "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n",
            ),
            (
                format!("{folder}/2018-01-01-000000_tags/down.sql"),
                "DROP TABLE tags;\n",
            ),
            (
                format!("{folder}/2018-02-01-000000_add_index/up.sql"),
                "CREATE INDEX idx_tags_id ON tags (id);\n",
            ),
            (
                format!("{folder}/2018-02-01-000000_add_index/down.sql"),
                nothing,
            ),
            (
                format!("{folder}/2018-03-01-000000_nothing/up.sql"),
                "/* nothing */\n\n",
            ),
            (format!("{folder}/2018-03-01-000000_nothing/down.sql"), ""),
        ],
        None,
    );
    let set = MigrationSet::load(dir.path(), backend).await.unwrap();
    assert_eq!(
        set.empty_files(),
        [
            "2018-02-01-000000_add_index/down.sql",
            "2018-03-01-000000_nothing/down.sql",
            "2018-03-01-000000_nothing/up.sql"
        ]
    );
    let db = TestDatabase::create(backend).await.unwrap();
    let pool = db.connect().await.unwrap();
    pool.migrate_up(&set.migrator, i64::MAX).await.unwrap();
    let tables = |schema: didhub_harness::schema::Schema| {
        schema.tables.keys().cloned().collect::<Vec<String>>()
    };
    assert_eq!(tables(pool.introspect().await.unwrap()), ["tags"]);
    pool.migrate_down(&set.migrator, 20180101000000)
        .await
        .unwrap();
    pool.migrate_down(&set.migrator, 0).await.unwrap();
    assert!(tables(pool.introspect().await.unwrap()).is_empty());
    pool.close().await;
}

/// `[runner.sqlite] no_transaction` runs a version outside a transaction, as sqlx's
/// `-- no-transaction` would: SQLite refuses VACUUM inside one.
#[tokio::test]
async fn a_version_the_runner_runs_outside_a_transaction() {
    let files = [
        (
            "sqlite/0001_tags.up.sql".to_owned(),
            "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
        ),
        ("sqlite/0001_tags.down.sql".to_owned(), "DROP TABLE tags;"),
        ("sqlite/0002_vacuum.up.sql".to_owned(), "VACUUM;"),
        ("sqlite/0002_vacuum.down.sql".to_owned(), "VACUUM;"),
    ];
    let migrate = |settings: Option<&'static str>| {
        let files = files.clone();
        async move {
            let dir = project(&files, settings);
            let set = MigrationSet::load(dir.path(), Backend::Sqlite)
                .await
                .unwrap();
            let outside: Vec<(i64, bool)> =
                set.migrator.iter().map(|m| (m.version, m.no_tx)).collect();
            let result = up_then_down_to_1(&set).await;
            (outside, result)
        }
    };
    let (outside, result) = migrate(None).await;
    assert_eq!(outside, [(1, false), (1, false), (2, false), (2, false)]);
    let error = refused(result);
    assert!(
        error.contains("cannot VACUUM from within a transaction"),
        "{error}"
    );

    let (outside, result) = migrate(Some("[runner.sqlite]\nno_transaction = [\"2\"]\n")).await;
    assert_eq!(outside, [(1, false), (1, false), (2, true), (2, true)]);
    result.unwrap();
}

/// Diesel's `metadata.toml` with `run_in_transaction = false` runs its migration outside a
/// transaction: SQLite refuses VACUUM inside one.
#[tokio::test]
async fn diesels_metadata_can_take_a_migration_out_of_its_transaction() {
    let mut files = vec![
        (
            "sqlite/2018-01-01-000000_tags/up.sql".to_owned(),
            "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
        ),
        (
            "sqlite/2018-01-01-000000_tags/down.sql".to_owned(),
            "DROP TABLE tags;",
        ),
        (
            "sqlite/2018-02-01-000000_vacuum/up.sql".to_owned(),
            "VACUUM;",
        ),
        (
            "sqlite/2018-02-01-000000_vacuum/down.sql".to_owned(),
            "-- nothing",
        ),
    ];
    let outside = |files: &[(String, &str)]| {
        let dir = project(files, None);
        async move {
            let set = MigrationSet::load(dir.path(), Backend::Sqlite)
                .await
                .unwrap();
            let outside: Vec<bool> = set.migrator.iter().map(|m| m.no_tx).collect();
            let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
            let pool = db.connect().await.unwrap();
            let result = pool.migrate_up(&set.migrator, i64::MAX).await;
            pool.close().await;
            (outside, result)
        }
    };
    let (no_tx, result) = outside(&files).await;
    assert_eq!(no_tx, [false, false, false, false]);
    let error = refused(result);
    assert!(
        error.contains("cannot VACUUM from within a transaction"),
        "{error}"
    );

    files.push((
        "sqlite/2018-02-01-000000_vacuum/metadata.toml".to_owned(),
        "run_in_transaction = false\n",
    ));
    let (no_tx, result) = outside(&files).await;
    assert_eq!(no_tx, [false, false, true, true]);
    result.unwrap();
}

/// `[runner.<backend>] session` runs on the migration's connection before each migration, up
/// or down: with SQLite's `PRAGMA defer_foreign_keys = ON`, a migration may insert a row before
/// the row it refers to.
#[tokio::test]
async fn the_runners_session_runs_before_each_migration() {
    let files = [
        (
            "sqlite/0001_tables.up.sql".to_owned(),
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n\
             CREATE TABLE child (parent_id INTEGER NOT NULL REFERENCES parent (id));",
        ),
        (
            "sqlite/0001_tables.down.sql".to_owned(),
            "DROP TABLE child;\nDROP TABLE parent;",
        ),
        (
            "sqlite/0002_rows.up.sql".to_owned(),
            "INSERT INTO child (parent_id) VALUES (1);\nINSERT INTO parent (id) VALUES (1);",
        ),
        (
            "sqlite/0002_rows.down.sql".to_owned(),
            "DELETE FROM parent;\nDELETE FROM child;",
        ),
    ];
    let migrate = |settings: Option<&'static str>| {
        let files = files.clone();
        async move {
            let dir = project(&files, settings);
            let set = MigrationSet::load(dir.path(), Backend::Sqlite)
                .await
                .unwrap();
            let session = set.session().to_vec();
            let result = up_then_down_to_1(&set).await;
            (session, result)
        }
    };
    let (session, result) = migrate(None).await;
    assert!(session.is_empty());
    let error = refused(result);
    assert!(error.contains("FOREIGN KEY constraint failed"), "{error}");

    let settings = "[runner.sqlite]\nsession = [\"PRAGMA defer_foreign_keys = ON\"]\n";
    let (session, result) = migrate(Some(settings)).await;
    assert_eq!(session, ["PRAGMA defer_foreign_keys = ON"]);
    result.unwrap();
}

/// Refinery's `V<version>__<name>.sql`: up-only migrations, applied in order.
#[tokio::test]
async fn refinerys_files_are_up_only_migrations() {
    let dir = project(
        &[
            (
                "sqlite/V1__tags.sql".to_owned(),
                "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
            ),
            (
                "sqlite/V2__tag_names.sql".to_owned(),
                "ALTER TABLE tags ADD COLUMN name TEXT;",
            ),
        ],
        None,
    );
    let set = MigrationSet::load(dir.path(), Backend::Sqlite)
        .await
        .unwrap();
    assert_eq!(set.versions(), [1, 2]);
    assert!(set.is_up_only(1) && set.is_up_only(2));
    assert!(!set.can_revert(2));
    assert_eq!(set.up_file(2), "V2__tag_names.sql");
    let stairs = staircase::walk(&set, Default::default()).await.unwrap();
    let (newest, schema) = stairs.steps.last().unwrap();
    assert_eq!(*newest, 2);
    assert_eq!(schema.tables["tags"].columns.len(), 2);
}

/// sqlx never reverts an up-only version, nor a version 0 (diesel's initial setup): `undo`
/// reverts the versions above its target, and there is none below 0.
#[tokio::test]
async fn what_sqlx_cannot_revert_is_told() {
    let (copy, _) = upstream_copy("plume");
    let plume = MigrationSet::load(&copy.path().join("migrations"), Backend::Postgres)
        .await
        .unwrap();
    assert_eq!(plume.versions()[..2], [0, 20180422093322]);
    assert_eq!(
        plume.up_file(0),
        "00000000000000_diesel_initial_setup/up.sql"
    );
    assert!(!plume.is_up_only(0));
    assert!(!plume.can_revert(0));
    assert!(plume.can_revert(20180422093322));
    assert!(!plume.can_revert(1), "no such version");

    let atuin = MigrationSet::load(&peers().join("atuin/corpus"), Backend::Postgres)
        .await
        .unwrap();
    assert_eq!(atuin.versions().len(), 20);
    assert!(atuin.versions().iter().all(|v| !atuin.can_revert(*v)));
}

/// vaultwarden runs its MySQL migrations with foreign key checks off; with that in its settings
/// (`[runner.mysql] session`) its first MySQL file applies, which it does not without.
#[cfg(feature = "containers")]
#[tokio::test]
async fn vaultwardens_mysql_migrations_run_as_its_runner_runs_them() {
    let (copy, _) = upstream_copy("vaultwarden");
    let root = copy.path().join("migrations");
    let first = |set: &MigrationSet| set.versions()[0];
    let apply_first = |set: MigrationSet| async move {
        let db = TestDatabase::create(Backend::MySql).await.unwrap();
        let pool = db.connect().await.unwrap();
        let result = pool.migrate_up(&set.migrator, first(&set)).await;
        let tables = pool.introspect().await.unwrap().tables.len();
        pool.close().await;
        (result, tables)
    };
    let plain = MigrationSet::load(&root, Backend::MySql).await.unwrap();
    assert_eq!(first(&plain), 20180114171611);
    let (result, _) = apply_first(plain).await;
    // `ciphers` refers to `folders`, which the file creates after it.
    let error = refused(result);
    assert!(
        error.contains("`ciphers`") && error.to_lowercase().contains("foreign key"),
        "{error}"
    );

    std::fs::write(
        root.join(SETTINGS_FILE),
        "[runner.mysql]\nsession = [\"SET FOREIGN_KEY_CHECKS = 0\"]\n",
    )
    .unwrap();
    let set = MigrationSet::load(&root, Backend::MySql).await.unwrap();
    assert_eq!(set.session(), ["SET FOREIGN_KEY_CHECKS = 0"]);
    let (result, tables) = apply_first(set).await;
    result.unwrap();
    assert!(tables > 1, "{tables} tables");
}
