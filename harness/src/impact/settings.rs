//! `[impact]` in the settings file: rows, budgets, and the migrations allowed over them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::allow::Entry;
use crate::settings_file::{SettingsError, Version};
use didhub_migrations::Backend;

/// `[impact]` in the settings file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Rows in each table a migration touches (default [`Options::ROWS`]).
    pub rows: Option<u64>,
    /// The longest a write may wait during a migration (default 1000).
    pub max_write_stall_ms: Option<u64>,
    /// The longest a read may wait during a migration (default 1000).
    pub max_read_stall_ms: Option<u64>,
    /// How long the workload runs alone first (default 1000).
    pub baseline_ms: Option<u64>,
    /// The bound on each lock wait of the migration (default 5000, as the server's).
    pub lock_timeout_ms: Option<u64>,
    /// Migrations allowed over budget, each with its reason.
    #[serde(default)]
    pub allow: Vec<Allowed>,
}

/// A migration allowed over its budget: `version`, optionally one backend and one direction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowed {
    pub version: Version,
    pub backend: Option<Backend>,
    pub direction: Option<Way>,
    pub reason: String,
}

impl Entry for Allowed {
    type Written = Allowed;

    fn read(written: &Allowed, _: &str) -> Result<Vec<Allowed>, SettingsError> {
        Ok(vec![written.clone()])
    }

    fn label(&self) -> String {
        format!("version {}", self.version.0)
    }

    fn reason(&self) -> &str {
        &self.reason
    }
}

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Way {
    Up,
    Down,
}

impl fmt::Display for Way {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Way::Up => "up",
            Way::Down => "down",
        })
    }
}
