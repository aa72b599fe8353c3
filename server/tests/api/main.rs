//! The HTTP API, end to end in process: every endpoint's success and failure modes, each
//! asserting status and body, on every backend.

// `#[rstest]`, for the backend matrix (`#[apply(backends)]`) in every module.
#[macro_use]
extern crate rstest;

mod support;

mod alters;
mod audit;
mod audit_upkeep;
mod auth;
mod backup;
mod bulk;
mod client;
mod copy;
mod exhaustion;
mod failover;
mod faults;
mod groups;
mod hostile;
mod native_backup;
mod password_reset;
mod pooler;
mod properties;
mod relationships;
mod replicas;
mod security;
mod seed;
mod service;
mod settings;
mod startup;
mod system_requests;
mod systems;
mod usernames;
mod users;
mod writes;
