//! The writes a [`super::Db`] handle (with its clones) has committed or attempted: a counter
//! that only grows ([`super::Db::writes`]), and, where reads go to replicas, when each caller
//! last wrote, so that its next reads wait for a replica that has its write
//! ([`super::replicas`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::replicas;
use super::types::Id;

#[derive(Debug, Default)]
pub(super) struct Writes {
    count: AtomicU64,
    /// Each caller's last write, kept `keep` long (after that, the replicas' lag bound alone
    /// guarantees a replica has it); absent where no read goes to a replica.
    callers: Option<(Mutex<HashMap<Id, Instant>>, Duration)>,
}

/// At most this many callers' last writes are remembered; the oldest go first.
const CALLERS: usize = 100_000;

impl Writes {
    /// A counter that also remembers each caller's last write for `keep`.
    pub(super) fn by_caller(keep: Duration) -> Writes {
        Writes {
            count: AtomicU64::new(0),
            callers: Some((Mutex::default(), keep)),
        }
    }

    pub(super) fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// A write was committed or attempted, by the request's caller if it has one.
    fn record(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        let (Some((callers, keep)), Some(caller)) = (&self.callers, replicas::caller()) else {
            return;
        };
        let mut callers = callers.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if callers.len() >= CALLERS {
            callers.retain(|_, at| now.duration_since(*at) < *keep);
        }
        if callers.len() < CALLERS {
            callers.insert(caller, now);
        }
    }

    /// When the request's caller last wrote, if within the time kept.
    pub(super) fn last_by_caller(&self) -> Option<Instant> {
        let (callers, keep) = self.callers.as_ref()?;
        let caller = replicas::caller()?;
        let at = *callers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&caller)?;
        (at.elapsed() < *keep).then_some(at)
    }
}

/// Records a write when dropped: after the write's answer, whatever it was (a commit that timed
/// out may have happened), or when the call is abandoned.
pub(super) struct Counted<'a>(pub(super) &'a Writes);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.record();
    }
}
