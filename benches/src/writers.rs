//! Concurrent writers through the HTTP API: many clients create, update and delete alters for a
//! while against the reference server (in process, on a real socket, default pool settings),
//! then every answer is checked against what the database holds.
//!
//! Each writer owns a system and keeps its own record of what the server acknowledged: an alter
//! answered 201 must be there with the description of its last acknowledged update, unless a
//! delete was answered 204; a partnership answered 201 must be there while both alters are.
//! Creating a relationship reads before it writes in one transaction (it locks the system and
//! looks for contradictions), the pattern that fails with "database is locked" on SQLite unless
//! writers take the write lock up front. An error is any other answer (or a failed request); a lost row is an
//! acknowledged write that the database does not hold. `just load` prints the report; the load
//! tests assert that both stay at zero.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use didhub_harness::TestDatabase;
use didhub_migrations::Backend;
use didhub_server::db::{Id, Stmt};
use serde_json::{Value, json};

use crate::serve;

/// How hard and how long to write.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub writers: usize,
    pub duration: Duration,
    /// On SQLite, also time the anchor afterwards (see [`Anchor`]).
    pub anchor: bool,
    /// On PostgreSQL, the server reaches the database through pgbouncer in transaction pooling
    /// (`database.pooler = "transaction"`), migrating over the direct URL.
    pub through_pgbouncer: bool,
}

/// The floor the SQLite figure is a ratio of, measured in the same run on the same file:
/// SQLite alone (`scripts/sqlite-writes.py`: Python's sqlite3 module, one connection, the
/// server's settings) writing an alter and its audit entry per transaction for as long as the
/// API's writers wrote.
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    pub transactions: u64,
    pub elapsed: Duration,
}

impl Anchor {
    pub fn throughput(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64()
    }
}

/// What happened.
#[derive(Debug)]
pub struct Report {
    pub backend: Backend,
    pub writers: usize,
    pub elapsed: Duration,
    /// Writes answered with success.
    pub acknowledged: u64,
    /// Other answers, by `status code`, and requests that failed outright.
    pub errors: BTreeMap<String, u64>,
    /// Latency of every request, sorted.
    latencies: Vec<Duration>,
    /// Acknowledged writes the database does not hold (or holds with older content).
    pub lost: Vec<String>,
    /// Alters left out of the check: an update or delete of theirs failed, and may have
    /// happened all the same.
    pub in_doubt: usize,
    /// Alters and partnerships in the database at the end.
    pub rows: usize,
    /// SQLite alone on the same file, when asked for.
    pub anchor: Option<Anchor>,
}

impl Report {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn throughput(&self) -> f64 {
        self.acknowledged as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    /// One line of figures, then the errors and lost rows, if any.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{:<9} {:>3} writers  {:>5.1} s  {:>7} writes  {:>7.0} writes/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  {} errors  {} lost  {} rows\n",
            self.backend.name(),
            self.writers,
            self.elapsed.as_secs_f64(),
            self.acknowledged,
            self.throughput(),
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.percentile(1.0)),
            self.error_count(),
            self.lost.len(),
            self.rows,
        );
        if let Some(anchor) = &self.anchor {
            let _ = writeln!(
                out,
                "    anchor: SQLite alone, one connection, an alter and its audit entry per transaction: {:.0} transactions/s; the API: {:.2} of it",
                anchor.throughput(),
                self.throughput() / anchor.throughput(),
            );
        }
        for (error, count) in &self.errors {
            let _ = writeln!(out, "    error: {count} × {error}");
        }
        if self.in_doubt > 0 {
            let _ = writeln!(
                out,
                "    {} alters left out of the check: a failed update or delete of theirs may have happened",
                self.in_doubt
            );
        }
        for lost in self.lost.iter().take(20) {
            let _ = writeln!(out, "    lost: {lost}");
        }
        out
    }
}

/// The `p` quantile (0 to 1) of `sorted` latencies; zero when there are none.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let last = sorted.len().saturating_sub(1);
    sorted
        .get((last as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

const ADMIN: &str = "load-admin";
const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Runs `options.writers` writers for `options.duration` against a fresh database on `backend`.
pub async fn run(backend: Backend, options: Options) -> anyhow::Result<Report> {
    let database = TestDatabase::create(backend).await?;
    let config = server_config(&database.url)?;
    run_on(database, config, options, std::future::ready(())).await
}

/// The server's configuration for [`run_on`] over the database at `url`.
pub fn server_config(url: &str) -> anyhow::Result<didhub_server::config::Config> {
    crate::server_config(url, ADMIN, ADMIN_PASSWORD)
}

/// [`run`] on `database`, served with `config`, while `meanwhile` runs beside the writers (an
/// outage, a failover).
pub async fn run_on(
    database: TestDatabase,
    mut config: didhub_server::config::Config,
    options: Options,
    meanwhile: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Report> {
    let backend = database.kind;
    if options.through_pgbouncer {
        let pooled = database
            .through_pgbouncer()
            .await?
            .context("pgbouncer stands in front of the shared PostgreSQL server only")?;
        config.database.url = pooled;
        config.database.pooler = didhub_server::config::Pooler::Transaction;
        config.database.migration_url = Some(database.url.clone());
    }
    let state = didhub_server::prepare(&config).await?;
    let db = state.db.clone();
    let base = serve(state).await;
    let client = reqwest::Client::new();
    let api = Api { client, base };

    let admin = api.login(ADMIN, ADMIN_PASSWORD).await?;
    let mut writers = Vec::with_capacity(options.writers);
    for n in 0..options.writers {
        writers.push(Writer::prepare(&api, &admin, n).await?);
    }

    let started = Instant::now();
    let deadline = started + options.duration;
    let meanwhile = tokio::spawn(meanwhile);
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|writer| {
            let api = api.clone();
            tokio::spawn(async move { writer.write_until(&api, deadline).await })
        })
        .collect();
    let mut finished = Vec::with_capacity(tasks.len());
    for task in tasks {
        finished.push(task.await.context("writer task")?);
    }
    let elapsed = started.elapsed();
    meanwhile.await.context("what ran beside the writers")?;

    let mut report = Report {
        backend,
        writers: options.writers,
        elapsed,
        acknowledged: 0,
        errors: BTreeMap::new(),
        latencies: Vec::new(),
        lost: Vec::new(),
        in_doubt: 0,
        rows: 0,
        anchor: None,
    };
    let mut kept = Vec::with_capacity(finished.len());
    for mut writer in finished {
        report.acknowledged += writer.acknowledged;
        report.in_doubt += writer.in_doubt;
        for (error, count) in std::mem::take(&mut writer.errors) {
            *report.errors.entry(error).or_default() += count;
        }
        report.latencies.append(&mut writer.latencies);
        let stored: Vec<(Id, String, Option<String>)> = db
            .conn()
            .fetch_all(
                Stmt::new("SELECT id, name, description FROM alters WHERE system_id = ?")
                    .bind(writer.system),
            )
            .await?;
        report.rows += stored.len();
        let stored: HashMap<Id, Option<String>> = stored
            .into_iter()
            .map(|(id, _, description)| (id, description))
            .collect();
        for (id, expected) in &writer.alters {
            match stored.get(id) {
                None => report.lost.push(format!("alter {id} was acknowledged but is missing")),
                Some(description) if description.as_deref() != Some(expected.as_str()) => {
                    report.lost.push(format!(
                        "alter {id} has description {description:?}, the last acknowledged update set {expected:?}"
                    ))
                }
                Some(_) => {}
            }
        }
        for id in &writer.deleted {
            if stored.contains_key(id) {
                report
                    .lost
                    .push(format!("alter {id} was deleted (204) but is still there"));
            }
        }
        kept.push(writer);
    }
    let partners: Vec<(Id, Id)> = db
        .conn()
        .fetch_all(Stmt::new(
            "SELECT alter_id, related_alter_id FROM alter_relationships \
             WHERE relationship_type = 'partner'",
        ))
        .await?;
    report.rows += partners.len();
    let partners: HashSet<(Id, Id)> = partners.into_iter().map(|(a, b)| pair(a, b)).collect();
    for writer in &kept {
        for &(a, b) in &writer.partners {
            let both_alive = writer.alters.contains_key(&a) && writer.alters.contains_key(&b);
            if both_alive && !partners.contains(&(a, b)) {
                report.lost.push(format!(
                    "the partnership of {a} and {b} was acknowledged but is missing"
                ));
            }
        }
    }
    report.latencies.sort();
    let owner = match kept.first() {
        Some(writer) => {
            let owner: Vec<(Id,)> = db
                .conn()
                .fetch_all(
                    Stmt::new("SELECT user_id FROM systems WHERE id = ?").bind(writer.system),
                )
                .await?;
            owner.first().map(|(user,)| (writer.system, *user))
        }
        None => None,
    };
    db.close().await;
    if let (true, Backend::Sqlite, Some((system, user))) = (options.anchor, backend, owner) {
        let file = database
            .url
            .strip_prefix("sqlite://")
            .context("a SQLite test database's URL starts with sqlite://")?;
        report.anchor = Some(sqlite_alone(file, system, user, options.duration)?);
    }
    drop(database);
    Ok(report)
}

/// Runs `scripts/sqlite-writes.py` on `file` for `duration` (see [`Anchor`]).
fn sqlite_alone(file: &str, system: Id, user: Id, duration: Duration) -> anyhow::Result<Anchor> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/sqlite-writes.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(file)
        .arg(system.to_string())
        .arg(user.to_string())
        .arg(duration.as_secs_f64().to_string())
        .output()
        .with_context(|| format!("running python3 {script} (the SQLite anchor)"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{script} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let words: Vec<&str> = stdout.split_whitespace().collect();
    match words.as_slice() {
        ["transactions", n, "seconds", s] => Ok(Anchor {
            transactions: n.parse().context("the anchor's transaction count")?,
            elapsed: Duration::from_secs_f64(s.parse().context("the anchor's seconds")?),
        }),
        _ => bail!("{script} printed {stdout:?}, expected `transactions N seconds S`"),
    }
}

/// Two alters in a stable order, for comparing partnerships whichever side named them.
fn pair(a: Id, b: Id) -> (Id, Id) {
    if a.to_string() <= b.to_string() {
        (a, b)
    } else {
        (b, a)
    }
}

/// The HTTP API at `base`.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
}

impl Api {
    pub(crate) async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let body = self
            .send(
                reqwest::Method::POST,
                "/api/auth/login",
                None,
                Some(json!({ "username": username, "password": password })),
            )
            .await?;
        match body {
            (200, body) => Ok(body["token"].as_str().context("token")?.to_owned()),
            (status, body) => bail!("login as {username}: {status} {body}"),
        }
    }

    /// A request: the status and the JSON body (`null` when there is none).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// A request that must succeed with `expected`; its body.
    pub(crate) async fn expect(
        &self,
        expected: u16,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        match self.send(method, path, Some(token), Some(body)).await? {
            (status, body) if status == expected => Ok(body),
            (status, body) => bail!("{path}: expected {expected}, got {status} {body}"),
        }
    }
}

/// One writer: its account and system, and what the server acknowledged to it.
struct Writer {
    token: String,
    system: Id,
    /// Alters acknowledged and not deleted, with their last acknowledged description.
    alters: HashMap<Id, String>,
    /// Insertion order of `alters`, for picking which one to update or delete.
    order: Vec<Id>,
    deleted: Vec<Id>,
    /// Partnerships acknowledged, as [`pair`]s.
    partners: HashSet<(Id, Id)>,
    /// Alters whose failed update or delete may have happened ([`Writer::doubt`]).
    in_doubt: usize,
    acknowledged: u64,
    errors: BTreeMap<String, u64>,
    latencies: Vec<Duration>,
}

impl Writer {
    /// An approved account of its own, logged in, with a system.
    async fn prepare(api: &Api, admin: &str, n: usize) -> anyhow::Result<Writer> {
        let username = format!("writer{n}");
        let password = format!("staple-battery-{n}-horse");
        api.expect(
            201,
            reqwest::Method::POST,
            "/api/users",
            admin,
            json!({ "username": username, "password": password }),
        )
        .await?;
        let token = api.login(&username, &password).await?;
        let system = api
            .expect(
                201,
                reqwest::Method::POST,
                "/api/systems",
                &token,
                json!({ "name": format!("System of {username}") }),
            )
            .await?;
        let system = system["id"].as_str().context("system id")?.parse()?;
        Ok(Writer {
            token,
            system,
            alters: HashMap::new(),
            order: Vec::new(),
            deleted: Vec::new(),
            partners: HashSet::new(),
            in_doubt: 0,
            acknowledged: 0,
            errors: BTreeMap::new(),
            latencies: Vec::new(),
        })
    }

    /// Writes until `deadline`: mostly creates, every fourth write an update of an earlier alter,
    /// every eighth a delete.
    async fn write_until(mut self, api: &Api, deadline: Instant) -> Writer {
        let mut n = 0u64;
        while Instant::now() < deadline {
            n += 1;
            let target = self
                .order
                .get(n as usize % self.order.len().max(1))
                .copied();
            let started = Instant::now();
            let newest = self.order.last().copied();
            match (n % 8, target, newest) {
                (1 | 5, Some(id), _) => self.update(api, id, n).await,
                (3, Some(a), Some(b)) if a != b && !self.partners.contains(&pair(a, b)) => {
                    self.relate(api, a, b).await
                }
                (7, Some(id), _) => self.delete(api, id).await,
                _ => self.create(api, n).await,
            }
            self.latencies.push(started.elapsed());
        }
        self
    }

    async fn create(&mut self, api: &Api, n: u64) {
        let description = format!("created as #{n}");
        let body = json!({ "system_id": self.system, "name": format!("alter {n}"), "description": description });
        let answer = api
            .send(
                reqwest::Method::POST,
                "/api/alters",
                Some(&self.token),
                Some(body),
            )
            .await;
        if let Some(body) = self.check(answer, 201) {
            match body["id"].as_str().and_then(|id| id.parse().ok()) {
                Some(id) => {
                    self.alters.insert(id, description);
                    self.order.push(id);
                }
                None => self.error(format!("201 without an id: {body}")),
            }
        }
    }

    async fn update(&mut self, api: &Api, id: Id, n: u64) {
        let description = format!("updated as #{n}");
        let answer = api
            .send(
                reqwest::Method::PUT,
                &format!("/api/alters/{id}"),
                Some(&self.token),
                Some(json!({ "description": description })),
            )
            .await;
        if self.check(answer, 200).is_some() {
            self.alters.insert(id, description);
        } else {
            self.doubt(id);
        }
    }

    /// An update or delete of `id` was not answered with success: it may have happened all the
    /// same (a COMMIT the database made but never answered, in an outage). What `id` holds is
    /// not known any more: it is left out of the check and of further writes.
    fn doubt(&mut self, id: Id) {
        self.alters.remove(&id);
        self.order.retain(|o| *o != id);
        self.in_doubt += 1;
    }

    async fn relate(&mut self, api: &Api, a: Id, b: Id) {
        let answer = api
            .send(
                reqwest::Method::POST,
                &format!("/api/alters/{a}/relationships"),
                Some(&self.token),
                Some(json!({ "related_alter_id": b, "type": "partner" })),
            )
            .await;
        if self.check(answer, 201).is_some() {
            self.partners.insert(pair(a, b));
        }
    }

    async fn delete(&mut self, api: &Api, id: Id) {
        let answer = api
            .send(
                reqwest::Method::DELETE,
                &format!("/api/alters/{id}"),
                Some(&self.token),
                None,
            )
            .await;
        if self.check(answer, 204).is_some() {
            self.alters.remove(&id);
            self.order.retain(|o| *o != id);
            self.deleted.push(id);
        } else {
            self.doubt(id);
        }
    }

    /// The body when the answer is `expected`; otherwise the error is counted.
    fn check(&mut self, answer: anyhow::Result<(u16, Value)>, expected: u16) -> Option<Value> {
        match answer {
            Ok((status, body)) if status == expected => {
                self.acknowledged += 1;
                Some(body)
            }
            Ok((status, body)) => {
                let code = body["code"].as_str().unwrap_or("no error body");
                self.error(format!("{status} {code}"));
                None
            }
            Err(e) => {
                self.error(format!("request failed: {e}"));
                None
            }
        }
    }

    fn error(&mut self, what: String) {
        *self.errors.entry(what).or_default() += 1;
    }
}
