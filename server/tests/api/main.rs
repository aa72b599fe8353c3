//! The HTTP API, end to end in process: every endpoint's success and failure modes, each
//! asserting status and body, on every backend.

mod support;

mod alters;
mod audit;
mod auth;
mod bulk;
mod relationships;
mod seed;
mod service;
mod system_requests;
mod systems;
mod users;
