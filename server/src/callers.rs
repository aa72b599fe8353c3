//! The accounts behind bearer tokens, remembered for a moment, so that an authenticated read
//! makes one query instead of two: loading the account was half the queries of every read.
//!
//! Every request with a token loads its account: the token may outlive the account, and the
//! account's password decides whether the token is revoked ([`crate::auth::Tokens::fingerprint`]).
//! An account loaded here is used again only while both hold:
//!
//! - this server has written nothing to its database since the account was loaded
//!   ([`Db::writes`]): a password change, a reset, an approval, a deletion or a restore made
//!   through this server forgets every remembered account at once, before its answer is sent;
//! - it is younger than [`TTL`]: what another process changes in the same database (a second
//!   server, `didhub-server db …`, an operator's SQL) is seen within that time.
//!
//! So a revoked token is refused by the server that revoked it from the next request on, and
//! by other servers on the same database within [`TTL`]. At most [`CAPACITY`] accounts are
//! remembered.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::db::{Db, Id};
use crate::store::users::{self, Account};

/// How long a remembered account is used at most.
pub const TTL: Duration = Duration::from_secs(1);
/// How many accounts are remembered at most.
pub const CAPACITY: usize = 10_000;

/// The remembered accounts, by user id.
#[derive(Debug, Default)]
pub struct Callers {
    entries: Mutex<HashMap<Id, Entry>>,
}

#[derive(Debug)]
struct Entry {
    account: Account,
    loaded: Instant,
    /// [`Db::writes`] before the account was read.
    writes: u64,
}

impl Callers {
    /// The account of user `id`, remembered or read from `db`; `None` when there is none.
    pub async fn account(&self, db: &Db, id: Id) -> Result<Option<Account>, sqlx::Error> {
        // Read before the query: a write committed while the query runs makes the entry stale.
        let writes = db.writes();
        if let Some(account) = self.remembered(id, writes) {
            return Ok(Some(account));
        }
        // From the primary: a revocation made through another server holds as soon as that
        // server answered it, however far a replica lags.
        let account = users::account(&db.on_primary(), id).await?;
        if let Some(account) = &account {
            self.remember(id, account.clone(), writes);
        }
        Ok(account)
    }

    fn remembered(&self, id: Id, writes: u64) -> Option<Account> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(&id)?;
        (entry.writes == writes && entry.loaded.elapsed() < TTL).then(|| entry.account.clone())
    }

    fn remember(&self, id: Id, account: Account, writes: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY && !entries.contains_key(&id) {
            entries.retain(|_, e| e.writes == writes && e.loaded.elapsed() < TTL);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            id,
            Entry {
                account,
                loaded: Instant::now(),
                writes,
            },
        );
    }
}
