//! How SQLite answers the impact run: it has one lock that matters, the database's write lock,
//! which any statement that writes takes until its transaction ends; readers go on in WAL mode
//! (set here, as DIDHub's server runs). A rebuilt table has a new root page.

use super::Dialect;

pub(super) const DIALECT: Dialect = Dialect {
    prepare: &["PRAGMA journal_mode = WAL"],
    tables: "SELECT name, name FROM sqlite_master WHERE type = 'table'",
    session_id: None,
    locks: None,
    locks_in_transaction: false,
    holders: None,
    identities: "SELECT name, CAST(rootpage AS TEXT) FROM sqlite_master WHERE type = 'table'",
    blocks,
};

/// The mode the impact run names SQLite's write lock by.
pub(super) const WRITE_LOCK: &str = "database write lock";

/// In WAL mode the write lock keeps writers waiting, not readers.
fn blocks(mode: &str) -> (bool, bool) {
    (false, mode == WRITE_LOCK)
}
