//! The server's hot queries — the exact statements the API runs — each with the index the
//! database guide documents for it. The query-plan tests assert that index is used on every
//! backend; `just plans` prints the plans; the benchmarks time them.

use didhub_migrations::Backend;

use didhub_server::db::{Stmt, Timestamp};
use didhub_server::generate::Sample;
use didhub_server::store::alters::{self, AlterFilter};
use didhub_server::store::audit::{self, AuditFilter};
use didhub_server::store::users::{self, UserFilter};
use didhub_server::store::{Window, systems};

pub struct HotQuery {
    pub name: &'static str,
    pub table: &'static str,
    /// The documented index, as the backend names it.
    pub index: String,
    /// Whether that index is the table's primary key (which cannot be dropped to compare).
    pub primary_key: bool,
    pub stmt: Stmt,
}

/// The index that backs a table's primary key, as each backend names it.
fn primary_key(backend: Backend, table: &str) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite_autoindex_{table}_1"),
        Backend::Postgres => format!("pk_{table}"),
        Backend::MySql => "PRIMARY".to_owned(),
    }
}

/// The hot queries, filled in with ids from generated data. `day` is the start of a one-day
/// window of the audit log.
pub fn hot_queries(backend: Backend, sample: &Sample, day: Timestamp) -> Vec<HotQuery> {
    let page = Window {
        limit: 50,
        offset: 0,
    };
    let next_day = Timestamp::from(day.0 + chrono::Duration::days(1));
    let query = |name, table, index: &str, stmt| HotQuery {
        name,
        table,
        index: index.to_owned(),
        primary_key: index == primary_key(backend, table),
        stmt,
    };
    vec![
        query(
            "alter by id",
            "alters",
            &primary_key(backend, "alters"),
            alters::by_id(sample.alter),
        ),
        query(
            "alters of a system, paged",
            "alters",
            "idx_alters_system_id",
            alters::list_query(
                &AlterFilter {
                    system_id: Some(sample.system),
                    ..AlterFilter::default()
                },
                page,
            )
            .page,
        ),
        query(
            "alters by name prefix",
            "alters",
            "idx_alters_name",
            alters::list_query(
                &AlterFilter {
                    name_prefix: Some(sample.alter_name.to_lowercase()),
                    ..AlterFilter::default()
                },
                page,
            )
            .page,
        ),
        query(
            "user by username",
            "users",
            "idx_users_username",
            users::by_username(&sample.username),
        ),
        query(
            "administrators",
            "users",
            "idx_users_is_admin",
            users::list_query(
                &UserFilter {
                    is_admin: Some(true),
                    ..UserFilter::default()
                },
                page,
            )
            .page,
        ),
        query(
            "systems of a user",
            "systems",
            "idx_systems_user_id",
            systems::list_query(Some(sample.user), page).page,
        ),
        query(
            "audit log of a user",
            "audit_logs",
            "idx_audit_logs_user_id",
            audit::list_query(
                &AuditFilter {
                    user_id: Some(sample.user),
                    ..AuditFilter::default()
                },
                page,
            )
            .page,
        ),
        query(
            "audit log of one day",
            "audit_logs",
            "idx_audit_logs_created_at",
            audit::list_query(
                &AuditFilter {
                    from: Some(day),
                    to: Some(next_day),
                    ..AuditFilter::default()
                },
                page,
            )
            .page,
        ),
        query(
            "audit log of a rare action",
            "audit_logs",
            "idx_audit_logs_action",
            audit::list_query(
                &AuditFilter {
                    action: Some("auth.login_failed".to_owned()),
                    ..AuditFilter::default()
                },
                page,
            )
            .page,
        ),
    ]
}
