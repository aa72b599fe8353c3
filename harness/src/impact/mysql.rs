//! How MySQL/MariaDB answers the impact run: metadata locks from MariaDB's
//! `information_schema.METADATA_LOCK_INFO` (the `metadata_lock_info` plugin, installed when
//! the user may), sampled while each statement runs since DDL commits at once; InnoDB's table
//! id, which a rebuild changes; and the rows an `ALTER` reports, which only a copy counts.

use super::Dialect;

pub(super) const DIALECT: Dialect = Dialect {
    prepare: &[],
    tables: "SELECT TABLE_NAME, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    session_id: Some("SELECT CAST(CONNECTION_ID() AS CHAR)"),
    locks: Some(locks),
    locks_in_transaction: false,
    holders: Some(holders),
    identities: "SELECT SUBSTRING_INDEX(NAME, '/', -1), CAST(TABLE_ID AS CHAR) \
                 FROM information_schema.INNODB_SYS_TABLES WHERE NAME LIKE CONCAT(DATABASE(), '/%')",
    blocks,
};

/// Whether the plugin that lists metadata locks is there.
pub(super) const HAS_LOCK_INFO: &str = "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.PLUGINS \
     WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'";

/// Installs it (MariaDB ships it; an administrator's right).
pub(super) const INSTALL_LOCK_INFO: &str = "INSTALL SONAME 'metadata_lock_info'";

fn locks(id: &str) -> String {
    format!(
        "SELECT TABLE_NAME, LOCK_MODE FROM information_schema.METADATA_LOCK_INFO \
         WHERE THREAD_ID = {id} AND TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> ''"
    )
}

/// Who holds a metadata lock on this database while session `id` waits for one.
fn holders(id: &str) -> String {
    format!(
        "SELECT CONCAT('thread ', m.THREAD_ID, ' (', m.LOCK_MODE, ' on ', m.TABLE_NAME, ', ', \
         p.COMMAND, ' for ', p.TIME, ' s)'), LEFT(COALESCE(p.INFO, ''), 120) \
         FROM information_schema.METADATA_LOCK_INFO m \
         JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID \
         WHERE m.THREAD_ID <> {id} AND m.THREAD_ID <> CONNECTION_ID() \
         AND m.TABLE_SCHEMA = DATABASE() AND m.TABLE_NAME <> '' \
         AND EXISTS (SELECT 1 FROM information_schema.PROCESSLIST w \
                     WHERE w.ID = {id} AND w.STATE LIKE 'Waiting for%lock%')"
    )
}

/// What a metadata lock keeps waiting: reads and writes need SHARED_READ and SHARED_WRITE.
fn blocks(mode: &str) -> (bool, bool) {
    match mode {
        "MDL_EXCLUSIVE" | "MDL_SHARED_NO_READ_WRITE" => (true, true),
        "MDL_SHARED_NO_WRITE" | "MDL_SHARED_READ_ONLY" => (false, true),
        _ => (false, false),
    }
}

/// How InnoDB ran an `ALTER`: a copy reports the rows it copied, a rebuild in place changes the
/// table's id, anything else changed only the dictionary (instant) or added to the table in
/// place (an index).
pub(super) fn algorithm(rows_copied: u64, rebuilt: bool) -> &'static str {
    match (rows_copied, rebuilt) {
        (1.., _) => "copy",
        (0, true) => "inplace (rebuilt)",
        (0, false) => "instant or inplace (no rebuild)",
    }
}
