//! A real browser for the page: Debian's chromium, headless, started as a closed CI machine
//! needs it — no sandbox (CI runs as root), no GPU, and none of the background connections a
//! closed network refuses (each refused at every start otherwise) — with a profile of its own.
//! The report's tests load pages with it; `report --screenshot` takes its picture.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The flags every start takes.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Why the browser could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("chromium is not installed (`just browser` installs Debian's package)")]
    Missing,
    #[error("chromium could not be started: {0}")]
    Start(#[from] std::io::Error),
    #[error("chromium failed on {page}: {log}")]
    Failed { page: String, log: String },
}

/// What the browser made of a page: the DOM it built, and what it logged (console messages
/// among it, as `…:CONSOLE:…` lines).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub dom: String,
    pub log: String,
}

impl Loaded {
    /// What in the page would be fetched from elsewhere: a page that must work offline has
    /// none.
    pub fn fetches(&self) -> Vec<&'static str> {
        [
            "<link ",
            " src=\"http",
            "<script src",
            "url(http",
            "@import",
        ]
        .into_iter()
        .filter(|fetch| self.dom.contains(fetch))
        .collect()
    }

    /// What the page's console said.
    pub fn console(&self) -> Vec<&str> {
        self.log
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .collect()
    }
}

/// The browser's path.
pub fn chromium() -> Result<PathBuf, BrowserError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or(BrowserError::Missing)
}

fn run(page: &Path, args: &[String]) -> Result<(String, String), BrowserError> {
    let profile = tempfile::tempdir()?;
    let page = std::path::absolute(page)?;
    let out = Command::new(chromium()?)
        .args(FLAGS)
        .args(args)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .output()?;
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(BrowserError::Failed {
            page: page.display().to_string(),
            log,
        });
    }
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), log))
}

/// Loads `page` and returns the DOM the browser built, and its log with the console's messages.
pub fn load(page: &Path) -> Result<Loaded, BrowserError> {
    let args = ["--enable-logging=stderr", "--v=0", "--dump-dom"].map(String::from);
    let (dom, log) = run(page, &args)?;
    Ok(Loaded { dom, log })
}

/// Writes a PNG of the top `height` pixels of `page`, `width` wide.
pub fn screenshot(page: &Path, png: &Path, width: u32, height: u32) -> Result<(), BrowserError> {
    let png = std::path::absolute(png)?;
    let args = [
        format!("--window-size={width},{height}"),
        format!("--screenshot={}", png.display()),
    ];
    run(page, &args).map(drop)
}
