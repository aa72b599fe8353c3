//! The bootstrap admin and the demo data. Everything here is idempotent: what exists is left
//! alone, so running `seed` twice changes nothing.

use std::fmt;

use serde_json::json;

use crate::accounts;
use crate::audited::{Change, Outcome};
use crate::config::{BootstrapAdmin, Config};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::alters::{self, AlterFields, AlterFilter};
use crate::store::users::{self, NewUser, User};
use crate::store::{Window, systems};

pub const DEMO_USERNAME: &str = "demo";
pub const DEMO_PASSWORD: &str = "correct-horse-battery";
pub const DEMO_SYSTEM: &str = "Demo System";

/// The demo system's alters: name, pronouns, is_host, interests.
const DEMO_ALTERS: [(&str, &str, bool, &[&str]); 3] = [
    ("Ash", "they/them", true, &["gardening", "tea"]),
    ("Briar", "she/her", false, &["drawing"]),
    ("Cedar", "he/him", false, &["chess", "hiking"]),
];

/// What a seed run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub admin_created: bool,
    pub demo_user_created: bool,
    pub demo_system_created: bool,
    pub alters_created: usize,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = |created: bool| if created { "created" } else { "already there" };
        writeln!(f, "bootstrap admin: {}", state(self.admin_created))?;
        writeln!(
            f,
            "demo user {DEMO_USERNAME:?} (password {DEMO_PASSWORD:?}): {}",
            state(self.demo_user_created)
        )?;
        writeln!(
            f,
            "demo system {DEMO_SYSTEM:?}: {}",
            state(self.demo_system_created)
        )?;
        write!(
            f,
            "demo alters: {} created, {} already there",
            self.alters_created,
            DEMO_ALTERS.len() - self.alters_created
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Startup(#[from] crate::StartupError),
    #[error(
        "seed needs the bootstrap admin: set DIDHUB_BOOTSTRAP_ADMIN_USERNAME and \
         DIDHUB_BOOTSTRAP_ADMIN_PASSWORD, or bootstrap_admin in the config file"
    )]
    NoBootstrapAdmin,
    #[error("seeding failed: {}", .0.message)]
    Api(ApiError),
}

impl From<ApiError> for SeedError {
    fn from(e: ApiError) -> Self {
        SeedError::Api(e)
    }
}

impl From<sqlx::Error> for SeedError {
    fn from(e: sqlx::Error) -> Self {
        SeedError::Api(e.into())
    }
}

/// Connects, migrates, and creates whatever of the admin and demo data is missing.
pub async fn run(config: &Config) -> Result<SeedReport, SeedError> {
    let admin = config
        .bootstrap_admin
        .as_ref()
        .ok_or(SeedError::NoBootstrapAdmin)?;
    let mut startup = config.clone();
    startup.bootstrap_admin = None;
    let state = crate::prepare(&startup).await?;
    let report = seed(&state, admin).await;
    state.db.close().await;
    report
}

/// Seeds through an already prepared state.
pub async fn seed(state: &AppState, admin: &BootstrapAdmin) -> Result<SeedReport, SeedError> {
    let mut report = SeedReport {
        admin_created: accounts::ensure_admin(state, admin).await?,
        ..SeedReport::default()
    };
    let demo = match users::get_by_username(&state.db, DEMO_USERNAME).await? {
        Some(user) => user,
        None => {
            report.demo_user_created = true;
            accounts::create(
                state,
                None,
                None,
                "user.seed",
                DEMO_USERNAME,
                DEMO_PASSWORD,
                NewUser {
                    is_approved: true,
                    is_system: true,
                    ..NewUser::default()
                },
            )
            .await?
        }
    };
    let system_id = demo_system(state, &demo, &mut report).await?;
    let window = Window {
        limit: DEMO_ALTERS.len() as i64,
        offset: 0,
    };
    for (name, pronouns, is_host, interests) in DEMO_ALTERS {
        let filter = AlterFilter {
            system_id: Some(system_id),
            name_prefix: Some(name.to_owned()),
            ..AlterFilter::default()
        };
        let (existing, _) = alters::list(&state.db, &filter, window).await?;
        if existing.iter().any(|a| a.name == name) {
            continue;
        }
        let fields = AlterFields {
            name: name.to_owned(),
            pronouns: Some(pronouns.to_owned()),
            interests: interests.iter().map(|i| i.to_string()).collect(),
            is_host,
            ..AlterFields::default()
        };
        let change = Change::by_id(Some(demo.id), None, "alter.create");
        state
            .audited(change, move |tx| {
                let fields = fields.clone();
                Box::pin(async move {
                    let metadata = json!({ "name": fields.name, "seed": true });
                    let id = alters::insert(tx, system_id, fields).await?.id;
                    Ok(Outcome::of(id, "alter", id, metadata))
                })
            })
            .await?;
        report.alters_created += 1;
    }
    Ok(report)
}

async fn demo_system(
    state: &AppState,
    demo: &User,
    report: &mut SeedReport,
) -> Result<crate::db::Id, SeedError> {
    let window = Window {
        limit: crate::store::MAX_LIMIT,
        offset: 0,
    };
    let (owned, _) = systems::list(&state.db, Some(demo.id), window).await?;
    if let Some(system) = owned.into_iter().find(|s| s.name == DEMO_SYSTEM) {
        return Ok(system.id);
    }
    let change = Change::by_id(Some(demo.id), None, "system.create");
    let owner = demo.id;
    let id = state
        .audited(change, move |tx| {
            Box::pin(async move {
                let description = Some("A small example system created by `seed`.".to_owned());
                let name = DEMO_SYSTEM.to_owned();
                let id = systems::insert(tx, owner, name, description).await?;
                let metadata = json!({ "name": DEMO_SYSTEM, "seed": true });
                Ok(Outcome::of(id, "system", id, metadata))
            })
        })
        .await?;
    report.demo_system_created = true;
    Ok(id)
}
