//! Reads on PostgreSQL streaming replicas (`database.read_urls`), a caller's own writes
//! visible to its next read.
//!
//! A task of its own asks, every [`PROBE_EVERY`], the primary how far its write-ahead log goes
//! (`pg_current_wal_lsn()`) and each replica how far it has replayed it
//! (`pg_last_wal_replay_lsn()`), all at once. A read goes to a replica (in turn) that is up and
//! has replayed
//!
//! - everything the primary had written `max_lag` ago, by the readings: one further behind is
//!   skipped, so no read is staler than that bound, whoever asks (when the readings stop or
//!   slow down, so that the newest one that old is older than that by more than a few probes,
//!   no replica serves);
//! - the server's own migrations (the first reading after they were done: [`Replicas::migrated`];
//!   none serves before); and
//! - when the request's caller wrote within that time, everything the primary had written when
//!   it was first asked after that write: the write is there. Until such a reading exists, the
//!   caller reads from the primary.
//!
//! With no replica fit, reads go to the primary. A replica that fails a read as unavailable
//! (stopped, unreachable, a query cancelled by a conflict with recovery) is marked down until
//! it answers the next probe, and the read is sent to the primary: a replica's failure costs a
//! retry, not an error, while the primary is up.
//!
//! The caller is a request's authenticated user ([`set_caller`], within [`for_request`]); a
//! request without one reads under the lag bound alone.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::{PgPool, Postgres};

use super::error::ConnectError;
use super::held::pool_options;
use super::types::Id;
use crate::config::PoolConfig;

/// How often the primary and the replicas are asked where they are.
pub const PROBE_EVERY: Duration = Duration::from_millis(50);

/// How long a probe may go unanswered before its replica counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

tokio::task_local! {
    static CALLER: Cell<Option<Id>>;
}

/// Runs a request: within it, [`set_caller`] names who is asking.
pub async fn for_request<F: Future>(request: F) -> F::Output {
    CALLER.scope(Cell::new(None), request).await
}

/// The request being served speaks for user `id` (its token was verified).
pub fn set_caller(id: Id) {
    let _ = CALLER.try_with(|caller| caller.set(Some(id)));
}

/// The caller of the request being served, if it has one.
pub(super) fn caller() -> Option<Id> {
    CALLER.try_with(Cell::get).ok().flatten()
}

/// The replicas, and what the probes last found.
#[derive(Clone, Debug)]
pub(super) struct Replicas(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    replicas: Vec<Replica>,
    max_lag: Duration,
    /// When the server's migrations were done: no replica serves a read before it has them.
    migrated: Mutex<Option<Instant>>,
    /// The primary's readings, oldest first: when it was asked, and how far its log went.
    primary: Mutex<VecDeque<(Instant, u64)>>,
    /// The replica the next read starts looking at.
    next: AtomicUsize,
}

/// One replica and its last reading.
#[derive(Debug)]
pub(super) struct Replica {
    pub(super) pool: PgPool,
    /// How far it had replayed when last asked, and whether it is up.
    seen: Mutex<(Option<u64>, bool)>,
    /// Whether a probe of it is under way (a slow one is not asked again meanwhile).
    probing: AtomicBool,
}

impl Replica {
    /// A read on it failed as unavailable: none goes to it until it answers a probe again.
    pub(super) fn failed(&self) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).1 = false;
    }

    fn replayed(&self) -> Option<u64> {
        match *self.seen.lock().unwrap_or_else(|e| e.into_inner()) {
            (Some(lsn), true) => Some(lsn),
            _ => None,
        }
    }
}

impl Replicas {
    /// Pools on `urls` (connected on first use: a replica down at startup is only skipped) and
    /// the probing task, which ends when the last handle is gone.
    pub(super) fn start(
        urls: &[String],
        pool: &PoolConfig,
        max_lag: Duration,
        primary: PgPool,
    ) -> Result<Replicas, ConnectError> {
        let mut replicas = Vec::new();
        for url in urls {
            let options = super::postgres::options(url)?;
            // The primary's pool settings (no ping around each use: one more round trip per
            // read each), but a replica that does not answer is given up on sooner: the read
            // then goes to the primary.
            let settings = PoolConfig {
                acquire_timeout: pool.acquire_timeout.min(PROBE_TIMEOUT * 2),
                ..pool.clone()
            };
            let pool = pool_options::<Postgres>(&settings).connect_lazy_with(options);
            replicas.push(Replica {
                pool,
                seen: Mutex::new((None, false)),
                probing: AtomicBool::new(false),
            });
        }
        let inner = Arc::new(Inner {
            replicas,
            max_lag,
            migrated: Mutex::new(None),
            primary: Mutex::default(),
            next: AtomicUsize::new(0),
        });
        tokio::spawn(probe(Arc::downgrade(&inner), primary));
        Ok(Replicas(inner))
    }

    /// How long a caller's write is remembered: past that, the bound alone covers it, since
    /// the bound's reading is never older than this ([`Replicas::choose`]).
    pub(super) fn remember_writes(&self) -> Duration {
        self.0.max_lag + PROBE_EVERY * 4
    }

    /// The server's migrations are done: from now on a replica that has them may serve reads.
    pub(super) fn migrated(&self) {
        *self.0.migrated.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// A replica fit to serve a read by a caller who last wrote at `wrote` (see the module's
    /// documentation); `None` sends the read to the primary.
    pub(super) fn choose(&self, wrote: Option<Instant>) -> Option<&Replica> {
        let now = Instant::now();
        let migrated = (*self.0.migrated.lock().unwrap_or_else(|e| e.into_inner()))?;
        let needed = {
            let readings = self.0.primary.lock().unwrap_or_else(|e| e.into_inner());
            // Everything the primary had written max_lag ago: the newest reading at least that
            // old. With none that old yet (the server started less than max_lag ago), the
            // newest one.
            let (at, bound) = *readings
                .iter()
                .rev()
                .find(|(at, _)| now.duration_since(*at) >= self.0.max_lag)
                .or(readings.back())?;
            // Readings that stopped or slowed down (the primary not answering its probe) prove
            // nothing about the writes since: a caller's write is remembered only so long.
            if now.duration_since(at) >= self.remember_writes() {
                return None;
            }
            // The first reading asked for after each of the server's migrations and the
            // caller's last write: the replica must have them.
            let after = |moment: Instant| readings.iter().find(|(at, _)| *at > moment).map(|r| r.1);
            let mut needed = bound.max(after(migrated)?);
            if let Some(wrote) = wrote {
                needed = needed.max(after(wrote)?);
            }
            needed
        };
        let count = self.0.replicas.len();
        let start = self.0.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|i| &self.0.replicas[(start + i) % count])
            .find(|r| r.replayed().is_some_and(|lsn| lsn >= needed))
    }
}

/// The position of a write-ahead log location, as a number that compares.
/// The insert position, not the write position: a COMMIT answered under `synchronous_commit =
/// off` may not have been written yet.
const PRIMARY_LSN: &str =
    "SELECT CAST(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0') AS BIGINT)";
const REPLAYED_LSN: &str =
    "SELECT CAST(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') AS BIGINT)";

/// Asks the primary and every replica where they are, every [`PROBE_EVERY`], until the replicas
/// are dropped. A reading is taken when its question is sent, so a write answered before that
/// is in it.
async fn probe(inner: Weak<Inner>, primary: PgPool) {
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        // Each replica in a task of its own, so that a slow one holds up neither the others nor
        // the primary's readings.
        for i in 0..inner.replicas.len() {
            if inner.replicas[i].probing.swap(true, Ordering::SeqCst) {
                continue;
            }
            let inner = inner.clone();
            tokio::spawn(async move {
                let replica = &inner.replicas[i];
                let replayed = lsn(&replica.pool, REPLAYED_LSN).await;
                *replica.seen.lock().unwrap_or_else(|e| e.into_inner()) =
                    (replayed, replayed.is_some());
                replica.probing.store(false, Ordering::SeqCst);
            });
        }
        let asked = Instant::now();
        if let Some(lsn) = lsn(&primary, PRIMARY_LSN).await {
            let mut readings = inner.primary.lock().unwrap_or_else(|e| e.into_inner());
            readings.push_back((asked, lsn));
            // Kept: the readings of the last max_lag, and the newest one older than that.
            while readings
                .get(1)
                .is_some_and(|(at, _)| asked.duration_since(*at) > inner.max_lag)
            {
                readings.pop_front();
            }
        }
    }
}

/// The LSN `sql` reads on `pool`, or `None` when it does not answer in time.
async fn lsn(pool: &PgPool, sql: &'static str) -> Option<u64> {
    // A simple query, which any pooler in between passes: nothing is prepared.
    let read = sqlx::raw_sql(sql).fetch_one(pool);
    match tokio::time::timeout(PROBE_TIMEOUT, read).await {
        Ok(Ok(row)) => {
            let lsn: Option<i64> = sqlx::Row::try_get(&row, 0).ok()?;
            u64::try_from(lsn?).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One replica that has replayed up to `replayed`, up or down, and the primary's readings
    /// `(seconds ago, position)`; the server migrated ten seconds ago.
    fn replicas(max_lag: Duration, replayed: u64, up: bool, readings: &[(f64, u64)]) -> Replicas {
        migrated_at(max_lag, replayed, up, readings, Some(10.0))
    }

    fn migrated_at(
        max_lag: Duration,
        replayed: u64,
        up: bool,
        readings: &[(f64, u64)],
        migrated: Option<f64>,
    ) -> Replicas {
        let now = Instant::now();
        let ago = |s: f64| now - Duration::from_secs_f64(s);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        Replicas(Arc::new(Inner {
            replicas: vec![Replica {
                pool,
                seen: Mutex::new((Some(replayed), up)),
                probing: AtomicBool::new(false),
            }],
            max_lag,
            migrated: Mutex::new(migrated.map(ago)),
            primary: Mutex::new(readings.iter().map(|&(s, lsn)| (ago(s), lsn)).collect()),
            next: AtomicUsize::new(0),
        }))
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn a_replica_serves_what_is_older_than_the_bound_and_a_callers_write_once_it_has_it() {
        let readings = [(1.1, 50), (0.5, 150), (0.0, 200)];
        let fit = replicas(SECOND, 100, true, &readings);
        assert!(
            fit.choose(None).is_some(),
            "it has what the primary had a second ago"
        );
        let wrote = Some(Instant::now() - Duration::from_secs_f64(1.0));
        assert!(
            fit.choose(wrote).is_none(),
            "it lacks the caller's write (150)"
        );
        let caught_up = replicas(SECOND, 150, true, &readings);
        assert!(caught_up.choose(wrote).is_some());
        let behind = replicas(SECOND, 40, true, &readings);
        assert!(
            behind.choose(None).is_none(),
            "further behind than the bound"
        );
        let down = replicas(SECOND, 200, false, &readings);
        assert!(down.choose(None).is_none(), "down");
    }

    /// In the server's first max_lag, its own migrations may be newer than any replica: a
    /// replica must have everything, not merely what the primary had when the server started.
    #[tokio::test]
    async fn right_after_startup_a_replica_must_have_everything() {
        let readings = [(0.2, 50), (0.0, 200)];
        assert!(
            replicas(SECOND, 100, true, &readings)
                .choose(None)
                .is_none()
        );
        assert!(
            replicas(SECOND, 200, true, &readings)
                .choose(None)
                .is_some()
        );
    }

    #[tokio::test]
    async fn no_replica_serves_before_the_servers_migrations_or_without_them() {
        let readings = [(1.1, 50), (0.5, 150), (0.0, 200)];
        assert!(
            migrated_at(SECOND, 300, true, &readings, None)
                .choose(None)
                .is_none()
        );
        let just_migrated = |replayed| migrated_at(SECOND, replayed, true, &readings, Some(0.3));
        assert!(
            just_migrated(100).choose(None).is_none(),
            "it lacks the migrations (200)"
        );
        assert!(just_migrated(200).choose(None).is_some());
    }

    /// Readings that stopped (the primary not answering its probe) prove nothing about the
    /// writes since: a caller's forgotten write could be newer than the bound.
    #[tokio::test]
    async fn no_replica_serves_when_the_readings_stopped() {
        let readings = [(3.0, 50)];
        assert!(
            replicas(SECOND, 100, true, &readings)
                .choose(None)
                .is_none()
        );
    }
}
