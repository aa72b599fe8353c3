//! PostgreSQL: a container (official `postgres:16`, or the local PostgreSQL 15 image), databases
//! made with `CREATE DATABASE`, introspection through `pg_catalog`.

use std::time::Duration;

use sqlx::{PgPool, Row};
use testcontainers::core::{ContainerPort, Mount};

use super::{Kind, Server, next_database_name, with_database};
use crate::HarnessError;
use crate::images::{self, ImageChoice, ServerImage};
use crate::schema::{Column, ForeignKey, Index, Logical, Schema, Table, normalise_default};

pub const IMAGE: ImageChoice = ImageChoice {
    official: ("postgres", "16"),
    local: ("didhub/postgres", "15-local"),
    variable: "DIDHUB_TEST_POSTGRES_IMAGE",
};
const PASSWORD: &str = "harness";

pub(super) async fn start() -> Result<Server, HarnessError> {
    let kind = Kind::Postgres;
    let (admin_url, origin) = match std::env::var("DIDHUB_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => (url, "DIDHUB_TEST_POSTGRES_URL".to_owned()),
        _ => {
            let (name, tag) = IMAGE.resolve(kind)?;
            let origin = format!("container {name}:{tag}");
            let image = ServerImage {
                name,
                tag,
                env: vec![("POSTGRES_PASSWORD".into(), PASSWORD.into())],
                mounts: vec![Mount::tmpfs_mount("/var/lib/postgresql/data")],
                cmd: [
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ]
                .map(String::from)
                .to_vec(),
                ports: vec![ContainerPort::Tcp(5432)],
            };
            let health = "pg_isready -h 127.0.0.1 -p 5432 -U postgres -q";
            let port = images::start(kind, image, health, &IMAGE).await?;
            (
                format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"),
                origin,
            )
        }
    };
    let pool = images::retry(Duration::from_secs(30), || PgPool::connect(&admin_url))
        .await
        .map_err(|e| HarnessError::Start {
            backend: kind,
            reason: format!("no connection to {origin}: {e}"),
        })?;
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&pool)
        .await
        .map_err(|e| HarnessError::database(kind, e))?;
    pool.close().await;
    Ok(Server {
        kind,
        admin_url,
        version,
        origin,
    })
}

pub(super) async fn create_database(server: &Server) -> Result<String, HarnessError> {
    let name = next_database_name();
    let pool = PgPool::connect(&server.admin_url)
        .await
        .map_err(|e| HarnessError::database(Kind::Postgres, e))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&pool)
        .await
        .map_err(|e| HarnessError::database(Kind::Postgres, e))?;
    pool.close().await;
    Ok(with_database(&server.admin_url, &name))
}

/// A new database copied from `template_url`'s database, which must have no connections.
pub(super) async fn clone_database(
    server: &Server,
    template_url: &str,
) -> Result<String, HarnessError> {
    let template = template_url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let name = next_database_name();
    let pool = PgPool::connect(&server.admin_url)
        .await
        .map_err(|e| HarnessError::database(Kind::Postgres, e))?;
    // A template whose last connection has only just closed can still count as "being accessed
    // by other users" for a moment.
    let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" STRATEGY FILE_COPY");
    images::retry(Duration::from_secs(5), || {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&pool)
    })
    .await
    .map_err(|e| HarnessError::database(Kind::Postgres, e))?;
    pool.close().await;
    Ok(with_database(&server.admin_url, &name))
}

fn logical(native: &str) -> Logical {
    match native {
        "uuid" => Logical::Uuid,
        "text" => Logical::LongText,
        "boolean" => Logical::Boolean,
        "timestamp with time zone" => Logical::Timestamp,
        "jsonb" => Logical::Json,
        "integer" => Logical::Integer,
        "bigint" => Logical::BigInt,
        other => match other
            .strip_prefix("character varying(")
            .and_then(|n| n.strip_suffix(')'))
        {
            Some(n) => Logical::ShortText(n.parse().ok()),
            None => Logical::Other(other.to_owned()),
        },
    }
}

fn action(code: &str) -> String {
    match code {
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        "r" => "RESTRICT",
        _ => "NO ACTION",
    }
    .to_owned()
}

pub(super) async fn introspect(pool: &PgPool) -> Result<Schema, sqlx::Error> {
    let tables: Vec<(i64, String)> = sqlx::query_as(
        "SELECT c.oid::bigint, c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
         AND c.relname <> '_sqlx_migrations' ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await?;
    let mut schema = Schema::default();
    for (oid, name) in tables {
        let mut table = Table::default();
        for row in sqlx::query(
            "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS ty, \
             NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS dflt \
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1::bigint::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(oid)
        .fetch_all(pool)
        .await?
        {
            let native: String = row.get("ty");
            let logical = logical(&native);
            let default: Option<String> = row.get("dflt");
            table.columns.push(Column {
                name: row.get("name"),
                default: normalise_default(default.as_deref(), &logical),
                native_type: native,
                logical,
                nullable: row.get("nullable"),
            });
        }
        for row in sqlx::query(
            "SELECT con.conname::text AS name, con.contype::text AS kind, pg_get_constraintdef(con.oid) AS def, \
             ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o) \
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols, \
             con.confrelid::regclass::text AS ref_table, \
             ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o) \
                   JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o) AS ref_cols, \
             con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update \
             FROM pg_constraint con WHERE con.conrelid = $1::bigint::oid",
        )
        .bind(oid)
        .fetch_all(pool)
        .await?
        {
            let constraint: String = row.get("name");
            let columns: Vec<String> = row.get("cols");
            match row.get::<String, _>("kind").as_str() {
                "p" => table.primary_key = columns,
                "f" => {
                    table.foreign_keys.insert(
                        constraint.clone(),
                        ForeignKey {
                            name: constraint,
                            columns,
                            ref_table: row.get("ref_table"),
                            ref_columns: row.get("ref_cols"),
                            on_delete: action(&row.get::<String, _>("on_delete")),
                            on_update: action(&row.get::<String, _>("on_update")),
                        },
                    );
                }
                "c" => {
                    table.checks.insert(constraint, row.get("def"));
                }
                _ => {} // unique constraints show up as their indexes
            }
        }
        for row in sqlx::query(
            "SELECT i.relname::text AS name, ix.indisunique AS uniq, \
             ARRAY(SELECT a.attname::text FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, o) \
                   JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n ORDER BY k.o) AS cols \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
             WHERE ix.indrelid = $1::bigint::oid AND NOT ix.indisprimary",
        )
        .bind(oid)
        .fetch_all(pool)
        .await?
        {
            table.indexes.insert(
                row.get("name"),
                Index {
                    columns: row.get("cols"),
                    unique: row.get("uniq"),
                },
            );
        }
        schema.tables.insert(name, table);
    }
    Ok(schema)
}
