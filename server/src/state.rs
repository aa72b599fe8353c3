//! What every request handler, and the work done beside them (the bootstrap admin, `seed`),
//! reaches: the database and the server's shared parts.

use std::sync::Arc;

use crate::auth::{Passwords, Tokens};
use crate::callers::Callers;
use crate::db::Db;
use crate::rate_limit::RateLimits;
use crate::refusals::Refusals;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub tokens: Tokens,
    /// Hashes and verifies passwords at the configured cost.
    pub passwords: Passwords,
    /// Limits on password guessing and reset requests, shared by every request.
    pub limits: Arc<RateLimits>,
    /// Refused requests, counted and audited once per window ([`crate::refusals`]).
    pub refusals: Arc<Refusals>,
    /// The accounts behind tokens, remembered for a moment ([`crate::callers`]).
    pub callers: Arc<Callers>,
}
