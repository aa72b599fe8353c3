//! A server in process over a real database, and a client that speaks its JSON.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use didhub_harness::timings;
use didhub_migrations::Backend;
use didhub_server::config::Config;
use didhub_server::config::PasswordCost;
use didhub_server::db::Id;
use didhub_server::rate_limit::{ManualClock, RateLimitConfig, RateLimits};
use didhub_server::refusals::Refusals;
use didhub_server::{AppState, app};
use poem::endpoint::BoxEndpoint;
use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, EndpointExt, Request, RequestParts, Response};
use serde_json::{Value, json};

pub const ADMIN: &str = "root";
pub const ADMIN_PASSWORD: &str = "bootstrap-password-1";
pub const SECRET: &str = "test-secret-test-secret-test-secret!";
/// A request carrying this header reaches the API as if sent from that IP address (the test
/// client has no peer address of its own).
const CLIENT_IP: &str = "x-test-client-ip";

pub(crate) use didhub_harness::backends;

/// The server under test: migrated, with a bootstrap admin, over a fresh database.
pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    pub state: AppState,
    pub config: Config,
    _database: didhub_harness::TestDatabase,
}

/// A response: status and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    /// The `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// The `Allow` header.
    pub allow: Option<String>,
}

impl Reply {
    async fn of(response: poem::test::TestResponse) -> Reply {
        let status = response.0.status();
        let retry_after = response
            .0
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        let allow = response
            .0
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.0.into_body().into_string().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            retry_after,
            allow,
        }
    }

    /// The body, after checking the status.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self.body
    }

    /// Checks an error response: status, `code`, and that `error` explains it.
    #[track_caller]
    pub fn expect_error(self, status: StatusCode, code: &str) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.body["code"], code,
            "unexpected code; body: {}",
            self.text
        );
        let message = self.body["error"].as_str().unwrap_or_default().to_owned();
        assert!(!message.is_empty(), "error without a reason: {}", self.text);
        message
    }
}

/// Installs, once, the global subscriber: the server's warnings and errors go to libtest's
/// captured output, so a failing test shows why the server answered as it did (a 500 says only
/// "it has been logged"). It also wants info events, and drops them: without a global subscriber
/// that wants them, tracing can cache "nobody wants this event" for a call site that another
/// test's thread reaches first while a test's own subscriber is being registered, and the event
/// is lost to that test (seen on MySQL in the mail-log test: no mail line at all).
pub fn server_log_in_failures() {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        use tracing_subscriber::Layer;
        use tracing_subscriber::filter::{EnvFilter, LevelFilter};
        use tracing_subscriber::layer::SubscriberExt;
        let warnings = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_ansi(false)
            .with_filter(LevelFilter::WARN);
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("info"))
            .with(warnings);
        tracing::subscriber::set_global_default(subscriber)
            .expect("only support.rs sets the global subscriber");
    });
}

/// Set to `pgbouncer`, the PostgreSQL tests reach their database through pgbouncer in
/// transaction pooling (`database.pooler = "transaction"`), migrating over the direct URL
/// (`database.migration_url`): `just test-pgbouncer`.
pub const POOLER_VARIABLE: &str = "DIDHUB_TEST_POSTGRES_POOLER";

/// The configuration the tests serve with: `database` with `pool_parameters` (`?query_timeout=2…`)
/// added to its URL, the test secret and admin, port 0 (a free one, for the tests that serve
/// over TCP).
pub async fn test_config(database: &didhub_harness::TestDatabase, pool_parameters: &str) -> Config {
    let mut env = direct_environment(database, pool_parameters);
    match std::env::var(POOLER_VARIABLE).as_deref() {
        // A database on a server of the test's own (which it pauses and stops) is reached
        // directly: the pooler stands in front of the shared server.
        Ok("pgbouncer") if database.kind == Backend::Postgres => {
            let pooled = database
                .through_pgbouncer()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            if let Some(pooled) = pooled {
                env.insert("DIDHUB_DB", format!("{pooled}{pool_parameters}"));
                env.insert("DIDHUB_DB_POOLER", "transaction".to_owned());
                env.insert("DIDHUB_MIGRATION_DB", database.url.clone());
            }
        }
        Ok("pgbouncer") | Err(_) => {}
        Ok(other) => panic!("{POOLER_VARIABLE}={other:?}: the one pooler known is pgbouncer"),
    }
    config_of(&env)
}

/// [`test_config`] reaching the database directly whatever [`POOLER_VARIABLE`] says: for the
/// tests of what the server's own connections do when the database drops them.
pub fn direct_config(database: &didhub_harness::TestDatabase, pool_parameters: &str) -> Config {
    config_of(&direct_environment(database, pool_parameters))
}

fn direct_environment(
    database: &didhub_harness::TestDatabase,
    pool_parameters: &str,
) -> HashMap<&'static str, String> {
    HashMap::from([
        ("DIDHUB_DB", format!("{}{pool_parameters}", database.url)),
        ("DIDHUB_SECRET", SECRET.to_owned()),
        ("DIDHUB_BOOTSTRAP_ADMIN_USERNAME", ADMIN.to_owned()),
        ("DIDHUB_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("PORT", "0".to_owned()),
    ])
}

fn config_of(env: &HashMap<&'static str, String>) -> Config {
    let mut config = Config::from_sources(None, |k| env.get(k).cloned()).unwrap();
    // Thousands of passwords are hashed in the suite: at the least cost Argon2 allows
    // (`auth::tests` prove the production default).
    config.password_hash = PasswordCost::MINIMUM;
    config
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        let kind = backend;
        let database = didhub_harness::TestDatabase::migrated(kind, "didhub", backend.migrator())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        TestApp::over(database, "").await
    }

    /// The server over `database` (migrated here if it is not yet), with `pool_parameters`
    /// (`?query_timeout=2…`) added to its URL.
    pub async fn over(database: didhub_harness::TestDatabase, pool_parameters: &str) -> TestApp {
        let config = test_config(&database, pool_parameters).await;
        TestApp::serving(database, config).await
    }

    /// The server with `config`, over `database`.
    pub async fn serving(database: didhub_harness::TestDatabase, config: Config) -> TestApp {
        server_log_in_failures();
        let state = timings::timed(
            "app start",
            database.kind.name(),
            didhub_server::prepare(&config),
        )
        .await
        .unwrap();
        TestApp {
            client: client(state.clone()),
            state,
            config,
            _database: database,
        }
    }

    /// The database's own URL, reached directly even when the server goes through a pooler
    /// ([`POOLER_VARIABLE`]): what a test reads the database with, and what the maintenance
    /// tools (`db copy`, `db generate`, the backends' dump tools) are given.
    pub fn database_url(&self) -> &str {
        &self._database.url
    }

    /// The same server with other rate limits, counting on a clock the test moves.
    pub fn with_limits(mut self, limits: RateLimitConfig) -> (TestApp, ManualClock) {
        let clock = ManualClock::default();
        self.state.limits = Arc::new(RateLimits::new(&limits, Arc::new(clock.clone())));
        self.config.rate_limit = limits;
        self.client = client(self.state.clone());
        (self, clock)
    }

    /// The same server counting refusals ([`Refusals`]) in `window` on a clock the test moves.
    pub fn with_refusal_window(mut self, window: std::time::Duration) -> (TestApp, ManualClock) {
        let clock = ManualClock::default();
        self.state.refusals = Arc::new(Refusals::new(window, Arc::new(clock.clone())));
        self.config.audit.refusal_window = window;
        self.client = client(self.state.clone());
        (self, clock)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.raw(method, path, token, body).await
    }

    /// Sends raw bytes with a content type of the caller's choosing.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        self.raw_from(None, method, path, token, body).await
    }

    /// A JSON request from the client address `ip`.
    pub async fn call_from(
        &self,
        ip: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.raw_from(Some(ip), method, path, token, body).await
    }

    /// Sends raw bytes, optionally from the client address `ip`.
    pub async fn raw_from(
        &self,
        ip: Option<&str>,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut request = self.client.request(method.clone(), path);
        if let Some(ip) = ip {
            request = request.header(CLIENT_IP, ip);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some((content_type, bytes)) = body {
            request = request.content_type(content_type).body(bytes);
        }
        let phase = if hashes_a_password(&method, path) {
            "request with a password (Argon2)"
        } else {
            "request"
        };
        let backend = self.config.database.backend.name();
        Reply::of(timings::timed(phase, backend, request.send()).await).await
    }

    /// A JSON `POST` whose body is read from `body` as the server asks for it, announced as
    /// `length` bytes when given (the test decides how much of it ever arrives).
    pub async fn streamed(
        &self,
        path: &str,
        token: Option<&str>,
        length: Option<u64>,
        body: poem::Body,
    ) -> Reply {
        let mut request = self
            .client
            .post(path)
            .content_type("application/json")
            .body(body);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(length) = length {
            request = request.header("content-length", length);
        }
        Reply::of(request.send().await).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "username": username, "password": password })),
        )
        .await
    }

    /// A token for the bootstrap admin.
    /// The OpenAPI document the server serves.
    pub async fn openapi(&self) -> Value {
        self.call(Method::GET, "/api/openapi.json", None, None)
            .await
            .expect(StatusCode::OK)
    }

    pub async fn admin_token(&self) -> String {
        let body = self
            .login(ADMIN, ADMIN_PASSWORD)
            .await
            .expect(StatusCode::OK);
        body["token"].as_str().unwrap().to_owned()
    }

    /// Registers `username` (password `<username>-password-1`) without approval.
    pub async fn register(&self, username: &str) -> Id {
        let body = self
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({ "username": username, "password": password_of(username) })),
            )
            .await
            .expect(StatusCode::CREATED);
        id(&body)
    }

    /// Registers `username`, has the admin approve it, and logs in: `(id, token)`.
    pub async fn approved_user(&self, username: &str) -> (Id, String) {
        let id = self.register(username).await;
        let admin = self.admin_token().await;
        self.put(
            &format!("/api/users/{id}"),
            &admin,
            json!({ "is_approved": true }),
        )
        .await
        .expect(StatusCode::OK);
        let token = self
            .login(username, &password_of(username))
            .await
            .expect(StatusCode::OK)["token"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, token)
    }

    /// Logs in an existing user registered with [`TestApp::register`].
    pub async fn token_of(&self, username: &str) -> String {
        self.login(username, &password_of(username))
            .await
            .expect(StatusCode::OK)["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a system for the token's owner and returns its id.
    pub async fn system(&self, token: &str, name: &str) -> Id {
        id(&self
            .post("/api/systems", token, json!({ "name": name }))
            .await
            .expect(StatusCode::CREATED))
    }

    /// Creates an alter and returns its id.
    pub async fn alter(&self, token: &str, system: Id, name: &str) -> Id {
        id(&self
            .post(
                "/api/alters",
                token,
                json!({ "system_id": system, "name": name }),
            )
            .await
            .expect(StatusCode::CREATED))
    }

    /// The audit log's actions, newest first.
    pub async fn audit_actions(&self, query: &str) -> Vec<String> {
        let admin = self.admin_token().await;
        let body = self
            .get(&format!("/api/audit?limit=200&{query}"), &admin)
            .await
            .expect(StatusCode::OK);
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Whether the request hashes or verifies a password (for the phase table of `just test-times`).
fn hashes_a_password(method: &Method, path: &str) -> bool {
    [
        "/api/auth/login",
        "/api/auth/register",
        "/api/me/password",
        "/api/auth/password-reset/consume",
    ]
    .iter()
    .any(|p| path.starts_with(p))
        || (method == Method::POST && path == "/api/users")
}

/// The application as the tests reach it: requests with [`CLIENT_IP`] come from that address.
fn client(state: AppState) -> TestClient<BoxEndpoint<'static, Response>> {
    let endpoint = app(state).before(|request: Request| async move {
        let ip = request
            .header(CLIENT_IP)
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        let Some(ip) = ip else {
            return Ok(request);
        };
        let (parts, body) = request.into_parts();
        let mut http = poem::http::Request::builder()
            .method(parts.method)
            .uri(parts.uri)
            .version(parts.version)
            .body(())
            .unwrap();
        *http.headers_mut() = parts.headers;
        let (http, ()) = http.into_parts();
        let remote = RemoteAddr(Addr::SocketAddr(SocketAddr::new(ip, 40000)));
        let parts = RequestParts::from((
            http,
            LocalAddr::default(),
            remote,
            poem::http::uri::Scheme::HTTP,
        ));
        Ok(Request::from_parts(parts, body))
    });
    TestClient::new(endpoint.boxed())
}

/// Rate limits over a one-minute window: `per_username` failed logins and reset requests per
/// username from one address, `per_ip` of each (and registrations) per address; 0 is no limit.
/// The account's slowdown across addresses is off.
pub fn limits(per_username: u32, per_ip: u32) -> RateLimitConfig {
    RateLimitConfig {
        window: Duration::from_secs(60),
        login_failures_per_username: per_username,
        login_failures_per_ip: per_ip,
        login_failures_per_account: 0,
        reset_requests_per_username: per_username,
        reset_requests_per_ip: per_ip,
        registrations_per_ip: per_ip,
    }
}

/// A login attempt from address `ip`.
pub async fn login_from(app: &TestApp, ip: &str, username: &str, password: &str) -> Reply {
    app.call_from(
        ip,
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({ "username": username, "password": password })),
    )
    .await
}

pub fn password_of(username: &str) -> String {
    format!("pw-{}-secret-1", username.len())
}

/// The `id` of a JSON object.
#[track_caller]
pub fn id(body: &Value) -> Id {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .parse()
        .unwrap()
}

/// The `name`s of a page's items, in order.
pub fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

/// How the server binary ended when it could not start.
pub struct Startup {
    pub success: bool,
    pub stderr: String,
}

/// Starts `didhub-server` on `url` and waits for it to give up. It must end on its own: it is
/// killed, and the test fails, if it is still running after a minute.
pub fn start_server(url: &str) -> Startup {
    let mut child = Command::new(env!("CARGO_BIN_EXE_didhub-server"))
        .env("DIDHUB_DB", url)
        .env("PORT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("didhub-server still waits for {url} after a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    use std::io::Read as _;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Startup {
        success: status.success(),
        stderr,
    }
}
