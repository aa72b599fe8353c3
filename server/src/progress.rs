//! How far long work has come (`db copy`, `db generate`, loading bench data): a bar on stderr
//! while stdout is a terminal, nothing otherwise (a pipe, a log, CI). A hidden one counts all
//! the same, so a test can hold the count to the work.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The rows done out of those known so far, and what is being worked on.
#[derive(Debug, Clone)]
pub struct Progress(ProgressBar);

impl Progress {
    /// A bar for people: drawn when stdout is a terminal, hidden otherwise.
    pub fn on_terminal() -> Progress {
        if !std::io::stdout().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{msg:<24} [{bar:30}] {human_pos}/{human_len} rows, {elapsed} ({eta} left)",
        )
        .expect("the template is valid")
        .progress_chars("=> ");
        bar.set_style(style);
        Progress(bar)
    }

    /// Counts without drawing.
    pub fn hidden() -> Progress {
        Progress(ProgressBar::with_draw_target(
            Some(0),
            ProgressDrawTarget::hidden(),
        ))
    }

    /// `rows` more rows to do.
    pub fn expect(&self, rows: u64) {
        self.0.inc_length(rows);
    }

    /// What is being worked on now (a table).
    pub fn working_on(&self, what: &'static str) {
        self.0.set_message(what);
    }

    /// `rows` rows done.
    pub fn advance(&self, rows: u64) {
        self.0.inc(rows);
    }

    /// The work is over: the bar goes (the command prints its own summary).
    pub fn done(&self) {
        self.0.finish_and_clear();
    }

    /// Rows done so far.
    pub fn rows_done(&self) -> u64 {
        self.0.position()
    }

    /// Rows known to do so far.
    pub fn rows_expected(&self) -> u64 {
        self.0.length().unwrap_or(0)
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::hidden()
    }
}
