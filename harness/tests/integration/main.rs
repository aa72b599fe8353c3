//! The harness's integration tests, one module per file, linked once as one binary.

// `#[rstest]`, for the backend matrix (`#[apply(backends)]`) in every module.
#[macro_use]
extern crate rstest;

mod support;

mod compat;
mod data_defects;
mod defects;
mod didhub_data_staircase;
mod didhub_staircase;
mod foreign;
mod impact;
mod layouts;
mod lock_timeout;
mod normalisation;
mod peers;
mod plans;
mod replica;
mod report_formats;
mod report_page;
mod walk_everything;
