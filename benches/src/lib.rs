//! Query plans and benchmarks of DIDHub's hot queries on every backend: that each uses its
//! documented index, and what it costs against a floor measured in the same run.
//!
//! - [`anchors`]: the floors a benchmark is compared with in the same run (the bare driver,
//!   pgbench, a bare poem route).
//! - [`fuzz`]: schemathesis against the reference server, as an administrator and as a user
//!   (`just fuzz`).
//! - [`hot`]: the server's hot queries, built by its own store, each with the index documented
//!   for it.
//! - [`load`]: the shared set-up — a fresh migrated database on a backend (through the harness),
//!   generated data of a given size and fresh planner statistics; indexes can be dropped from it
//!   to measure what they are worth.
//! - [`plans`]: explains every hot query there and says whether its documented index is used;
//!   the plan tests assert it and `just plans` prints it.
//! - [`settings`]: which backends and data sizes a benchmark run covers.
//! - [`writers`]: many concurrent writers through the HTTP API, checked against the database
//!   afterwards (`just load`).
//!
//! The criterion benches themselves are in `benches/` (`just bench`).

pub mod anchors;
pub mod fuzz;
pub mod hot;
pub mod load;
pub mod plans;
pub mod replicated;
pub mod settings;
pub mod writers;

use std::collections::HashMap;

use didhub_server::config::Config;
use didhub_server::{AppState, app};
use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};

pub use load::{Loaded, load};
pub use plans::{PlanRow, plan_json, plan_table, render};
pub use settings::Settings;

/// The server's configuration over `database_url` as the tools here start it: a throwaway
/// signing secret, `admin` (with `password`) as the bootstrap administrator, 127.0.0.1 on a free
/// port, and the cheapest password hashing (their accounts are made before anything is
/// measured, and hashing is not what they test).
pub fn server_config(database_url: &str, admin: &str, password: &str) -> anyhow::Result<Config> {
    let env: HashMap<&str, String> = HashMap::from([
        ("DIDHUB_DB", database_url.to_owned()),
        (
            "DIDHUB_SECRET",
            "benches secret, not for production!!!".into(),
        ),
        ("DIDHUB_BOOTSTRAP_ADMIN_USERNAME", admin.to_owned()),
        ("DIDHUB_BOOTSTRAP_ADMIN_PASSWORD", password.to_owned()),
        ("HOST", "127.0.0.1".into()),
        ("PORT", "0".into()),
    ]);
    let mut config = Config::from_sources(None, |k| env.get(k).cloned())?;
    config.password_hash = didhub_server::config::PasswordCost::MINIMUM;
    Ok(config)
}

/// Serves the API over `state` on a free port of 127.0.0.1 (in a background task) and returns
/// its base URL.
pub async fn serve(state: AppState) -> String {
    serve_endpoint(app(state)).await
}

/// Serves `endpoint` on a free port of 127.0.0.1 (in a background task) and returns its base
/// URL.
pub async fn serve_endpoint(endpoint: impl poem::Endpoint + 'static) -> String {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .expect("local address");
    tokio::spawn(Server::new_with_acceptor(acceptor).run(endpoint));
    format!("http://{addr}")
}
