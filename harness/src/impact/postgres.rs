//! How PostgreSQL answers the impact run: `pg_locks` of the migrating session (as eugene reads
//! them, in its transaction after each statement), `pg_blocking_pids` for whoever it waits for,
//! and `relfilenode`, which a rewrite changes.

use super::Dialect;

pub(super) const DIALECT: Dialect = Dialect {
    prepare: &[],
    tables: "SELECT c.oid::text, c.relname FROM pg_class c \
             WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace",
    session_id: Some("SELECT pg_backend_pid()::text"),
    locks: Some(locks),
    locks_in_transaction: true,
    holders: Some(holders),
    identities: "SELECT c.relname, c.relfilenode::text FROM pg_class c \
                 WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace",
    blocks,
};

/// The relation locks session `id` holds: (oid, mode). By oid, not joined to `pg_class`: a
/// table the session dropped is no longer there, but its ACCESS EXCLUSIVE lock is.
fn locks(id: &str) -> String {
    format!(
        "SELECT l.relation::text, l.mode FROM pg_locks l \
         WHERE l.pid = {id} AND l.granted AND l.locktype = 'relation'"
    )
}

/// The sessions session `id` waits for: who, and what they run or ran last.
fn holders(id: &str) -> String {
    format!(
        "SELECT 'pid ' || a.pid || ' (' || coalesce(a.state, '?') || ', transaction open for ' \
         || coalesce(round(extract(epoch FROM now() - a.xact_start) * 1000)::text, '?') || ' ms)', \
         left(coalesce(a.query, ''), 120) \
         FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids({id}))"
    )
}

/// What a table lock keeps waiting: reads (`SELECT`'s ACCESS SHARE) and writes (`INSERT`,
/// `UPDATE`, `DELETE`'s ROW EXCLUSIVE), by PostgreSQL's conflict table.
fn blocks(mode: &str) -> (bool, bool) {
    match mode {
        "AccessExclusiveLock" => (true, true),
        "ShareLock" | "ShareRowExclusiveLock" | "ExclusiveLock" => (false, true),
        _ => (false, false),
    }
}
