//! Configuration: layers merged by figment, then validated into [`Config`].
//!
//! Each layer overrides the one before it:
//! 1. the defaults, the serialized [`Layers::default`] (which is also the list of known keys);
//! 2. the optional JSON file (`-c`, `fixtures/config.example.json`);
//! 3. the environment variables of [`ENVIRONMENT`];
//! 4. the pool parameters in the database URL's query string ([`URL_PARAMETERS`],
//!    `?max_connections=20`), which are then removed from the URL: sqlx does not know them and
//!    SQLite refuses unknown parameters.
//!
//! A key outside the defaults is refused with the layer that set it, so a typo never falls back
//! to a default silently; figment remembers where each value came from, so a wrong type or a
//! refused value names its key and its layer too. The README's configuration table is tested
//! against [`ENVIRONMENT`], [`URL_PARAMETERS`] and the defaults
//! (`readme_table_matches_the_layers`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argon2::Params;
use didhub_migrations::Backend;
use figment::providers::{Data, Format, Json, Serialized};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// How far behind the primary a replica may be and still serve reads, unless configured.
pub const DEFAULT_MAX_REPLICA_LAG: Duration = Duration::from_secs(1);

/// How long a token lives unless configured (`token_ttl_secs`).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// How long a session lasts by refreshes unless configured (`max_session_secs`).
pub const DEFAULT_MAX_SESSION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The audit settings (config file key `audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditConfig {
    /// Days an entry is kept; 0 keeps entries forever.
    pub retention_days: u32,
    /// How long refusals with the same key are counted into one summary.
    #[serde(rename = "refusal_window_secs", with = "seconds")]
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
    /// What stands between the server and PostgreSQL (`database.pooler`).
    pub pooler: Pooler,
    /// A direct URL used only to migrate (`database.migration_url`): where `url` reaches the
    /// database through a transaction pooler, which cannot hold the migration lock.
    pub migration_url: Option<String>,
    /// PostgreSQL streaming replicas that serve reads (`database.read_urls`).
    pub read_urls: Vec<String>,
    /// How far behind the primary a replica may be and still serve reads
    /// (`database.max_replica_lag_ms`).
    pub max_replica_lag: Duration,
    /// The servers that may be promoted when the primary fails (`database.failover_urls`).
    pub failover_urls: Vec<String>,
}

/// What stands between the server and its PostgreSQL server (`database.pooler`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooler {
    /// Nothing, or a pooler that gives each client connection one server connection for its
    /// whole life (pgbouncer's session pooling): named statements are prepared once per
    /// connection and kept.
    #[default]
    None,
    /// A pooler that hands a server connection to a client for one transaction at a time
    /// (pgbouncer's transaction pooling). A statement prepared on one server connection is
    /// not there on the next, nor is a session's advisory lock: every statement is sent
    /// unnamed inside a transaction of its own, and migrations need `database.migration_url`.
    Transaction,
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

/// Why the configuration was refused. Every message names the key and, where one layer set it,
/// the layer: the file (with its path), the environment variable or the database URL parameter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A layer could not be read or parsed, or a value has the wrong type for its key (boxed:
    /// figment's error, with the layer's metadata, is large).
    #[error("the configuration is not valid: {0}")]
    Layer(Box<figment::Error>),
    /// A key no layer may set: a typo must not silently fall back to a default.
    #[error("unknown configuration key `{key}` in {origin}; known keys there: {known}")]
    UnknownKey {
        key: String,
        origin: String,
        known: String,
    },
    /// A value of the right type but outside what the key accepts.
    #[error("invalid configuration: {key} {problem} (from {origin})")]
    Value {
        key: String,
        problem: String,
        origin: String,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl From<figment::Error> for ConfigError {
    fn from(err: figment::Error) -> Self {
        ConfigError::Layer(Box::new(err))
    }
}

/// What one client, or many, may hold of the server (config file key `server`): see
/// [`crate::listener`] for the connection side and [`crate::auth::Passwords`] for hashing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLimits {
    /// A request head (request line and headers) must be complete this long after the
    /// connection opens, or after its first byte on a kept-alive connection.
    #[serde(rename = "header_timeout_secs", with = "seconds")]
    pub header_timeout: Duration,
    /// A request body must be complete this long after the handler starts reading it (408).
    #[serde(rename = "body_timeout_secs", with = "seconds")]
    pub body_timeout: Duration,
    /// A kept-alive connection with no request for this long is closed; so is an HTTP/2
    /// connection on which no request or response moved for this long.
    #[serde(rename = "idle_timeout_secs", with = "seconds")]
    pub idle_timeout: Duration,
    /// A response the client does not read for this long (between two writes) is abandoned
    /// and its connection closed.
    #[serde(rename = "write_timeout_secs", with = "seconds")]
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
    #[serde(rename = "hash_wait_ms", with = "millis")]
    pub hash_wait: Duration,
}

/// Where trusted proxies name the client. One header only: a proxy that writes one passes the
/// other through as the client sent it, so reading both would let a client name itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// A duration as whole seconds, as the file, the environment and the URL spell it.
pub(crate) mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_u64(value.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Duration, D::Error> {
        u64::deserialize(from).map(Duration::from_secs)
    }
}

/// A duration as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, to: S) -> Result<S::Ok, S::Error> {
        // No configured wait comes near u64::MAX milliseconds (585 million years).
        to.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Duration, D::Error> {
        u64::deserialize(from).map(Duration::from_millis)
    }
}

/// Environment variables and the key each one sets. Where two set the same key, the first one
/// set (and not blank) wins: `DIDHUB_DB` over `DATABASE_URL`.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("DIDHUB_DB", "database.url"),
    ("DATABASE_URL", "database.url"),
    ("DIDHUB_MIGRATION_DB", "database.migration_url"),
    ("DIDHUB_DB_POOLER", "database.pooler"),
    ("DIDHUB_READ_DB", "database.read_urls"),
    ("DIDHUB_FAILOVER_DB", "database.failover_urls"),
    ("HOST", "host"),
    ("PORT", "port"),
    ("DIDHUB_SECRET", "secret"),
    ("DIDHUB_TOKEN_TTL_SECS", "token_ttl_secs"),
    ("DIDHUB_MAX_SESSION_SECS", "max_session_secs"),
    (
        "DIDHUB_BOOTSTRAP_ADMIN_USERNAME",
        "bootstrap_admin.username",
    ),
    (
        "DIDHUB_BOOTSTRAP_ADMIN_PASSWORD",
        "bootstrap_admin.password",
    ),
];

/// Parameters of the database URL that set `database.<name>` (whole numbers), the last layer.
/// sqlx does not know them (and SQLite refuses unknown parameters), so they are taken out of
/// the URL; every other parameter stays in it for the driver.
pub const URL_PARAMETERS: &[&str] = &[
    "max_connections",
    "min_connections",
    "acquire_timeout",
    "connect_timeout",
    "query_timeout",
    "migration_lock_timeout",
    "check_idle_after",
];

/// Every key the layers may set, with its default: the one definition of the configuration's
/// shape. Its serialized default is the first layer, and a key outside it is refused.
#[derive(Serialize, Deserialize)]
struct Layers {
    database: DatabaseLayer,
    host: String,
    port: u16,
    /// Kept a plain string only until [`Layers::validate`] wraps it in [`Secret`]; `Layers` has
    /// no `Debug`, so it cannot be logged.
    secret: Option<String>,
    token_ttl_secs: u64,
    max_session_secs: u64,
    bootstrap_admin: BootstrapAdminLayer,
    rate_limit: RateLimitConfig,
    password_hash: PasswordCost,
    server: ServerLimits,
    audit: AuditConfig,
}

/// `database`: the URL beside the pool's settings (the pool's durations in seconds).
#[derive(Serialize, Deserialize)]
struct DatabaseLayer {
    url: String,
    max_connections: u32,
    min_connections: u32,
    #[serde(with = "seconds")]
    acquire_timeout: Duration,
    #[serde(with = "seconds")]
    connect_timeout: Duration,
    #[serde(with = "seconds")]
    query_timeout: Duration,
    #[serde(with = "seconds")]
    migration_lock_timeout: Duration,
    #[serde(with = "seconds")]
    check_idle_after: Duration,
    pooler: Pooler,
    migration_url: Option<String>,
    read_urls: UrlList,
    max_replica_lag_ms: u64,
    failover_urls: UrlList,
}

/// `database.read_urls`, `database.failover_urls`: a list in the file, or one string of URLs
/// separated by commas (as an environment variable gives it).
#[derive(Default, Serialize, Deserialize)]
#[serde(untagged)]
enum UrlList {
    #[default]
    None,
    List(Vec<String>),
    Commas(String),
}

impl UrlList {
    fn urls(self) -> Vec<String> {
        let urls = match self {
            UrlList::None => Vec::new(),
            UrlList::List(urls) => urls,
            UrlList::Commas(urls) => urls.split(',').map(str::to_owned).collect(),
        };
        urls.into_iter()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect()
    }
}

/// `bootstrap_admin`: each half may come from its own layer; validation wants both or neither.
#[derive(Default, Serialize, Deserialize)]
struct BootstrapAdminLayer {
    username: Option<String>,
    password: Option<String>,
}

impl Default for Layers {
    fn default() -> Self {
        let pool = PoolConfig::default();
        Layers {
            database: DatabaseLayer {
                url: DEFAULT_DATABASE_URL.to_owned(),
                max_connections: pool.max_connections,
                min_connections: pool.min_connections,
                acquire_timeout: pool.acquire_timeout,
                connect_timeout: pool.connect_timeout,
                query_timeout: pool.query_timeout,
                migration_lock_timeout: pool.migration_lock_timeout,
                check_idle_after: pool.check_idle_after,
                pooler: Pooler::None,
                migration_url: None,
                read_urls: UrlList::List(Vec::new()),
                max_replica_lag_ms: DEFAULT_MAX_REPLICA_LAG.as_millis() as u64,
                failover_urls: UrlList::List(Vec::new()),
            },
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            secret: None,
            token_ttl_secs: DEFAULT_TOKEN_TTL.as_secs(),
            max_session_secs: DEFAULT_MAX_SESSION.as_secs(),
            bootstrap_admin: BootstrapAdminLayer::default(),
            rate_limit: RateLimitConfig::default(),
            password_hash: PasswordCost::default(),
            server: ServerLimits::default(),
            audit: AuditConfig::default(),
        }
    }
}

/// The JSON file given with `-c`: figment's JSON provider, named for messages as the config file
/// with its path, keys spelled as in the file.
struct FileLayer(Data<Json>, PathBuf);

impl Provider for FileLayer {
    fn metadata(&self) -> Metadata {
        Metadata::from("config file", self.1.as_path()).interpolater(|_, keys| keys.join("."))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.0.data()
    }
}

/// The variables of [`ENVIRONMENT`] that are set and not blank, read through a lookup so that
/// tests and tools can give their own environment without touching the process's.
struct EnvLayer(Vec<(&'static str, &'static str, String)>);

impl EnvLayer {
    fn read(lookup: impl Fn(&str) -> Option<String>) -> EnvLayer {
        let mut set: Vec<(&str, &str, String)> = Vec::new();
        for &(var, key) in ENVIRONMENT {
            if set.iter().any(|&(_, taken, _)| taken == key) {
                continue;
            }
            if let Some(value) = lookup(var).filter(|v| !v.trim().is_empty()) {
                set.push((var, key, value));
            }
        }
        EnvLayer(set)
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        let vars: Vec<(&str, &str)> = self.0.iter().map(|&(var, key, _)| (key, var)).collect();
        Metadata::named("environment variable").interpolater(move |_, keys| {
            let key = keys.join(".");
            vars.iter()
                .find(|&&(set, _)| set == key)
                .map_or(key, |&(_, var)| var.to_owned())
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (_, key, value) in &self.0 {
            insert(&mut dict, key, Value::from(value.clone()));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// The [`URL_PARAMETERS`] found in the database URL, and the URL without them.
struct UrlLayer {
    url: String,
    found: Vec<(&'static str, u64)>,
}

impl UrlLayer {
    fn parse(raw_url: &str) -> Result<UrlLayer, ConfigError> {
        let (base, query) = raw_url.split_once('?').unwrap_or((raw_url, ""));
        let mut kept = url::form_urlencoded::Serializer::new(String::new());
        let mut found = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match URL_PARAMETERS.iter().find(|&&name| name == key) {
                Some(&name) => {
                    let number = value.parse().map_err(|_| {
                        ConfigError::Invalid(format!(
                            "database URL parameter {key}={value:?} must be a whole number"
                        ))
                    })?;
                    found.push((name, number));
                }
                None => {
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
        Ok(UrlLayer { url, found })
    }
}

impl Provider for UrlLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named("database URL parameter")
            .interpolater(|_, keys| keys.last().copied().unwrap_or_default().to_owned())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for &(name, value) in &self.found {
            insert(&mut dict, &format!("database.{name}"), Value::from(value));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Puts `value` at the dotted `key` in `dict`, making the dictionaries on the way.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = inner {
                insert(inner, rest, value);
            }
        }
    }
}

/// The defaults, the file, then the environment: everything but the URL's parameters, which
/// can only be read once the layers have chosen the URL.
fn layered(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Figment {
    let mut figment = Figment::from(Serialized::defaults(Layers::default()));
    if let Some(path) = file {
        figment = figment.merge(FileLayer(Json::file_exact(path), path.to_owned()));
    }
    figment.merge(EnvLayer::read(env))
}

/// Adds the URL layer over `figment` and reads every key, refusing keys no layer may set.
fn resolve(figment: Figment) -> Result<(Figment, Layers, String), ConfigError> {
    let raw_url: String = figment.extract_inner("database.url")?;
    let url = UrlLayer::parse(&raw_url)?;
    let figment = figment.merge(&url);
    let known = Figment::from(Serialized::defaults(Layers::default())).data()?;
    let given = figment.data()?;
    if let (Some(known), Some(given)) = (known.get(&Profile::Default), given.get(&Profile::Default))
    {
        refuse_unknown_keys(&figment, "", known, given)?;
    }
    // Lossy: the environment's values are strings, numbers wherever a key wants a number.
    let layers = figment.extract_lossy()?;
    Ok((figment, layers, url.url))
}

fn refuse_unknown_keys(
    figment: &Figment,
    prefix: &str,
    known: &Dict,
    given: &Dict,
) -> Result<(), ConfigError> {
    for (name, value) in given {
        let key = format!("{prefix}{name}");
        match known.get(name) {
            None => {
                return Err(ConfigError::UnknownKey {
                    origin: origin(figment, &key),
                    known: known
                        .keys()
                        .map(|k| format!("{prefix}{k}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    key,
                });
            }
            Some(Value::Dict(_, known)) => {
                if let Value::Dict(_, given) = value {
                    refuse_unknown_keys(figment, &format!("{key}."), known, given)?;
                }
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Which layer gave `key` its value, for messages: "config file x.json", "environment variable
/// PORT", "database URL parameter max_connections" or the defaults.
fn origin(figment: &Figment, key: &str) -> String {
    let Some(metadata) = figment.find_metadata(key) else {
        return "the defaults".to_owned();
    };
    match &metadata.source {
        Some(Source::File(path)) => format!("{} {}", metadata.name, path.display()),
        Some(Source::Code(_)) => "the defaults".to_owned(),
        _ => {
            let keys: Vec<&str> = key.split('.').collect();
            format!(
                "{} {}",
                metadata.name,
                metadata.interpolate(&Profile::Default, &keys)
            )
        }
    }
}

impl Layers {
    /// Checks each value against what its key accepts, naming the layer it came from.
    fn validate(self, figment: &Figment, url: String) -> Result<Config, ConfigError> {
        let refuse = |key: &str, problem: &str| ConfigError::Value {
            key: key.to_owned(),
            problem: problem.to_owned(),
            origin: origin(figment, key),
        };
        let positive = |key: &str, value: Duration| {
            if value.is_zero() {
                Err(refuse(key, "must be positive"))
            } else {
                Ok(value)
            }
        };
        let at_least_one = |key: &str, value: usize| {
            if value == 0 {
                Err(refuse(key, "must be at least 1"))
            } else {
                Ok(value)
            }
        };

        let db = self.database;
        let backend = Backend::from_url(&url).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if db.max_connections == 0 {
            return Err(refuse("database.max_connections", "must be at least 1"));
        }
        if db.min_connections > db.max_connections {
            return Err(ConfigError::Invalid(format!(
                "database.min_connections ({}, from {}) exceeds database.max_connections \
                 ({}, from {})",
                db.min_connections,
                origin(figment, "database.min_connections"),
                db.max_connections,
                origin(figment, "database.max_connections"),
            )));
        }
        let pool = PoolConfig {
            max_connections: db.max_connections,
            min_connections: db.min_connections,
            acquire_timeout: positive("database.acquire_timeout", db.acquire_timeout)?,
            connect_timeout: positive("database.connect_timeout", db.connect_timeout)?,
            query_timeout: positive("database.query_timeout", db.query_timeout)?,
            migration_lock_timeout: positive(
                "database.migration_lock_timeout",
                db.migration_lock_timeout,
            )?,
            check_idle_after: db.check_idle_after,
        };
        if db.pooler == Pooler::Transaction && backend != Backend::Postgres {
            return Err(refuse(
                "database.pooler",
                &format!("\"transaction\" is for PostgreSQL (pgbouncer), not {backend}"),
            ));
        }
        let migration_url = db.migration_url.filter(|u| !u.trim().is_empty());
        let replicas = |key: &str, urls: UrlList| {
            let urls = urls.urls();
            if !urls.is_empty() && backend != Backend::Postgres {
                return Err(refuse(
                    key,
                    &format!("name PostgreSQL streaming replicas; the database is {backend}"),
                ));
            }
            if urls
                .iter()
                .any(|url| Backend::from_url(url).ok() != Some(Backend::Postgres))
            {
                return Err(refuse(
                    key,
                    "must all be postgres:// URLs (of the primary's streaming replicas)",
                ));
            }
            Ok(urls)
        };
        let read_urls = replicas("database.read_urls", db.read_urls)?;
        let failover_urls = replicas("database.failover_urls", db.failover_urls)?;
        let max_replica_lag = positive(
            "database.max_replica_lag_ms",
            Duration::from_millis(db.max_replica_lag_ms),
        )?;
        if let Some(direct) = &migration_url {
            match Backend::from_url(direct) {
                Ok(b) if b == backend => {}
                Ok(b) => {
                    return Err(refuse(
                        "database.migration_url",
                        &format!("is a {b} URL, and database.url a {backend} one"),
                    ));
                }
                Err(e) => return Err(refuse("database.migration_url", &e.to_string())),
            }
        }

        if let Some(secret) = &self.secret
            && secret.len() < MIN_SECRET_LEN
        {
            return Err(refuse(
                "secret",
                &format!("(the signing secret) must be at least {MIN_SECRET_LEN} characters"),
            ));
        }
        let token_ttl = positive("token_ttl_secs", Duration::from_secs(self.token_ttl_secs))?;
        let max_session = positive(
            "max_session_secs",
            Duration::from_secs(self.max_session_secs),
        )?;

        positive("rate_limit.window_secs", self.rate_limit.window)?;

        let cost = self.password_hash;
        cost.params().map_err(ConfigError::Invalid)?;
        if !cost.within_ceiling() {
            return Err(ConfigError::Invalid(format!(
                "password_hash {cost:?} is above the most the server verifies, {:?}",
                PasswordCost::CEILING
            )));
        }

        let server = &self.server;
        positive("server.header_timeout_secs", server.header_timeout)?;
        positive("server.body_timeout_secs", server.body_timeout)?;
        positive("server.idle_timeout_secs", server.idle_timeout)?;
        positive("server.write_timeout_secs", server.write_timeout)?;
        at_least_one("server.http2_max_streams", server.http2_max_streams)?;
        at_least_one("server.max_connections", server.max_connections)?;
        at_least_one("server.max_concurrent_hashes", server.max_concurrent_hashes)?;

        positive("audit.refusal_window_secs", self.audit.refusal_window)?;

        let bootstrap_admin = match (self.bootstrap_admin.username, self.bootstrap_admin.password) {
            (Some(username), Some(password)) => Some(BootstrapAdmin {
                username,
                password: Secret(password),
            }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "the bootstrap admin needs both a username and a password \
                     (DIDHUB_BOOTSTRAP_ADMIN_USERNAME / DIDHUB_BOOTSTRAP_ADMIN_PASSWORD, or \
                     bootstrap_admin.username / .password in the file)"
                        .into(),
                ));
            }
        };

        Ok(Config {
            database: DatabaseConfig {
                url,
                backend,
                pool,
                pooler: db.pooler,
                migration_url,
                read_urls,
                max_replica_lag,
                failover_urls,
            },
            host: self.host,
            port: self.port,
            secret: self.secret.map(Secret),
            token_ttl,
            max_session,
            bootstrap_admin,
            rate_limit: self.rate_limit,
            password_hash: cost,
            server: self.server,
            audit: self.audit,
        })
    }
}

impl Config {
    /// Reads the process environment and the optional file.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::from_sources(file, |key| std::env::var(key).ok())
    }

    /// Builds the configuration from the defaults, a file, an environment lookup and the
    /// database URL's parameters, each layer over the one before.
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let (figment, layers, url) = resolve(layered(file, env))?;
        layers.validate(&figment, url)
    }
}

impl DatabaseConfig {
    /// A database given by URL alone (pool parameters may travel in its query string).
    pub fn from_url(url: &str) -> Result<DatabaseConfig, ConfigError> {
        let figment = layered(None, |_| None).merge(Serialized::default("database.url", url));
        let (figment, layers, url) = resolve(figment)?;
        Ok(layers.validate(&figment, url)?.database)
    }
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
        assert!(
            err.to_string()
                .contains("unknown configuration key `rate_limit.logins`"),
            "{err}"
        );
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
            err.to_string()
                .contains("unknown configuration key `audit.retention`"),
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
    fn a_transaction_pooler_and_a_direct_migration_url_are_read_and_checked() {
        let file =
            r#"{"database":{"url":"postgres://u:p@bouncer:6432/didhub","pooler":"transaction"}}"#;
        let config = load(
            Some(file),
            &[("DIDHUB_MIGRATION_DB", "postgres://u:p@primary:5432/didhub")],
        )
        .unwrap();
        assert_eq!(config.database.pooler, Pooler::Transaction);
        assert_eq!(
            config.database.migration_url.as_deref(),
            Some("postgres://u:p@primary:5432/didhub")
        );
        let env = load(
            None,
            &[
                ("DIDHUB_DB", "postgres://h/d"),
                ("DIDHUB_DB_POOLER", "transaction"),
            ],
        )
        .unwrap();
        assert_eq!(env.database.pooler, Pooler::Transaction);
        assert_eq!(load(None, &[]).unwrap().database.pooler, Pooler::None);

        let err = |env: &[(&str, &str)]| load(None, env).unwrap_err().to_string();

        let sqlite = err(&[
            ("DIDHUB_DB", "sqlite://x"),
            ("DIDHUB_DB_POOLER", "transaction"),
        ]);
        assert!(
            sqlite.contains("database.pooler") && sqlite.contains("PostgreSQL"),
            "{sqlite}"
        );
        let other = err(&[
            ("DIDHUB_DB", "postgres://h/d"),
            ("DIDHUB_MIGRATION_DB", "mysql://h/d"),
        ]);
        assert!(
            other.contains("database.migration_url is a mysql URL"),
            "{other}"
        );
        let unknown = err(&[
            ("DIDHUB_DB", "postgres://h/d"),
            ("DIDHUB_DB_POOLER", "pgpool"),
        ]);
        assert!(
            unknown.contains("DIDHUB_DB_POOLER") && unknown.contains("transaction"),
            "{unknown}"
        );
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
        assert!(
            err(Some(r#"{"databse":{}}"#), &[]).contains("unknown configuration key `databse`")
        );
        assert!(err(Some("{"), &[]).contains("not valid"));
        assert!(
            err(
                None,
                &[("DIDHUB_DB", "sqlite://x?max_connections=5000000000")]
            )
            .contains("max_connections")
        );
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

    #[test]
    fn an_unknown_key_is_refused_with_the_file_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("typo.json");
        std::fs::write(&path, r#"{"server":{"header_timeout":5}}"#).unwrap();
        let err = Config::from_sources(Some(&path), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown configuration key `server.header_timeout`"),
            "{err}"
        );
        assert!(err.contains("typo.json"), "the layer is named: {err}");
        assert!(err.contains("server.header_timeout_secs"), "{err}");
    }

    #[test]
    fn a_refused_value_names_the_layer_that_set_it() {
        let file = r#"{"database":{"query_timeout":0},"token_ttl_secs":60}"#;
        let err = load(Some(file), &[]).unwrap_err().to_string();
        assert!(
            err.contains("database.query_timeout must be positive"),
            "{err}"
        );
        assert!(err.contains("config file"), "{err}");
        let err = load(Some(file), &[("DIDHUB_DB", "sqlite://x?query_timeout=0")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("from database URL parameter query_timeout"),
            "{err}"
        );
        let err = load(None, &[("DIDHUB_TOKEN_TTL_SECS", "0")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "token_ttl_secs must be positive (from environment variable DIDHUB_TOKEN_TTL_SECS)"
            ),
            "{err}"
        );
        let err = load(None, &[("PORT", "http")]).unwrap_err().to_string();
        assert!(err.contains("\"PORT\" in environment variable"), "{err}");
    }

    #[test]
    fn environment_values_keep_their_type_and_blank_ones_are_ignored() {
        let secret = "12345678901234567890123456789012345678";
        let config = load(
            Some(r#"{"port":7000}"#),
            &[
                ("DIDHUB_SECRET", secret),
                ("DIDHUB_BOOTSTRAP_ADMIN_USERNAME", "1"),
                ("DIDHUB_BOOTSTRAP_ADMIN_PASSWORD", "true"),
                ("PORT", "  "),
                ("DIDHUB_DB", ""),
            ],
        )
        .unwrap();
        assert_eq!(
            config.secret.as_ref().map(Secret::expose),
            Some(secret),
            "digits stay a string where the key wants one"
        );
        let admin = config.bootstrap_admin.unwrap();
        assert_eq!(
            (admin.username.as_str(), admin.password.expose()),
            ("1", "true")
        );
        assert_eq!(
            config.port, 7000,
            "a blank variable leaves the file's value"
        );
        assert_eq!(config.database.url, DEFAULT_DATABASE_URL);
    }

    #[test]
    fn a_missing_config_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.json");
        let err = Config::from_sources(Some(&path), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("absent.json"), "{err}");
    }

    /// The README's configuration table, one key a row: `| key | environment | default |
    /// meaning |`. The test fails when a key, a variable, a URL parameter or a default changes
    /// on one side only.
    #[test]
    fn readme_table_matches_the_layers() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("## Configuration").unwrap()..];
        let rows: Vec<Vec<&str>> = section
            .lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .skip(2)
            .map(|line| {
                line.trim()
                    .trim_matches('|')
                    .split('|')
                    .map(str::trim)
                    .collect()
            })
            .collect();
        let ticked = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };

        let defaults = Figment::from(Serialized::defaults(Layers::default()))
            .data()
            .unwrap()
            .remove(&Profile::Default)
            .unwrap();
        let mut declared = Vec::new();
        flatten("", &defaults, &mut declared);
        let mut documented = Vec::new();
        for row in &rows {
            assert_eq!(row.len(), 4, "a row of four cells: {row:?}");
            let [key] = ticked(row[0])
                .try_into()
                .unwrap_or_else(|cell| panic!("one key per row, in backticks: {cell:?}"));
            documented.push(key.clone());
            let (params, vars): (Vec<String>, Vec<String>) =
                ticked(row[1]).into_iter().partition(|t| t.starts_with('?'));
            let expected_vars: Vec<String> = ENVIRONMENT
                .iter()
                .filter(|&&(_, k)| k == key)
                .map(|&(var, _)| var.to_owned())
                .collect();
            assert_eq!(
                vars, expected_vars,
                "environment variables of {key}, in order"
            );
            let expected_params: Vec<String> = URL_PARAMETERS
                .iter()
                .filter(|&&p| format!("database.{p}") == key)
                .map(|p| format!("?{p}="))
                .collect();
            assert_eq!(params, expected_params, "URL parameter of {key}");
            let Some((_, value)) = declared.iter().find(|(k, _)| *k == key) else {
                panic!("the README documents {key}, which the configuration does not have");
            };
            let documented_default = row[2].trim_matches('`');
            match value {
                Value::Empty(..) => assert!(
                    !documented_default.is_empty(),
                    "{key} has no default: the README says what happens without it"
                ),
                _ if key == "server.max_concurrent_hashes" => {
                    assert_eq!(documented_default, "cores");
                    assert_eq!(
                        value.to_u128(),
                        std::thread::available_parallelism()
                            .ok()
                            .map(|n| n.get() as u128)
                    );
                }
                _ => assert_eq!(documented_default, render(value), "default of {key}"),
            }
        }
        let declared: Vec<&String> = declared.iter().map(|(k, _)| k).collect();
        let mut undocumented: Vec<&&String> = declared
            .iter()
            .filter(|k| !documented.contains(k))
            .collect();
        undocumented.sort();
        assert!(
            undocumented.is_empty(),
            "keys missing from the README: {undocumented:?}"
        );
    }

    fn flatten(prefix: &str, dict: &Dict, into: &mut Vec<(String, Value)>) {
        for (name, value) in dict {
            let key = format!("{prefix}{name}");
            match value {
                Value::Dict(_, inner) => flatten(&format!("{key}."), inner, into),
                _ => into.push((key, value.clone())),
            }
        }
    }

    fn render(value: &Value) -> String {
        match value {
            Value::String(_, s) => s.clone(),
            Value::Array(_, items) => format!(
                "[{}]",
                items.iter().map(render).collect::<Vec<_>>().join(", ")
            ),
            other => other
                .to_u128()
                .map(|n| n.to_string())
                .unwrap_or_else(|| format!("{other:?}")),
        }
    }
}
