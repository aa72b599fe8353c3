//! What a test pays for a database of its own, per backend: a fresh database with DIDHub's
//! migrations applied, as `TestDatabase::migrated` makes it from a template migrated once per
//! process (PostgreSQL `CREATE DATABASE … TEMPLATE`, a SQLite file copy, MySQL's tables replayed
//! from `SHOW CREATE TABLE`), next to its anchor in the same run: an empty database migrated
//! from scratch, which is what the template saves. The databases are dropped after each
//! iteration, outside the timing.
//!
//! `just bench all 1000 databases`; backends from `DIDHUB_BENCH_DB` (see
//! `didhub_benches::settings`).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use didhub_benches::Settings;
use didhub_harness::TestDatabase;
use didhub_migrations::Backend;
use tokio::runtime::Runtime;

fn fresh_databases(c: &mut Criterion) {
    let settings = Settings::from_env().expect("benchmark settings");
    let rt = Runtime::new().expect("tokio runtime");
    for &backend in &settings.backends {
        let kind = backend;
        // The template, and the server, are made before the clock starts.
        let first = rt
            .block_on(TestDatabase::migrated(kind, "didhub", backend.migrator()))
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        rt.block_on(first.discard()).expect("drop");

        let mut group = c.benchmark_group(format!("{backend}/fresh migrated database"));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(5));
        group.bench_function("copy of the template", |b| {
            b.to_async(&rt).iter_custom(|n| {
                timed(n, || {
                    TestDatabase::migrated(kind, "didhub", backend.migrator())
                })
            })
        });
        group.bench_function("migrated from empty (anchor)", |b| {
            b.to_async(&rt)
                .iter_custom(|n| timed(n, || migrated_from_empty(kind, backend)))
        });
        group.finish();
    }
}

/// The total time of `n` databases made by `make`, each dropped after its clock stops.
async fn timed<F, Fut>(n: u64, make: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<TestDatabase, didhub_harness::HarnessError>>,
{
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let started = Instant::now();
        let db = make().await.unwrap_or_else(|e| panic!("{e}"));
        total += started.elapsed();
        db.discard().await.expect("drop");
    }
    total
}

async fn migrated_from_empty(
    kind: Backend,
    backend: Backend,
) -> Result<TestDatabase, didhub_harness::HarnessError> {
    let db = TestDatabase::create(kind).await?;
    let pool = db.connect().await?;
    let migrated = pool.migrate_up(backend.migrator(), i64::MAX).await;
    pool.close().await;
    migrated.map_err(|e| didhub_harness::HarnessError::Start {
        backend: kind,
        reason: format!("migrating: {e}"),
    })?;
    Ok(db)
}

criterion_group!(benches, fresh_databases);
criterion_main!(benches);
