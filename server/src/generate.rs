//! Realistic DIDHub data, generated deterministically from a seed and written through the real
//! schema with [`Db::insert_rows`] (COPY on PostgreSQL, multi-row INSERTs elsewhere): users (one
//! per ten alters; one in five hundred an admin), systems (the first users own two each), alters
//! (25 per system), and as many audit entries, spread over a year. Used by the query-plan tests
//! and the benchmarks.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::db::{Db, Id, Stmt, Timestamp, args};
use crate::progress::Progress;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub alters: usize,
    pub seed: u64,
}

/// What was written, and how fast.
#[derive(Debug, Clone)]
pub struct Generated {
    pub users: usize,
    pub systems: usize,
    pub alters: usize,
    pub audit_entries: usize,
    pub elapsed: Duration,
    /// Ids to query with: the first user, system and alter, and the first user's name.
    pub sample: Sample,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub user: Id,
    pub username: String,
    pub system: Id,
    pub alter: Id,
    pub alter_name: String,
}

impl Generated {
    pub fn rows(&self) -> usize {
        self.users + self.systems + self.alters + self.audit_entries
    }

    pub fn rows_per_second(&self) -> f64 {
        self.rows() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// SplitMix64: tiny, fast and the same everywhere, so a seed always gives the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const NAMES: [&str; 24] = [
    "Ash", "Briar", "Cedar", "Dune", "Elm", "Fern", "Grove", "Hazel", "Iris", "Juniper", "Kestrel",
    "Linden", "Moss", "Nova", "Oak", "Pine", "Quill", "Rowan", "Sage", "Thorn", "Umber", "Vale",
    "Willow", "Yarrow",
];
const PRONOUNS: [&str; 4] = ["they/them", "she/her", "he/him", "xe/xem"];
/// Audit actions, most frequent first; the rare ones are what an admin searches for.
const ACTIONS: [&str; 6] = [
    "alter.update",
    "alter.create",
    "auth.login",
    "system.update",
    "user.password_change",
    "auth.login_failed",
];

/// Connects to a database by URL, migrates it and fills it (see [`generate`]).
pub async fn generate_urls(
    url: &str,
    size: Size,
    progress: &Progress,
) -> anyhow::Result<Generated> {
    use anyhow::Context as _;
    let db = Db::connect(&crate::config::DatabaseConfig::from_url(url)?)
        .await
        .context("connecting to the database")?;
    db.migrate().await?;
    let generated = generate(&db, size, progress)
        .await
        .context("generating data")?;
    analyze(&db)
        .await
        .context("updating the planner's statistics")?;
    db.close().await;
    Ok(generated)
}

/// Fills an empty, migrated database; `progress` counts the rows written.
pub async fn generate(db: &Db, size: Size, progress: &Progress) -> Result<Generated, sqlx::Error> {
    let started = Instant::now();
    let mut rng = Rng(size.seed);
    let epoch = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let at = |rng: &mut Rng| {
        Timestamp::from(epoch + chrono::Duration::seconds(rng.below(365 * 86_400) as i64))
    };
    // One hash for everyone: hashing is deliberately slow and beside the point here.
    let passwords = crate::auth::Passwords::new(crate::config::PasswordCost::PRODUCTION)
        .map_err(sqlx::Error::Protocol)?;
    let hash = passwords.hash("generated-password").await.map_err(|e| {
        sqlx::Error::Protocol(format!("cannot hash the generated password: {}", e.message))
    })?;

    let alters_per_system = 25;
    let systems = size.alters.div_ceil(alters_per_system).max(1);
    let users = (size.alters / 10).max(systems.div_ceil(2)).max(1);
    let audit_entries = size.alters;
    progress.expect((users + systems + size.alters + audit_entries) as u64);

    let user_ids: Vec<Id> = (0..users).map(|_| Id::new()).collect();
    let mut rows = Vec::new();
    for (i, id) in user_ids.iter().enumerate() {
        let t = at(&mut rng);
        rows.push(args![
            *id,
            format!("user{i:07}"),
            hash.clone(),
            i % 500 == 0,
            true,
            t,
            t
        ]);
    }
    progress.working_on("users");
    db.insert_rows_counted(
        "users",
        &[
            "id",
            "username",
            "password_hash",
            "is_admin",
            "is_approved",
            "created_at",
            "updated_at",
        ],
        rows,
        progress,
    )
    .await?;

    let system_ids: Vec<Id> = (0..systems).map(|_| Id::new()).collect();
    let mut rows = Vec::new();
    for (i, id) in system_ids.iter().enumerate() {
        let t = at(&mut rng);
        rows.push(args![*id, user_ids[i / 2], format!("System {i}"), t, t]);
    }
    progress.working_on("systems");
    db.insert_rows_counted(
        "systems",
        &["id", "user_id", "name", "created_at", "updated_at"],
        rows,
        progress,
    )
    .await?;

    let mut alter_ids = Vec::with_capacity(size.alters);
    let mut first_alter_name = String::new();
    let mut rows = Vec::new();
    for i in 0..size.alters {
        let id = Id::new();
        let name = format!("{} {}", rng.pick(&NAMES), rng.below(100_000));
        if i == 0 {
            first_alter_name = name.clone();
        }
        let t = at(&mut rng);
        let interests = json!([rng.pick(&["tea", "chess", "drawing", "music", "hiking"])]);
        rows.push(args![
            id,
            system_ids[i / alters_per_system],
            name,
            rng.pick(&PRONOUNS),
            interests,
            i % alters_per_system == 0,
            t,
            t
        ]);
        alter_ids.push(id);
    }
    progress.working_on("alters");
    db.insert_rows_counted(
        "alters",
        &[
            "id",
            "system_id",
            "name",
            "pronouns",
            "interests",
            "is_host",
            "created_at",
            "updated_at",
        ],
        rows,
        progress,
    )
    .await?;

    let mut rows = Vec::new();
    for _ in 0..audit_entries {
        // Skewed: each action is about four times rarer than the one before it.
        let mut action = 0;
        while action + 1 < ACTIONS.len() && rng.below(4) == 0 {
            action += 1;
        }
        let user = user_ids[rng.below(users as u64) as usize];
        rows.push(args![
            Id::new(),
            user,
            ACTIONS[action],
            "alter",
            alter_ids
                .get(rng.below(size.alters as u64) as usize)
                .map(Id::to_string),
            json!({}),
            at(&mut rng)
        ]);
    }
    progress.working_on("audit_logs");
    db.insert_rows_counted(
        "audit_logs",
        &[
            "id",
            "user_id",
            "action",
            "entity_type",
            "entity_id",
            "metadata",
            "created_at",
        ],
        rows,
        progress,
    )
    .await?;

    progress.done();
    Ok(Generated {
        users,
        systems,
        alters: size.alters,
        audit_entries,
        elapsed: started.elapsed(),
        sample: Sample {
            user: user_ids[0],
            username: "user0000000".to_owned(),
            system: system_ids[0],
            alter: alter_ids.first().copied().unwrap_or_default(),
            alter_name: first_alter_name,
        },
    })
}

/// Updates the planner's statistics after loading.
pub async fn analyze(db: &Db) -> Result<(), sqlx::Error> {
    let sql = match db.backend() {
        didhub_migrations::Backend::MySql => "ANALYZE TABLE users, systems, alters, audit_logs",
        _ => "ANALYZE",
    };
    db.conn().execute(Stmt::new(sql)).await.map(drop)
}
