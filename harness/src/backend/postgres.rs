//! PostgreSQL: a container (official `postgres:16`, or the local PostgreSQL 15 image), databases
//! made with `CREATE DATABASE`, introspection through `pg_catalog`.

use sqlx::{PgPool, Row};
use testcontainers::core::{ContainerPort, Mount};

use super::{DataSql, ServerSpec};
use crate::images::{ImageChoice, ServerImage};
use crate::schema::{Column, ForeignKey, Index, Logical, Schema, Table, normalise_default};

pub const IMAGE: ImageChoice = ImageChoice {
    official: ("postgres", "16"),
    local: ("didhub/postgres", "15-local"),
    variable: "DIDHUB_TEST_POSTGRES_IMAGE",
};
const PASSWORD: &str = "harness";

/// How the PostgreSQL server is found or started.
pub(super) fn spec() -> ServerSpec {
    ServerSpec {
        url_variable: "DIDHUB_TEST_POSTGRES_URL",
        choice: &IMAGE,
        image: |name, tag| ServerImage {
            name,
            tag,
            // Trust on the test server: password authentication is SCRAM, 4096 rounds of
            // PBKDF2 in the client for every connection, which unoptimised test builds pay
            // hundreds of times (the official image and the local one both honour this).
            env: vec![
                ("POSTGRES_PASSWORD".into(), PASSWORD.into()),
                ("POSTGRES_HOST_AUTH_METHOD".into(), "trust".into()),
            ],
            data: vec![Mount::tmpfs_mount("/var/lib/postgresql/data")],
            scratch: Vec::new(),
            cmd: Vec::new(),
            ports: vec![ContainerPort::Tcp(5432)],
        },
        fast: &[
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        admin_url: |at| {
            format!(
                "postgres://postgres:{PASSWORD}@{}:{}/postgres",
                at.host, at.port
            )
        },
        version_sql: "SELECT version()",
    }
}

/// `CREATE DATABASE`, optionally as a copy of a template database (which must have no
/// connections).
pub(super) fn create_database_sql(name: &str, template: Option<&str>) -> String {
    match template {
        Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\" STRATEGY FILE_COPY"),
        None => format!("CREATE DATABASE \"{name}\""),
    }
}

pub(super) const DATA_SQL: DataSql = DataSql {
    quote,
    read: read_expr,
    write: write_expr,
};

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Any value as text; a timestamp in UTC whatever the session's time zone.
fn read_expr(column: &Column) -> String {
    let name = quote(&column.name);
    match column.logical {
        Logical::Timestamp => {
            format!("to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        }
        _ => format!("{name}::text"),
    }
}

/// A text parameter cast to the column's type. Text columns take it as is: an explicit cast to
/// `character varying(n)` would truncate a value that is too long instead of refusing it.
fn write_expr(position: usize, column: &Column) -> String {
    let native = column.native_type.as_str();
    if native == "text" || native.starts_with("character") {
        format!("${position}")
    } else {
        format!("CAST(${position} AS {native})")
    }
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
             ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k.n, true) \
                   || CASE WHEN oc.opcdefault THEN '' ELSE ' ' || oc.opcname::text END \
                   || CASE WHEN pg_index_column_has_property(ix.indexrelid, k.n, 'desc') \
                      THEN ' DESC' ELSE '' END \
                   FROM generate_series(1, ix.indnkeyatts::int) k(n) \
                   JOIN pg_opclass oc ON oc.oid = ix.indclass[k.n - 1] ORDER BY k.n) AS cols \
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
