//! The DIDHub migration harness.
//!
//! It works on any sqlx project that keeps one migration folder per driver (`sqlite/`,
//! `postgres/`, `mysql/`), so it knows nothing about DIDHub's schema: it reads folders, starts
//! databases and compares what they report.
//!
//! - [`integrity`]: the folders hold the same versions and names, and every up has a down.

pub mod integrity;
