//! The HTTP path end to end, per backend: the reference server in process on a real socket, a
//! real HTTP client (reqwest, keep-alive), for `GET /api/alters/{id}` and the paged list
//! `GET /api/alters?system_id=…&limit=50`. The same reads made straight through the store sit
//! beside them in the group, so the server's overhead (HTTP, JSON, authentication) is the
//! difference.
//!
//! `just bench` (or `cargo bench -p didhub-benches --features containers --bench http`);
//! backends and the data size (the first of the sizes): see `didhub_benches::settings`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use didhub_benches::{Settings, load, serve};
use didhub_server::api::AppState;
use didhub_server::auth::{PasswordCost, Passwords, Tokens};
use didhub_server::store::Window;
use didhub_server::store::alters::{self, AlterFilter};
use tokio::runtime::Runtime;

/// The pool size the server runs with here.
const POOL_SIZE: u32 = 8;

fn http(c: &mut Criterion) {
    let settings = Settings::from_env().expect("benchmark settings");
    let rt = Runtime::new().expect("tokio runtime");
    let size = settings.sizes[0];
    for &backend in &settings.backends {
        let loaded = rt
            .block_on(load(backend, size))
            .unwrap_or_else(|e| panic!("{backend}: loading {size} alters: {e:#}"));
        let sample = loaded.data.sample.clone();
        let db = rt.block_on(loaded.pool(POOL_SIZE)).expect("pool");
        let tokens = Tokens::new(
            b"benchmark secret, not for production",
            Duration::from_secs(3600),
        );
        let hash = rt
            .block_on(didhub_server::store::users::credentials(&db, sample.user))
            .expect("credentials")
            .expect("the sample user exists")
            .password_hash;
        let token = tokens.issue(sample.user, &hash).expect("token");
        let state = AppState {
            db: db.clone(),
            tokens,
            passwords: Passwords::new(PasswordCost::PRODUCTION).expect("production cost"),
            limits: Default::default(),
            refusals: Default::default(),
        };
        let base = rt.block_on(serve(state));
        let client = reqwest::Client::new();
        let by_id = format!("{base}/api/alters/{}", sample.alter);
        let paged = format!("{base}/api/alters?system_id={}&limit=50", sample.system);
        // Both must answer 200 with the data, or the timings mean nothing.
        for url in [&by_id, &paged] {
            let status = rt
                .block_on(client.get(url).bearer_auth(&token).send())
                .expect("request")
                .status();
            assert_eq!(status, 200, "{backend}: GET {url}");
        }

        let filter = AlterFilter {
            system_id: Some(sample.system),
            ..AlterFilter::default()
        };
        let page = Window {
            limit: 50,
            offset: 0,
        };
        let mut group = c.benchmark_group(format!("{backend}/http"));
        group.sample_size(50);
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("alter by id, store", |b| {
            b.to_async(&rt)
                .iter(|| async { alters::get(&db, sample.alter).await.expect("alter") })
        });
        group.bench_function("alter by id, GET /api/alters/{id}", |b| {
            b.to_async(&rt).iter(|| get(&client, &by_id, &token))
        });
        group.bench_function("alters of a system, store", |b| {
            b.to_async(&rt)
                .iter(|| async { alters::list(&db, &filter, page).await.expect("list") })
        });
        group.bench_function("alters of a system, GET /api/alters", |b| {
            b.to_async(&rt).iter(|| get(&client, &paged, &token))
        });
        group.finish();
    }
}

/// One GET, its body read in full.
async fn get(client: &reqwest::Client, url: &str, token: &str) -> usize {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.bytes().await.expect("body").len()
}

criterion_group!(benches, http);
criterion_main!(benches);
