//! Resource exhaustion: what one client, or a crowd of them, can hold of a real server over TCP on
//! SQLite: partial request heads and trickled ones, idle kept-alive connections, bodies that never
//! finish, more connections than the cap, a process out of file descriptors, and bursts of
//! registrations, each of which hashes a password.
//!
//! Waits are bounded by generous outer timeouts ([`OUTER`]) that only turn a hang into a
//! failure; nothing asserts how fast the server is. The two child-process tests read what the
//! server reports about itself: its log lines, and its CPU time and peak memory in `/proc`.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use didhub_harness::TestDatabase;
use didhub_migrations::Backend;
use didhub_server::Application;
use didhub_server::config::ServerLimits;
use didhub_server::rate_limit::RateLimitConfig;
use poem::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, password_of, test_config};

/// How long any one wait may take before the test fails: far beyond every timeout under test.
const OUTER: Duration = Duration::from_secs(30);

/// A server over TCP on a fresh SQLite database, on a runtime of its own so that the test can
/// use blocking sockets.
struct Served {
    addr: SocketAddr,
    _database: TestDatabase,
    _runtime: tokio::runtime::Runtime,
}

fn serve(limits: ServerLimits) -> Served {
    crate::support::server_log_in_failures();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, database) = runtime.block_on(async {
        let backend = didhub_migrations::Backend::Sqlite;
        let database = TestDatabase::migrated(Backend::Sqlite, "didhub", backend.migrator())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut config = test_config(&database, "").await;
        config.server = limits;
        let app = Application::build(&config).await.unwrap();
        let addr = app.local_addr();
        tokio::spawn(app.run_until_stopped());
        (addr, database)
    });
    Served {
        addr,
        _database: database,
        _runtime: runtime,
    }
}

/// Limits with everything long but what a test sets.
fn limits() -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_secs(600),
        body_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(600),
        write_timeout: Duration::from_secs(600),
        ..ServerLimits::default()
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(OUTER)).unwrap();
    stream
}

/// One response as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The head, lower-cased.
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    }
}

/// Reads one response: its status, head and body (by `Content-Length`).
fn response(stream: &mut TcpStream) -> io::Result<Answer> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        bytes.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&bytes).to_lowercase();
    let mut answer = Answer {
        status: head[9..12].parse().unwrap(),
        head,
        body: String::new(),
    };
    let length: usize = answer
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    answer.body = String::from_utf8_lossy(&body).into_owned();
    Ok(answer)
}

/// `GET path` on a kept-alive connection.
fn get(stream: &mut TcpStream, path: &str) -> io::Result<Answer> {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: didhub\r\n\r\n")?;
    response(stream)
}

/// `/health` answers 200 on a new connection.
fn healthy(addr: SocketAddr) {
    let answer = get(&mut connect(addr), "/health").unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// Whether the server closed the connection (end of stream or reset) before [`OUTER`]; fails
/// the test when it kept it open that long.
fn closed_by_server(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                return;
            }
            Err(e) => panic!("{what}: still open after {OUTER:?} ({e})"),
        }
    }
}

/// The finding: partial requests (`X-a: ` never finished) held every descriptor. Each is closed
/// after the header timeout, while `/health` keeps answering.
#[test]
fn partial_request_heads_are_closed_after_the_header_timeout_while_health_answers() {
    let served = serve(ServerLimits {
        header_timeout: Duration::from_secs(1),
        ..limits()
    });
    let mut partial: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut stream = connect(served.addr);
            stream.write_all(b"GET / HTTP/1.1\r\nX-a: ").unwrap();
            stream
        })
        .collect();
    healthy(served.addr);
    for stream in &mut partial {
        closed_by_server(stream, "a partial request head");
    }
    healthy(served.addr);
}

/// A head trickled in a byte at a time keeps the connection busy, but is late all the same.
#[test]
fn a_request_head_trickled_byte_by_byte_is_closed_after_the_header_timeout() {
    let served = serve(ServerLimits {
        header_timeout: Duration::from_secs(1),
        ..limits()
    });
    let mut stream = connect(served.addr);
    let mut writer = stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        writer.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        let started = Instant::now();
        // Pacing the attack, not waiting for the server: one header byte every 50 ms.
        while started.elapsed() < OUTER && writer.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    closed_by_server(&mut stream, "a trickled request head");
    drop(stream);
    trickle.join().unwrap();
    healthy(served.addr);
}

/// The finding: four bytes (`\r\n\r\n`) held a connection forever, and a head that started
/// with `PRI` escaped the header timeout one byte at a time. Empty lines are no head, and the
/// HTTP/2 preface is a head until it is complete: both are closed after the header timeout, so
/// that a cap's worth of them holds `/health` back only that long.
#[test]
fn empty_lines_and_a_trickled_http2_preface_are_closed_after_the_header_timeout() {
    let served = serve(ServerLimits {
        header_timeout: Duration::from_secs(1),
        max_connections: 4,
        ..limits()
    });
    let mut empty: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = connect(served.addr);
            stream.write_all(b"\r\n\r\n").unwrap();
            stream
        })
        .collect();
    let mut preface = connect(served.addr);
    let mut writer = preface.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        // Pacing the attack: one byte of the preface every 100 ms, then pings' worth of bytes.
        let bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
            .iter()
            .chain([0u8; 64].iter());
        for byte in bytes {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    healthy(served.addr);
    for stream in &mut empty {
        closed_by_server(stream, "empty lines");
    }
    closed_by_server(&mut preface, "a trickled HTTP/2 preface");
    drop(preface);
    trickle.join().unwrap();
}

/// The finding: sockets that asked for `/api/docs` and never read held their responses for good.
/// A write the client lets nothing through for `write_timeout` closes the connection; the
/// server's send buffer and the client's receive buffer hold a few of these pipelined pages, not
/// all of them.
#[test]
fn a_client_that_stops_reading_is_closed_after_the_write_timeout() {
    const PAGES: usize = 40;
    let served = serve(ServerLimits {
        write_timeout: Duration::from_secs(1),
        ..limits()
    });
    let mut stream = connect(served.addr);
    let page = get(&mut stream, "/api/docs").unwrap().body.len();
    for _ in 0..PAGES {
        stream
            .write_all(b"GET /api/docs HTTP/1.1\r\nHost: didhub\r\n\r\n")
            .unwrap();
    }
    // Not reading, for longer than the write timeout: this is the attack.
    std::thread::sleep(Duration::from_secs(3));
    let mut read = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                break;
            }
            Err(e) => panic!("still open after {OUTER:?} ({e}); {read} bytes read"),
        }
    }
    assert!(
        read < PAGES * page,
        "{read} bytes: every page was written to a client that did not read"
    );
    healthy(served.addr);
}

/// The finding: one HTTP/2 connection opened 1,000 streams of `/api/docs` with a window of 0 and
/// held them with a PING every 20 s. Streams beyond `http2_max_streams` are not opened, and a
/// connection on which no request or response moves is closed after the idle timeout, pings or
/// not.
#[test]
fn http2_streams_are_limited_and_a_stalled_connection_that_only_pings_is_closed() {
    const STREAMS: usize = 5;
    let served = serve(ServerLimits {
        idle_timeout: Duration::from_secs(2),
        http2_max_streams: STREAMS,
        ..limits()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        let (client, mut connection) = h2::client::Builder::new()
            .initial_window_size(0)
            .handshake::<_, bytes::Bytes>(tcp)
            .await
            .unwrap();
        let mut ping_pong = connection.ping_pong().unwrap();
        let connection = tokio::spawn(connection);
        let (answered, mut heads) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..4 * STREAMS {
            let (client, answered) = (client.clone(), answered.clone());
            let addr = served.addr;
            tokio::spawn(async move {
                let mut client = client.ready().await?;
                let request = poem::http::Request::get(format!("http://{addr}/api/docs"))
                    .body(())
                    .unwrap();
                let (response, _) = client.send_request(request, true)?;
                // The body is kept, unread: its stream stays open.
                let _ = answered.send(response.await?);
                Ok::<_, h2::Error>(())
            });
        }
        let mut open = Vec::new();
        while let Ok(Some(head)) = tokio::time::timeout(Duration::from_secs(1), heads.recv()).await
        {
            assert_eq!(head.status(), 200);
            open.push(head);
        }
        assert_eq!(open.len(), STREAMS, "streams answered at once");
        let pinging = tokio::spawn(async move {
            while ping_pong.ping(h2::Ping::opaque()).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        let ended = tokio::time::timeout(OUTER, connection).await;
        assert!(
            ended.is_ok(),
            "a connection with stalled streams that only pings is closed"
        );
        pinging.abort();
    });
    healthy(served.addr);
}

/// After a response, a kept-alive connection that sends nothing more is closed after the idle
/// timeout (the header timeout is longer than the test waits).
#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let served = serve(ServerLimits {
        idle_timeout: Duration::from_secs(1),
        ..limits()
    });
    let mut stream = connect(served.addr);
    assert_eq!(get(&mut stream, "/health").unwrap().status, 200);
    assert_eq!(
        get(&mut stream, "/health").unwrap().status,
        200,
        "kept alive between requests"
    );
    closed_by_server(&mut stream, "an idle kept-alive connection");
}

/// A body that never finishes is answered 408 after the body timeout.
#[test]
fn a_body_that_never_finishes_is_answered_408_after_the_body_timeout() {
    let served = serve(ServerLimits {
        body_timeout: Duration::from_secs(1),
        ..limits()
    });
    let mut stream = connect(served.addr);
    write!(
        stream,
        "POST /api/auth/login HTTP/1.1\r\nHost: didhub\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"username\""
    )
    .unwrap();
    let answer = response(&mut stream).unwrap();
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(answer.body.contains("request_timeout"), "{answer:?}");
    healthy(served.addr);
}

/// With `max_connections` open, the next connection is not served (it waits in the listen
/// queue) until one of them closes; then it is.
#[test]
fn over_the_connection_cap_a_connection_waits_until_another_closes() {
    const CAP: usize = 8;
    let served = serve(ServerLimits {
        max_connections: CAP,
        ..limits()
    });
    let mut held: Vec<TcpStream> = (0..CAP)
        .map(|_| {
            let mut stream = connect(served.addr);
            assert_eq!(get(&mut stream, "/health").unwrap().status, 200);
            stream
        })
        .collect();
    let mut waiting = connect(served.addr);
    write!(waiting, "GET /health HTTP/1.1\r\nHost: didhub\r\n\r\n").unwrap();
    // The one wait that cannot be avoided: that nothing happens shows only by waiting. A slow
    // server makes this pass without the cap, never fail with it.
    waiting
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let early = waiting.read(&mut [0u8; 1]);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)),
        "a connection over the cap was served: {early:?}"
    );
    waiting.set_read_timeout(Some(OUTER)).unwrap();
    drop(held.pop());
    let answer = response(&mut waiting).unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    for stream in &mut held {
        assert_eq!(get(stream, "/health").unwrap().status, 200, "still served");
    }
}

/// Registrations are limited per address: 429 with `Retry-After` after the limit; a refusal by
/// the password policy hashed nothing and does not count.
#[tokio::test]
async fn registrations_are_limited_per_address() {
    let app = TestApp::start(didhub_migrations::Backend::Sqlite).await;
    let (app, _clock) = app.with_limits(RateLimitConfig {
        registrations_per_ip: 2,
        ..RateLimitConfig::default()
    });
    let register = |username: &str, password: String| {
        app.call_from(
            "10.1.2.3",
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({ "username": username, "password": password })),
        )
    };
    register("ann", "ann-is-my-name".into())
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    register("ann", password_of("ann"))
        .await
        .expect(StatusCode::CREATED);
    register("bob", password_of("bob"))
        .await
        .expect(StatusCode::CREATED);
    let refused = register("cyd", password_of("cyd")).await;
    assert!(refused.retry_after.is_some_and(|secs| secs > 0));
    refused.expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    app.call_from(
        "10.1.2.4",
        Method::POST,
        "/api/auth/register",
        None,
        Some(json!({ "username": "cyd", "password": password_of("cyd") })),
    )
    .await
    .expect(StatusCode::CREATED);
    let actions = app.audit_actions("action=auth.rate_limited").await;
    assert_eq!(actions, ["auth.rate_limited"]);
}

/// Behind a reverse proxy every client had the proxy's address, so one client's registrations
/// (or failed logins) used up everyone's. From a trusted proxy the client is the address its
/// `X-Forwarded-For` names; from anyone else the header is ignored.
#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limits() {
    let register = |addr: SocketAddr, forwarded_for: &str, username: &str| {
        let body = json!({ "username": username, "password": password_of(username) }).to_string();
        let mut stream = connect(addr);
        write!(
            stream,
            "POST /api/auth/register HTTP/1.1\r\nHost: didhub\r\nX-Forwarded-For: {forwarded_for}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        response(&mut stream).unwrap().status
    };
    let limit = RateLimitConfig::default().registrations_per_ip as usize;
    let proxied = serve(ServerLimits {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..limits()
    });
    let statuses: Vec<u16> = (0..=limit)
        .map(|i| register(proxied.addr, &format!("203.0.113.{i}"), &format!("user{i}")))
        .collect();
    assert!(statuses.iter().all(|&s| s == 201), "{statuses:?}");
    let same: Vec<u16> = (0..=limit)
        .map(|i| register(proxied.addr, "198.51.100.1", &format!("same{i}")))
        .collect();
    assert_eq!(same.last(), Some(&429), "one forwarded client: {same:?}");

    let direct = serve(limits());
    let statuses: Vec<u16> = (0..=limit)
        .map(|i| register(direct.addr, &format!("203.0.113.{i}"), &format!("user{i}")))
        .collect();
    assert_eq!(
        statuses.last(),
        Some(&429),
        "an untrusted header is ignored: {statuses:?}"
    );
}

/// `didhub-server` as a child process, its log read line by line.
struct Child {
    process: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Child {
    /// Starts the server with `config` (JSON) over a new SQLite file, descriptors limited to
    /// `max_files`, and waits until it listens.
    fn start(config: serde_json::Value, max_files: u32) -> Child {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let db = format!("sqlite://{}", dir.path().join("didhub.sqlite").display());
        let mut process = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {max_files} && exec \"$0\" -c \"$1\"",))
            .arg(env!("CARGO_BIN_EXE_didhub-server"))
            .arg(&config_path)
            .env("DIDHUB_DB", db)
            .env("PORT", "0")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn,didhub_server=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (send, lines) = mpsc::channel();
        let stdout = process.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut child = Child {
            process,
            lines,
            seen: Vec::new(),
            addr: "127.0.0.1:1".parse().unwrap(),
            _dir: dir,
        };
        let listening = child.wait_for("DIDHub listening on http://");
        let addr = listening
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap();
        child.addr = addr.parse().unwrap();
        child
    }

    /// The next log line containing `text` (within [`OUTER`]).
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + OUTER;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no log line with {text:?} ({e}); the log so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Log lines so far containing `text`.
    fn count(&mut self, text: &str) -> usize {
        self.seen.extend(self.lines.try_iter());
        self.seen.iter().filter(|l| l.contains(text)).count()
    }

    /// `/proc/<pid>/status` field in KiB (`VmHWM`, `VmRSS`).
    fn memory_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.process.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// CPU time (user + system) so far, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.process.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        // After the command name: state is field 3, utime 14 and stime 15 (1-based).
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn clock_ticks_per_second() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100)
}

/// The finding: with every descriptor taken, poem's accept loop spun a core on EMFILE. Out of
/// descriptors, the server pauses between accepts (one warning for the burst, a little CPU),
/// and serves again once connections close.
#[test]
fn out_of_file_descriptors_the_server_waits_without_spinning_and_recovers() {
    let config = json!({ "server": { "header_timeout_secs": 600, "idle_timeout_secs": 600 } });
    let mut server = Child::start(config, 64);
    let mut held = Vec::new();
    // More connections than the process has descriptors: the kernel completes them all (the
    // listen queue is 1024 long); the server accepts until it runs out.
    for _ in 0..120 {
        held.push(TcpStream::connect(server.addr).unwrap());
    }
    server.wait_for("cannot accept connections: out of resources");
    let ticks = server.cpu_ticks();
    let started = Instant::now();
    // A quiet spell while accepts keep failing: a spinning loop burns it all.
    std::thread::sleep(Duration::from_secs(2));
    let spent = (server.cpu_ticks() - ticks) as f64 / clock_ticks_per_second() as f64;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        spent < elapsed / 4.0,
        "the server spent {spent:.2} s of CPU in {elapsed:.2} s while out of descriptors"
    );
    drop(held);
    server.wait_for("accepting connections again");
    healthy(server.addr);
    // While the held connections drain, accepts may run out again: each burst is one warning
    // when it starts and one line when it ends, never a line per failed accept. A burst that
    // began while they drained may not have ended yet: wait (bounded) for its end.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut bursts, mut ends);
    loop {
        bursts = server.count("cannot accept connections");
        ends = server.count("accepting connections again");
        if bursts == ends || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        bursts >= 1 && bursts == ends,
        "{bursts} warnings for {ends} bursts"
    );
}

/// The finding: 150 concurrent registrations took the server from 144 MB to 5.8 GB. With one
/// hash at a time and no wait for a turn, concurrent registrations are answered 201 or 503 with
/// `Retry-After` (never another 5xx), and the peak memory grows by about one hash, not one per
/// request.
#[test]
fn concurrent_registrations_get_503_when_hashing_is_busy_and_memory_stays_bounded() {
    const HASH_MIB: u64 = 64;
    let config = json!({
        "password_hash": { "memory_kib": HASH_MIB * 1024, "iterations": 2 },
        "server": { "max_concurrent_hashes": 1, "hash_wait_ms": 0 },
        "rate_limit": { "registrations_per_ip": 0 },
    });
    let server = Child::start(config, 1024);
    let before = server.memory_kib("VmHWM");
    let requests: Vec<_> = (0..12)
        .map(|i| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let username = format!("user{i:02}");
                let body =
                    json!({ "username": username, "password": password_of(&username) }).to_string();
                let mut stream = connect(addr);
                write!(
                    stream,
                    "POST /api/auth/register HTTP/1.1\r\nHost: didhub\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                response(&mut stream).unwrap()
            })
        })
        .collect();
    let answers: Vec<Answer> = requests.into_iter().map(|t| t.join().unwrap()).collect();
    for answer in &answers {
        let busy = answer.status == 503
            && answer.body.contains("server_busy")
            && answer.header("retry-after") == Some("1");
        assert!(answer.status == 201 || busy, "{answer:?}");
    }
    assert!(answers.iter().any(|a| a.status == 201), "{answers:?}");
    assert!(answers.iter().any(|a| a.status == 503), "{answers:?}");
    let grown_mib = server.memory_kib("VmHWM").saturating_sub(before) / 1024;
    assert!(
        grown_mib < 3 * HASH_MIB,
        "peak memory grew by {grown_mib} MiB for hashes of {HASH_MIB} MiB, one at a time"
    );
}

/// The finding: slow readers of `/api/docs` each held a copy of the 1.7 MB page (hyper copied
/// every body into its write buffer, behind poem's boxed stream): 100 of them grew the peak
/// memory by 163 MB. Bodies are written from the one shared page; the growth stays near what
/// 100 connections cost anyway.
#[test]
fn slow_readers_of_the_docs_page_do_not_each_hold_a_copy_of_it() {
    const READERS: usize = 100;
    let server = Child::start(json!({}), 4096);
    healthy(server.addr);
    let before = server.memory_kib("VmHWM");
    let readers: Vec<socket2::Socket> = (0..READERS)
        .map(|_| {
            let socket = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )
            .unwrap();
            socket.set_recv_buffer_size(2048).unwrap();
            socket.connect(&server.addr.into()).unwrap();
            let mut stream = std::net::TcpStream::from(socket.try_clone().unwrap());
            stream
                .write_all(b"GET /api/docs HTTP/1.1\r\nHost: didhub\r\n\r\n")
                .unwrap();
            socket
        })
        .collect();
    // Pacing, not a measurement: the server has started every response well within this.
    std::thread::sleep(Duration::from_secs(2));
    healthy(server.addr);
    let grown_mib = server.memory_kib("VmHWM").saturating_sub(before) / 1024;
    drop(readers);
    assert!(
        grown_mib < 60,
        "{READERS} slow readers of /api/docs grew the peak memory by {grown_mib} MiB"
    );
}
