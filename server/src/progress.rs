//! How far long work has come (`db copy`, `db generate`, loading bench data): a bar on stderr
//! while stdout is a terminal, nothing otherwise (a pipe, a log, CI). A hidden one counts all
//! the same, so a test can hold the count to the work; where nobody watches there is no count,
//! and no work done for one (`db copy` counts the source's rows only for a count).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The rows done out of those known so far, and what is being worked on; or nothing at all.
#[derive(Debug, Clone, Default)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for people: drawn when stdout is a terminal, [`Progress::none`] otherwise.
    pub fn on_terminal() -> Progress {
        if !std::io::stdout().is_terminal() {
            return Progress::none();
        }
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{msg:<24} [{bar:30}] {human_pos}/{human_len} rows, {elapsed} ({eta} left)",
        )
        .expect("the template is valid")
        .progress_chars("=> ");
        bar.set_style(style);
        Progress(Some(bar))
    }

    /// Counts without drawing.
    pub fn hidden() -> Progress {
        Progress(Some(ProgressBar::with_draw_target(
            Some(0),
            ProgressDrawTarget::hidden(),
        )))
    }

    /// Neither draws nor counts.
    pub fn none() -> Progress {
        Progress(None)
    }

    /// Whether anything counts: worth finding out how much work there is.
    pub fn counts(&self) -> bool {
        self.0.is_some()
    }

    /// `rows` more rows to do.
    pub fn expect(&self, rows: u64) {
        if let Some(bar) = &self.0 {
            bar.inc_length(rows);
        }
    }

    /// What is being worked on now (a table).
    pub fn working_on(&self, what: &'static str) {
        if let Some(bar) = &self.0 {
            bar.set_message(what);
        }
    }

    /// `rows` rows done.
    pub fn advance(&self, rows: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(rows);
        }
    }

    /// The work is over: the bar goes (the command prints its own summary).
    pub fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }

    /// Rows done so far (0 when nothing counts).
    pub fn rows_done(&self) -> u64 {
        self.0.as_ref().map_or(0, ProgressBar::position)
    }

    /// Rows known to do so far (0 when nothing counts).
    pub fn rows_expected(&self) -> u64 {
        self.0.as_ref().and_then(ProgressBar::length).unwrap_or(0)
    }
}
