//! Configuration: parsed from an optional JSON file, overridden by the environment, then
//! validated into [`Config`].
//!
//! Pool settings may also travel in the database URL's query string (`?max_connections=20`);
//! they are removed before the URL reaches sqlx, which does not know them (and SQLite rejects
//! unknown parameters). A setting in the URL wins over the same setting in the file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argon2::Params;
use didhub_migrations::Backend;
use serde::Deserialize;

use crate::rate_limit::RateLimitConfig;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/didhub.sqlite";
pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 6000;
/// A signing secret shorter than this is refused.
pub const MIN_SECRET_LEN: usize = 32;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub host: String,
    pub port: u16,
    /// The JWT signing secret; a random one is made at startup when absent.
    pub secret: Option<Secret>,
    pub token_ttl: Duration,
    /// How long a session lasts by refreshes, from its login.
    pub max_session: Duration,
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// Limits on password guessing and reset requests (file only: `rate_limit`).
    pub rate_limit: RateLimitConfig,
    /// The Argon2id cost of new password hashes (file only: `password_hash`); the default is
    /// the production cost.
    pub password_hash: PasswordCost,
    /// Bounds on what clients can hold: connections, timeouts, hashes at once (file only:
    /// `server`).
    pub server: ServerLimits,
    /// Audit retention and refusal summaries (file only: `audit`).
    pub audit: AuditConfig,
}

/// The cost of an Argon2id hash: memory in KiB, passes over it, lanes. Part of the configuration
/// (`password_hash` in the file): the default is the production cost; tests lower it to
/// [`PasswordCost::MINIMUM`], because a test suite hashes thousands of passwords. Verification
/// reads the cost from the stored hash, so lowering or raising it never locks anyone out;
/// [`crate::auth`] turns it into Argon2's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordCost {
    /// Argon2's own default, OWASP's first recommendation for Argon2id: 19 MiB, 2 passes, 1 lane.
    pub const PRODUCTION: PasswordCost = PasswordCost {
        memory_kib: Params::DEFAULT_M_COST,
        iterations: Params::DEFAULT_T_COST,
        parallelism: Params::DEFAULT_P_COST,
    };

    /// The least Argon2 accepts (8 KiB, 1 pass, 1 lane): for tests only, never for real
    /// passwords.
    pub const MINIMUM: PasswordCost = PasswordCost {
        memory_kib: Params::MIN_M_COST,
        iterations: Params::MIN_T_COST,
        parallelism: Params::MIN_P_COST,
    };

    /// The most any hash this server makes or verifies may cost: RFC 9106's second
    /// recommendation (64 MiB, 3 passes, 4 lanes) with room above it. A stored hash that asks
    /// for more (a tampered backup) would let one login take gigabytes or abort the process, so
    /// verification refuses it and a restore does not load it.
    pub const CEILING: PasswordCost = PasswordCost {
        memory_kib: 64 * 1024,
        iterations: 10,
        parallelism: 8,
    };

    /// Whether this cost is within [`PasswordCost::CEILING`] in every respect.
    pub fn within_ceiling(self) -> bool {
        self.memory_kib <= Self::CEILING.memory_kib
            && self.iterations <= Self::CEILING.iterations
            && self.parallelism <= Self::CEILING.parallelism
    }

    /// Whether this cost is below [`PasswordCost::PRODUCTION`] in any respect.
    pub fn is_below_production(self) -> bool {
        self.memory_kib < Self::PRODUCTION.memory_kib
            || self.iterations < Self::PRODUCTION.iterations
    }
}

impl Default for PasswordCost {
    fn default() -> Self {
        PasswordCost::PRODUCTION
    }
}

/// How long a session lasts by refreshes unless configured (`max_session_secs`).
pub const DEFAULT_MAX_SESSION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The audit settings (config file key `audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Days an entry is kept; 0 keeps entries forever.
    pub retention_days: u32,
    /// How long refusals with the same key are counted into one summary.
    pub refusal_window: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_days: 365,
            refusal_window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// The URL as sqlx receives it: pool parameters removed.
    pub url: String,
    pub backend: Backend,
    pub pool: PoolConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    /// How long startup waits for the first connection.
    pub connect_timeout: Duration,
    /// How long one database call (a statement, BEGIN, COMMIT) may go unanswered before the
    /// request is answered 503: a database that stops answering must not hang requests forever.
    pub query_timeout: Duration,
    /// How long a migration's statement may wait for a lock (at startup, `db copy`, `db
    /// generate`) before the migration gives up: one waiting behind a long transaction would
    /// make every query on its table wait behind it.
    pub migration_lock_timeout: Duration,
    /// A pooled connection idle for longer than this is pinged before it is handed out; one
    /// used more recently is handed out as it is (zero pings every connection before use).
    pub check_idle_after: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            query_timeout: Duration::from_secs(30),
            migration_lock_timeout: didhub_migrations::LockTimeout::DEFAULT,
            check_idle_after: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub username: String,
    pub password: Secret,
}

/// A value that must never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The JSON config file (`fixtures/config.example.json`). Unknown keys are an error, so a typo
/// does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    database: FileDatabase,
    host: Option<String>,
    port: Option<u16>,
    secret: Option<String>,
    token_ttl_secs: Option<u64>,
    max_session_secs: Option<u64>,
    bootstrap_admin: Option<FileBootstrapAdmin>,
    #[serde(default)]
    rate_limit: FileRateLimit,
    #[serde(default)]
    password_hash: FilePasswordHash,
    #[serde(default)]
    server: FileServer,
    #[serde(default)]
    audit: FileAudit,
}

/// What one client, or many, may hold of the server (config file key `server`): see
/// [`crate::listener`] for the connection side and [`crate::auth::Passwords`] for hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request head (request line and headers) must be complete this long after the
    /// connection opens, or after its first byte on a kept-alive connection.
    pub header_timeout: Duration,
    /// A request body must be complete this long after the handler starts reading it (408).
    pub body_timeout: Duration,
    /// A kept-alive connection with no request for this long is closed; so is an HTTP/2
    /// connection on which no request or response moved for this long.
    pub idle_timeout: Duration,
    /// A response the client does not read for this long (between two writes) is abandoned
    /// and its connection closed.
    pub write_timeout: Duration,
    /// Streams (requests in progress) one HTTP/2 connection may have open at once.
    pub http2_max_streams: usize,
    /// Reverse proxies in front of the server: from these peers, the client is the address
    /// their `client_header` names (see [`crate::http::client`]).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The header the trusted proxies write the client's address in.
    pub client_header: ClientHeader,
    /// Open connections at most; more wait in the listen queue until one closes.
    pub max_connections: usize,
    /// Password hashes and verifications at once (Argon2 takes `password_hash.memory_kib`
    /// each); the default is one per core.
    pub max_concurrent_hashes: usize,
    /// How long a hash waits for its turn before the request is answered 503 with
    /// `Retry-After`.
    pub hash_wait: Duration,
}

/// Where trusted proxies name the client. One header only: a proxy that writes one passes the
/// other through as the client sent it, so reading both would let a client name itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, …` (Envoy, Caddy and others on request).
    Forwarded,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            http2_max_streams: 100,
            trusted_proxies: Vec::new(),
            client_header: ClientHeader::default(),
            max_connections: 1024,
            max_concurrent_hashes: std::thread::available_parallelism().map_or(1, |n| n.get()),
            hash_wait: Duration::from_secs(2),
        }
    }
}

/// `server` in the file; absent keys keep their defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServer {
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    write_timeout_secs: Option<u64>,
    http2_max_streams: Option<usize>,
    trusted_proxies: Option<Vec<String>>,
    client_header: Option<ClientHeader>,
    max_connections: Option<usize>,
    max_concurrent_hashes: Option<usize>,
    hash_wait_ms: Option<u64>,
}

/// The file's `key` in seconds, `default` when absent; zero is refused.
fn positive_secs(
    key: &str,
    value: Option<u64>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        Some(0) => Err(ConfigError::Invalid(format!("{key} must be positive"))),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Ok(default),
    }
}

impl FileServer {
    fn resolve(&self) -> Result<ServerLimits, ConfigError> {
        let defaults = ServerLimits::default();
        let positive =
            |key: &str, value, default| positive_secs(&format!("server.{key}"), value, default);
        let at_least_one = |key: &str, value: Option<usize>, default: usize| match value {
            Some(0) => Err(ConfigError::Invalid(format!(
                "server.{key} must be at least 1"
            ))),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        Ok(ServerLimits {
            header_timeout: positive(
                "header_timeout_secs",
                self.header_timeout_secs,
                defaults.header_timeout,
            )?,
            body_timeout: positive(
                "body_timeout_secs",
                self.body_timeout_secs,
                defaults.body_timeout,
            )?,
            idle_timeout: positive(
                "idle_timeout_secs",
                self.idle_timeout_secs,
                defaults.idle_timeout,
            )?,
            write_timeout: positive(
                "write_timeout_secs",
                self.write_timeout_secs,
                defaults.write_timeout,
            )?,
            http2_max_streams: at_least_one(
                "http2_max_streams",
                self.http2_max_streams,
                defaults.http2_max_streams,
            )?,
            trusted_proxies: match &self.trusted_proxies {
                None => defaults.trusted_proxies,
                Some(listed) => listed
                    .iter()
                    .map(|ip| {
                        ip.parse().map_err(|_| {
                            ConfigError::Invalid(format!(
                                "server.trusted_proxies: {ip:?} is not an IP address"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            },
            client_header: self.client_header.unwrap_or(defaults.client_header),
            max_connections: at_least_one(
                "max_connections",
                self.max_connections,
                defaults.max_connections,
            )?,
            max_concurrent_hashes: at_least_one(
                "max_concurrent_hashes",
                self.max_concurrent_hashes,
                defaults.max_concurrent_hashes,
            )?,
            hash_wait: self
                .hash_wait_ms
                .map_or(defaults.hash_wait, Duration::from_millis),
        })
    }
}

/// `audit` in the file; absent keys keep their defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAudit {
    /// 0 keeps entries forever.
    retention_days: Option<u32>,
    refusal_window_secs: Option<u64>,
}

impl FileAudit {
    fn resolve(&self) -> Result<AuditConfig, ConfigError> {
        let defaults = AuditConfig::default();
        let refusal_window = positive_secs(
            "audit.refusal_window_secs",
            self.refusal_window_secs,
            defaults.refusal_window,
        )?;
        Ok(AuditConfig {
            retention_days: self.retention_days.unwrap_or(defaults.retention_days),
            refusal_window,
        })
    }
}

/// `password_hash` in the file; absent keys keep the production cost.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePasswordHash {
    memory_kib: Option<u32>,
    iterations: Option<u32>,
    parallelism: Option<u32>,
}

impl FilePasswordHash {
    fn resolve(&self) -> Result<PasswordCost, ConfigError> {
        let defaults = PasswordCost::default();
        let cost = PasswordCost {
            memory_kib: self.memory_kib.unwrap_or(defaults.memory_kib),
            iterations: self.iterations.unwrap_or(defaults.iterations),
            parallelism: self.parallelism.unwrap_or(defaults.parallelism),
        };
        cost.params().map_err(ConfigError::Invalid)?;
        if !cost.within_ceiling() {
            return Err(ConfigError::Invalid(format!(
                "password_hash {cost:?} is above the most the server verifies, {:?}",
                PasswordCost::CEILING
            )));
        }
        Ok(cost)
    }
}

/// `rate_limit` in the file; absent keys keep their defaults, 0 turns a limit off.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimit {
    window_secs: Option<u64>,
    login_failures_per_username: Option<u32>,
    login_failures_per_ip: Option<u32>,
    login_failures_per_account: Option<u32>,
    reset_requests_per_username: Option<u32>,
    reset_requests_per_ip: Option<u32>,
    registrations_per_ip: Option<u32>,
}

impl FileRateLimit {
    fn resolve(&self) -> Result<RateLimitConfig, ConfigError> {
        let defaults = RateLimitConfig::default();
        let window = match self.window_secs {
            Some(0) => {
                return Err(ConfigError::Invalid(
                    "rate_limit.window_secs must be positive".into(),
                ));
            }
            Some(secs) => Duration::from_secs(secs),
            None => defaults.window,
        };
        Ok(RateLimitConfig {
            window,
            login_failures_per_username: self
                .login_failures_per_username
                .unwrap_or(defaults.login_failures_per_username),
            login_failures_per_ip: self
                .login_failures_per_ip
                .unwrap_or(defaults.login_failures_per_ip),
            login_failures_per_account: self
                .login_failures_per_account
                .unwrap_or(defaults.login_failures_per_account),
            reset_requests_per_username: self
                .reset_requests_per_username
                .unwrap_or(defaults.reset_requests_per_username),
            reset_requests_per_ip: self
                .reset_requests_per_ip
                .unwrap_or(defaults.reset_requests_per_ip),
            registrations_per_ip: self
                .registrations_per_ip
                .unwrap_or(defaults.registrations_per_ip),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: Option<String>,
    max_connections: Option<u32>,
    min_connections: Option<u32>,
    /// Seconds.
    acquire_timeout: Option<u64>,
    /// Seconds.
    connect_timeout: Option<u64>,
    /// Seconds.
    query_timeout: Option<u64>,
    /// Seconds.
    migration_lock_timeout: Option<u64>,
    /// Seconds.
    check_idle_after: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBootstrapAdmin {
    username: String,
    password: String,
}

impl Config {
    /// Reads the process environment and the optional file.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::from_sources(file, |key| std::env::var(key).ok())
    }

    /// Builds the configuration from a file and an environment lookup (environment wins).
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file_config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source,
                })?
            }
            None => FileConfig::default(),
        };
        let env = |key: &str| env(key).filter(|v| !v.trim().is_empty());

        let raw_url = env("DIDHUB_DB")
            .or_else(|| env("DATABASE_URL"))
            .or(file_config.database.url.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let database = database_config(&raw_url, &file_config.database)?;

        let port = match env("PORT") {
            Some(p) => p.parse().map_err(|_| {
                ConfigError::Invalid(format!("PORT must be a port number, got {p:?}"))
            })?,
            None => file_config.port.unwrap_or(DEFAULT_PORT),
        };
        let host = env("HOST")
            .or(file_config.host)
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());

        let secret = env("DIDHUB_SECRET").or(file_config.secret).map(Secret);
        if let Some(secret) = &secret
            && secret.0.len() < MIN_SECRET_LEN
        {
            return Err(ConfigError::Invalid(format!(
                "the signing secret (DIDHUB_SECRET / \"secret\") must be at least {MIN_SECRET_LEN} characters"
            )));
        }
        // Positive seconds, from the environment variable `var`, else the file, else `default`.
        let seconds = |var: &str, file: Option<u64>, default: u64, what: &str| {
            let secs = match env(var) {
                Some(s) => s.parse().map_err(|_| {
                    ConfigError::Invalid(format!("{var} must be seconds, got {s:?}"))
                })?,
                None => file.unwrap_or(default),
            };
            if secs == 0 {
                return Err(ConfigError::Invalid(format!("{what} must be positive")));
            }
            Ok(Duration::from_secs(secs))
        };
        let token_ttl = seconds(
            "DIDHUB_TOKEN_TTL_SECS",
            file_config.token_ttl_secs,
            3600,
            "the token lifetime",
        )?;
        let max_session = seconds(
            "DIDHUB_MAX_SESSION_SECS",
            file_config.max_session_secs,
            DEFAULT_MAX_SESSION.as_secs(),
            "the longest session (max_session_secs)",
        )?;

        let rate_limit = file_config.rate_limit.resolve()?;
        let password_hash = file_config.password_hash.resolve()?;
        let server = file_config.server.resolve()?;
        let audit = file_config.audit.resolve()?;

        let (file_user, file_password) = match file_config.bootstrap_admin {
            Some(b) => (Some(b.username), Some(b.password)),
            None => (None, None),
        };
        let bootstrap_admin = match (
            env("DIDHUB_BOOTSTRAP_ADMIN_USERNAME").or(file_user),
            env("DIDHUB_BOOTSTRAP_ADMIN_PASSWORD").or(file_password),
        ) {
            (Some(username), Some(password)) => Some(BootstrapAdmin {
                username,
                password: Secret(password),
            }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "the bootstrap admin needs both a username and a password \
                     (DIDHUB_BOOTSTRAP_ADMIN_USERNAME / DIDHUB_BOOTSTRAP_ADMIN_PASSWORD)"
                        .into(),
                ));
            }
        };

        Ok(Config {
            database,
            host,
            port,
            secret,
            token_ttl,
            max_session,
            bootstrap_admin,
            rate_limit,
            password_hash,
            server,
            audit,
        })
    }
}

impl DatabaseConfig {
    /// A database given by URL alone (pool parameters may travel in its query string).
    pub fn from_url(url: &str) -> Result<DatabaseConfig, ConfigError> {
        database_config(url, &FileDatabase::default())
    }
}

/// Splits the pool parameters off the URL and merges them over the file's settings.
fn database_config(raw_url: &str, file: &FileDatabase) -> Result<DatabaseConfig, ConfigError> {
    let backend = Backend::from_url(raw_url).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let defaults = PoolConfig::default();
    let secs = |v: Option<u64>, default: Duration| v.map(Duration::from_secs).unwrap_or(default);
    let mut pool = PoolConfig {
        max_connections: file.max_connections.unwrap_or(defaults.max_connections),
        min_connections: file.min_connections.unwrap_or(defaults.min_connections),
        acquire_timeout: secs(file.acquire_timeout, defaults.acquire_timeout),
        connect_timeout: secs(file.connect_timeout, defaults.connect_timeout),
        query_timeout: secs(file.query_timeout, defaults.query_timeout),
        migration_lock_timeout: secs(file.migration_lock_timeout, defaults.migration_lock_timeout),
        check_idle_after: secs(file.check_idle_after, defaults.check_idle_after),
    };

    let (base, query) = match raw_url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (raw_url, ""),
    };
    let mut kept = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let number = || {
            value.parse::<u64>().map_err(|_| {
                ConfigError::Invalid(format!(
                    "database URL parameter {key}={value:?} must be a whole number"
                ))
            })
        };
        let count = || {
            number().and_then(|n| {
                u32::try_from(n).map_err(|_| {
                    ConfigError::Invalid(format!("database URL parameter {key} is too large"))
                })
            })
        };
        match key.as_ref() {
            "max_connections" => pool.max_connections = count()?,
            "min_connections" => pool.min_connections = count()?,
            "acquire_timeout" => pool.acquire_timeout = Duration::from_secs(number()?),
            "connect_timeout" => pool.connect_timeout = Duration::from_secs(number()?),
            "query_timeout" => pool.query_timeout = Duration::from_secs(number()?),
            "migration_lock_timeout" => {
                pool.migration_lock_timeout = Duration::from_secs(number()?)
            }
            "check_idle_after" => pool.check_idle_after = Duration::from_secs(number()?),
            _ => {
                kept.append_pair(&key, &value);
            }
        }
    }
    let kept = kept.finish();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{kept}")
    };

    if pool.max_connections == 0 {
        return Err(ConfigError::Invalid(
            "max_connections must be at least 1".into(),
        ));
    }
    if pool.min_connections > pool.max_connections {
        return Err(ConfigError::Invalid(format!(
            "min_connections ({}) exceeds max_connections ({})",
            pool.min_connections, pool.max_connections
        )));
    }
    if pool.acquire_timeout.is_zero()
        || pool.connect_timeout.is_zero()
        || pool.query_timeout.is_zero()
        || pool.migration_lock_timeout.is_zero()
    {
        return Err(ConfigError::Invalid(
            "acquire_timeout, connect_timeout, query_timeout and migration_lock_timeout must be \
             positive"
                .into(),
        ));
    }
    Ok(DatabaseConfig { url, backend, pool })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(file: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_sources(file.map(|_| path.as_path()), |k| env.get(k).cloned())
    }

    #[test]
    fn no_configuration_means_sqlite_in_data_on_port_6000() {
        let config = load(None, &[]).unwrap();
        assert_eq!(config.database.url, "sqlite://data/didhub.sqlite");
        assert_eq!(config.database.backend, Backend::Sqlite);
        assert_eq!((config.host.as_str(), config.port), ("127.0.0.1", 6000));
        assert_eq!(config.database.pool, PoolConfig::default());
        assert!(config.bootstrap_admin.is_none());
        assert_eq!(config.rate_limit, RateLimitConfig::default());
        assert_eq!(config.password_hash, PasswordCost::PRODUCTION);
        assert_eq!(config.server, ServerLimits::default());
    }

    #[test]
    fn server_limits_come_from_the_file_and_zero_is_refused() {
        let file = r#"{"server":{"header_timeout_secs":1,"body_timeout_secs":2,"idle_timeout_secs":3,
                       "write_timeout_secs":4,"http2_max_streams":5,"trusted_proxies":["10.0.0.1","::1"],
                       "client_header":"forwarded","max_connections":8,"max_concurrent_hashes":1,"hash_wait_ms":0}}"#;
        assert_eq!(
            load(Some(file), &[]).unwrap().server,
            ServerLimits {
                header_timeout: Duration::from_secs(1),
                body_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(3),
                write_timeout: Duration::from_secs(4),
                http2_max_streams: 5,
                trusted_proxies: vec!["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
                client_header: ClientHeader::Forwarded,
                max_connections: 8,
                max_concurrent_hashes: 1,
                hash_wait: Duration::ZERO,
            }
        );
        let example = include_str!("../../fixtures/config.example.json");
        assert_eq!(
            load(Some(example), &[]).unwrap().server,
            ServerLimits::default(),
            "the example shows the defaults"
        );
        let err = load(Some(r#"{"server":{"trusted_proxies":["proxy"]}}"#), &[]).unwrap_err();
        assert!(err.to_string().contains("server.trusted_proxies"), "{err}");
        let err = load(Some(r#"{"server":{"client_header":"x-real-ip"}}"#), &[]).unwrap_err();
        assert!(err.to_string().contains("x-forwarded-for"), "{err}");
        for (key, value) in [
            ("header_timeout_secs", 0),
            ("write_timeout_secs", 0),
            ("http2_max_streams", 0),
            ("max_connections", 0),
            ("max_concurrent_hashes", 0),
        ] {
            let file = format!(r#"{{"server":{{"{key}":{value}}}}}"#);
            let err = load(Some(&file), &[]).unwrap_err().to_string();
            assert!(err.contains(&format!("server.{key}")), "{err}");
        }
    }

    #[test]
    fn the_password_hash_cost_comes_from_the_file_and_is_validated() {
        let example = include_str!("../../fixtures/config.example.json");
        let config = load(Some(example), &[]).unwrap();
        assert_eq!(config.password_hash, PasswordCost::PRODUCTION);
        let file = r#"{"password_hash":{"memory_kib":8,"iterations":1}}"#;
        assert_eq!(
            load(Some(file), &[]).unwrap().password_hash,
            PasswordCost::MINIMUM
        );
        let err = load(Some(r#"{"password_hash":{"memory_kib":4}}"#), &[]).unwrap_err();
        assert!(err.to_string().contains("memory_kib: 4"), "{err}");
        let err = load(Some(r#"{"password_hash":{"memory_kib":1048576}}"#), &[]).unwrap_err();
        assert!(err.to_string().contains("above the most"), "{err}");
    }

    #[test]
    fn rate_limits_come_from_the_file_and_zero_turns_one_off() {
        let file = r#"{"rate_limit":{"window_secs":60,"login_failures_per_ip":0,"registrations_per_ip":4}}"#;
        let limits = load(Some(file), &[]).unwrap().rate_limit;
        assert_eq!(limits.window, Duration::from_secs(60));
        assert_eq!(limits.login_failures_per_ip, 0);
        assert_eq!(limits.registrations_per_ip, 4);
        assert_eq!(
            limits.login_failures_per_username,
            RateLimitConfig::default().login_failures_per_username
        );
        let err = load(Some(r#"{"rate_limit":{"window_secs":0}}"#), &[]).unwrap_err();
        assert!(err.to_string().contains("window_secs"), "{err}");
        let err = load(Some(r#"{"rate_limit":{"logins":3}}"#), &[]).unwrap_err();
        assert!(err.to_string().contains("unknown field `logins`"), "{err}");
    }

    #[test]
    fn audit_retention_and_refusal_window_come_from_the_file() {
        assert_eq!(load(None, &[]).unwrap().audit, AuditConfig::default());
        assert_eq!(AuditConfig::default().retention_days, 365);
        let file = r#"{"audit":{"retention_days":0,"refusal_window_secs":300}}"#;
        let audit = load(Some(file), &[]).unwrap().audit;
        assert_eq!(audit.retention_days, 0, "0 keeps entries forever");
        assert_eq!(audit.refusal_window, Duration::from_secs(300));
        let err = load(Some(r#"{"audit":{"refusal_window_secs":0}}"#), &[]).unwrap_err();
        assert!(err.to_string().contains("refusal_window_secs"), "{err}");
        let err = load(Some(r#"{"audit":{"retention":3}}"#), &[]).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `retention`"),
            "{err}"
        );
    }

    #[test]
    fn pool_parameters_are_taken_out_of_the_url() {
        let config = load(
            None,
            &[(
                "DATABASE_URL",
                "postgres://u:p@h/db?sslmode=disable&max_connections=32&min_connections=2&acquire_timeout=3&connect_timeout=4&query_timeout=5&migration_lock_timeout=6&check_idle_after=0",
            )],
        )
        .unwrap();
        assert_eq!(config.database.url, "postgres://u:p@h/db?sslmode=disable");
        assert_eq!(config.database.backend, Backend::Postgres);
        assert_eq!(
            config.database.pool,
            PoolConfig {
                max_connections: 32,
                min_connections: 2,
                acquire_timeout: Duration::from_secs(3),
                connect_timeout: Duration::from_secs(4),
                query_timeout: Duration::from_secs(5),
                migration_lock_timeout: Duration::from_secs(6),
                check_idle_after: Duration::ZERO,
            }
        );
    }

    #[test]
    fn the_migration_lock_timeout_comes_from_the_file_or_the_url_and_is_never_zero() {
        assert_eq!(
            load(None, &[])
                .unwrap()
                .database
                .pool
                .migration_lock_timeout,
            Duration::from_secs(5),
            "the default"
        );
        let file = r#"{"database":{"url":"sqlite://x.sqlite","migration_lock_timeout":20}}"#;
        let config = load(Some(file), &[]).unwrap();
        assert_eq!(
            config.database.pool.migration_lock_timeout,
            Duration::from_secs(20)
        );
        let config = load(
            Some(file),
            &[("DIDHUB_DB", "sqlite://y.sqlite?migration_lock_timeout=2")],
        )
        .unwrap();
        assert_eq!(
            config.database.pool.migration_lock_timeout,
            Duration::from_secs(2),
            "the URL wins over the file"
        );
        assert_eq!(
            config.database.url, "sqlite://y.sqlite",
            "and leaves the URL"
        );

        let err =
            |file: Option<&str>, env: &[(&str, &str)]| load(file, env).unwrap_err().to_string();
        for refused in [
            err(
                None,
                &[("DIDHUB_DB", "sqlite://x?migration_lock_timeout=0")],
            ),
            err(Some(r#"{"database":{"migration_lock_timeout":0}}"#), &[]),
        ] {
            assert!(
                refused.contains("migration_lock_timeout must be positive"),
                "{refused}"
            );
        }
        assert!(
            err(
                None,
                &[("DIDHUB_DB", "sqlite://x?migration_lock_timeout=soon")]
            )
            .contains("migration_lock_timeout=\"soon\" must be a whole number")
        );
    }

    #[test]
    fn environment_overrides_the_file_and_didhub_db_overrides_database_url() {
        let file = r#"{"database":{"url":"sqlite://file.sqlite","max_connections":5},
                       "port":7000,"host":"0.0.0.0"}"#;
        let config = load(
            Some(file),
            &[
                ("DATABASE_URL", "mysql://h/a"),
                ("DIDHUB_DB", "sqlite://env.sqlite"),
                ("PORT", "7001"),
            ],
        )
        .unwrap();
        assert_eq!(config.database.url, "sqlite://env.sqlite");
        assert_eq!(
            config.database.pool.max_connections, 5,
            "file pool settings still apply"
        );
        assert_eq!((config.host.as_str(), config.port), ("0.0.0.0", 7001));
    }

    #[test]
    fn url_pool_parameters_win_over_the_file() {
        let file =
            r#"{"database":{"url":"sqlite://x.sqlite?max_connections=3","max_connections":5}}"#;
        let config = load(Some(file), &[]).unwrap();
        assert_eq!(config.database.pool.max_connections, 3);
        assert_eq!(config.database.url, "sqlite://x.sqlite");
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        let err =
            |file: Option<&str>, env: &[(&str, &str)]| load(file, env).unwrap_err().to_string();
        assert!(
            err(None, &[("DIDHUB_DB", "sqlite://x?max_connections=lots")])
                .contains("max_connections")
        );
        assert!(err(None, &[("DIDHUB_DB", "sqlite://x?max_connections=0")]).contains("at least 1"));
        assert!(
            err(
                None,
                &[(
                    "DIDHUB_DB",
                    "sqlite://x?min_connections=9&max_connections=2"
                )]
            )
            .contains("exceeds")
        );
        assert!(err(None, &[("DIDHUB_DB", "sqlite://x?query_timeout=0")]).contains("positive"));
        assert!(err(None, &[("DIDHUB_DB", "oracle://x")]).contains("unsupported database URL"));
        assert!(err(None, &[("PORT", "http")]).contains("PORT"));
        assert!(err(None, &[("DIDHUB_SECRET", "short")]).contains("at least 32"));
        assert!(
            err(None, &[("DIDHUB_BOOTSTRAP_ADMIN_USERNAME", "root")]).contains("both a username")
        );
        assert!(err(Some(r#"{"databse":{}}"#), &[]).contains("unknown field `databse`"));
        assert!(err(Some("{"), &[]).contains("not valid"));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = load(
            None,
            &[
                (
                    "DIDHUB_SECRET",
                    "0123456789abcdef0123456789abcdef-very-secret",
                ),
                ("DIDHUB_BOOTSTRAP_ADMIN_USERNAME", "root"),
                ("DIDHUB_BOOTSTRAP_ADMIN_PASSWORD", "hunter2-hunter2"),
            ],
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("root"));
    }
}
