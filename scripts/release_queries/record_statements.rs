//! Added to an earlier release's API tests by scripts/release_queries.py (never committed
//! there): every statement sqlx logs (target `sqlx::query`, the raw SQL in `summary` or
//! `db.statement`) appended once as a JSON line `{"backend", "sql"}` to the file
//! `DIDHUB_RECORD_STATEMENTS` names, the backend from `DIDHUB_RECORD_BACKEND`.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

pub struct Recorder {
    backend: String,
    sink: Mutex<(std::fs::File, HashSet<String>)>,
}

impl Recorder {
    pub fn from_env() -> Recorder {
        let path = std::env::var("DIDHUB_RECORD_STATEMENTS").expect("DIDHUB_RECORD_STATEMENTS");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the recording file opens");
        Recorder {
            backend: std::env::var("DIDHUB_RECORD_BACKEND").expect("DIDHUB_RECORD_BACKEND"),
            sink: Mutex::new((file, HashSet::new())),
        }
    }
}

#[derive(Default)]
struct Sql {
    summary: String,
    statement: String,
}

impl Visit for Sql {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut sql = Sql::default();
        event.record(&mut sql);
        // sqlx puts the whole statement in db.statement only when the summary shortens it.
        let text = if sql.statement.trim().is_empty() { sql.summary } else { sql.statement };
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if sink.1.insert(text.clone()) {
            let line = serde_json::json!({"backend": self.backend, "sql": text.trim()}).to_string();
            sink.0.write_all((line + "\n").as_bytes()).expect("the recording is written");
        }
    }
}

/// The recorder as the only global subscriber (releases that install none of their own).
pub fn install() {
    use tracing_subscriber::layer::SubscriberExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("sqlx::query=debug"))
            .with(Recorder::from_env());
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
    });
}
