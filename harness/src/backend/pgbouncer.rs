//! pgbouncer in front of a PostgreSQL server the harness started: Debian's pgbouncer 1.18
//! (`didhub/pgbouncer:1.18-local`, `just images`) in a container of its own, reaching the server
//! at its address on Docker's bridge, so that an application's tests can run through the pooler
//! production puts in front of PostgreSQL.

use testcontainers::core::ContainerPort;
use tokio::sync::OnceCell;

use super::server::with_authority;
use super::{Backend, Pool, Server, server};
use crate::HarnessError;
use crate::images::{self, ImageChoice, Owner, ServerImage};

/// Debian's pgbouncer, built locally (there is no official image).
pub const IMAGE: ImageChoice = ImageChoice {
    official: ("didhub/pgbouncer", "1.18-local"),
    local: ("didhub/pgbouncer", "1.18-local"),
    variable: "DIDHUB_TEST_PGBOUNCER_IMAGE",
};

/// How pgbouncer hands server connections to clients (`pool_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    Session,
    Transaction,
}

impl PoolMode {
    fn name(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

/// A running pgbouncer.
#[derive(Debug, Clone)]
pub struct Bouncer {
    pub address: images::Address,
    pub mode: PoolMode,
    pub container: String,
}

impl Bouncer {
    /// `url` (a database on the server behind it) as reached through the pooler.
    pub fn url_for(&self, url: &str) -> String {
        with_authority(url, &format!("{}:{}", self.address.host, self.address.port))
    }
}

/// Starts pgbouncer in `mode` in front of `server` (a harness container), with `pool_size`
/// server connections per database and user, and waits until a connection through it works.
pub async fn start(
    server: &Server,
    mode: PoolMode,
    pool_size: u32,
) -> Result<Bouncer, HarnessError> {
    let kind = Backend::Postgres;
    let container = server
        .container
        .as_deref()
        .ok_or_else(|| HarnessError::Start {
            backend: kind,
            reason: format!(
                "pgbouncer needs a harness container; the server is {}",
                server.origin
            ),
        })?;
    let upstream = images::container_ip(kind, container).await?;
    let (name, tag) = IMAGE.resolve(kind)?;
    let image = ServerImage {
        name,
        tag,
        env: vec![
            ("PGBOUNCER_HOST".into(), upstream),
            ("PGBOUNCER_USER".into(), "postgres".into()),
            (
                "PGBOUNCER_PASSWORD".into(),
                super::postgres::PASSWORD.into(),
            ),
            // The test server trusts its clients; so does the pooler in front of it.
            ("PGBOUNCER_AUTH_TYPE".into(), "trust".into()),
            ("PGBOUNCER_POOL_MODE".into(), mode.name().into()),
            ("PGBOUNCER_POOL_SIZE".into(), pool_size.to_string()),
            // Each test has a database of its own, and pgbouncer a pool per database: kept for
            // the default ten minutes, the idle pools of finished tests would take every
            // connection the server allows.
            ("PGBOUNCER_SERVER_IDLE_TIMEOUT".into(), "1".into()),
        ],
        data: Vec::new(),
        scratch: Vec::new(),
        cmd: Vec::new(),
        ports: vec![ContainerPort::Tcp(6432)],
    };
    let (address, container) = images::start(kind, image, &IMAGE, None, Owner::Process).await?;
    let bouncer = Bouncer {
        address,
        mode,
        container,
    };
    let url = bouncer.url_for(&server.admin_url);
    let pool = images::retry(std::time::Duration::from_secs(60), || {
        Pool::connect(kind, &url)
    })
    .await
    .map_err(|e| HarnessError::Start {
        backend: kind,
        reason: format!("no connection through pgbouncer at {url}: {e}"),
    })?;
    pool.close().await;
    Ok(bouncer)
}

/// pgbouncer in transaction pooling in front of the shared PostgreSQL server, started on first
/// use and kept for the process.
pub async fn shared() -> Result<&'static Bouncer, HarnessError> {
    static SHARED: OnceCell<Bouncer> = OnceCell::const_new();
    SHARED
        .get_or_try_init(|| async {
            let server = server(Backend::Postgres).await?;
            start(server, PoolMode::Transaction, 20).await
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_sent_through_the_pooler_with_its_credentials_database_and_parameters() {
        let bouncer = Bouncer {
            address: images::Address {
                host: "172.17.0.9".into(),
                port: 6432,
            },
            mode: PoolMode::Transaction,
            container: String::new(),
        };
        assert_eq!(
            bouncer.url_for("postgres://postgres:harness@172.17.0.2:5432/h1_0?sslmode=disable"),
            "postgres://postgres:harness@172.17.0.9:6432/h1_0?sslmode=disable"
        );
        assert_eq!(
            bouncer.url_for("postgres://127.0.0.1:5432"),
            "postgres://172.17.0.9:6432"
        );
    }
}
