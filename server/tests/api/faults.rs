//! Faults: the database goes away while the server runs, or is not there when it starts.
//!
//! While the database cannot answer, every request that needs it gets 503 with the API's error
//! body; once it is back the server serves again without a restart; and no write is lost or half
//! applied: every write answered 201 is there, and every alter there has its audit entry (the two
//! are written in one transaction). The container backends are paused (connections stay open,
//! nothing answers) and stopped (connections are closed, new ones refused) on a server of the
//! test's own; SQLite's equivalent is another process holding the write lock.

use std::process::{Command, Stdio};

use didhub_migrations::Backend;
use didhub_server::db::{Stmt, Timestamp, is_unavailable};
use didhub_server::error::ApiError;
use poem::http::StatusCode;
use rstest_reuse::apply;
use serde_json::json;

use crate::support::{TestApp, backends, start_server};

/// Timeouts short enough that an outage shows within a couple of seconds.
const IMPATIENT: &str = "?acquire_timeout=2&query_timeout=2";

#[cfg(feature = "containers")]
mod containers {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use didhub_harness::TestDatabase;
    use didhub_harness::backend::{Dedicated, dedicated};
    use didhub_harness::servers;
    use didhub_migrations::Backend;
    use didhub_server::db::Id;

    use crate::support::Reply;

    use super::*;

    /// One write attempted during the test, and what the server answered.
    struct Attempt {
        name: String,
        status: StatusCode,
        code: String,
        /// When the request was sent.
        sent: Instant,
    }

    /// Alters are created by `WRITERS` tasks in a loop until `stop` is set.
    const WRITERS: usize = 4;

    fn writers(
        app: &Arc<TestApp>,
        token: &str,
        system: Id,
        stop: &Arc<AtomicBool>,
    ) -> Vec<tokio::task::JoinHandle<Vec<Attempt>>> {
        (0..WRITERS)
            .map(|w| {
                let (app, token, stop) = (app.clone(), token.to_owned(), stop.clone());
                tokio::spawn(async move {
                    let mut attempts = Vec::new();
                    for n in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let name = format!("w{w}-{n}");
                        let sent = Instant::now();
                        let reply = app
                            .post(
                                "/api/alters",
                                &token,
                                json!({ "system_id": system, "name": name }),
                            )
                            .await;
                        attempts.push(Attempt {
                            name,
                            status: reply.status,
                            code: reply.body["code"].as_str().unwrap_or_default().to_owned(),
                            sent,
                        });
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    attempts
                })
            })
            .collect()
    }

    /// Milliseconds from `from` to `to`, negative when `to` came first.
    fn millis_after(from: Instant, to: Instant) -> i128 {
        to.saturating_duration_since(from).as_millis() as i128
            - from.saturating_duration_since(to).as_millis() as i128
    }

    /// Waits until `/health` answers 200 again.
    async fn until_healthy(app: &TestApp) {
        until_answered(
            "the server",
            StatusCode::OK,
            Duration::from_millis(250),
            async |_| {
                app.call(poem::http::Method::GET, "/health", None, None)
                    .await
            },
        )
        .await;
    }

    /// Waits until creating an alter succeeds again.
    async fn until_a_write_succeeds(app: &TestApp, token: &str, system: Id) {
        until_answered(
            "writes",
            StatusCode::CREATED,
            Duration::from_millis(100),
            async |n| {
                let body = json!({ "system_id": system, "name": format!("probe-{n}") });
                app.post("/api/alters", token, body).await
            },
        )
        .await;
    }

    /// Sends `request` (given its attempt number) every `pause` until it is answered
    /// `expected`, for at most 90 s; `what` names what did not recover.
    async fn until_answered(
        what: &str,
        expected: StatusCode,
        pause: Duration,
        mut request: impl AsyncFnMut(u32) -> Reply,
    ) {
        let deadline = Instant::now() + Duration::from_secs(90);
        for n in 0.. {
            let reply = request(n).await;
            if reply.status == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not recover after the database came back: {}",
                reply.text
            );
            tokio::time::sleep(pause).await;
        }
    }

    /// While the database is away, the health check and reads and writes get 503 with a body
    /// that says so.
    async fn assert_unavailable(app: &TestApp, token: &str, alter: Id) {
        let health = app
            .call(poem::http::Method::GET, "/health", None, None)
            .await;
        let message = health.expect_error(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
        assert!(message.contains("database"), "{message}");
        app.get(&format!("/api/alters/{alter}"), token)
            .await
            .expect_error(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
    }

    /// Every write answered 201 is in the database; every alter in the database has its audit
    /// entry; every answer was 201 or 503.
    async fn assert_nothing_lost(app: &TestApp, attempts: &[Attempt]) {
        let stored: Vec<(Id, String)> = app
            .state
            .db
            .conn()
            .fetch_all(Stmt::new("SELECT id, name FROM alters"))
            .await
            .unwrap();
        let audited: Vec<(Option<String>,)> = app
            .state
            .db
            .conn()
            .fetch_all(Stmt::new(
                "SELECT entity_id FROM audit_logs WHERE action = 'alter.create'",
            ))
            .await
            .unwrap();
        let audited: std::collections::HashSet<String> =
            audited.into_iter().filter_map(|(e,)| e).collect();
        let names: std::collections::HashSet<&str> =
            stored.iter().map(|(_, n)| n.as_str()).collect();
        for attempt in attempts {
            assert!(
                matches!(
                    attempt.status,
                    StatusCode::CREATED | StatusCode::SERVICE_UNAVAILABLE
                ),
                "{}: answered {} {}",
                attempt.name,
                attempt.status,
                attempt.code
            );
            if attempt.status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(attempt.code, "database_unavailable", "{}", attempt.name);
            }
            if attempt.status == StatusCode::CREATED {
                assert!(
                    names.contains(attempt.name.as_str()),
                    "{} was answered 201 but is not stored",
                    attempt.name
                );
            }
        }
        for (id, name) in &stored {
            assert!(
                audited.contains(&id.to_string()),
                "alter {name} is stored without its audit entry: half applied"
            );
        }
        assert_eq!(
            stored.len(),
            audited.len(),
            "audit entries without their alter"
        );
    }

    /// Runs writers through an outage made by `away` and ended by `back`, and checks what the
    /// server answered during and after it.
    async fn outage<Away, Back>(app: TestApp, away: Away, back: Back)
    where
        Away: AsyncFnOnce(),
        Back: AsyncFnOnce(),
    {
        let app = Arc::new(app);
        let (_, token) = app.approved_user("writer").await;
        let system = app.system(&token, "Outage").await;
        let before = app.alter(&token, system, "before").await;

        let stop = Arc::new(AtomicBool::new(false));
        let tasks = writers(&app, &token, system, &stop);
        tokio::time::sleep(Duration::from_millis(500)).await;
        away().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_unavailable(&app, &token, before).await;
        back().await;
        until_healthy(&app).await;
        // `/health` may answer before every pooled connection is replaced: on a loaded
        // machine a writer's request can still meet a dead one. Writes have recovered once one
        // of ours goes through; the writers then go on for a while before they stop.
        until_a_write_succeeds(&app, &token, system).await;
        let recovered = Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        let mut attempts = Vec::new();
        for task in tasks {
            attempts.extend(task.await.unwrap());
        }

        let refused = attempts
            .iter()
            .filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE)
            .count();
        assert!(refused > 0, "no write met the outage");
        let last = attempts
            .iter()
            .rev()
            .find(|a| a.name.starts_with("w0-"))
            .unwrap();
        assert_eq!(
            last.status,
            StatusCode::CREATED,
            "writes after the recovery must succeed; w0's last attempts, sent ms after the recovery: {:?}",
            attempts
                .iter()
                .filter(|a| a.name.starts_with("w0-"))
                .rev()
                .take(5)
                .map(|a| (a.status.as_u16(), millis_after(recovered, a.sent)))
                .collect::<Vec<_>>()
        );
        app.get(&format!("/api/alters/{before}"), &token)
            .await
            .expect(StatusCode::OK);
        let after = app.alter(&token, system, "after").await;
        assert_ne!(after, before);
        assert_nothing_lost(&app, &attempts).await;
    }

    /// A COPY cut off at the query timeout leaves answers owed that sqlx does not count: the
    /// transaction it was in must then be closed, not rolled back and reused, or the next call
    /// on that connection reads the COPY's leftovers as its own answer.
    #[tokio::test]
    async fn postgres_copy_cut_off_by_the_timeout_does_not_leave_its_connection_out_of_step() {
        use didhub_server::db::Arg;
        use sqlx::Connection as _;

        let database = TestDatabase::create(Backend::Postgres).await.unwrap();
        let mut locker = sqlx::PgConnection::connect(&database.url).await.unwrap();
        let app = TestApp::over(database, "?query_timeout=1&max_connections=1").await;
        let db = &app.state.db;
        sqlx::raw_sql("BEGIN; LOCK TABLE settings IN ACCESS EXCLUSIVE MODE")
            .execute(&mut locker)
            .await
            .unwrap();
        let mut tx = db.begin_write().await.unwrap();
        let row = vec![
            Arg::Text(Some("copied".into())),
            Arg::Json(json!(1)),
            Arg::Time(Some(Timestamp::now())),
        ];
        let err = tx
            .insert_rows("settings", &["name", "value", "updated_at"], vec![row])
            .await
            .unwrap_err();
        assert!(is_unavailable(&err), "{err}");
        // The database now answers the COPY, then whatever comes next.
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut locker)
            .await
            .unwrap();
        tx.rollback().await;
        for n in 1..=3 {
            let answer = db
                .conn()
                .fetch_int(Stmt::new("SELECT CAST(? AS BIGINT)").bind(n))
                .await
                .unwrap_or_else(|e| panic!("call {n} after the cut-off COPY: {e}"));
            assert_eq!(answer, n, "call {n} read another call's answer");
        }
    }

    /// One call after another takes the connection put back last (the pool is a stack, vendored
    /// sqlx's patch 3), not each of the pool's connections in turn.
    #[tokio::test]
    async fn postgres_calls_one_after_another_keep_to_one_connection() {
        let database = TestDatabase::create(Backend::Postgres).await.unwrap();
        let app = TestApp::over(database, "?max_connections=3&min_connections=3").await;
        let db = &app.state.db;
        // Three transactions at once open the pool's three connections.
        let (a, b, c) = tokio::join!(db.begin_read(), db.begin_read(), db.begin_read());
        for tx in [a, b, c] {
            tx.unwrap().rollback().await;
        }
        let mut pids = Vec::new();
        for _ in 0..6 {
            let pid = db
                .conn()
                .fetch_int(Stmt::new("SELECT CAST(pg_backend_pid() AS BIGINT)"))
                .await
                .unwrap();
            pids.push(pid);
        }
        assert!(pids.iter().all(|&p| p == pids[0]), "{pids:?}");
    }

    async fn app_on(kind: Backend) -> (Dedicated, TestApp) {
        let server = dedicated(kind).await.unwrap_or_else(|e| panic!("{e}"));
        let database = server.database().await.unwrap_or_else(|e| panic!("{e}"));
        let app = TestApp::over(database, IMPATIENT).await;
        (server, app)
    }

    #[apply(servers)]
    #[tokio::test]
    async fn paused(#[case] kind: Backend) {
        let (server, app) = app_on(kind).await;
        outage(
            app,
            async || server.pause().await.unwrap(),
            async || server.unpause().await.unwrap(),
        )
        .await;
    }

    #[apply(servers)]
    #[tokio::test]
    async fn stopped(#[case] kind: Backend) {
        let (server, app) = app_on(kind).await;
        outage(
            app,
            async || server.stop().await.unwrap(),
            async || server.start().await.unwrap(),
        )
        .await;
    }

    /// Two transactions that update two rows in opposite orders deadlock; the database picks a
    /// victim, which is answered 503 (try again) rather than 500, and the other one commits.
    #[apply(servers)]
    #[tokio::test]
    async fn deadlock_victim_is_unavailable(#[case] kind: Backend) {
        let app = TestApp::over(TestDatabase::create(kind).await.unwrap(), "").await;
        let db = &app.state.db;
        let set = |name: &'static str| {
            Stmt::new("UPDATE settings SET value = ? WHERE name = ?")
                .bind(json!(2))
                .bind(name)
        };
        for name in ["a", "b"] {
            db.conn()
                .execute(
                    Stmt::new("INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)")
                        .bind(name)
                        .bind(json!(1))
                        .bind(Timestamp::now()),
                )
                .await
                .unwrap();
        }
        let (mut first, mut second) = (
            db.begin_write().await.unwrap(),
            db.begin_write().await.unwrap(),
        );
        first.conn().execute(set("a")).await.unwrap();
        second.conn().execute(set("b")).await.unwrap();
        let crossing = |mut tx: didhub_server::db::Tx, name| async move {
            tx.conn().execute(set(name)).await?;
            tx.commit().await
        };
        let (one, other) = tokio::join!(crossing(first, "b"), crossing(second, "a"));
        let errors: Vec<sqlx::Error> = [one, other].into_iter().filter_map(Result::err).collect();
        assert_eq!(errors.len(), 1, "exactly one victim: {errors:?}");
        let err = errors.into_iter().next().unwrap();
        assert!(is_unavailable(&err), "{err}");
        assert_eq!(ApiError::from(err).status, StatusCode::SERVICE_UNAVAILABLE);
    }

    /// The database drops the pool's only connection while it sits idle (a restart, a firewall,
    /// an operator's kill); then one query runs. What it answers, and the connection it ran on.
    async fn query_after_the_idle_connection_is_killed(
        kind: Backend,
        pool_parameters: &str,
    ) -> (Result<i64, sqlx::Error>, i64, i64) {
        let database = TestDatabase::create(kind).await.unwrap();
        let url = database.url.clone();
        // The server's own connection is killed: through a pooler, the pooler's would be.
        let config = crate::support::direct_config(&database, pool_parameters);
        let app = TestApp::serving(database, config).await;
        let db = &app.state.db;
        let (whoami, kill) = match kind {
            Backend::Postgres => (
                "SELECT CAST(pg_backend_pid() AS BIGINT)",
                "SELECT pg_terminate_backend",
            ),
            Backend::MySql => ("SELECT CAST(CONNECTION_ID() AS SIGNED)", "KILL"),
            Backend::Sqlite => unreachable!("SQLite has no connection to kill"),
        };
        let killed = db.conn().fetch_int(Stmt::new(whoami)).await.unwrap();
        // sqlx gives the connection back (and pings it) in a task of its own: wait until it is
        // back, or the kill could come first and the ping on the way back would catch it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while db.idle_connections() == 0 {
            assert!(
                Instant::now() < deadline,
                "{kind}: the connection never came back to the pool"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let operator = didhub_harness::backend::Pool::connect(kind, &url)
            .await
            .unwrap();
        let statement = match kind {
            // Waits (up to 5 s) until the backend has exited.
            Backend::Postgres => format!("{kill}({killed}, 5000)"),
            _ => format!("{kill} {killed}"),
        };
        operator.execute(&statement).await.unwrap();
        operator.close().await;
        // Long enough for MySQL to have closed the socket, and for the connection to count as
        // idle past a one-second `check_idle_after`.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let answer = db.conn().fetch_int(Stmt::new(whoami)).await;
        let next = db.conn().fetch_int(Stmt::new(whoami)).await.unwrap();
        (answer, killed, next)
    }

    /// Connections are not pinged before every use (that is one round trip per query), but one
    /// idle for longer than `check_idle_after` is: the dead connection is replaced before the
    /// query runs, and nothing fails. With the check out of reach (an hour), the query runs on
    /// the dead connection and fails as unavailable (503) — what the check protects against —
    /// and the pool has replaced the connection by the next query.
    #[apply(servers)]
    #[tokio::test]
    async fn an_idle_connection_the_database_dropped_is_replaced_before_use(#[case] kind: Backend) {
        let (answer, killed, next) = query_after_the_idle_connection_is_killed(
            kind,
            "?max_connections=1&check_idle_after=1",
        )
        .await;
        let replaced =
            answer.unwrap_or_else(|e| panic!("{kind}: the dead connection was used: {e}"));
        assert_ne!(replaced, killed, "{kind}: a new connection");
        assert_eq!(next, replaced, "{kind}: and it is kept");

        let (answer, killed, next) = query_after_the_idle_connection_is_killed(
            kind,
            "?max_connections=1&check_idle_after=3600",
        )
        .await;
        let err = answer.expect_err("unchecked, the dead connection is used");
        assert!(is_unavailable(&err), "{kind}: {err}");
        assert_ne!(next, killed, "{kind}: the dead connection was closed");
    }
}

/// A database call that goes unanswered is abandoned after `query_timeout` as unavailable (503),
/// and its connection with it: on a pool of one connection, the next call is served at once by a
/// new connection, not after the abandoned statement ends (sqlx's ping on release used to keep
/// the connection out of the pool until then; a connection put back as it was would make the
/// next call wait for it, or run inside the abandoned transaction). On PostgreSQL and MySQL the
/// next write commits without the abandoned transaction's row. On SQLite, which nothing in sqlx
/// interrupts, the abandoned statement runs on until it ends, keeping the database's one writer
/// and its connection's place in the pool until then: there the pool has two connections, and
/// only the read is checked.
#[apply(backends)]
#[tokio::test]
async fn call_abandoned_after_the_query_timeout(backend: Backend) {
    let database = didhub_harness::TestDatabase::create(backend).await.unwrap();
    let connections = match database.kind {
        didhub_migrations::Backend::Sqlite => 2,
        _ => 1,
    };
    let app = TestApp::over(
        database,
        &format!("?query_timeout=1&max_connections={connections}&acquire_timeout=5"),
    )
    .await;
    let db = &app.state.db;
    let slow = match backend {
        Backend::Postgres => "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_sleep(30)",
        Backend::MySql => "SELECT CAST(SLEEP(30) AS SIGNED)",
        // Counting to a billion takes SQLite far longer than a second.
        Backend::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000000) \
             SELECT COUNT(*) FROM c"
        }
    };
    let setting = |name: &'static str| {
        Stmt::new("INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)")
            .bind(name)
            .bind(json!(1))
            .bind(Timestamp::now())
    };
    let mut tx = db.begin_write().await.unwrap();
    tx.conn().execute(setting("abandoned")).await.unwrap();
    let err = tx.conn().fetch_int(Stmt::new(slow)).await.unwrap_err();
    assert!(is_unavailable(&err), "{err}");
    assert!(
        err.to_string().contains("did not answer within 1s"),
        "{err}"
    );
    assert_eq!(ApiError::from(err).status, StatusCode::SERVICE_UNAVAILABLE);
    drop(tx);

    let count = |name: &'static str| {
        db.conn()
            .fetch_int(Stmt::new("SELECT COUNT(*) FROM settings WHERE name = ?").bind(name))
    };
    let read = count("abandoned")
        .await
        .unwrap_or_else(|e| panic!("{backend}: the next call waited for the abandoned one: {e}"));
    assert_eq!(read, 0, "{backend}: the abandoned transaction committed");
    if backend == Backend::Sqlite {
        return;
    }
    db.write(move |tx| {
        Box::pin(async move {
            tx.conn().execute(setting("after")).await?;
            Ok::<_, sqlx::Error>(())
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{backend}: the next write failed: {e}"));
    assert_eq!(count("after").await.unwrap(), 1, "{backend}");
    assert_eq!(
        count("abandoned").await.unwrap(),
        0,
        "{backend}: the abandoned transaction committed with the next write"
    );
}

/// SQLite's outage: another process takes the write lock and keeps it past the busy timeout.
/// Writes get 503 (not "database is locked" as a 500), reads go on (WAL), and once the lock is
/// released writes succeed again.
#[tokio::test]
async fn sqlite_write_lock_held_by_another_process() {
    let database = didhub_harness::TestDatabase::create(didhub_migrations::Backend::Sqlite)
        .await
        .unwrap();
    let path = database.url.trim_start_matches("sqlite://").to_owned();
    let app = TestApp::over(database, IMPATIENT).await;
    let (_, token) = app.approved_user("writer").await;
    let system = app.system(&token, "Locked").await;
    let before = app.alter(&token, system, "before").await;

    let mut other = sqlite3(&path);
    let stdin = other.stdin.as_mut().unwrap();
    use std::io::Write as _;
    writeln!(stdin, "BEGIN IMMEDIATE; SELECT 'locked';").unwrap();
    stdin.flush().unwrap();
    wait_for_line(&mut other, "locked");

    app.post(
        "/api/alters",
        &token,
        json!({ "system_id": system, "name": "while locked" }),
    )
    .await
    .expect_error(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
    app.get(&format!("/api/alters/{before}"), &token)
        .await
        .expect(StatusCode::OK);

    let stdin = other.stdin.as_mut().unwrap();
    writeln!(stdin, "ROLLBACK;").unwrap();
    drop(other.stdin.take());
    assert!(other.wait().unwrap().success());
    let after = app.alter(&token, system, "after").await;
    let page = app
        .get(&format!("/api/alters?system_id={system}"), &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(crate::support::names(&page), ["after", "before"]);
    assert_ne!(after, before);
}

/// The `sqlite3` shell on `path`, reading statements from a pipe.
fn sqlite3(path: &str) -> std::process::Child {
    Command::new("sqlite3")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sqlite3 (CI installs it; apt-get install sqlite3)")
}

fn wait_for_line(child: &mut std::process::Child, expected: &str) {
    use std::io::BufRead as _;
    let stdout = child.stdout.as_mut().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), expected);
}

/// Nothing listens on the port: the server exits non-zero with the backend and the reason.
#[test]
fn startup_against_a_refusing_database_fails_with_the_reason() {
    for (backend, scheme) in [("postgres", "postgres"), ("mysql", "mysql")] {
        let port = didhub_harness::images::free_port(didhub_migrations::Backend::Postgres).unwrap();
        let ended = start_server(&format!(
            "{scheme}://u:p@127.0.0.1:{port}/didhub?connect_timeout=2&acquire_timeout=1"
        ));
        assert!(
            !ended.success,
            "{backend}: the server started without a database"
        );
        assert!(
            ended
                .stderr
                .contains(&format!("cannot connect to the {backend} database")),
            "{backend}: {}",
            ended.stderr
        );
    }
}

/// Something accepts the connection and never answers (a hung or firewalled server): the server
/// gives up after `connect_timeout` and says so.
#[test]
fn startup_against_a_silent_database_gives_up_after_the_connect_timeout() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    for backend in ["postgres", "mysql"] {
        let ended = start_server(&format!(
            "{backend}://u:p@127.0.0.1:{port}/didhub?connect_timeout=2"
        ));
        assert!(
            !ended.success,
            "{backend}: the server started without a database"
        );
        assert!(
            ended.stderr.contains(&format!(
                "cannot connect to the {backend} database: no answer within 2s (connect_timeout)"
            )),
            "{backend}: {}",
            ended.stderr
        );
    }
    drop(silent);
}
