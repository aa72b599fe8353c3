//! The benches crate's tests, one module per file, linked once as one binary.

// `#[rstest]`, for the backend matrix (`#[apply(backends)]`) in every module.
#[macro_use]
extern crate rstest;

mod fuzz;
mod plans;
mod replicated;
mod writers;
