//! Query plans and benchmarks of DIDHub's hot queries on every backend (SPEC §5).
//!
//! - [`load`]: the shared set-up — a fresh migrated database on a backend (through the harness),
//!   generated data of a given size and fresh planner statistics; indexes can be dropped from it
//!   to measure what they are worth.
//! - [`plans`]: explains every hot query there and says whether its documented index is used;
//!   the plan tests assert it and `just plans` prints it.
//! - [`settings`]: which backends and data sizes a benchmark run covers.
//!
//! The criterion benches themselves are in `benches/` (`just bench`).

pub mod load;
pub mod plans;
pub mod settings;

pub use load::{Loaded, load};
pub use plans::{PlanRow, plan_table, render};
pub use settings::Settings;
