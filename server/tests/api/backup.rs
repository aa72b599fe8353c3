//! `POST /api/admin/backup` and `/api/admin/restore`: a backup restores exactly what was there
//! (on the same or another backend), a bad document is refused whole with the reason and
//! changes nothing, and only administrators may do either.

use didhub_server::data::{Digest, TABLES};
use didhub_server::db::Db;
use didhub_server::generate::{self, Size};
use didhub_server::progress::Progress;
use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, backends};
use didhub_migrations::Backend;
use rstest_reuse::apply;

/// Every table's digest but the audit log's (backups and restores are audited).
async fn digests(db: &Db) -> Vec<(&'static str, Digest)> {
    let mut tx = db.begin_read().await.unwrap();
    let mut digests = Vec::new();
    for &table in TABLES.iter().filter(|t| t.name != "audit_logs") {
        digests.push((table.name, Digest::of(table, &mut tx).await.unwrap()));
    }
    digests
}

/// A user with a system, awkward alters and a group; returns the admin's token and the system.
pub async fn some_data(app: &TestApp) -> (String, Value) {
    let admin = app.admin_token().await;
    let (_, token) = app.approved_user("robin").await;
    let system = app.system(&token, "Garden").await;
    let reply = app
        .post(
            "/api/alters",
            &token,
            json!({
                "system_id": system, "name": "Ash \"the\" 'brave'\t🦊",
                "description": "line one\nline two \\ back", "interests": ["tea", "ünïcødé"],
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/api/groups",
        &token,
        json!({ "system_id": system, "name": "Protectors" }),
    )
    .await
    .expect(StatusCode::CREATED);
    (
        admin,
        json!({ "system": system, "token": token, "alter": reply["id"] }),
    )
}

async fn backup(app: &TestApp, admin: &str) -> Value {
    app.post("/api/admin/backup", admin, json!({}))
        .await
        .expect(StatusCode::OK)
}

#[apply(backends)]
#[tokio::test]
async fn a_backup_restores_exactly_what_was_there(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (admin, ids) = some_data(&app).await;
    let before = digests(&app.state.db).await;
    let document = backup(&app, &admin).await;
    assert_eq!(document["format"], "didhub-backup/1");

    // Change things: delete the system (and its alters), add another.
    let token = ids["token"].as_str().unwrap();
    let system = ids["system"].as_str().unwrap();
    app.delete(&format!("/api/systems/{system}"), token)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.post("/api/systems", token, json!({ "name": "Later" }))
        .await
        .expect(StatusCode::CREATED);
    assert_ne!(digests(&app.state.db).await, before);

    let report = app
        .post("/api/admin/restore", &admin, document)
        .await
        .expect(StatusCode::OK);
    assert_eq!(digests(&app.state.db).await, before);
    assert_eq!(report["tables"].as_array().unwrap().len(), TABLES.len());
    let alter = app
        .get(
            &format!("/api/alters/{}", ids["alter"].as_str().unwrap()),
            token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(alter["description"], "line one\nline two \\ back");
    assert_eq!(
        app.audit_actions("action=admin.restore").await,
        ["admin.restore"]
    );
    assert_eq!(
        app.audit_actions("action=admin.backup").await,
        ["admin.backup"]
    );
}

#[apply(backends)]
#[tokio::test]
async fn a_bad_backup_is_refused_whole_and_changes_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (admin, _) = some_data(&app).await;
    let document = backup(&app, &admin).await;
    let before = digests(&app.state.db).await;

    let mut wrong_format = document.clone();
    wrong_format["format"] = json!("something-else/9");
    let mut other_version = document.clone();
    other_version["schema_version"] = json!(1);
    let mut bad_id = document.clone();
    bad_id["tables"][0]["rows"][0][0] = json!("not-a-uuid");
    let mut missing_table = document.clone();
    missing_table["tables"].as_array_mut().unwrap().pop();
    let mut short_row = document.clone();
    short_row["tables"][1]["rows"][0]
        .as_array_mut()
        .unwrap()
        .pop();

    for (document, status, code, says) in [
        (
            wrong_format,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "format",
        ),
        (
            other_version,
            StatusCode::CONFLICT,
            "conflict",
            "schema version 1",
        ),
        (
            bad_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "users, row 0, column id",
        ),
        (
            missing_table,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "tables",
        ),
        (
            short_row,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "systems, row 0",
        ),
    ] {
        let message = app
            .post("/api/admin/restore", &admin, document)
            .await
            .expect_error(status, code);
        assert!(
            message.contains(says),
            "{message:?} should mention {says:?}"
        );
        assert_eq!(digests(&app.state.db).await, before, "after: {message}");
    }
}

#[apply(backends)]
#[tokio::test]
async fn only_administrators_back_up_and_restore(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (admin, ids) = some_data(&app).await;
    let document = backup(&app, &admin).await;
    let token = ids["token"].as_str().unwrap();
    app.post("/api/admin/backup", token, json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.post("/api/admin/restore", token, document.clone())
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let reply = app
        .call(poem::http::Method::POST, "/api/admin/backup", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
}

#[apply(backends)]
#[tokio::test]
async fn a_restore_may_be_larger_than_other_requests(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.admin_token().await;
    generate::generate(
        &app.state.db,
        Size {
            alters: 1500,
            seed: 5,
        },
        &Progress::hidden(),
    )
    .await
    .unwrap();
    let document = backup(&app, &admin).await;
    let size = document.to_string().len();
    assert!(
        size > didhub_server::api::MAX_BODY_BYTES,
        "only {size} bytes"
    );
    let before = digests(&app.state.db).await;
    app.post("/api/admin/restore", &admin, document)
        .await
        .expect(StatusCode::OK);
    assert_eq!(digests(&app.state.db).await, before);
}

/// A backup taken on SQLite restores on PostgreSQL and MySQL.
#[cfg(feature = "containers")]
#[tokio::test]
async fn a_backup_moves_between_backends() {
    use didhub_migrations::Backend;
    let source = TestApp::start(Backend::Sqlite).await;
    let (admin, _) = some_data(&source).await;
    let document = backup(&source, &admin).await;
    let expected = digests(&source.state.db).await;
    for backend in [Backend::Postgres, Backend::MySql] {
        let target = TestApp::start(backend).await;
        let admin = target.admin_token().await;
        target
            .post("/api/admin/restore", &admin, document.clone())
            .await
            .expect(StatusCode::OK);
        assert_eq!(digests(&target.state.db).await, expected, "{backend}");
    }
}

/// The value in `column` of `table`'s row `row`, in a backup document.
fn cell<'a>(document: &'a mut Value, table: &str, row: usize, column: &str) -> &'a mut Value {
    let table = document["tables"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"] == table)
        .unwrap_or_else(|| panic!("no table {table}"));
    let position = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    &mut table["rows"][row][position]
}

/// Two users' systems: robin's (alters Ash and Birch, partners; Ash in group Protectors) and
/// kim's (alter Cedar), and a pending request for system rights. Returns the admin's token and
/// Cedar's id.
async fn two_systems(app: &TestApp) -> (String, String) {
    let (admin, ids) = some_data(app).await;
    let token = ids["token"].as_str().unwrap();
    let ash = ids["alter"].as_str().unwrap();
    let system = ids["system"].as_str().unwrap().parse().unwrap();
    let birch = app.alter(token, system, "Birch").await;
    app.post(
        &format!("/api/alters/{ash}/relationships"),
        token,
        json!({ "related_alter_id": birch, "type": "partner" }),
    )
    .await
    .expect(StatusCode::CREATED);
    let groups = app
        .get(&format!("/api/groups?system_id={system}"), token)
        .await
        .expect(StatusCode::OK);
    let group = groups["items"][0]["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/groups/{group}/members"),
        token,
        json!({ "alter_id": ash }),
    )
    .await
    .expect(StatusCode::CREATED);
    let (_, kim) = app.approved_user("kim").await;
    let kims = app.system(&kim, "Orchard").await;
    let cedar = app.alter(&kim, kims, "Cedar").await;
    app.register("casey").await;
    let casey = app.token_of("casey").await;
    app.post(
        "/api/me/request-system",
        &casey,
        json!({ "note": "please" }),
    )
    .await
    .expect(StatusCode::CREATED);
    (admin, cedar.to_string())
}

mod rules {
    use super::*;

    /// A restore loaded interests that were an object (every alter list then answered 500),
    /// another user's alter in a group or relationship, and password hashes whose cost aborted
    /// the process at the next login, and answered 500 for an unknown enum value or a NULL
    /// username. Each is now 422 naming where, and changes nothing.
    #[apply(backends)]
    #[tokio::test]
    async fn a_restore_breaking_the_apis_rules_is_refused_naming_where_and_changes_nothing(
        backend: Backend,
    ) {
        let app = TestApp::start(backend).await;
        let (admin, cedar) = two_systems(&app).await;
        let document = backup(&app, &admin).await;
        let before = digests(&app.state.db).await;
        let username = cell(&mut document.clone(), "users", 0, "username")
            .as_str()
            .unwrap()
            .to_owned();

        // Hashes a tampered backup could carry: one whose memory cost would abort the process
        // at the next login for the name, one that costs 1 GiB a login, and no hash at all.
        let costly = |m: u32| {
            json!(format!(
                "$argon2id$v=19$m={m},t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                 aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
            ))
        };
        let cases: [(&str, &str, Value); 11] = [
            ("users", "password_hash", costly(u32::MAX)),
            ("users", "password_hash", costly(1 << 20)),
            ("users", "password_hash", json!("hunter2")),
            ("alters", "interests", json!({ "tea": true })),
            ("alter_group_members", "alter_id", json!(cedar)),
            ("alter_relationships", "related_alter_id", json!(cedar)),
            ("alter_relationships", "relationship_type", json!("sibling")),
            ("system_requests", "status", json!("maybe")),
            ("users", "username", Value::Null),
            ("users", "username", json!(username.to_uppercase())),
            ("settings", "name", json!("no.such.setting")),
        ];
        for (table, column, value) in cases {
            let mut bad = document.clone();
            if table == "settings" {
                // No setting is stored until one is changed: add a row.
                let row = json!(["no.such.setting", true, "2026-01-01T00:00:00Z"]);
                let settings = bad["tables"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|t| t["name"] == "settings")
                    .unwrap();
                settings["rows"].as_array_mut().unwrap().insert(0, row);
            }
            *cell(&mut bad, table, 0, column) = value.clone();
            let message = app
                .post("/api/admin/restore", &admin, bad)
                .await
                .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            let place = format!("{table}, row 0, column {column}");
            assert!(
                message.contains(&place),
                "{value}: {message:?} should name {place:?}"
            );
            assert_eq!(
                digests(&app.state.db).await,
                before,
                "after {place} = {value}: {message}"
            );
        }
        app.post("/api/admin/restore", &admin, document)
            .await
            .expect(StatusCode::OK);
        assert_eq!(digests(&app.state.db).await, before);
    }

    /// What the database refuses by a NOT NULL or CHECK constraint is the client's mistake on
    /// every backend (422), not a server error.
    #[apply(backends)]
    #[tokio::test]
    async fn constraint_violations_are_answered_422_not_500(backend: Backend) {
        let app = TestApp::start(backend).await;
        use didhub_server::db::{Id, Stmt, Timestamp};
        use didhub_server::error::ApiError;
        let user = app.register("casey").await;
        for (what, stmt) in [
            (
                "CHECK",
                Stmt::new(
                    "INSERT INTO system_requests (id, user_id, status, created_at) \
                     VALUES (?, ?, 'maybe', ?)",
                )
                .bind(Id::new())
                .bind(user)
                .bind(Timestamp::now()),
            ),
            (
                "NOT NULL",
                Stmt::new(
                    "INSERT INTO users (id, username, password_hash, created_at, updated_at) \
                     VALUES (?, NULL, 'x', ?, ?)",
                )
                .bind(Id::new())
                .bind(Timestamp::now())
                .bind(Timestamp::now()),
            ),
        ] {
            let mut tx = app.state.db.begin_write().await.unwrap();
            let refused = tx.conn().execute(stmt).await.expect_err(what);
            let error = ApiError::from(refused);
            assert_eq!(
                error.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{what}: {error}"
            );
        }
    }
}

/// A request body the test feeds through an in-memory pipe, counting what the server read.
struct Feed {
    /// The test's end: what is written here is the body.
    writer: tokio::io::DuplexStream,
    /// Bytes of the body the server has read so far.
    read: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// The server's end of a [`Feed`].
struct Counted {
    reader: tokio::io::DuplexStream,
    read: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.reader).poll_read(cx, buf);
        let got = buf.filled().len() - before;
        self.read
            .fetch_add(got, std::sync::atomic::Ordering::SeqCst);
        polled
    }
}

/// A body the server reads through a pipe of `buffer` bytes: `write_all` of more than that
/// returns only once the server has read it.
fn feed(buffer: usize) -> (Feed, poem::Body) {
    let (writer, reader) = tokio::io::duplex(buffer);
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let body = poem::Body::from_async_read(Counted {
        reader,
        read: read.clone(),
    });
    (Feed { writer, read }, body)
}

/// 60 MiB, as in the review's upload.
const ANNOUNCED: u64 = 60 * 1024 * 1024;

/// A restore announced as [`ANNOUNCED`] bytes of which only 64 KiB arrive, the rest held back
/// for as long as it takes the server to answer. A server that reads before it decides never
/// answers: after a minute (only so that a hang fails), the test fails.
async fn held_back_restore(app: &TestApp, token: Option<&str>) -> (Reply, usize) {
    use tokio::io::AsyncWriteExt as _;
    let (mut feed, body) = feed(1024 * 1024);
    feed.writer.write_all(&[b' '; 64 * 1024]).await.unwrap();
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        app.streamed("/api/admin/restore", token, Some(ANNOUNCED), body),
    )
    .await
    .expect("no answer before the body was complete: the server waits to read it");
    let read = feed.read.load(std::sync::atomic::Ordering::SeqCst);
    drop(feed);
    (reply, read)
}

mod admission {
    use super::*;

    /// Regression: the restore endpoint read up to 64 MiB from anyone before checking who sent it.
    /// Anonymous, invalid-token and non-admin restores are answered 401/403 while their body is
    /// still arriving, without a byte of it read.
    #[apply(backends)]
    #[tokio::test]
    async fn a_restore_by_anyone_but_an_administrator_is_refused_before_its_body_is_read(
        backend: Backend,
    ) {
        let app = TestApp::start(backend).await;
        app.register("casey").await;
        let casey = app.token_of("casey").await;
        for (who, token, status) in [
            ("anonymous", None, StatusCode::UNAUTHORIZED),
            (
                "an invalid token",
                Some("not.a.token"),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "an unapproved user",
                Some(casey.as_str()),
                StatusCode::FORBIDDEN,
            ),
        ] {
            let (reply, read) = held_back_restore(&app, token).await;
            assert_eq!(reply.status, status, "{who}: {}", reply.text);
            assert_eq!(read, 0, "{who}: the server read {read} bytes of the body");
        }
    }

    /// Regression: restores ran side by side, each holding its document in memory.
    /// While one restore's body is being read, a second is answered 409 `restore_in_progress`
    /// with Retry-After, without its body read; once the first is answered, restores run again.
    #[apply(backends)]
    #[tokio::test]
    async fn a_second_restore_while_one_runs_is_refused_without_reading_it(backend: Backend) {
        let app = TestApp::start(backend).await;
        use tokio::io::AsyncWriteExt as _;
        let (admin, _) = some_data(&app).await;
        let document = backup(&app, &admin).await.to_string().into_bytes();
        let (mut first, body) = feed(1024);
        let running = app.streamed("/api/admin/restore", Some(&admin), None, body);
        let meanwhile = async {
            // More than the pipe holds: written once the server reads the first restore's body.
            first.writer.write_all(&document[..4096]).await.unwrap();
            let (second, read) = held_back_restore(&app, Some(&admin)).await;
            first.writer.write_all(&document[4096..]).await.unwrap();
            first.writer.shutdown().await.unwrap();
            (second, read)
        };
        let (first_reply, (second, read)) = tokio::join!(running, meanwhile);
        assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
        assert_eq!(
            second.body["code"], "restore_in_progress",
            "{}",
            second.text
        );
        assert_eq!(
            second.retry_after,
            Some(didhub_server::api::RESTORE_RETRY_AFTER_SECS)
        );
        assert_eq!(read, 0, "the second restore's body was read");
        assert_eq!(first_reply.status, StatusCode::OK, "{}", first_reply.text);
        app.post(
            "/api/admin/restore",
            &admin,
            serde_json::from_slice(&document).unwrap(),
        )
        .await
        .expect(StatusCode::OK);
    }
}

/// The server binary, serving over its own SQLite file; killed when dropped.
struct ServerProcess {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    fn start() -> ServerProcess {
        use std::io::BufRead as _;
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"password_hash":{"memory_kib":8,"iterations":1}}"#,
        )
        .unwrap();
        let database = dir.path().join("didhub.sqlite");
        let mut child = Command::new(env!("CARGO_BIN_EXE_didhub-server"))
            .arg("--config")
            .arg(&config)
            .env("DIDHUB_DB", format!("sqlite://{}", database.display()))
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("DIDHUB_SECRET", crate::support::SECRET)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The log says where it listens; it is read to the end, so that it never blocks the
        // server.
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (found, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some((_, rest)) = line.split_once("listening on http://") {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(addr.to_owned());
                }
            }
        });
        let addr = listening
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("didhub-server did not say where it listens within two minutes");
        ServerProcess {
            child,
            addr,
            _dir: dir,
        }
    }

    /// The peak resident memory so far (`VmHWM`), in bytes.
    fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// Sends a request (announcing `length` bytes, sending `body`) and reads the answer: status
    /// and body. `None` when the server closed the connection before answering.
    fn request(
        &self,
        path: &str,
        token: Option<&str>,
        length: u64,
        body: impl IntoIterator<Item = Vec<u8>>,
    ) -> Option<(u16, String)> {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(120)))
            .unwrap();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\n{auth}Connection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(head.as_bytes()).unwrap();
        for chunk in body {
            // A server that has answered closes the connection: the rest is not wanted.
            if stream.write_all(&chunk).is_err() {
                break;
            }
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        let status = answer.split_whitespace().nth(1)?.parse().ok()?;
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Some((status, body.to_owned()))
    }

    fn json(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let body = body.to_string().into_bytes();
        let (status, text) = self
            .request(path, token, body.len() as u64, [body])
            .expect("no answer");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Regression, measured on the server binary: an unapproved account's 60 MiB restore took the
/// server from 66 MB to 2.17 GB before the 403 (3.5 GB with three at once). Three at once, and an
/// anonymous one, now leave its peak resident memory (VmHWM) within 50 MB of what it was, and each
/// is refused while its body is still arriving.
#[test]
fn refused_60_mib_restores_leave_the_servers_peak_memory_where_it_was() {
    const MB: u64 = 1_000_000;
    let server = ServerProcess::start();
    let credentials =
        json!({ "username": "casey", "password": crate::support::password_of("casey") });
    let (status, _) = server.json("/api/auth/register", None, credentials.clone());
    assert_eq!(status, 201);
    let (status, login) = server.json("/api/auth/login", None, credentials);
    assert_eq!(status, 200, "{login}");
    let casey = login["token"].as_str().unwrap().to_owned();

    // Refused while the body is still arriving: 64 KiB of 60 MiB sent, the rest held back.
    let announced = ANNOUNCED;
    let (status, body) = server
        .request(
            "/api/admin/restore",
            Some(&casey),
            announced,
            [vec![b' '; 64 * 1024]],
        )
        .expect("no answer");
    assert_eq!(status, 403, "{body}");

    let before = server.peak_memory();
    let chunks = || (0..announced / (64 * 1024)).map(|_| vec![b' '; 64 * 1024]);
    std::thread::scope(|scope| {
        let uploads: Vec<_> = [
            Some(casey.as_str()),
            Some(casey.as_str()),
            Some(casey.as_str()),
            None,
        ]
        .into_iter()
        .map(|token| {
            let server = &server;
            scope.spawn(move || server.request("/api/admin/restore", token, announced, chunks()))
        })
        .collect();
        for upload in uploads {
            if let Some((status, body)) = upload.join().unwrap() {
                assert!([401, 403].contains(&status), "{status}: {body}");
            }
        }
    });
    let after = server.peak_memory();
    eprintln!(
        "didhub-server peak RSS (VmHWM): {:.1} MB before, {:.1} MB after four refused 60 MiB \
         restores",
        before as f64 / MB as f64,
        after as f64 / MB as f64
    );
    assert!(
        after < before + 50 * MB,
        "peak memory grew from {before} to {after} bytes"
    );
}
