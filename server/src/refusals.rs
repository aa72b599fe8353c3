//! Refused requests in the audit log without one row per refusal.
//!
//! Anyone can make the server refuse something: a forged or expired token, a wrong password, a
//! login while rate-limited, a guessed reset token. Writing one audit row for each let a review
//! add 420,366 rows (121 MB) with 360,000 forged-token requests, until the instance's own backup
//! was too large to restore. So refusals are counted in memory and written per window:
//!
//! - The first refusal of a [`RefusalKey`] (action, client address, kind: the reason, the
//!   endpoint and scope of a rate limit, the account a failed login named) opens a window and is
//!   written at once, as it always was, so an administrator sees an attack as it starts.
//! - Further refusals with the same key within the window are only counted.
//! - When the window closes ([`Refusals::take_closed`], called by the periodic task in
//!   [`crate::upkeep`], and [`Refusals::take_all`] at shutdown), a window that counted any is
//!   written as one summary row with the same action and address and `"summary": true`, `count`
//!   (refusals not written one by one), `first_at`, `last_at` and `window_secs` in its metadata.
//!
//! So one key writes at most two rows per window, whatever the rate. At most
//! [`MAX_OPEN_WINDOWS`] keys are open at once; refusals of further keys (a flood from many
//! addresses) are counted under one key per action and kind without an address (`"ip": null`,
//! `"addresses_over_limit": true`), so rows per window stay bounded however many addresses
//! there are. Counts of windows still open are lost only if the process dies without its
//! graceful shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::db::{Db, Timestamp};
use crate::rate_limit::{Clock, SystemClock};
use crate::store::audit::{self, NewEntry};

/// Keys with an open window at once; refusals beyond are counted without their address.
pub const MAX_OPEN_WINDOWS: usize = 1000;

/// What makes refusals "the same" for counting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefusalKey {
    pub action: &'static str,
    pub ip: Option<String>,
    /// Why, in a word or two: `invalid_token`, `login/ip`, `unknown_account`, …
    pub kind: String,
    /// Counted here because [`MAX_OPEN_WINDOWS`] were open: from any address.
    over_limit: bool,
}

impl RefusalKey {
    pub fn new(action: &'static str, ip: Option<String>, kind: impl Into<String>) -> Self {
        RefusalKey {
            action,
            ip,
            kind: kind.into(),
            over_limit: false,
        }
    }

    /// The key that refusals of this kind share once too many windows are open.
    fn over_limit(self) -> Self {
        RefusalKey {
            ip: None,
            over_limit: true,
            ..self
        }
    }
}

/// One open window.
#[derive(Debug)]
struct Tally {
    opened: Instant,
    /// Refusals after the first, not written one by one.
    count: u64,
    first_at: Timestamp,
    last_at: Timestamp,
}

/// The refusal counters, shared by every request.
pub struct Refusals {
    window: Duration,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    open: HashMap<RefusalKey, Tally>,
    /// Summaries of windows that closed and were replaced by a new one before the periodic task
    /// took them: written with the next [`Refusals::take_closed`], late but not lost.
    closed: Vec<NewEntry>,
}

impl std::fmt::Debug for Refusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refusals")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Default for Refusals {
    fn default() -> Self {
        Refusals::new(
            crate::config::AuditConfig::default().refusal_window,
            Arc::new(SystemClock),
        )
    }
}

impl Refusals {
    pub fn new(window: Duration, clock: Arc<dyn Clock>) -> Self {
        Refusals {
            window,
            clock,
            inner: Mutex::default(),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The counters stay consistent whatever a panicking holder did.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a refusal. `true` when it opens a window: the caller writes it as its own row.
    pub fn note(&self, key: RefusalKey) -> bool {
        let now = self.clock.now();
        let mut inner = self.lock();
        let key = if inner.open.contains_key(&key) || inner.open.len() < MAX_OPEN_WINDOWS {
            key
        } else {
            key.over_limit()
        };
        if let Some(tally) = inner.open.get_mut(&key)
            && now.saturating_duration_since(tally.opened) < self.window
        {
            tally.count += 1;
            tally.last_at = Timestamp::now();
            return false;
        }
        let stamp = Timestamp::now();
        let tally = Tally {
            opened: now,
            count: 0,
            first_at: stamp,
            last_at: stamp,
        };
        if let Some(old) = inner.open.insert(key.clone(), tally)
            && old.count > 0
        {
            let summary = self.summary(key, old);
            inner.closed.push(summary);
        }
        true
    }

    /// Summaries of the windows that have closed, removed from the counters.
    pub fn take_closed(&self) -> Vec<NewEntry> {
        let now = self.clock.now();
        self.take(|tally| now.saturating_duration_since(tally.opened) >= self.window)
    }

    /// Summaries of every window, closed or not (at shutdown).
    pub fn take_all(&self) -> Vec<NewEntry> {
        self.take(|_| true)
    }

    fn take(&self, due: impl Fn(&Tally) -> bool) -> Vec<NewEntry> {
        let mut inner = self.lock();
        let keys: Vec<RefusalKey> = inner
            .open
            .iter()
            .filter(|(_, tally)| due(tally))
            .map(|(key, _)| key.clone())
            .collect();
        let mut summaries = std::mem::take(&mut inner.closed);
        for key in keys {
            if let Some(tally) = inner.open.remove(&key)
                && tally.count > 0
            {
                summaries.push(self.summary(key, tally));
            }
        }
        summaries
    }

    fn summary(&self, key: RefusalKey, tally: Tally) -> NewEntry {
        let mut metadata = json!({
            "kind": key.kind,
            "summary": true,
            "count": tally.count,
            "first_at": tally.first_at.to_string(),
            "last_at": tally.last_at.to_string(),
            "window_secs": self.window.as_secs(),
        });
        if key.over_limit {
            metadata["addresses_over_limit"] = json!(true);
        }
        NewEntry {
            user_id: None,
            action: key.action,
            entity_type: None,
            entity_id: None,
            ip: key.ip,
            metadata,
        }
    }

    /// Writes the summaries of closed windows; returns how many rows.
    pub async fn write_closed(&self, db: &Db) -> usize {
        write(db, self.take_closed()).await
    }

    /// Writes the summaries of every window (at shutdown); returns how many rows.
    pub async fn write_all(&self, db: &Db) -> usize {
        write(db, self.take_all()).await
    }
}

/// Writes summaries, each in its own transaction; a failure is logged and the count dropped
/// (the refusals were refused either way).
async fn write(db: &Db, entries: Vec<NewEntry>) -> usize {
    let mut written = 0;
    for entry in entries {
        let action = entry.action;
        match audit::record_alone(db, entry).await {
            Ok(()) => written += 1,
            Err(error) => {
                tracing::warn!(%error, action, "cannot record a summary of refusals");
            }
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::ManualClock;

    const WINDOW: Duration = Duration::from_secs(60);

    fn refusals() -> (Refusals, ManualClock) {
        let clock = ManualClock::default();
        (Refusals::new(WINDOW, Arc::new(clock.clone())), clock)
    }

    fn key(ip: &str, kind: &str) -> RefusalKey {
        RefusalKey::new("auth.token_rejected", Some(ip.to_owned()), kind)
    }

    #[test]
    fn the_first_refusal_of_a_window_is_written_and_the_rest_summed_once_it_closes() {
        let (refusals, clock) = refusals();
        assert!(refusals.note(key("10.0.0.1", "invalid_token")));
        for _ in 0..499 {
            assert!(!refusals.note(key("10.0.0.1", "invalid_token")));
        }
        assert!(
            refusals.note(key("10.0.0.1", "token_expired")),
            "another kind"
        );
        assert!(
            refusals.note(key("10.0.0.2", "invalid_token")),
            "another address"
        );
        assert!(
            refusals.take_closed().is_empty(),
            "the window is still open"
        );

        clock.advance(WINDOW);
        let summaries = refusals.take_closed();
        assert_eq!(
            summaries.len(),
            1,
            "windows that counted nothing more write nothing"
        );
        let summary = &summaries[0];
        assert_eq!(summary.action, "auth.token_rejected");
        assert_eq!(summary.ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(summary.metadata["count"], 499);
        assert_eq!(summary.metadata["kind"], "invalid_token");
        assert_eq!(summary.metadata["summary"], true);
        assert_eq!(summary.metadata["window_secs"], 60);
        assert!(refusals.take_all().is_empty(), "taken once");
        assert!(
            refusals.note(key("10.0.0.1", "invalid_token")),
            "a new window"
        );
    }

    #[test]
    fn a_window_replaced_before_the_task_took_it_is_still_summed() {
        let (refusals, clock) = refusals();
        assert!(refusals.note(key("10.0.0.1", "invalid_token")));
        assert!(!refusals.note(key("10.0.0.1", "invalid_token")));
        clock.advance(WINDOW);
        assert!(refusals.note(key("10.0.0.1", "invalid_token")));
        assert!(!refusals.note(key("10.0.0.1", "invalid_token")));
        let counts: Vec<_> = refusals
            .take_all()
            .iter()
            .map(|s| s.metadata["count"].clone())
            .collect();
        assert_eq!(counts, [1, 1]);
    }

    #[test]
    fn refusals_beyond_the_open_windows_are_counted_without_their_address() {
        let (refusals, _clock) = refusals();
        for i in 0..MAX_OPEN_WINDOWS {
            assert!(refusals.note(key(&format!("10.0.{}.{}", i / 256, i % 256), "x")));
        }
        assert!(
            refusals.note(key("192.0.2.1", "x")),
            "the first over the limit"
        );
        for i in 0..100 {
            assert!(!refusals.note(key(&format!("192.0.2.{i}"), "x")));
        }
        let summaries = refusals.take_all();
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].ip, None);
        assert_eq!(summaries[0].metadata["count"], 100);
        assert_eq!(summaries[0].metadata["addresses_over_limit"], true);
    }
}
