//! What a migration does to a live database: `didhub-harness impact`.
//!
//! For each version on each backend, a fresh database is migrated to the version before and
//! its tables the migration touches (and those they refer to) are filled ([`fill`]: the
//! project's data fixtures scaled where they hold the table, else rows generated from the
//! schema); then a
//! workload ([`workload`]) of point reads, inserts and updates runs against the touched tables,
//! first alone (the baseline), then while the migration's statements run one by one on a
//! connection of their own — its up, then its down. For each statement: how long it took, the
//! locks it held and what they keep waiting ([`Dialect`], one file per backend), whether it
//! rewrote a table, and the slowest read and write it overlapped. For each migration: its
//! duration, the latencies the workload saw against the baseline, the operations it blocked
//! and for how long, and a verdict against the project's budgets (`[impact]`).
//!
//! Statements run as the project's runner runs them: its session statements first, in a
//! transaction unless the file (or `[runner]`) says `no-transaction`, each lock wait bounded
//! by the lock timeout. A statement that fails stops its migration, named with its line, the
//! database's words and whoever held the lock it waited for.

pub(crate) mod fill;
mod mysql;
mod postgres;
mod report;
mod session;
pub(crate) mod settings;
mod sqlite;
mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use didhub_migrations::{LockTimeout, LockWaits};

use crate::allow::{AllowList, Entry};
use crate::backend::{Backend, Pool, TestDatabase, quote, why};
use crate::data::Fixture;
use crate::lint;
use crate::migration_file::Direction;
use crate::migrations::MigrationSet;
use crate::project::Project;
use crate::schema::Schema;
use crate::settings_file::SettingsError;
use crate::sql;

pub use fill::{FillError, Sample};
use report::ms;
pub use report::{
    Blocked, Budget, Filled, ImpactError, ImpactReport, LockHeld, MigrationImpact, StatementImpact,
    Stats, Traffic,
};
use session::Session;
pub use settings::{Allowed, Settings, Way};
pub use workload::Kind;
use workload::{Op, Target};

/// What a backend answers: the SQL that reads locks, waiters and table identities, and what a
/// lock mode keeps waiting.
pub(crate) struct Dialect {
    /// Run on the migrating connection before anything else.
    prepare: &'static [&'static str],
    /// The migrating session's id, as `locks` and `holders` take it.
    session_id: Option<&'static str>,
    /// Rows of (key, table) for every table, the key as `locks` names a table.
    tables: &'static str,
    /// The table locks a session holds: rows of (key, mode).
    locks: Option<fn(&str) -> String>,
    /// Whether locks taken in a transaction stay held until it ends, so that reading them on
    /// the migrating session after each statement gives exactly what it took (PostgreSQL);
    /// otherwise they are sampled from another connection while the statement runs.
    locks_in_transaction: bool,
    /// Who a waiting session waits for: rows of (who, what they run).
    holders: Option<fn(&str) -> String>,
    /// Rows of (table, identity) for every table: a rewritten table has a new identity.
    identities: &'static str,
    /// (blocks reads, blocks writes) for a lock mode.
    blocks: fn(&str) -> (bool, bool),
}

fn dialect(kind: Backend) -> &'static Dialect {
    match kind {
        Backend::Sqlite => &sqlite::DIALECT,
        Backend::Postgres => &postgres::DIALECT,
        Backend::MySql => &mysql::DIALECT,
    }
}

impl Allowed {
    fn covers(&self, impact: &MigrationImpact) -> bool {
        self.version.0 == impact.version
            && self.backend.is_none_or(|b| b == impact.backend)
            && self.direction.is_none_or(|d| d == impact.direction)
    }
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    pub rows: u64,
    pub max_write_stall: Duration,
    pub max_read_stall: Duration,
    pub baseline: Duration,
    pub lock_timeout: Duration,
    /// Only these versions (all when empty).
    pub versions: Vec<i64>,
    /// A transaction that reads every touched table and stays open this long, started just
    /// before the migration: what a long report query or a forgotten session does.
    pub hold_transaction: Option<Duration>,
    /// The data fixtures folder (`vNNNN/<table>.json`), instead of the settings' `fixtures`.
    pub fixtures: Option<PathBuf>,
    pub allow: AllowList<Allowed>,
}

impl Options {
    /// Enough rows for a rewrite to show against the workload's latencies.
    pub const ROWS: u64 = 200_000;

    /// The settings' options, defaults where they say nothing.
    pub fn new(settings: &Settings, origin: &str) -> Result<Options, SettingsError> {
        let ms = |v: Option<u64>, default| Duration::from_millis(v.unwrap_or(default));
        Ok(Options {
            rows: settings.rows.unwrap_or(Self::ROWS),
            max_write_stall: ms(settings.max_write_stall_ms, 1000),
            max_read_stall: ms(settings.max_read_stall_ms, 1000),
            baseline: ms(settings.baseline_ms, 1000),
            lock_timeout: ms(
                settings.lock_timeout_ms,
                LockTimeout::DEFAULT.as_millis() as u64,
            ),
            versions: Vec::new(),
            hold_transaction: None,
            fixtures: None,
            allow: AllowList::of(&settings.allow, origin)?,
        })
    }
}

/// Measures every version of `project` (or those `options` names) on each of `backends`.
pub async fn run(project: &Project, backends: &[Backend], options: &Options) -> ImpactReport {
    let mut report = ImpactReport {
        budget: Budget {
            max_read_stall_ms: ms(options.max_read_stall),
            max_write_stall_ms: ms(options.max_write_stall),
        },
        ..ImpactReport::default()
    };
    // Static against measured: the lint's findings are shown on the statements they flag.
    let lint = project.settings.lint_policy(&project.root, None).ok();
    let folder = options.fixtures.clone().or_else(|| {
        let relative = project.settings.fixtures.as_ref()?;
        Some(project.root.join(relative))
    });
    let fixtures = match folder.as_deref().map(Fixture::load_all).transpose() {
        Ok(fixtures) => fixtures.unwrap_or_default(),
        Err(e) => {
            for &kind in backends {
                report.errors.push((kind, None, e.clone().into()));
            }
            return report;
        }
    };
    for &kind in backends {
        let set = match MigrationSet::of(project, kind).await {
            Ok(set) => set,
            Err(e) => {
                report.errors.push((kind, None, e.into()));
                continue;
            }
        };
        for version in set.versions() {
            if !options.versions.is_empty() && !options.versions.contains(&version) {
                continue;
            }
            // What the database can hold at the version before.
            let fixtures: Vec<Fixture> = fixtures
                .iter()
                .filter(|f| f.version <= set.previous(version))
                .cloned()
                .collect();
            let measured = measure_version(&set, version, options, lint.as_ref(), &fixtures);
            match Box::pin(measured).await {
                Ok(mut impacts) => report.migrations.append(&mut impacts),
                Err(e) => report.errors.push((kind, Some(version), e)),
            }
        }
    }
    let mut uses = options.allow.uses();
    for impact in &mut report.migrations {
        if !impact.over_budget.is_empty() {
            let entry = options.allow.allow.iter().find(|a| a.covers(impact));
            if uses.allows(|a| a.covers(impact)) {
                impact.allowed = entry.map(|a| a.reason.clone());
            }
        }
    }
    report.unused_allows = uses
        .unused()
        .map(|a| {
            format!(
                "[[impact.allow]] {} allowed nothing over budget in this run",
                a.label()
            )
        })
        .collect();
    report
}

/// The up and the down of `version`, each measured on a fresh database.
async fn measure_version(
    set: &MigrationSet,
    version: i64,
    options: &Options,
    lint: Option<&lint::Policy>,
    fixtures: &[Fixture],
) -> Result<Vec<MigrationImpact>, ImpactError> {
    let kind = set.kind;
    let db = TestDatabase::create(kind).await?;
    let measured = Box::pin(measure_on(set, version, options, lint, fixtures, &db)).await;
    // The database goes whatever happened; a failure to drop it is not the migration's.
    db.discard().await.ok();
    measured
}

/// The connections of one measurement.
struct Connections {
    kind: Backend,
    /// The migrating session.
    migrating: Session,
    /// Its id, as the sampler names it.
    id: Option<String>,
    /// The sampler's connection.
    sampler: Pool,
    /// The workload's connections.
    workload: Pool,
    /// Why locks cannot be read, if they cannot.
    locks_unread: Option<String>,
    /// What the project's runner runs on a migration's connection first (`[runner]`).
    runner_session: Vec<String>,
}

async fn measure_on(
    set: &MigrationSet,
    version: i64,
    options: &Options,
    lint: Option<&lint::Policy>,
    fixtures: &[Fixture],
    db: &TestDatabase,
) -> Result<Vec<MigrationImpact>, ImpactError> {
    let kind = set.kind;
    let before = db.connect().await?;
    let migrated = before
        .migrate_up(&set.migrator, set.previous(version))
        .await;
    before.close().await;
    migrated.map_err(|e| ImpactError::Before {
        backend: kind,
        version,
        reason: why(&e),
    })?;
    let open = |max| Pool::connect_many(kind, &db.url, max);
    let own = open(1)
        .await
        .map_err(ImpactError::database(kind, "connect"))?;
    let mut migrating = Session::of(&own)
        .await
        .map_err(ImpactError::database(kind, "connect"))?;
    let dialect = dialect(kind);
    for sql in dialect.prepare {
        migrating
            .run(sql)
            .await
            .map_err(ImpactError::database(kind, sql))?;
    }
    let id = match dialect.session_id {
        Some(sql) => first_text(&mut migrating, sql).await?,
        None => None,
    };
    let locks_unread = match kind {
        Backend::MySql => lock_info(&mut migrating).await,
        Backend::Sqlite | Backend::Postgres => None,
    };
    let mut conns = Connections {
        kind,
        migrating,
        id,
        sampler: open(1)
            .await
            .map_err(ImpactError::database(kind, "connect"))?,
        workload: open(32)
            .await
            .map_err(ImpactError::database(kind, "connect"))?,
        locks_unread,
        runner_session: set.session().to_vec(),
    };
    let mut impacts = Vec::new();
    let up = Script::of(set, version, Way::Up, lint)?;
    let schema = conns.workload.introspect().await?;
    let tables = fill::closure(&schema, &touched(&schema, &up.statements, kind));
    let made = fill::fill(
        &mut conns.migrating,
        &schema,
        &tables,
        options.rows,
        fixtures,
    )
    .await?;
    let filled: Vec<Filled> = tables
        .iter()
        .map(|table| Filled {
            table: table.clone(),
            sample: made.get(table).and_then(|rows| rows.sample.clone()),
        })
        .collect();
    // The workload inserts what the fill did: a fixture's values where the database took them.
    let mut fixtures = fixtures.to_vec();
    for refused in filled
        .iter()
        .filter(|f| f.sample.as_ref().is_some_and(|s| s.refused.is_some()))
    {
        for fixture in &mut fixtures {
            fixture.tables.remove(&refused.table);
        }
    }
    let mut up = measure(&mut conns, options, &schema, up, 1, &fixtures).await?;
    up.filled = filled;
    let revert = up.failed.is_none() && set.can_revert(version);
    impacts.push(up);
    if revert {
        let down = Script::of(set, version, Way::Down, lint)?;
        let schema = conns.workload.introspect().await?;
        impacts.push(measure(&mut conns, options, &schema, down, 2, &fixtures).await?);
    }
    conns.workload.close().await;
    conns.sampler.close().await;
    drop(conns.migrating);
    own.close().await;
    Ok(impacts)
}

/// The lint's findings on a file, by the line of the statement they flag.
fn lint_lines(
    policy: Option<&lint::Policy>,
    kind: Backend,
    direction: Direction,
    file: &str,
    text: &str,
) -> BTreeMap<usize, Vec<String>> {
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    if let Some(policy) = policy {
        let name = format!("{kind}/{file}");
        for finding in lint::lint_file(kind, direction, &name, text, policy).findings {
            let rule = finding.rule.to_string();
            let rules = out.entry(finding.line).or_default();
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
    }
    out
}

/// One file of a migration, as the runner runs it: its statements, whether it runs outside a
/// transaction, and the lint's findings on them.
struct Script {
    version: i64,
    way: Way,
    file: String,
    statements: Vec<sql::Statement>,
    no_tx: bool,
    /// The lint's rules by the line of the statement they flag.
    flagged: BTreeMap<usize, Vec<String>>,
}

impl Script {
    /// `version`'s up or down.
    fn of(
        set: &MigrationSet,
        version: i64,
        way: Way,
        lint: Option<&lint::Policy>,
    ) -> Result<Script, ImpactError> {
        let kind = set.kind;
        let (file, direction) = match way {
            Way::Up if set.is_up_only(version) => (set.up_file(version), Direction::Simple),
            Way::Up => (set.up_file(version), Direction::Up),
            Way::Down => (set.down_file(version), Direction::Down),
        };
        let found = set.migrator.iter().find(|m| {
            m.version == version && m.migration_type.is_down_migration() == (way == Way::Down)
        });
        let (text, no_tx) = match found {
            Some(m) => (m.sql.as_str(), m.no_tx),
            None => ("", false),
        };
        let statements = sql::split(text, kind)
            .map(|script| script.statements)
            .map_err(|e| ImpactError::Unreadable {
                backend: kind,
                file: file.clone(),
                what: e.to_string(),
            })?;
        let flagged = lint_lines(lint, kind, direction, &file, text);
        Ok(Script {
            version,
            way,
            file,
            statements,
            no_tx,
            flagged,
        })
    }
}

/// The existing tables the statements lock, as introspection names them.
fn touched(schema: &Schema, statements: &[sql::Statement], kind: Backend) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for target in sql::lock_targets(statements, kind) {
        // `DROP INDEX x` without its table: the table that has index x.
        let index_of = target
            .table
            .strip_prefix("the table of index ")
            .and_then(|index| {
                let index = index.rsplit('.').next().unwrap_or(index);
                schema
                    .tables
                    .iter()
                    .find(|(_, t)| t.index_named(index).is_some())
                    .map(|(name, t)| (name.as_str(), t))
            });
        if let Some((name, _)) = index_of.or_else(|| fill::table_named(schema, &target.table))
            && !out.iter().any(|t| t == name)
        {
            out.push(name.to_owned());
        }
    }
    out
}

/// The first value of the first row a query returns.
async fn first_text(session: &mut Session, sql: &str) -> Result<Option<String>, ImpactError> {
    let rows = session
        .texts(sql)
        .await
        .map_err(ImpactError::database(session.kind(), sql))?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .flatten())
}

/// MariaDB's metadata lock list: installed if it is not; why not, if it cannot be.
async fn lock_info(session: &mut Session) -> Option<String> {
    match first_text(session, mysql::HAS_LOCK_INFO).await {
        Ok(Some(n)) if n != "0" => return None,
        Ok(_) => {}
        Err(e) => return Some(e.to_string()),
    }
    match session.run(mysql::INSTALL_LOCK_INFO).await {
        Ok(_) => None,
        Err(e) => Some(format!(
            "the metadata_lock_info plugin is not installed and could not be ({e}); \
             an administrator can run `{}`",
            mysql::INSTALL_LOCK_INFO
        )),
    }
}

/// The identity of every table: a rewrite changes it.
async fn identities(conns: &mut Connections) -> Result<BTreeMap<String, String>, ImpactError> {
    let sql = dialect(conns.kind).identities;
    two_columns(conns, sql, "read the tables' identities").await
}

/// Every table of the database now, by the key its locks name it by (PostgreSQL's oid, the
/// name elsewhere).
async fn tables(conns: &mut Connections) -> Result<BTreeMap<String, String>, ImpactError> {
    let sql = dialect(conns.kind).tables;
    two_columns(conns, sql, "read the tables").await
}

/// A query's rows of two values, on the migrating session, as a map from the first to the
/// second.
async fn two_columns(
    conns: &mut Connections,
    sql: &str,
    what: &str,
) -> Result<BTreeMap<String, String>, ImpactError> {
    let rows = conns
        .migrating
        .texts(sql)
        .await
        .map_err(ImpactError::database(conns.kind, what))?;
    Ok(pairs(rows).into_iter().collect())
}

fn lock_list(d: &Dialect, locks: BTreeSet<(String, String)>) -> Vec<LockHeld> {
    locks
        .into_iter()
        .map(|(table, mode)| {
            let (blocks_reads, blocks_writes) = (d.blocks)(&mode);
            LockHeld {
                table,
                mode,
                blocks_reads,
                blocks_writes,
            }
        })
        .collect()
}

/// The table locks the migrating session holds now, on itself (in a transaction).
async fn held(conns: &mut Connections) -> Result<BTreeSet<(String, String)>, ImpactError> {
    let (Some(locks), Some(id)) = (dialect(conns.kind).locks, conns.id.as_deref()) else {
        return Ok(BTreeSet::new());
    };
    let sql = locks(id);
    let rows = conns
        .migrating
        .texts(&sql)
        .await
        .map_err(ImpactError::database(
            conns.kind,
            "read the migration's locks",
        ))?;
    Ok(pairs(rows))
}

/// A table's name without its schema or quotes, lower-case, to match names across spellings.
fn bare(table: &str) -> String {
    let name = table.rsplit('.').next().unwrap_or(table);
    name.trim_matches(|c| c == '"' || c == '`')
        .to_ascii_lowercase()
}

fn pairs(rows: Vec<Vec<Option<String>>>) -> BTreeSet<(String, String)> {
    rows.into_iter()
        .filter_map(|r| {
            let mut r = r.into_iter();
            Some((r.next().flatten()?, r.next().flatten()?))
        })
        .collect()
}

/// Reads, from another connection, the locks the migrating session holds and who it waits
/// for, until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Sampled>,
}

/// The (key, mode) locks seen, and who the session waited for.
type Sampled = (BTreeSet<(String, String)>, BTreeSet<String>);

impl Sampler {
    fn start(conns: &Connections) -> Option<Sampler> {
        let dialect = dialect(conns.kind);
        let id = conns.id.clone()?;
        let locks = dialect
            .locks
            .filter(|_| conns.locks_unread.is_none())
            .map(|f| f(&id));
        let holders = dialect.holders.map(|f| f(&id));
        let stop = Arc::new(AtomicBool::new(false));
        let (pool, flag) = (conns.sampler.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut seen = BTreeSet::new();
            // By who: the same holder is seen again and again, its transaction older each time.
            let mut waited = BTreeMap::new();
            while !flag.load(Ordering::SeqCst) {
                if let Some(sql) = &locks
                    && let Ok(rows) = session::texts(&pool, sql).await
                {
                    seen.extend(pairs(rows));
                }
                if let Some(sql) = &holders
                    && let Ok(rows) = session::texts(&pool, sql).await
                {
                    for (who, what) in pairs(rows) {
                        let key = who.split(" (").next().unwrap_or_default().to_owned();
                        let said = match what.is_empty() {
                            true => who,
                            false => format!("{who}: {what}"),
                        };
                        waited.insert(key, said);
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (seen, waited.into_values().collect())
        });
        Some(Sampler { stop, task })
    }

    async fn stop(self) -> Sampled {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap_or_default()
    }
}

/// A transaction that reads each table and stays open for `hold`.
async fn hold_transaction(pool: Pool, tables: Vec<String>, hold: Duration) {
    let Ok(mut session) = Session::of(&pool).await else {
        return;
    };
    let kind = session.kind();
    if session.begin().await.is_err() {
        return;
    }
    for table in &tables {
        let sql = format!("SELECT * FROM {} LIMIT 1", quote(kind, table));
        session.texts(&sql).await.ok();
    }
    tokio::time::sleep(hold).await;
    session.run("COMMIT").await.ok();
}

/// How long the workload runs before the first statement and after the last, so that what
/// the migration did at either end is seen.
const MARGIN: Duration = Duration::from_millis(50);

/// Runs one migration's statements under the workload and measures them. `phase` keeps the
/// workload's inserts of the up and the down apart.
async fn measure(
    conns: &mut Connections,
    options: &Options,
    schema: &Schema,
    script: Script,
    phase: u64,
    fixtures: &[Fixture],
) -> Result<MigrationImpact, ImpactError> {
    let kind = conns.kind;
    let touched = touched(schema, &script.statements, kind);
    let mut targets = Vec::new();
    for name in &touched {
        // A table whose foreign key refers to an empty table (both made by this up) gets
        // reads and updates, no inserts.
        let rows = fill::rows_for(&mut conns.migrating, schema, name, options.rows, fixtures)
            .await
            .ok();
        let after = options.rows * (phase + 1) + 1_000_000 * phase;
        let target = Target::of(
            &mut conns.migrating,
            name,
            &schema.tables[name],
            rows,
            after,
            100_000,
        )
        .await
        .map_err(ImpactError::database(kind, "read the keys"))?;
        targets.push(Arc::new(target));
    }

    let start = Instant::now();
    let running = workload::start(&conns.workload, &targets, start);
    tokio::time::sleep(options.baseline).await;
    let baseline_ops = running.stop().await;

    // In a JoinSet, which aborts it if the measurement ends early.
    let mut holder = tokio::task::JoinSet::new();
    if let Some(hold) = options.hold_transaction {
        let (pool, tables) = (conns.workload.clone(), touched.clone());
        holder.spawn(hold_transaction(pool, tables, hold));
        // The holder's reads come first, as a transaction that was already open.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let start = Instant::now();
    let running = workload::start(&conns.workload, &targets, start);
    tokio::time::sleep(MARGIN).await;
    let began = start.elapsed();
    let mut ran = Vec::new();
    // `DROP INDEX x` names no table: the schema says whose index x is.
    let index_tables: BTreeMap<String, String> = schema
        .tables
        .iter()
        .flat_map(|(table, t)| {
            t.indexes
                .values()
                .filter_map(|ix| ix.name.text.as_deref())
                .map(|ix| (bare(ix), bare(table)))
        })
        .collect();
    let failed = run_statements(conns, options, &script, start, &index_tables, &mut ran).await?;
    let ended = start.elapsed();
    tokio::time::sleep(MARGIN).await;
    let ops = running.stop().await;
    holder.abort_all();

    let baseline = traffic(&baseline_ops, Duration::ZERO, Duration::MAX);
    let during = traffic(&ops, began, ended);
    let blocked = |k: Kind, base: &Stats| {
        let threshold = Duration::from_secs_f64((base.p99_ms * 10.0).max(20.0) / 1000.0);
        let waits: Vec<Duration> = overlapping(&ops, k, began, ended)
            .map(|op| op.took)
            .filter(|took| *took > threshold)
            .collect();
        Blocked {
            count: waits.len(),
            longest_ms: waits.iter().max().map_or(0.0, |d| ms(*d)),
        }
    };
    let blocked_reads = blocked(Kind::Read, &baseline.reads);
    let blocked_writes = blocked(Kind::Write, &baseline.writes);
    let refused: Vec<&Op> = overlapping(&ops, Kind::Read, began, ended)
        .chain(overlapping(&ops, Kind::Write, began, ended))
        .filter(|op| op.error.is_some())
        .collect();
    let mut messages: Vec<String> = Vec::new();
    for op in &refused {
        let message = op.error.clone().unwrap_or_default();
        if messages.len() < 3 && !messages.contains(&message) {
            messages.push(message);
        }
    }
    let statements = ran
        .into_iter()
        .map(|(mut s, from, to): (StatementImpact, Duration, Duration)| {
            let worst = |k| {
                overlapping(&ops, k, from, to)
                    .map(|op| op.took)
                    .max()
                    .map_or(0.0, ms)
            };
            s.worst_read_ms = worst(Kind::Read);
            s.worst_write_ms = worst(Kind::Write);
            let done = |k| {
                let within = |op: &&Op| op.started >= from && op.ended() <= to;
                overlapping(&ops, k, from, to).filter(within).count()
            };
            s.reads_done = done(Kind::Read);
            s.writes_done = done(Kind::Write);
            s.lint = script.flagged.get(&s.line).cloned().unwrap_or_default();
            s.lint_confirmed = (!s.lint.is_empty()).then(|| {
                let blocking = |l: &LockHeld| l.blocks_reads || l.blocks_writes;
                !s.rewritten.is_empty() || s.locks.iter().chain(&s.held).any(blocking)
            });
            s
        })
        .collect();
    let mut over_budget = Vec::new();
    let budget = |what: &str, worst: f64, limit: Duration, out: &mut Vec<String>| {
        if worst > ms(limit) {
            out.push(format!(
                "a {what} waited {worst:.0} ms, over the budget of {} ms (max_{what}_stall_ms)",
                limit.as_millis()
            ));
        }
    };
    budget(
        "write",
        during.writes.max_ms,
        options.max_write_stall,
        &mut over_budget,
    );
    budget(
        "read",
        during.reads.max_ms,
        options.max_read_stall,
        &mut over_budget,
    );
    Ok(MigrationImpact {
        backend: kind,
        version: script.version,
        file: script.file,
        direction: script.way,
        rows: options.rows,
        filled: Vec::new(),
        tables: touched,
        duration_ms: ms(ended.saturating_sub(began)),
        baseline,
        during,
        blocked_reads,
        blocked_writes,
        workload_errors: refused.len(),
        workload_error_messages: messages,
        statements,
        locks_unread: conns.locks_unread.clone(),
        failed,
        over_budget,
        allowed: None,
    })
}

/// The operations of kind `k` that were running at some time between `from` and `to`.
fn overlapping(ops: &[Op], k: Kind, from: Duration, to: Duration) -> impl Iterator<Item = &Op> {
    ops.iter()
        .filter(move |op| op.kind == k && op.started <= to && op.ended() >= from)
}

fn traffic(ops: &[Op], from: Duration, to: Duration) -> Traffic {
    let stats = |k| {
        Stats::of(
            overlapping(ops, k, from, to)
                .filter(|op| op.error.is_none())
                .map(|op| op.took)
                .collect(),
        )
    };
    Traffic {
        reads: stats(Kind::Read),
        writes: stats(Kind::Write),
    }
}

/// The lock-timeout statement for the migrating session.
fn bound(kind: Backend, limit: Duration) -> String {
    let timeout = LockTimeout::new(limit);
    match kind {
        Backend::Sqlite => <sqlx::SqliteConnection as LockWaits>::bound(&timeout),
        Backend::Postgres => <sqlx::PgConnection as LockWaits>::bound(&timeout),
        Backend::MySql => <sqlx::MySqlConnection as LockWaits>::bound(&timeout),
    }
}

/// Runs the statements, each measured, into `ran` with the time it started and ended (the
/// workload's worst during it is filled in later). The failure, if one failed.
async fn run_statements(
    conns: &mut Connections,
    options: &Options,
    script: &Script,
    start: Instant,
    index_tables: &BTreeMap<String, String>,
    ran: &mut Vec<(StatementImpact, Duration, Duration)>,
) -> Result<Option<String>, ImpactError> {
    let kind = conns.kind;
    let d = dialect(kind);
    let setup = conns
        .runner_session
        .iter()
        .cloned()
        .chain([bound(kind, options.lock_timeout)]);
    for sql in setup.collect::<Vec<_>>() {
        conns
            .migrating
            .run(&sql)
            .await
            .map_err(ImpactError::database(kind, &sql))?;
    }
    let in_tx = !script.no_tx;
    if in_tx {
        let began = match kind {
            // The write lock at once, as the migration's first statement would take it: a
            // deferred transaction that read first (the tables' identities, here) cannot
            // become a writer once the workload has written (SQLITE_BUSY_SNAPSHOT).
            Backend::Sqlite => conns.migrating.run("BEGIN IMMEDIATE").await.map(drop),
            Backend::Postgres | Backend::MySql => conns.migrating.begin().await,
        };
        began.map_err(ImpactError::database(
            kind,
            "begin the migration's transaction",
        ))?;
    }
    let mut held_before = BTreeSet::new();
    let mut ids = identities(conns).await?;
    // Locks on a table the migration made are nobody else's concern: nobody sees it yet.
    let existed = tables(conns).await?;
    let mut writing = false;
    for statement in &script.statements {
        let sampler = Sampler::start(conns);
        let from = start.elapsed();
        let result = conns.migrating.run(&statement.text).await;
        let to = start.elapsed();
        let (sampled, waited_for) = match sampler {
            Some(s) => s.stop().await,
            None => Default::default(),
        };
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => {
                if in_tx {
                    conns.migrating.run("ROLLBACK").await.ok();
                }
                let mut said = format!(
                    "line {}: {}: {e}",
                    statement.line,
                    sql::excerpt(&statement.text)
                );
                if !waited_for.is_empty() {
                    let holders: Vec<String> = waited_for.into_iter().collect();
                    write!(said, "; the lock was held by {}", holders.join("; ")).ok();
                }
                return Ok(Some(said));
            }
        };
        let (taken, needed) = if in_tx && d.locks_in_transaction {
            // What it took, as eugene reads it; and what an earlier statement of the
            // transaction took on a table it names, which it needs too (a second CREATE INDEX
            // on a table needs the SHARE lock the first one took).
            let now = held(conns).await?;
            let named: BTreeSet<String> = sql::lock_targets(std::slice::from_ref(statement), kind)
                .into_iter()
                .map(|t| match t.table.strip_prefix("the table of index ") {
                    Some(index) => index_tables.get(&bare(index)).cloned().unwrap_or_default(),
                    None => bare(&t.table),
                })
                .collect();
            let taken = now.difference(&held_before).cloned().collect();
            let needed = now
                .intersection(&held_before)
                .filter(|(key, _)| existed.get(key).is_some_and(|t| named.contains(&bare(t))))
                .cloned()
                .collect();
            held_before = now;
            (taken, needed)
        } else {
            (sampled, BTreeSet::new())
        };
        // Locks by the tables that existed when the migration began, named as they were
        // then: a table it dropped (whose name is gone) or renamed still counts, one it made
        // (a new oid, even under an old name) does not.
        let named = |locks: BTreeSet<(String, String)>| -> BTreeSet<(String, String)> {
            locks
                .into_iter()
                .filter_map(|(key, mode)| Some((existed.get(&key)?.clone(), mode)))
                .collect()
        };
        let (mut locks, held) = (named(taken), named(needed));
        let verb = statement.verb();
        if kind == Backend::Sqlite && !matches!(verb.as_str(), "SELECT" | "PRAGMA" | "") {
            // The write lock is taken once and held to the end of the transaction.
            if !writing || !in_tx {
                locks.insert((String::new(), sqlite::WRITE_LOCK.to_owned()));
            }
            writing = true;
        }
        let after = identities(conns).await?;
        let rewritten: Vec<String> = after
            .iter()
            .filter(|(t, id)| ids.get(*t).is_some_and(|old| old != *id))
            .map(|(t, _)| t.clone())
            .collect();
        let algorithm = (kind == Backend::MySql
            && (statement.starts_with(&["ALTER", "TABLE"])
                || statement.starts_with(&["CREATE", "INDEX"])
                || statement.starts_with(&["CREATE", "UNIQUE", "INDEX"])
                || statement.starts_with(&["DROP", "INDEX"])))
        .then(|| mysql::algorithm(rows, !rewritten.is_empty()).to_owned());
        ids = after;
        let measured = StatementImpact {
            line: statement.line,
            sql: sql::excerpt(&statement.text),
            duration_ms: ms(to.saturating_sub(from)),
            locks: lock_list(d, locks),
            held: lock_list(d, held),
            locks_sampled: !(in_tx && d.locks_in_transaction) && kind != Backend::Sqlite,
            rewritten,
            algorithm,
            worst_read_ms: 0.0,
            worst_write_ms: 0.0,
            reads_done: 0,
            writes_done: 0,
            lint: Vec::new(),
            lint_confirmed: None,
        };
        ran.push((measured, from, to));
    }
    if in_tx {
        let from = start.elapsed();
        let committed = conns.migrating.run("COMMIT").await;
        let to = start.elapsed();
        if let Err(e) = committed {
            return Ok(Some(format!("COMMIT: {e}")));
        }
        let commit = StatementImpact {
            line: 0,
            sql: "COMMIT".to_owned(),
            duration_ms: ms(to.saturating_sub(from)),
            locks: Vec::new(),
            held: Vec::new(),
            locks_sampled: false,
            rewritten: Vec::new(),
            algorithm: None,
            worst_read_ms: 0.0,
            worst_write_ms: 0.0,
            reads_done: 0,
            writes_done: 0,
            lint: Vec::new(),
            lint_confirmed: None,
        };
        ran.push((commit, from, to));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_overlaps_a_statement_it_ran_beside() {
        let op = |started, took| Op {
            kind: Kind::Write,
            started: Duration::from_millis(started),
            took: Duration::from_millis(took),
            error: None,
        };
        let ops = [op(0, 5), op(8, 100), op(200, 1)];
        let (from, to) = (Duration::from_millis(10), Duration::from_millis(50));
        let during: Vec<u64> = overlapping(&ops, Kind::Write, from, to)
            .map(|o| o.took.as_millis() as u64)
            .collect();
        assert_eq!(during, [100]);
        assert_eq!(overlapping(&ops, Kind::Read, from, to).count(), 0);
    }
}
