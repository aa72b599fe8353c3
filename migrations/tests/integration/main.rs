//! The migrations' integration tests, one module per file, linked once as one binary.

mod history;
mod integrity;
mod lock_timeout;
mod sqlite;
