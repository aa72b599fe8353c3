//! Connection pooling, per backend, on generated data: what acquiring and releasing a pooled
//! connection costs, and the throughput of a mixed workload — 64 concurrent tasks, each doing
//! three reads and one write transaction — at pool sizes 1, 2, 4, 8, 16 and 32.
//!
//! `just bench` (or `cargo bench -p didhub-benches --features containers --bench pool`);
//! backends and the data size (the first of the sizes): see `didhub_benches::settings`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use didhub_benches::{Settings, load};
use didhub_server::db::Db;
use didhub_server::generate::Sample;
use didhub_server::store::Window;
use didhub_server::store::alters::{self, AlterFilter};
use didhub_server::store::audit::{self, NewEntry};
use didhub_server::store::users;
use tokio::runtime::Runtime;

const POOL_SIZES: [u32; 6] = [1, 2, 4, 8, 16, 32];
const TASKS: usize = 64;
/// Per task: three reads, then one write transaction.
const OPS_PER_TASK: usize = 4;

fn pool(c: &mut Criterion) {
    let settings = Settings::from_env().expect("benchmark settings");
    let rt = Runtime::new().expect("tokio runtime");
    let size = settings.sizes[0];
    for &backend in &settings.backends {
        let loaded = rt
            .block_on(load(backend, size))
            .unwrap_or_else(|e| panic!("{backend}: loading {size} alters: {e:#}"));
        let sample = &loaded.data.sample;

        let mut acquire = c.benchmark_group(format!("{backend}/pool acquire and release"));
        let mut mixed = Vec::new();
        for pool_size in POOL_SIZES {
            let db = rt.block_on(loaded.pool(pool_size)).expect("pool");
            rt.block_on(warm(&db, pool_size));
            acquire.bench_with_input(BenchmarkId::from_parameter(pool_size), &db, |b, db| {
                b.to_async(&rt).iter(|| acquire_release(db))
            });
            mixed.push((pool_size, db));
        }
        acquire.finish();

        let mut group = c.benchmark_group(format!("{backend}/pool mixed workload, 64 tasks"));
        group.throughput(Throughput::Elements((TASKS * OPS_PER_TASK) as u64));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(4));
        for (pool_size, db) in &mixed {
            group.bench_with_input(BenchmarkId::from_parameter(pool_size), db, |b, db| {
                b.to_async(&rt).iter_custom(|iterations| async move {
                    let start = Instant::now();
                    for _ in 0..iterations {
                        mixed_round(db, sample).await;
                    }
                    start.elapsed()
                })
            });
        }
        group.finish();
        for (_, db) in mixed {
            rt.block_on(db.close());
        }
    }
}

/// Opens the pool's connections, so that the benchmarks time reuse, not connecting.
async fn warm(db: &Db, pool_size: u32) {
    let tasks: Vec<_> = (0..pool_size)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                users::get_by_username(&db, "nobody").await.expect("warm");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("warm task");
    }
}

/// Takes a connection from the pool and gives it back.
async fn acquire_release(db: &Db) {
    db.acquire_and_release().await.expect("acquire");
}

/// 64 tasks at once, each reading an alter, a page of a system's alters and a user, then
/// recording an audit entry in a write transaction.
async fn mixed_round(db: &Db, sample: &Sample) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let db = db.clone();
            let sample = sample.clone();
            tokio::spawn(async move {
                alters::get(&db, sample.alter).await.expect("read alter");
                let filter = AlterFilter {
                    system_id: Some(sample.system),
                    ..AlterFilter::default()
                };
                let page = Window {
                    limit: 50,
                    offset: 0,
                };
                alters::list(&db, &filter, page).await.expect("list");
                users::get_by_username(&db, &sample.username)
                    .await
                    .expect("read user");
                let mut tx = db.begin_write().await.expect("begin");
                audit::record(
                    &mut tx,
                    NewEntry {
                        user_id: Some(sample.user),
                        action: "alter.update",
                        entity_type: Some("alter"),
                        entity_id: Some(sample.alter.to_string()),
                        ip: None,
                        metadata: serde_json::json!({}),
                    },
                )
                .await
                .expect("write");
                tx.commit().await.expect("commit");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
}

criterion_group!(benches, pool);
criterion_main!(benches);
