//! schemathesis, every check, against the reference server on each backend, as an administrator
//! and as a user: no failure, so the served document is what the server does.
//! `DIDHUB_FUZZ_EXAMPLES` bounds the test cases per operation and phase (default 10; `just fuzz`
//! runs 100). Needs schemathesis at `didhub_benches::fuzz::SCHEMATHESIS_VERSION`
//! (`just fuzz-tools`); without it the test fails.

use didhub_benches::fuzz::run;
use didhub_harness::backends;
use didhub_migrations::Backend;
use rstest_reuse::apply;

#[apply(backends)]
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing(backend: Backend) {
    let examples = std::env::var("DIDHUB_FUZZ_EXAMPLES")
        .ok()
        .map(|s| s.parse().expect("DIDHUB_FUZZ_EXAMPLES: a number"))
        .unwrap_or(10);
    let passes = run(backend, examples)
        .await
        .unwrap_or_else(|e| panic!("{backend}: {e:#}"));
    assert_eq!(passes.len(), 3, "{backend}: every pass ran");
    for pass in passes {
        assert!(
            pass.success,
            "{backend}, {}: schemathesis failed\n{}",
            pass.name, pass.summary
        );
        assert!(
            pass.summary.contains(" passed"),
            "{backend}, {}: nothing was tested\n{}",
            pass.name,
            pass.summary
        );
    }
}
