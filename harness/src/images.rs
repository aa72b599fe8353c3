//! Container images for the database servers, and starting them.
//!
//! Each backend pins an official image (what a user's CI pulls) and a local fallback that
//! `just images` builds from Debian packages where no registry can be reached. The choice, in
//! order: the `DIDHUB_TEST_<BACKEND>_IMAGE` variable (`name:tag`); the official image if it is
//! present locally; the local image if present; otherwise the official image, which Docker then
//! tries to pull. Both kinds honour the same environment variables, so the backends treat them
//! alike.
//!
//! A server is ready when the harness can connect to it (the backends retry until then), not
//! when a Docker health check says so: every probe is a `docker exec` that costs dockerd,
//! containerd and runc CPU for as long as the container lives (at four probes a second, a test
//! run's containers took a fifth of two cores), and Docker before 25 cannot slow the probes down
//! once the server is up. The images' own health checks are switched off. Official images
//! initialise with networking off, so a TCP connection only succeeds to the real server.
//!
//! Containers live as long as the test process: a small reaper process per container removes it
//! once the process that started it is gone, however it ended (there is no Ryuk here).

use std::borrow::Cow;
use std::process::{Command, Stdio};
use std::time::Duration;

use testcontainers::core::{ContainerPort, Healthcheck, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{Image, ImageExt};

use crate::HarnessError;
use didhub_migrations::Backend;

/// A database server image with its settings for tests.
#[derive(Debug, Clone)]
pub struct ServerImage {
    pub name: String,
    pub tag: String,
    pub env: Vec<(String, String)>,
    /// Data directories on tmpfs: nothing to sync to disk. A dedicated server, which is stopped
    /// and started again, keeps its data in the container instead.
    pub data: Vec<Mount>,
    /// Scratch directories on tmpfs in every placement: MariaDB writes an Aria temporary table
    /// to `/tmp` for most `information_schema` queries, and creating and deleting those files on
    /// the container's overlay (ext4 underneath) took more than a core of kernel time in
    /// introspection-heavy tests.
    pub scratch: Vec<Mount>,
    /// Server arguments (test-speed settings: no fsync, no binary log).
    pub cmd: Vec<String>,
    /// The server's port, published on a free host port.
    pub ports: Vec<ContainerPort>,
}

impl Image for ServerImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        Vec::new()
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn mounts(&self) -> impl IntoIterator<Item = &Mount> {
        self.data.iter().chain(&self.scratch)
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        self.cmd.iter().map(String::as_str)
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &self.ports
    }
}

/// Where a backend's image comes from.
pub struct ImageChoice {
    pub official: (&'static str, &'static str),
    pub local: (&'static str, &'static str),
    /// e.g. `DIDHUB_TEST_POSTGRES_IMAGE`.
    pub variable: &'static str,
}

impl ImageChoice {
    /// `(name, tag)` to run, following the order in the module docs.
    pub fn resolve(&self, kind: Backend) -> Result<(String, String), HarnessError> {
        if let Ok(value) = std::env::var(self.variable)
            && !value.trim().is_empty()
        {
            let (name, tag) = value.rsplit_once(':').ok_or_else(|| HarnessError::Start {
                backend: kind,
                reason: format!("{}={value:?} is not name:tag", self.variable),
            })?;
            return Ok((name.to_owned(), tag.to_owned()));
        }
        for (name, tag) in [self.official, self.local] {
            if image_present(name, tag) {
                return Ok((name.to_owned(), tag.to_owned()));
            }
        }
        Ok((self.official.0.to_owned(), self.official.1.to_owned()))
    }
}

fn image_present(name: &str, tag: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", &format!("{name}:{tag}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails with the reason when no Docker daemon answers.
pub fn require_docker(kind: Backend) -> Result<(), HarnessError> {
    let output = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match output {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(HarnessError::NoDocker {
            backend: kind,
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
        Err(e) => Err(HarnessError::NoDocker {
            backend: kind,
            reason: format!("cannot run the docker CLI: {e}"),
        }),
    }
}

/// Who a container belongs to: it is removed once its owner process has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The test process that starts it.
    Process,
    /// A test session (`DIDHUB_TEST_SESSION`, see [`session`]): the session's first test process
    /// starts the container under a name made of the session and the backend, and the others
    /// find it by that name, so a run of many test binaries starts each shared server once.
    Session(u32),
}

impl Owner {
    fn pid(self) -> u32 {
        match self {
            Owner::Process => std::process::id(),
            Owner::Session(pid) => pid,
        }
    }
}

/// The test session named by `DIDHUB_TEST_SESSION`: the id of a running process (`just
/// test-all-dbs` gives its shell's, `test-times` its own) whose test processes share their
/// servers, which are removed when it ends.
pub fn session(kind: Backend) -> Result<Option<u32>, HarnessError> {
    let Ok(value) = std::env::var("DIDHUB_TEST_SESSION") else {
        return Ok(None);
    };
    let failed = |why: &str| HarnessError::Start {
        backend: kind,
        reason: format!(
            "DIDHUB_TEST_SESSION={value:?} {why}: it must be the id of the running process whose \
             test processes share servers"
        ),
    };
    let pid: u32 = value
        .trim()
        .parse()
        .map_err(|_| failed("is not a process id"))?;
    let alive = Command::new("sh")
        .args(["-c", &format!("kill -0 {pid}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !alive {
        return Err(failed("names no running process"));
    }
    Ok(Some(pid))
}

/// Starts a server container, or finds its session's, and returns where to reach its first port,
/// and its id.
///
/// With `host_port` (a server that is stopped and started again) that is the port published on
/// `host_port` of 127.0.0.1, the same across a stop and start. Otherwise it is the container's
/// own address on Docker's bridge when the host can reach it (Linux), which skips Docker's
/// userland proxy: the proxy costs a copy through another process for every packet, a third or
/// more of each round trip and several percent of the CPU in a test run. Where the bridge is out
/// of reach (Docker Desktop, a remote daemon) it is the port published on a free host port.
pub async fn start(
    kind: Backend,
    image: ServerImage,
    choice: &ImageChoice,
    host_port: Option<u16>,
    owner: Owner,
) -> Result<(Address, String), HarnessError> {
    require_docker(kind)?;
    let reference = format!("{}:{}", image.name, image.tag);
    let port = image.ports[0];
    let name = match owner {
        Owner::Process => None,
        Owner::Session(pid) => Some(format!("didhub-test-{pid}-{kind}")),
    };
    if let Some(name) = &name
        && let Some(id) = session_container(kind, name, &reference).await?
    {
        return Ok((address(kind, &id, port, host_port).await?, id));
    }
    let mut request = image
        .with_health_check(Healthcheck::none())
        .with_label("didhub.harness.pid", owner.pid().to_string())
        .with_startup_timeout(Duration::from_secs(120));
    if let Some(host_port) = host_port {
        request = request.with_mapped_port(host_port, port);
    }
    if let Some(name) = &name {
        request = request.with_container_name(name);
    }
    let container = match request.start().await {
        Ok(container) => container,
        // Another process of the session created it first.
        Err(e) if name.is_some() && e.to_string().contains("Conflict") => {
            let name = name.as_deref().unwrap_or_default();
            let id = session_container(kind, name, &reference)
                .await?
                .ok_or_else(|| HarnessError::Start {
                    backend: kind,
                    reason: format!("container {name} was being created, then was gone: {e}"),
                })?;
            return Ok((address(kind, &id, port, host_port).await?, id));
        }
        Err(e) => return Err(not_started(kind, &reference, choice, &e.to_string())),
    };
    let id = container.id().to_owned();
    reap_when_done(&id, owner);
    // The container lives until its owner ends; the reaper removes it then.
    std::mem::forget(container);
    Ok((address(kind, &id, port, host_port).await?, id))
}

fn not_started(kind: Backend, reference: &str, choice: &ImageChoice, text: &str) -> HarnessError {
    let hint =
        if text.contains("pull") || text.contains("No such image") || text.contains("not found") {
            format!(
                " — the image is not available locally and cannot be pulled; run `just images` \
                 to build {}:{}, which the harness then uses",
                choice.local.0, choice.local.1
            )
        } else {
            String::new()
        };
    HarnessError::Start {
        backend: kind,
        reason: format!("container {reference} did not start: {text}{hint}"),
    }
}

/// The id of the session's running container `name`, if there is one. One of another image
/// (the session's processes disagree about `DIDHUB_TEST_*_IMAGE`) is an error.
async fn session_container(
    kind: Backend,
    name: &str,
    reference: &str,
) -> Result<Option<String>, HarnessError> {
    let format = "{{.State.Running}} {{.Config.Image}} {{.Id}}";
    let args = ["inspect", "--type", "container", "--format", format, name];
    let Ok(out) = docker(kind, args.map(String::from).to_vec(), Vec::new()).await else {
        return Ok(None);
    };
    let out = String::from_utf8_lossy(&out);
    match out.split_whitespace().collect::<Vec<_>>()[..] {
        ["true", image, id] if image == reference => Ok(Some(id.to_owned())),
        ["true", image, _] => Err(HarnessError::Start {
            backend: kind,
            reason: format!(
                "the session's container {name} runs {image}, where this process wants {reference}"
            ),
        }),
        _ => Err(HarnessError::Start {
            backend: kind,
            reason: format!(
                "the session's container {name} is not running: {}",
                out.trim()
            ),
        }),
    }
}

/// Where the container's `port` is reached: the bridge address when reachable and no fixed
/// `host_port` is wanted, the published port of 127.0.0.1 otherwise.
async fn address(
    kind: Backend,
    id: &str,
    port: ContainerPort,
    host_port: Option<u16>,
) -> Result<Address, HarnessError> {
    if host_port.is_none()
        && let Some(address) = bridge_address(kind, id, port).await
    {
        return Ok(address);
    }
    let args = ["port", id, &port.to_string()].map(String::from).to_vec();
    let out = docker(kind, args, Vec::new()).await?;
    let out = String::from_utf8_lossy(&out);
    let published = out
        .lines()
        .find_map(|line| line.rsplit_once(':')?.1.trim().parse().ok())
        .ok_or_else(|| HarnessError::Start {
            backend: kind,
            reason: format!("container {id} publishes no port {port}: {}", out.trim()),
        })?;
    Ok(Address {
        host: "127.0.0.1".to_owned(),
        port: published,
    })
}

/// Where a server listens, as a URL writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

/// The container's address on Docker's bridge, if the host can open a TCP connection to it. The
/// server may not listen yet: a refused connection still proves the address is reachable. (The
/// address is read with `docker inspect`: testcontainers' `get_bridge_ip_address` looks the
/// network up by the container's network mode, which Docker 20.10 reports as `default`, not
/// `bridge`.)
async fn bridge_address(kind: Backend, id: &str, port: ContainerPort) -> Option<Address> {
    let ContainerPort::Tcp(port) = port else {
        return None;
    };
    let ip: std::net::IpAddr = container_ip(kind, id).await.ok()?.parse().ok()?;
    let attempt = tokio::net::TcpStream::connect((ip, port));
    match tokio::time::timeout(Duration::from_secs(1), attempt).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
        _ => return None,
    }
    Some(Address {
        host: ip.to_string(),
        port,
    })
}

/// The container's address on Docker's bridge, where other containers reach it (a replica its
/// primary, pgbouncer its server).
pub async fn container_ip(kind: Backend, id: &str) -> Result<String, HarnessError> {
    let format = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}";
    let args = ["inspect", "--format", format, id]
        .map(String::from)
        .to_vec();
    let out = docker(kind, args, Vec::new()).await?;
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .find(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned)
        .ok_or_else(|| HarnessError::Start {
            backend: kind,
            reason: format!("container {id} has no address on a Docker network"),
        })
}

/// Runs `docker <args>`, feeding it `stdin`, and returns its standard output; a failure carries
/// its standard error.
pub async fn docker(
    kind: Backend,
    args: Vec<String>,
    stdin: Vec<u8>,
) -> Result<Vec<u8>, HarnessError> {
    let shown = format!("docker {}", args.join(" "));
    let failed = |reason: String| HarnessError::Docker {
        backend: kind,
        command: shown.clone(),
        reason,
    };
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new("docker")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut input = child.stdin.take().expect("piped stdin");
        let writer = std::thread::spawn(move || input.write_all(&stdin));
        let output = child.wait_with_output()?;
        writer.join().expect("stdin writer")?;
        Ok::<_, std::io::Error>(output)
    })
    .await
    .expect("docker task")
    .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port(kind: Backend) -> Result<u16, HarnessError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| HarnessError::Start {
            backend: kind,
            reason: format!("cannot find a free port: {e}"),
        })
}

/// Spawns `sh` to wait for the container's owner to end and then remove the container.
fn reap_when_done(container_id: &str, owner: Owner) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; docker rm -f -v {container_id} >/dev/null 2>&1",
        pid = owner.pid()
    );
    let spawned = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!(
            "harness: cannot start the reaper for container {container_id}: {e}; remove it with `docker rm -f {container_id}`"
        );
    }
}

/// Retries `attempt` until it succeeds or `within` has passed, returning the last error.
pub async fn retry<T, E, F, Fut>(within: Duration, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
