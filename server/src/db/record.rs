//! Every statement the server prepares, recorded when `DIDHUB_RECORD_STATEMENTS` names a file:
//! the corpus that `didhub-harness compat` prepares on every schema version is what the server
//! really sends, and `just test-all-dbs` fails when the committed corpus
//! (`fixtures/compat/didhub/`) misses one the API tests sent.
//!
//! Each distinct statement is appended once per process, as one JSON line `{"backend", "sql"}`;
//! one `write` per line on a file opened for appending keeps lines whole when several test
//! processes share the file. Off (one relaxed check per statement) unless the variable is set.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use didhub_migrations::Backend;

/// The variable that turns recording on.
pub const VARIABLE: &str = "DIDHUB_RECORD_STATEMENTS";

struct Sink {
    file: std::fs::File,
    seen: HashSet<(Backend, String)>,
}

fn sink() -> Option<&'static Mutex<Sink>> {
    static SINK: OnceLock<Option<Mutex<Sink>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let path = std::env::var_os(VARIABLE).filter(|p| !p.is_empty())?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| eprintln!("{VARIABLE}: cannot open {}: {e}", path.display()))
            .ok()?;
        Some(Mutex::new(Sink {
            file,
            seen: HashSet::new(),
        }))
    })
    .as_ref()
}

/// Records that `sql` was prepared on `backend`.
pub(super) fn statement(backend: Backend, sql: &str) {
    let Some(sink) = sink() else { return };
    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
    if sink.seen.insert((backend, sql.to_owned())) {
        let line = serde_json::json!({"backend": backend.name(), "sql": sql}).to_string() + "\n";
        // A lost line makes the corpus check report a statement missing; it never fails a call.
        let _ = sink.file.write_all(line.as_bytes());
    }
}
