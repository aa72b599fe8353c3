//! 64 concurrent writers through the HTTP API on each backend: no error (SQLite's "database is
//! locked" among them) and no acknowledged write lost. `DIDHUB_LOAD_SECONDS` sets how long they
//! write (default 10 s; `just load` runs 30 s and prints the figures).

use didhub_harness::backends;
use rstest_reuse::apply;
use std::time::Duration;

use didhub_benches::writers::{Options, run};
use didhub_migrations::Backend;

fn options(backend: Backend) -> Options {
    let seconds = std::env::var("DIDHUB_LOAD_SECONDS")
        .ok()
        .map(|s| s.parse().expect("DIDHUB_LOAD_SECONDS: a number of seconds"))
        .unwrap_or(10);
    Options {
        writers: 64,
        duration: Duration::from_secs(seconds),
        // `just load` prints SQLite's figure against SQLite alone: the anchor runs here too,
        // so that it cannot rot.
        anchor: backend == Backend::Sqlite,
        through_pgbouncer: false,
    }
}

/// The backends' loads run at once, as the test runner schedules them: here the figures are
/// only printed, the assertions are that nothing fails and nothing is lost, and sharing the
/// cores makes the load harder, not easier (`just load` runs one backend at a time and measures).
#[apply(backends)]
#[tokio::test(flavor = "multi_thread")]
async fn writers_lose_nothing(backend: Backend) {
    let report = run(backend, options(backend))
        .await
        .unwrap_or_else(|e| panic!("{backend}: {e:#}"));
    eprint!("{}", report.render());
    assert!(report.acknowledged > 0, "{backend}: nothing was written");
    assert_eq!(report.error_count(), 0, "{backend}: {}", report.render());
    assert!(report.lost.is_empty(), "{backend}: {}", report.render());
    if backend == Backend::Sqlite {
        let anchor = report.anchor.expect("the SQLite anchor ran");
        assert!(
            anchor.transactions > 0,
            "{backend}: the anchor wrote nothing"
        );
    }
}
