//! `just load postgres-replicated` kept from rotting: one short round of each pair and the
//! failover, which must answer every read and write but the failover's (503) and lose nothing.
//! The figures themselves are `just load postgres-replicated`'s, not asserted here.

#![cfg(feature = "containers")]

use std::time::Duration;

use didhub_benches::replicated;

#[tokio::test(flavor = "multi_thread")]
async fn the_replicated_load_runs_and_loses_nothing() {
    let seconds = Duration::from_secs(2);
    let reads = replicated::reads(1, 4, seconds).await.unwrap();
    let writes = replicated::writes(1, 8, seconds).await.unwrap();
    for (pair, what) in [(&reads, "reads"), (&writes, "writes")] {
        for figure in pair.anchor.iter().chain(&pair.variant) {
            assert_eq!(figure.errors, 0, "{what}: {figure:?}");
            assert!(figure.per_second > 0.0, "{what}: {figure:?}");
        }
    }
    let failover = replicated::failover(8, Duration::from_secs(6))
        .await
        .unwrap();
    assert!(failover.lost.is_empty(), "{}", failover.render());
    assert!(failover.acknowledged > 0, "{}", failover.render());
    assert!(
        failover.errors.keys().all(|e| e.starts_with("503")),
        "only the failover's 503s: {}",
        failover.render()
    );
}
