//! The backend matrix of the workspace's tests, as an rstest template (feature `rstest`).

use rstest_reuse::template;

/// The backends a test runs on, one test each: `#[apply(backends)]` on
/// `async fn name(backend: Backend)` (with the test attribute it needs, `#[tokio::test]`) makes
/// `name::case_1_sqlite`, `name::case_2_postgres` and `name::case_3_mysql`. PostgreSQL and MySQL
/// come with the `containers` feature (`just test-all-dbs`), which the server's and the benches'
/// `containers` features turn on here. `#[rstest]` is named at the test's crate, which brings it
/// in for every module with `#[macro_use] extern crate rstest;`.
#[template]
#[export]
#[rstest]
#[case::sqlite(::didhub_migrations::Backend::Sqlite)]
#[cfg_attr(
    feature = "containers",
    case::postgres(::didhub_migrations::Backend::Postgres)
)]
#[cfg_attr(
    feature = "containers",
    case::mysql(::didhub_migrations::Backend::MySql)
)]
pub fn backends(#[case] backend: Backend) {}

/// The backends that run as servers, PostgreSQL and MySQL, for tests of what only a server does
/// (an outage, a deadlock, a dropped connection): `#[apply(servers)]`, in a module behind the
/// `containers` feature.
#[template]
#[export]
#[rstest]
#[case::postgres(::didhub_migrations::Backend::Postgres)]
#[case::mysql(::didhub_migrations::Backend::MySql)]
pub fn servers(#[case] backend: Backend) {}
