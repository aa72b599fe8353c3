//! The servers test databases live on: a container per process or test session, started on
//! first use and shared ([`server`]); one of a test's own, to pause and stop ([`dedicated`]); or
//! a running server named by `DIDHUB_TEST_*_URL`.

use std::time::Duration;

use tokio::sync::OnceCell;

use super::{Backend, Pool, mysql, postgres};
use crate::HarnessError;
use crate::images::{self, ImageChoice, Owner, ServerImage};

/// A running server the harness can create databases on.
#[derive(Debug, Clone)]
pub struct Server {
    pub kind: Backend,
    /// Connects as an administrator to the server's default database.
    pub admin_url: String,
    /// What the server says it is (`PostgreSQL 15.18 …`, `10.11.18-MariaDB…`).
    pub version: String,
    /// Where it came from: a container image, or an external URL.
    pub origin: String,
    /// The container's id, when the harness started it.
    pub container: Option<String>,
}

impl Server {
    /// Runs a command inside the server's container (`docker exec -i`), feeding it `stdin`, and
    /// returns its standard output; a failure carries its standard error. Used to run the
    /// server's own tools (`pg_dump`, `mysqldump`, …), whose versions match the server.
    pub async fn exec(&self, command: &[&str], stdin: Vec<u8>) -> Result<Vec<u8>, HarnessError> {
        let container = self.container_id()?;
        let args = ["exec", "-i", container]
            .iter()
            .chain(command)
            .map(|s| s.to_string())
            .collect();
        images::docker(self.kind, args, stdin).await
    }

    fn container_id(&self) -> Result<&str, HarnessError> {
        self.container
            .as_deref()
            .ok_or_else(|| HarnessError::Start {
                backend: self.kind,
                reason: format!(
                    "the {} server comes from {}, not a harness container",
                    self.kind, self.origin
                ),
            })
    }
}

/// A container backend's server of one's own, for tests that pause, stop and restart it while
/// the shared server goes on serving every other test. Its data lives in the container rather
/// than on a tmpfs, and its host port is fixed, so a stop and start keeps both the data and the
/// URLs. It is removed when the process ends.
#[derive(Debug)]
pub struct Dedicated {
    pub server: Server,
}

/// Starts a [`Dedicated`] server (always a container: `DIDHUB_TEST_*_URL` does not apply).
pub async fn dedicated(kind: Backend) -> Result<Dedicated, HarnessError> {
    let spec = match kind {
        Backend::Sqlite => return Err(HarnessError::NoServer(kind)),
        Backend::Postgres => postgres::spec(),
        Backend::MySql => mysql::spec(),
    };
    let server = start_container(kind, spec, Placement::Dedicated).await?;
    Ok(Dedicated { server })
}

impl Dedicated {
    /// Freezes the server's processes: connections stay open and nothing answers.
    pub async fn pause(&self) -> Result<(), HarnessError> {
        // The cgroup freezer gives up ("unable to freeze") when a process appears while it
        // works (a `docker exec`, or the server forking a backend): try again.
        let mut attempts = 0;
        loop {
            match self.docker("pause").await {
                Err(HarnessError::Docker { reason, .. })
                    if reason.contains("unable to freeze") && attempts < 10 =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    pub async fn unpause(&self) -> Result<(), HarnessError> {
        self.docker("unpause").await
    }

    /// Kills the server (SIGKILL): nothing is closed cleanly, connections simply go dead.
    pub async fn kill(&self) -> Result<(), HarnessError> {
        self.docker("kill").await
    }

    /// A streaming replica of this PostgreSQL server (`pg_basebackup -R` by the local image,
    /// `POSTGRES_PRIMARY`), itself a server of its own to stop and kill, started with the
    /// server `settings` given (`-c recovery_min_apply_delay=2s`) and ready for reads.
    pub async fn replica(&self, settings: &[&str]) -> Result<Dedicated, HarnessError> {
        let kind = self.server.kind;
        let spec = match kind {
            Backend::Postgres => postgres::spec(),
            _ => {
                return Err(HarnessError::Start {
                    backend: kind,
                    reason: format!("streaming replicas are PostgreSQL's; this is {kind}"),
                });
            }
        };
        let (name, tag) = spec.choice.resolve(kind)?;
        if (name.as_str(), tag.as_str()) != spec.choice.local {
            return Err(HarnessError::Start {
                backend: kind,
                reason: format!(
                    "a replica needs the local image {}:{} (`just images`), which starts one \
                     with POSTGRES_PRIMARY; {name}:{tag} would be used",
                    spec.choice.local.0, spec.choice.local.1
                ),
            });
        }
        let primary = images::container_ip(kind, self.server.container_id()?).await?;
        let mut image = (spec.image)(name, tag);
        image.data.clear();
        image.env.push(("POSTGRES_PRIMARY".into(), primary));
        image.cmd = settings.iter().map(|s| s.to_string()).collect();
        let host_port = images::free_port(kind)?;
        let (address, container) =
            images::start(kind, image, spec.choice, Some(host_port), Owner::Process).await?;
        let origin = format!(
            "replica of {} at {}:{}",
            self.server.origin, address.host, address.port
        );
        let server = connect_server(
            kind,
            &spec,
            (spec.admin_url)(&address),
            origin,
            Some(container),
        )
        .await?;
        Ok(Dedicated { server })
    }

    /// `url` (a database on another server of the same kind: the primary) on this server.
    pub fn url_of(&self, url: &str) -> String {
        with_authority(url, authority(&self.server.admin_url))
    }

    /// Stops the server: open connections are closed and new ones refused.
    pub async fn stop(&self) -> Result<(), HarnessError> {
        self.docker("stop").await
    }

    /// Starts a stopped server again and waits until it takes connections.
    pub async fn start(&self) -> Result<(), HarnessError> {
        self.docker("start").await?;
        let pool = images::retry(Duration::from_secs(60), || {
            Pool::connect(self.server.kind, &self.server.admin_url)
        })
        .await
        .map_err(|e| HarnessError::database(self.server.kind, e))?;
        pool.close().await;
        Ok(())
    }

    async fn docker(&self, verb: &str) -> Result<(), HarnessError> {
        let id = self.server.container_id()?;
        images::docker(self.server.kind, vec![verb.into(), id.into()], Vec::new()).await?;
        Ok(())
    }
}

static POSTGRES: OnceCell<Server> = OnceCell::const_new();
static MYSQL: OnceCell<Server> = OnceCell::const_new();

/// The shared server for a container backend, started on first use.
/// The first start prints the server's version and how long it took to be ready, so nobody
/// mistakes MariaDB for MySQL.
pub async fn server(kind: Backend) -> Result<&'static Server, HarnessError> {
    let (cell, spec): (_, fn() -> ServerSpec) = match kind {
        Backend::Sqlite => return Err(HarnessError::NoServer(kind)),
        Backend::Postgres => (&POSTGRES, postgres::spec),
        Backend::MySql => (&MYSQL, mysql::spec),
    };
    cell.get_or_try_init(|| async {
        let started = std::time::Instant::now();
        let spec = spec();
        let server = match std::env::var(spec.url_variable) {
            Ok(url) if !url.trim().is_empty() => {
                connect_server(kind, &spec, url, spec.url_variable.to_owned(), None).await?
            }
            _ => {
                let owner = images::session(kind)?.map_or(Owner::Process, Owner::Session);
                start_container(kind, spec, Placement::Shared(owner)).await?
            }
        };
        crate::timings::record("server start", kind.name(), started.elapsed());
        eprintln!(
            "harness: {kind} is {} ({}), ready in {:.1} s",
            server.version,
            server.origin,
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    })
    .await
}

/// What a container backend answers about its server.
pub(crate) struct ServerSpec {
    /// Names an already-running server to use instead of a container.
    pub(super) url_variable: &'static str,
    pub(super) choice: &'static ImageChoice,
    pub(super) image: fn(String, String) -> ServerImage,
    /// Server arguments that trade durability for speed (no fsync, no binary log): a shared
    /// test server's data lives on a tmpfs anyway.
    pub(super) fast: &'static [&'static str],
    /// The administrator URL for the server's address.
    pub(super) admin_url: fn(&images::Address) -> String,
    pub(super) version_sql: &'static str,
}

/// How a container is placed: shared by every test of its owner, the process or the test session
/// (data on tmpfs, durability off, any free port), or dedicated to one test that stops and starts
/// it (data in the container, durable, a fixed port).
enum Placement {
    Shared(Owner),
    Dedicated,
}

/// Starts the server's container.
async fn start_container(
    kind: Backend,
    spec: ServerSpec,
    placement: Placement,
) -> Result<Server, HarnessError> {
    let (name, tag) = spec.choice.resolve(kind)?;
    let origin = format!("container {name}:{tag}");
    let mut image = (spec.image)(name, tag);
    let (host_port, owner) = match placement {
        Placement::Shared(owner) => {
            image.cmd.extend(spec.fast.iter().map(|s| s.to_string()));
            (None, owner)
        }
        Placement::Dedicated => {
            image.data.clear();
            (Some(images::free_port(kind)?), Owner::Process)
        }
    };
    let (address, container) = images::start(kind, image, spec.choice, host_port, owner).await?;
    let origin = format!("{origin} at {}:{}", address.host, address.port);
    connect_server(
        kind,
        &spec,
        (spec.admin_url)(&address),
        origin,
        Some(container),
    )
    .await
}

/// Waits until the server takes connections and asks its version.
async fn connect_server(
    kind: Backend,
    spec: &ServerSpec,
    admin_url: String,
    origin: String,
    container: Option<String>,
) -> Result<Server, HarnessError> {
    // A container is started without waiting for anything: this is where it becomes ready.
    let pool = images::retry(Duration::from_secs(120), || Pool::connect(kind, &admin_url))
        .await
        .map_err(|e| HarnessError::Start {
            backend: kind,
            reason: format!("no connection to {origin}: {e}"),
        })?;
    let version = pool.fetch_text(spec.version_sql).await;
    pool.close().await;
    Ok(Server {
        kind,
        admin_url,
        version: version?,
        origin,
        container,
    })
}

/// Creates a database on the server with the SQL `create` gives for its name, and returns its
/// URL.
pub(super) async fn create_database(
    server: &Server,
    create: impl Fn(&str) -> String,
) -> Result<String, HarnessError> {
    let name = next_database_name();
    as_admin(server, &create(&name)).await?;
    Ok(with_database(&server.admin_url, &name))
}

/// Runs SQL on the server as its administrator, over a connection of its own.
pub(super) async fn as_admin(server: &Server, sql: &str) -> Result<(), HarnessError> {
    let pool = Pool::connect(server.kind, &server.admin_url)
        .await
        .map_err(|e| HarnessError::database(server.kind, e))?;
    // A PostgreSQL template whose last connection has only just closed can still count as
    // "being accessed by other users" (55006) for a moment; any other failure is final.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let done = loop {
        match pool.execute(sql).await {
            Err(HarnessError::Database { source, .. })
                if source.as_database_error().and_then(|e| e.code()).as_deref()
                    == Some("55006")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => break other,
        }
    };
    pool.close().await;
    done
}

/// Creates an empty database on the server.
pub(super) async fn create_empty_database(server: &Server) -> Result<String, HarnessError> {
    create_database(server, |name| match server.kind {
        Backend::Postgres => postgres::create_database_sql(name, None),
        Backend::Sqlite | Backend::MySql => mysql::create_database_sql(name),
    })
    .await
}

/// A unique database name for this process: `h<pid>_<n>`.
fn next_database_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "h{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `host:port` of a URL.
pub(super) fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['/', '?']).next().unwrap_or_default();
    rest.rsplit_once('@').map_or(rest, |(_, at)| at)
}

/// `url` with its `host:port` replaced by `authority`: the same user, database and parameters
/// on another server (a replica) or through a pooler.
pub(super) fn with_authority(url: &str, authority: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    let credentials = url[scheme_end..authority_end]
        .rsplit_once('@')
        .map_or(String::new(), |(c, _)| format!("{c}@"));
    format!(
        "{}{credentials}{authority}{}",
        &url[..scheme_end],
        &url[authority_end..]
    )
}

/// Replaces the database name (the URL path) of a server URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_end], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two test processes of one session get the same container, and it is removed once the
    /// session's owner has ended (here a `sleep` stands in for `just test-all-dbs`'s shell).
    #[cfg(feature = "containers")]
    #[tokio::test]
    async fn a_sessions_processes_share_one_server_removed_when_the_session_ends() {
        let mut owner = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let session = || Placement::Shared(Owner::Session(owner.id()));
        let first = start_container(Backend::Postgres, postgres::spec(), session())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let second = start_container(Backend::Postgres, postgres::spec(), session())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(first.container.is_some());
        assert_eq!(first.container, second.container);
        assert_eq!(first.admin_url, second.admin_url);
        let mine = start_container(
            Backend::Postgres,
            postgres::spec(),
            Placement::Shared(Owner::Process),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(
            mine.container, first.container,
            "a process without a session has its own"
        );

        owner.kill().unwrap();
        owner.wait().unwrap();
        let id = first.container.unwrap();
        // The reaper looks once a second; the deadline only bounds a broken reaper.
        let gone = images::retry(Duration::from_secs(60), || async {
            match images::docker(
                Backend::Postgres,
                vec!["inspect".into(), id.clone()],
                Vec::new(),
            )
            .await
            {
                Ok(_) => Err("still there"),
                Err(_) => Ok(()),
            }
        })
        .await;
        assert_eq!(gone, Ok(()), "container {id} outlived its session");
    }

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "h1_0"),
            "postgres://u:p@127.0.0.1:5432/h1_0"
        );
        assert_eq!(
            with_database("mysql://root:pw@localhost:3306?ssl-mode=disabled", "h1_1"),
            "mysql://root:pw@localhost:3306/h1_1?ssl-mode=disabled"
        );
    }
}
