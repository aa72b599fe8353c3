//! The server's hot queries on generated data, per backend and data size, with their documented
//! index and again without it (dropped from the loaded database), so the ratio is visible.
//! Rows are fetched, not decoded: this times the database, not the server's types.
//!
//! `just bench` (or `cargo bench -p didhub-benches --features containers --bench queries`);
//! backends and sizes: see `didhub_benches::settings`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use didhub_benches::anchors::{self, Driver};
use didhub_benches::hot::hot_queries;
use didhub_benches::plans::audit_day;
use didhub_benches::{Loaded, Settings, load};
use didhub_migrations::Backend;
use didhub_server::config::PoolConfig;
use didhub_server::store::alters;
use tokio::runtime::Runtime;

fn queries(c: &mut Criterion) {
    let settings = Settings::from_env().expect("benchmark settings");
    let rt = Runtime::new().expect("tokio runtime");
    for &backend in &settings.backends {
        for &size in &settings.sizes {
            let mut loaded = rt
                .block_on(load(backend, size))
                .unwrap_or_else(|e| panic!("{backend}: loading {size} alters: {e:#}"));
            eprintln!(
                "{backend}: {} rows generated in {:.1} s ({:.0} rows/s)",
                loaded.data.rows(),
                loaded.data.elapsed.as_secs_f64(),
                loaded.data.rows_per_second()
            );
            time_hot_queries(c, &rt, &loaded, size, "indexed");
            time_anchors(c, &rt, &loaded, size);

            let secondary: Vec<(&str, String)> =
                hot_queries(backend, &loaded.data.sample, audit_day())
                    .into_iter()
                    .filter(|q| !q.primary_key)
                    .map(|q| (q.table, q.index))
                    .collect();
            let secondary: Vec<(&str, &str)> =
                secondary.iter().map(|(t, i)| (*t, i.as_str())).collect();
            rt.block_on(loaded.drop_indexes(&secondary))
                .unwrap_or_else(|e| panic!("{backend}: dropping the indexes: {e:#}"));
            time_hot_queries(c, &rt, &loaded, size, "unindexed");
        }
    }
}

/// One benchmark per hot query, named `<backend>/<query>` and identified `<variant>/<size>`.
/// Without its index, only queries whose index is not the primary key are timed.
fn time_hot_queries(c: &mut Criterion, rt: &Runtime, loaded: &Loaded, size: usize, variant: &str) {
    let unindexed = variant == "unindexed";
    for query in hot_queries(loaded.backend, &loaded.data.sample, audit_day()) {
        if unindexed && query.primary_key {
            continue;
        }
        let mut group = c.benchmark_group(format!("{}/{}", loaded.backend, query.name));
        if unindexed {
            // Full scans of a large table take long enough that fewer samples say as much.
            group.sampling_mode(SamplingMode::Flat).sample_size(10);
        } else {
            group.sample_size(30);
        }
        group.measurement_time(Duration::from_secs(2));
        group.warm_up_time(Duration::from_millis(500));
        group.bench_with_input(BenchmarkId::new(variant, size), &query.stmt, |b, stmt| {
            b.iter_custom(|n| {
                rt.block_on(anchors::time_statements(&loaded.db, stmt, n))
                    .expect("hot query")
            })
        });
        group.finish();
    }
}

/// Next to the point lookup (`alter by id`, indexed, on the loading pool's one connection), the
/// lookup on a pool of the server's size (10, the default `max_connections`), the same statement
/// on one connection of the bare driver and, on PostgreSQL, through pgbench on the same
/// container: `bench-report` prints the store's times as ratios of each anchor. Each loop runs in
/// a task on the runtime's workers ([`anchors::time_statements`]), as the server's requests do.
fn time_anchors(c: &mut Criterion, rt: &Runtime, loaded: &Loaded, size: usize) {
    let backend = loaded.backend;
    let lookup = alters::by_id(loaded.data.sample.alter);
    let sql = anchors::inline(
        &lookup.text(backend),
        &[format!("'{}'", loaded.data.sample.alter)],
    )
    .expect("the point lookup has one argument");
    let mut driver = Some(
        rt.block_on(Driver::connect(backend, loaded.url()))
            .expect("bare driver"),
    );
    let server_pool = rt
        .block_on(loaded.pool(PoolConfig::default().max_connections))
        .expect("a pool of the server's size");
    let mut group = c.benchmark_group(format!("{backend}/alter by id"));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.bench_with_input(
        BenchmarkId::new("server pool", size),
        &alters::by_id(loaded.data.sample.alter),
        |b, stmt| {
            b.iter_custom(|n| {
                rt.block_on(anchors::time_statements(&server_pool, stmt, n))
                    .expect("point lookup")
            })
        },
    );
    group.bench_function(BenchmarkId::new("anchor: bare driver", size), |b| {
        b.iter_custom(|n| {
            // The connection goes into the timed task and comes back with its time.
            let conn = driver.take().expect("the bare driver's connection");
            let (conn, elapsed) = rt
                .block_on(conn.time_lookups(&sql, n))
                .expect("point lookup");
            driver = Some(conn);
            elapsed
        })
    });
    if backend == Backend::Postgres {
        let latency =
            anchors::pgbench(loaded.url(), &sql, Duration::from_secs(3)).expect("pgbench");
        // Measured once, over 3 s. Criterion sizes its samples by the wall time they take, so
        // each sample sleeps for pgbench's latency times its iterations and reports the time
        // the sleep took: that, not a constant, because criterion's comparison with the last
        // run fails on samples without any spread (the sleep's overshoot is well under 1 %).
        group.bench_function(BenchmarkId::new("anchor: pgbench", size), |b| {
            b.iter_custom(|n| {
                let started = Instant::now();
                std::thread::sleep(latency.mul_f64(n as f64));
                started.elapsed()
            })
        });
    }
    group.finish();
    rt.block_on(server_pool.close());
}

criterion_group!(benches, queries);
criterion_main!(benches);
