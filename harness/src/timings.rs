//! Where a test suite's time goes: phases (container start, database creation, migration, …)
//! recorded as they happen.
//!
//! Off unless `DIDHUB_TEST_TIMES` names a file; then every finished phase appends one line,
//! `phase<TAB>backend<TAB>microseconds`, to it. One `write` per line on a file opened for
//! appending keeps lines whole when several test processes (and threads) share the file. The
//! file is read back by `just test-times`, which prints the phase table next to the slowest
//! tests. Recording is a measurement, never an assertion: nothing fails on a figure.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The variable that turns recording on.
pub const VARIABLE: &str = "DIDHUB_TEST_TIMES";

fn sink() -> Option<&'static std::sync::Mutex<std::fs::File>> {
    static SINK: OnceLock<Option<std::sync::Mutex<std::fs::File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let path = std::env::var_os(VARIABLE).filter(|p| !p.is_empty())?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| eprintln!("timings: cannot open {}: {e}", path.display()))
            .ok()?;
        Some(std::sync::Mutex::new(file))
    })
    .as_ref()
}

/// Records that `phase` took `elapsed` on `backend` (`-` where no backend applies).
pub fn record(phase: &str, backend: &str, elapsed: Duration) {
    if let Some(file) = sink() {
        let line = format!("{phase}\t{backend}\t{}\n", elapsed.as_micros());
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        // A lost line only makes the table a little short; it must never fail a test.
        let _ = file.write_all(line.as_bytes());
    }
}

/// Runs `work` and records how long it took.
pub async fn timed<T>(phase: &str, backend: &str, work: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = work.await;
    record(phase, backend, started.elapsed());
    out
}

/// One line of a timings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub phase: String,
    pub backend: String,
    pub elapsed: Duration,
}

/// Reads a timings file's lines; lines it does not understand are skipped.
pub fn parse(text: &str) -> Vec<Record> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let phase = fields.next()?.to_owned();
            let backend = fields.next()?.to_owned();
            let micros: u64 = fields.next()?.parse().ok()?;
            Some(Record {
                phase,
                backend,
                elapsed: Duration::from_micros(micros),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_garbage_is_skipped() {
        let text = "database creation\tpostgres\t1500\nnot a record\nmigration\tsqlite\tx\n";
        assert_eq!(
            parse(text),
            vec![Record {
                phase: "database creation".into(),
                backend: "postgres".into(),
                elapsed: Duration::from_micros(1500),
            }]
        );
    }
}
