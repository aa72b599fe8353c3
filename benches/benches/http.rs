//! The HTTP path end to end, per backend: the reference server in process on a real socket, a
//! real HTTP client (reqwest, keep-alive), for `GET /api/alters/{id}` and the paged list
//! `GET /api/alters?system_id=…&limit=50`. The same reads made straight through the store sit
//! beside them in the group, so the server's overhead (HTTP, JSON, authentication) is the
//! difference. Then the throughput of `GET /api/alters/{id}` with 32 requests in flight against
//! its anchor, a bare poem route answering the same document (`bench-report` prints the ratio).
//!
//! `just bench` (or `cargo bench -p didhub-benches --features containers --bench http`);
//! backends and the data size (the first of the sizes): see `didhub_benches::settings`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use didhub_benches::{Settings, anchors, load, serve};
use didhub_server::auth::{Passwords, Tokens};
use didhub_server::config::PasswordCost;
use didhub_server::state::AppState;
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
            callers: Default::default(),
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

        // Throughput with requests in flight, as wrk measures it: the API's point read against a
        // bare poem route answering the same document in the same process.
        let document: serde_json::Value = rt
            .block_on(async {
                client
                    .get(&by_id)
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .json()
                    .await
            })
            .expect("the alter's document");
        let bare = rt.block_on(anchors::bare(document));
        let mut group = c.benchmark_group(format!("{backend}/http, {IN_FLIGHT} in flight"));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(4));
        for (name, url) in [
            ("GET /api/alters/{id}", &by_id),
            ("anchor: bare poem JSON", &bare),
        ] {
            group.bench_function(name, |b| {
                b.iter_custom(|n| rt.block_on(in_flight(&client, url, &token, n)))
            });
        }
        group.finish();
    }
}

/// Requests kept in flight by [`in_flight`].
const IN_FLIGHT: usize = 32;

/// `n` GETs of `url` made by [`IN_FLIGHT`] clients at once, each sending its next request as
/// soon as the last is answered; how long they all took.
async fn in_flight(client: &reqwest::Client, url: &str, token: &str, n: u64) -> Duration {
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (client, url, token, sent) = (
            client.clone(),
            url.to_owned(),
            token.to_owned(),
            sent.clone(),
        );
        clients.spawn(async move {
            while sent.fetch_add(1, Ordering::Relaxed) < n {
                get(&client, &url, &token).await;
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("a client panicked");
    }
    started.elapsed()
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
