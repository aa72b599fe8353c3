//! In-process rate limits against credential guessing and resource abuse: failed logins per
//! username from one client IP and per client IP, password-reset requests likewise, and
//! registrations per client IP (each one costs an Argon2 hash).
//!
//! A username's failures lock it **from the address they came from only**: anyone can type
//! anyone's name, so a lock that held for every address let one client lock any account out,
//! the administrator's included. Across addresses an account's failures only slow it down:
//! past `login_failures_per_account` in the window, each further password check for it waits
//! [`ACCOUNT_SLOWDOWN`] first, which costs a guesser from many addresses time and connections
//! and costs the owner one second. The owner's right password is never refused for what other
//! addresses did; a successful login or password reset forgets the account's failures.
//!
//! Each limit is a sliding window: a key (a username, an IP address) may have at most `max`
//! events within `window`; one more is refused with the time until the oldest of them leaves the
//! window, which the API sends as `Retry-After`. Counters live in the server process, so they
//! reset on restart and are not shared between processes; for one reference server that is the
//! right trade (no table to write on every failure, nothing to clean up), and it keeps the limits
//! working while the database is down.
//!
//! Events are reserved before the work they limit (`acquire`), under one lock, so concurrent
//! attempts cannot all pass the check before any of them is counted; a login that then succeeds
//! gives its reservation back (`release`). Unknown usernames are counted like known ones, so a
//! 429 says nothing about which accounts exist.
//!
//! Time comes from a [`Clock`], so tests can move it instead of sleeping.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where the limits read the time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until told to move; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    elapsed: Arc<Mutex<Duration>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            start: Instant::now(),
            elapsed: Arc::default(),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// At most `max` events per key within `window`; `max == 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

/// How long each password check of an account waits once the account has had more than
/// `login_failures_per_account` failures in the window, from any addresses.
pub const ACCOUNT_SLOWDOWN: Duration = Duration::from_secs(1);

/// The limits the server applies (config file key `rate_limit`); 0 turns a limit off.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RateLimitConfig {
    /// The window every limit counts in.
    #[serde(rename = "window_secs", with = "crate::config::seconds")]
    pub window: Duration,
    /// Failed logins (and wrong current passwords) per username from one client IP address.
    pub login_failures_per_username: u32,
    /// Failed logins per client IP address.
    pub login_failures_per_ip: u32,
    /// Failed logins per username from all addresses together, past which each password
    /// check for it is slowed by [`ACCOUNT_SLOWDOWN`] (never refused).
    pub login_failures_per_account: u32,
    /// Password-reset requests per username from one client IP address.
    pub reset_requests_per_username: u32,
    /// Password-reset requests per client IP address.
    pub reset_requests_per_ip: u32,
    /// Registration attempts per client IP address.
    pub registrations_per_ip: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            window: Duration::from_secs(15 * 60),
            login_failures_per_username: 5,
            login_failures_per_ip: 20,
            login_failures_per_account: 50,
            reset_requests_per_username: 3,
            reset_requests_per_ip: 10,
            registrations_per_ip: 10,
        }
    }
}

/// Keys kept per limit before the oldest are forgotten, so a flood of distinct usernames cannot
/// grow memory without bound.
const MAX_KEYS: usize = 100_000;

/// One limit and its counters.
#[derive(Debug)]
struct Limiter {
    limit: Limit,
    events: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    fn new(max: u32, window: Duration) -> Self {
        Limiter {
            limit: Limit { max, window },
            events: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // The map stays consistent whatever a panicking holder did.
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn off(&self) -> bool {
        self.limit.max == 0
    }

    /// How long `key` must wait, if it is at its limit at `now`.
    fn wait(&self, events: &mut VecDeque<Instant>, now: Instant) -> Option<Duration> {
        while events
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.limit.window)
        {
            events.pop_front();
        }
        (events.len() >= self.limit.max as usize)
            .then(|| (events[0] + self.limit.window).saturating_duration_since(now))
    }

    /// Counts one event for `key`, unless it is at its limit (then: how long to wait).
    fn acquire(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.off() {
            return Ok(());
        }
        let mut map = self.lock();
        if !map.contains_key(key) && map.len() >= MAX_KEYS {
            self.make_room(&mut map, now);
        }
        let events = map.entry(key.to_owned()).or_default();
        if let Some(wait) = self.wait(events, now) {
            return Err(wait);
        }
        events.push_back(now);
        Ok(())
    }

    /// Takes back the newest event of `key` (an attempt that turned out not to count).
    fn release(&self, key: &str) {
        let mut map = self.lock();
        if let Some(events) = map.get_mut(key) {
            events.pop_back();
            if events.is_empty() {
                map.remove(key);
            }
        }
    }

    fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Forgets every key of `username`'s, from whichever address ([`from`]).
    fn clear_username(&self, username: &str) {
        let from_somewhere = format!("{username}{ADDRESS_SEPARATOR}");
        self.lock()
            .retain(|key, _| key != username && !key.starts_with(&from_somewhere));
    }

    /// Forgets expired keys, then if need be the stalest hundredth of them (by their newest
    /// event): the scan under the lock is then paid once per [`EVICTED`] new keys, not by each.
    fn make_room(&self, map: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
        let window = self.limit.window;
        map.retain(|_, events| {
            events
                .back()
                .is_some_and(|&t| now.saturating_duration_since(t) < window)
        });
        if map.len() >= MAX_KEYS {
            let mut newest: Vec<(Option<Instant>, String)> = map
                .iter()
                .map(|(key, events)| (events.back().copied(), key.clone()))
                .collect();
            newest.select_nth_unstable(EVICTED - 1);
            for (_, key) in &newest[..EVICTED] {
                map.remove(key);
            }
        }
    }
}

/// Keys forgotten at once when the map is full of keys still in their window.
const EVICTED: usize = MAX_KEYS / 100;

/// Between a username and an address in a key: neither can hold it.
const ADDRESS_SEPARATOR: char = '\0';

/// The client a per-address limit counts: an IPv4 address itself (an IPv4-mapped IPv6 one as
/// IPv4), an IPv6 address by its /64, the network one subscriber is given: counted one by one,
/// its 2^64 addresses would be as many clients.
fn network(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
        _ => ip.to_owned(),
    }
}

/// The key of `username` as tried from `ip` (the username alone when there is no address).
fn from(username: &str, ip: Option<&str>) -> String {
    match ip {
        Some(ip) => format!("{username}{ADDRESS_SEPARATOR}{ip}"),
        None => username.to_owned(),
    }
}

/// Which counter refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Username,
    Ip,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Username => "username",
            Scope::Ip => "ip",
        }
    }
}

/// A refusal: which counter is full, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds to wait, rounded up, at least 1 (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

/// Every limit the server applies, and its clock.
pub struct RateLimits {
    clock: Arc<dyn Clock>,
    login_user: Limiter,
    login_ip: Limiter,
    login_account: Limiter,
    reset_user: Limiter,
    reset_ip: Limiter,
    register_ip: Limiter,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("login_user", &self.login_user.limit)
            .field("login_ip", &self.login_ip.limit)
            .field("login_account", &self.login_account.limit)
            .field("reset_user", &self.reset_user.limit)
            .field("reset_ip", &self.reset_ip.limit)
            .field("register_ip", &self.register_ip.limit)
            .finish()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::new(&RateLimitConfig::default(), Arc::new(SystemClock))
    }
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig, clock: Arc<dyn Clock>) -> Self {
        let limiter = |max| Limiter::new(max, config.window);
        RateLimits {
            clock,
            login_user: limiter(config.login_failures_per_username),
            login_ip: limiter(config.login_failures_per_ip),
            login_account: limiter(config.login_failures_per_account),
            reset_user: limiter(config.reset_requests_per_username),
            reset_ip: limiter(config.reset_requests_per_ip),
            register_ip: limiter(config.registrations_per_ip),
        }
    }

    /// Reserves a password guess for `username` from `ip`: refused while the username has had
    /// too many failures from that address, or the address too many in all. Otherwise, how
    /// long to wait before checking the password: [`ACCOUNT_SLOWDOWN`] once the account has had
    /// too many failures from all addresses together. Follow with
    /// [`RateLimits::guess_succeeded`] when the password was right; otherwise the reservation
    /// stays counted as a failure.
    pub fn guess(&self, username: &str, ip: Option<&str>) -> Result<Option<Duration>, Limited> {
        let ip = ip.map(network);
        let ip = ip.as_deref();
        let now = self.clock.now();
        acquire_both(
            now,
            (&self.login_user, &from(username, ip)),
            ip.map(|ip| (&self.login_ip, ip)),
        )?;
        Ok(self
            .login_account
            .acquire(username, now)
            .err()
            .map(|_| ACCOUNT_SLOWDOWN))
    }

    /// A right password: the username's failures (from every address) are forgotten and this
    /// attempt is given back to the address. Nobody else's counters change.
    pub fn guess_succeeded(&self, username: &str, ip: Option<&str>) {
        let ip = ip.map(network);
        let ip = ip.as_deref();
        self.account_recovered(username);
        if let Some(ip) = ip {
            self.login_ip.release(ip);
        }
    }

    /// A guess that was never judged (the database failed first): given back to the username
    /// from that address and to the address. (The account's count across addresses, which
    /// only slows, keeps it.)
    pub fn guess_void(&self, username: &str, ip: Option<&str>) {
        let ip = ip.map(network);
        let ip = ip.as_deref();
        self.login_user.release(&from(username, ip));
        if let Some(ip) = ip {
            self.login_ip.release(ip);
        }
    }

    /// The account's owner proved it (a right password, a password reset): its failed logins
    /// and reset requests, from every address, are forgotten.
    pub fn account_recovered(&self, username: &str) {
        self.login_user.clear_username(username);
        self.login_account.clear(username);
        self.reset_user.clear_username(username);
    }

    /// Counts a password-reset request for `username` from `ip`, unless the username from that
    /// address or the address is at its limit.
    pub fn reset_request(&self, username: &str, ip: Option<&str>) -> Result<(), Limited> {
        let ip = ip.map(network);
        let ip = ip.as_deref();
        acquire_both(
            self.clock.now(),
            (&self.reset_user, &from(username, ip)),
            ip.map(|ip| (&self.reset_ip, ip)),
        )
    }
}

impl RateLimits {
    /// Counts a registration attempt from `ip`, unless the address is at its limit. Requests
    /// without an address (in-process tests) are not limited.
    pub fn registration(&self, ip: Option<&str>) -> Result<(), Limited> {
        let ip = ip.map(network);
        let ip = ip.as_deref();
        let Some(ip) = ip else { return Ok(()) };
        self.register_ip
            .acquire(ip, self.clock.now())
            .map_err(|retry_after| Limited {
                scope: Scope::Ip,
                retry_after,
            })
    }

    /// A registration that hashed no password (refused by the password policy, or the server
    /// was too busy to hash): given back to the address.
    pub fn registration_void(&self, ip: Option<&str>) {
        let ip = ip.map(network);
        let ip = ip.as_deref();
        if let Some(ip) = ip {
            self.register_ip.release(ip);
        }
    }
}

/// Acquires the IP's limit, then the username's; neither is counted unless both allow it.
fn acquire_both(
    now: Instant,
    (user_limiter, username): (&Limiter, &str),
    ip: Option<(&Limiter, &str)>,
) -> Result<(), Limited> {
    if let Some((ip_limiter, ip)) = ip {
        ip_limiter.acquire(ip, now).map_err(|retry_after| Limited {
            scope: Scope::Ip,
            retry_after,
        })?;
    }
    user_limiter.acquire(username, now).map_err(|retry_after| {
        if let Some((ip_limiter, ip)) = ip {
            ip_limiter.release(ip);
        }
        Limited {
            scope: Scope::Username,
            retry_after,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn limits(per_user: u32, per_ip: u32) -> (RateLimits, ManualClock) {
        let clock = ManualClock::default();
        let config = RateLimitConfig {
            window: MINUTE,
            login_failures_per_username: per_user,
            login_failures_per_ip: per_ip,
            login_failures_per_account: 0,
            reset_requests_per_username: per_user,
            reset_requests_per_ip: per_ip,
            registrations_per_ip: per_ip,
        };
        (RateLimits::new(&config, Arc::new(clock.clone())), clock)
    }

    #[test]
    fn the_next_guess_after_the_limit_waits_for_the_oldest_to_leave_the_window() {
        let (limits, clock) = limits(3, 100);
        for _ in 0..3 {
            limits.guess("robin", None).unwrap();
            clock.advance(Duration::from_secs(10));
        }
        let refused = limits.guess("robin", None).unwrap_err();
        assert_eq!(refused.scope, Scope::Username);
        assert_eq!(refused.retry_after, Duration::from_secs(30));
        assert_eq!(refused.retry_after_secs(), 30);
        clock.advance(Duration::from_secs(30));
        limits.guess("robin", None).unwrap();
        assert!(
            limits.guess("robin", None).is_err(),
            "two still in the window"
        );
    }

    #[test]
    fn a_right_password_forgets_only_that_users_failures() {
        let (limits, _) = limits(2, 5);
        limits.guess("robin", Some("10.0.0.1")).unwrap();
        limits.guess("kim", Some("10.0.0.1")).unwrap();
        limits.guess("robin", Some("10.0.0.1")).unwrap();
        limits.guess_succeeded("robin", Some("10.0.0.1"));
        // robin's two failures are forgotten (a third would have been refused)…
        limits.guess("robin", Some("10.0.0.1")).unwrap();
        limits.guess_succeeded("robin", Some("10.0.0.1"));
        // …kim's one is still there…
        limits.guess("kim", Some("10.0.0.1")).unwrap();
        assert_eq!(
            limits.guess("kim", Some("10.0.0.1")).unwrap_err().scope,
            Scope::Username
        );
        // …and the address keeps its three failures.
        limits.guess("ann", Some("10.0.0.1")).unwrap();
        limits.guess("bob", Some("10.0.0.1")).unwrap();
        let refused = limits.guess("carl", Some("10.0.0.1")).unwrap_err();
        assert_eq!(refused.scope, Scope::Ip);
    }

    #[test]
    fn failures_lock_a_username_from_their_address_only_and_a_reset_forgets_them() {
        let (limits, _) = limits(2, 100);
        for _ in 0..2 {
            limits.guess("admin", Some("203.0.113.7")).unwrap();
            limits.reset_request("admin", Some("203.0.113.7")).unwrap();
        }
        let refused = limits.guess("admin", Some("203.0.113.7")).unwrap_err();
        assert_eq!(refused.scope, Scope::Username);
        assert!(limits.reset_request("admin", Some("203.0.113.7")).is_err());
        // The owner, elsewhere, is not locked out: neither from logging in nor from a reset.
        assert_eq!(limits.guess("admin", Some("198.51.100.1")), Ok(None));
        limits.reset_request("admin", Some("198.51.100.1")).unwrap();
        limits.account_recovered("admin");
        assert_eq!(limits.guess("admin", Some("203.0.113.7")), Ok(None));
        limits.reset_request("admin", Some("203.0.113.7")).unwrap();
    }

    #[test]
    fn past_the_accounts_bound_guesses_are_slowed_never_refused() {
        let clock = ManualClock::default();
        let config = RateLimitConfig {
            window: MINUTE,
            login_failures_per_username: 2,
            login_failures_per_ip: 100,
            login_failures_per_account: 3,
            ..RateLimitConfig::default()
        };
        let limits = RateLimits::new(&config, Arc::new(clock));
        for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            assert_eq!(limits.guess("admin", Some(ip)), Ok(None));
        }
        for ip in ["10.0.0.4", "10.0.0.5", "10.0.0.1"] {
            assert_eq!(limits.guess("admin", Some(ip)), Ok(Some(ACCOUNT_SLOWDOWN)));
        }
        assert_eq!(
            limits.guess("kim", Some("10.0.0.4")),
            Ok(None),
            "per account"
        );
        limits.guess_succeeded("admin", Some("10.0.0.9"));
        assert_eq!(limits.guess("admin", Some("10.0.0.6")), Ok(None));
    }

    #[test]
    fn a_refusal_by_one_counter_does_not_count_against_the_other() {
        let (limits, _) = limits(1, 5);
        limits.guess("robin", Some("10.0.0.1")).unwrap();
        for _ in 0..10 {
            assert_eq!(
                limits.guess("robin", Some("10.0.0.1")).unwrap_err().scope,
                Scope::Username
            );
        }
        for user in ["a", "b", "c", "d"] {
            limits.guess(user, Some("10.0.0.1")).unwrap();
        }
    }

    #[test]
    fn registrations_are_limited_per_address_and_voided_ones_given_back() {
        let (limits, clock) = limits(100, 2);
        limits.registration(Some("10.0.0.1")).unwrap();
        limits.registration(Some("10.0.0.1")).unwrap();
        let refused = limits.registration(Some("10.0.0.1")).unwrap_err();
        assert_eq!(refused.scope, Scope::Ip);
        assert_eq!(refused.retry_after, MINUTE);
        limits.registration(Some("10.0.0.2")).unwrap();
        for _ in 0..10 {
            limits.registration(None).unwrap();
        }
        limits.registration_void(Some("10.0.0.1"));
        limits.registration(Some("10.0.0.1")).unwrap();
        clock.advance(MINUTE);
        limits.registration(Some("10.0.0.1")).unwrap();
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_one_its_address() {
        let (limits, _) = limits(100, 2);
        limits.registration(Some("2001:db8:1:2::1")).unwrap();
        limits.registration(Some("2001:db8:1:2:ffff::9")).unwrap();
        let refused = limits
            .registration(Some("2001:db8:1:2:abcd::7"))
            .unwrap_err();
        assert_eq!(refused.scope, Scope::Ip, "one /64, however many addresses");
        limits.registration(Some("2001:db8:1:3::1")).unwrap();
        limits.registration(Some("192.0.2.1")).unwrap();
        limits.registration(Some("::ffff:192.0.2.1")).unwrap();
        assert!(limits.registration(Some("192.0.2.1")).is_err());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let (limits, _) = limits(0, 0);
        for _ in 0..100 {
            limits.guess("robin", Some("10.0.0.1")).unwrap();
            limits.reset_request("robin", Some("10.0.0.1")).unwrap();
            limits.registration(Some("10.0.0.1")).unwrap();
        }
    }

    #[test]
    fn memory_is_bounded_by_forgetting_the_stalest_keys() {
        let limiter = Limiter::new(1, MINUTE);
        let start = Instant::now();
        for i in 0..MAX_KEYS + 10 {
            limiter
                .acquire(&format!("user{i}"), start + Duration::from_micros(i as u64))
                .unwrap();
        }
        let map = limiter.lock();
        assert_eq!(map.len(), MAX_KEYS - EVICTED + 10);
        assert!(!map.contains_key("user0"));
        assert!(!map.contains_key(&format!("user{}", EVICTED - 1)));
        assert!(map.contains_key(&format!("user{EVICTED}")));
        assert!(map.contains_key(&format!("user{}", MAX_KEYS + 9)));
    }
}
