//! The DIDHub reference server: the documented HTTP API (README, "API") over the DIDHub schema,
//! on SQLite, PostgreSQL or MySQL.
//!
//! - [`config`]: typed configuration (file, then environment), validated before anything starts.
//! - [`db`]: one native sqlx pool per backend behind a single statement API; queries are written
//!   once and dispatched per dialect.
//! - [`store`]: the queries, one module per table.
//! - [`settings`]: the registry of instance settings (key, type, default, validation).
//! - [`fields`]: the rules for stored text the schema cannot state (not blank, interests).
//! - [`accounts`]: the username and password rules and the one way an account is made (the
//!   bootstrap admin's too); [`auth`]: password hashes and tokens; [`callers`]: the accounts
//!   behind tokens, remembered for a moment.
//! - [`state`]: what every handler reaches ([`AppState`]); [`audited`]: the one way a request
//!   changes data, the change and its audit entry in one transaction (`AppState::audited`, via
//!   [`db::Db::write`]).
//! - [`api`]: the poem-openapi handlers and what they share; [`app`] builds the whole HTTP
//!   application, which tests drive in process with poem's `TestClient`.
//! - [`rate_limit`]: in-process limits on password guessing, reset requests and registrations.
//! - [`listener`]: the connection cap, header, idle and write timeouts, and surviving EMFILE;
//!   [`http`]: each connection served by hyper, and the shutdown.
//! - [`refusals`]: refused requests counted in memory and audited once per window;
//!   [`upkeep`]: the periodic task that writes their summaries and purges old audit entries.
//! - [`error`]: the one mapping from failures to HTTP statuses and `{error, code}` bodies.
//! - [`data`]: the data as a whole — every table in dependency order, content digests — and
//!   `db copy` between backends.
//! - [`seed`]: the bootstrap admin and the demo data; [`generate`]: bulk data for plans and
//!   benchmarks.
//!
//! The binaries only read configuration and call [`Application`] or [`seed::run`].

pub mod accounts;
pub mod api;
pub mod audited;
pub mod auth;
pub mod callers;
pub mod config;
pub mod data;
pub mod db;
pub mod error;
pub mod fields;
pub mod generate;
pub mod http;
pub mod listener;
pub mod progress;
pub mod rate_limit;
pub mod refusals;
pub mod seed;
pub mod settings;
pub mod state;
pub mod store;
pub mod upkeep;

use std::net::SocketAddr;

use poem::EndpointExt;
use poem::listener::{Acceptor, Listener, TcpListener};

pub use api::app;
use auth::{Passwords, Tokens};
use config::{Config, ServerLimits};
use db::Db;
use listener::GuardedAcceptor;
pub use state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Connect(#[from] db::ConnectError),
    #[error(transparent)]
    Migrate(#[from] db::MigrateError),
    #[error("cannot create the bootstrap admin: {0}")]
    Bootstrap(String),
    #[error("{0}")]
    PasswordHash(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// Connects, applies pending migrations and makes sure the bootstrap admin exists.
pub async fn prepare(config: &Config) -> Result<AppState, StartupError> {
    let db = Db::connect(&config.database).await?;
    tracing::info!(backend = %db.backend(), "connected to the database");
    db.migrate().await?;
    tracing::info!(
        schema_version = db.schema_version().await.unwrap_or(-1),
        "schema is up to date"
    );
    let secret = match &config.secret {
        Some(secret) => secret.expose().as_bytes().to_vec(),
        None => {
            tracing::warn!(
                "no DIDHUB_SECRET set: using a random one, so tokens end with the process"
            );
            Tokens::random_secret()
        }
    };
    if config.password_hash.is_below_production() {
        tracing::warn!(
            cost = ?config.password_hash,
            "password_hash is below Argon2's production cost: fit for tests, not for real passwords"
        );
    }
    let state = AppState {
        db,
        tokens: Tokens::new(&secret, config.token_ttl).with_max_session(config.max_session),
        passwords: Passwords::bounded(
            config.password_hash,
            config.server.max_concurrent_hashes,
            config.server.hash_wait,
        )
        .map_err(StartupError::PasswordHash)?,
        limits: std::sync::Arc::new(rate_limit::RateLimits::new(
            &config.rate_limit,
            std::sync::Arc::new(rate_limit::SystemClock),
        )),
        refusals: std::sync::Arc::new(refusals::Refusals::new(
            config.audit.refusal_window,
            std::sync::Arc::new(rate_limit::SystemClock),
        )),
        callers: Default::default(),
    };
    if let Some(admin) = &config.bootstrap_admin {
        accounts::ensure_admin(&state, admin)
            .await
            .map_err(|e| StartupError::Bootstrap(e.message))?;
    }
    Ok(state)
}

/// A prepared server bound to its port, not yet serving.
pub struct Application {
    state: AppState,
    audit: config::AuditConfig,
    acceptor: GuardedAcceptor,
    addr: SocketAddr,
    limits: ServerLimits,
}

impl Application {
    /// Prepares the database and binds `host:port` (port 0 picks a free one).
    pub async fn build(config: &Config) -> Result<Application, StartupError> {
        let state = prepare(config).await?;
        let addr = format!("{}:{}", config.host, config.port);
        let acceptor = TcpListener::bind(addr.clone())
            .into_acceptor()
            .await
            .map_err(|source| StartupError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| StartupError::Bind {
                addr,
                source: std::io::Error::other("no local address"),
            })?;
        Ok(Application {
            state,
            acceptor: GuardedAcceptor::new(acceptor, &config.server),
            audit: config.audit.clone(),
            addr,
            limits: config.server.clone(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C (or SIGTERM), then lets requests in flight finish. The audit upkeep
    /// ([`upkeep::run`]) runs alongside; at shutdown the refusal windows still open are written
    /// before the database closes.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// [`Application::run_until_stopped`], stopping when `stop` completes instead of on a signal.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        tracing::info!(
            "DIDHub listening on http://{} (API docs at /api/docs)",
            self.addr
        );
        let state = self.state.clone();
        let body_timeout = api::BodyTimeout(self.limits.body_timeout);
        let upkeep = tokio::spawn(upkeep::run(
            self.state.db.clone(),
            self.state.refusals.clone(),
            self.audit,
        ));
        let options = http::Options {
            http2_max_streams: u32::try_from(self.limits.http2_max_streams).unwrap_or(u32::MAX),
            grace: std::time::Duration::from_secs(10),
            trusted_proxies: self.limits.trusted_proxies.clone().into(),
            client_header: self.limits.client_header,
        };
        http::serve(
            self.acceptor,
            app(self.state).data(body_timeout),
            options,
            stop,
        )
        .await;
        upkeep.abort();
        let _ = upkeep.await;
        state.refusals.write_all(&state.db).await;
        state.db.close().await;
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

/// The log filter when `RUST_LOG` is not set: info for the server, warnings from sqlx, and
/// nothing from `didhub_server::mail`, where password-reset tokens go: a log is read by more
/// people than a mailbox. A deployment that delivers tokens from the log turns it on
/// (`RUST_LOG=info,didhub_server::mail=info`).
pub const DEFAULT_LOG_FILTER: &str =
    "info,didhub=info,didhub_server=info,didhub_server::mail=off,sqlx=warn";

/// Logging: `RUST_LOG` when set (`RUST_LOG=sqlx=debug,didhub=debug` shows every statement),
/// otherwise [`DEFAULT_LOG_FILTER`].
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
