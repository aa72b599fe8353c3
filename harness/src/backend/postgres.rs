//! PostgreSQL: a container (official `postgres:16`, or the local PostgreSQL 15 image), databases
//! made with `CREATE DATABASE`, introspection through `pg_catalog`.

use sqlx::{PgPool, Row};
use testcontainers::core::{ContainerPort, Mount};

use super::{Backend, DataSql, ServerSpec};
use crate::expression;
use crate::images::{ImageChoice, ServerImage};
use crate::plans::{Access, Plan, PlanError};
use crate::schema::{
    AUTO_INCREMENT, Column, ForeignKey, Index, Logical, Name, Schema, Table, normalise_default,
};

pub const IMAGE: ImageChoice = ImageChoice {
    official: ("postgres", "16"),
    local: ("didhub/postgres", "15-local"),
    variable: "DIDHUB_TEST_POSTGRES_IMAGE",
};
pub(super) const PASSWORD: &str = "harness";

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
    let length = |prefix: &str| {
        native
            .strip_prefix(prefix)
            .and_then(|n| n.strip_prefix('('))
            .and_then(|n| n.strip_suffix(')'))
            .and_then(|n| n.parse().ok())
    };
    match native {
        "uuid" => Logical::Uuid,
        "text" => Logical::LongText,
        "boolean" => Logical::Boolean,
        "date" => Logical::Date,
        "jsonb" | "json" => Logical::Json,
        "smallint" => Logical::SmallInt,
        "integer" => Logical::Integer,
        "bigint" => Logical::BigInt,
        "real" => Logical::Float,
        "double precision" => Logical::Double,
        "bytea" => Logical::Blob,
        t if t.starts_with("timestamp") => Logical::Timestamp,
        t if t.starts_with("time") => Logical::Time,
        t if t.starts_with("numeric") => Logical::decimal(t),
        // `CHAR(36)` is a uuid in every dialect (see `Logical::Uuid`).
        "character(36)" => Logical::Uuid,
        t if t.starts_with("character varying") => Logical::ShortText(length("character varying")),
        t if t.starts_with("character") => Logical::ShortText(length("character")),
        other => Logical::Other(other.to_owned()),
    }
}

/// Whether PostgreSQL made `name` up for a constraint or index of `table` the migration left
/// unnamed: `<table>_<columns>_fkey` (`_key`, `_check`, `_idx`, `_excl`), with a number when
/// taken. A project that writes such a name itself loses nothing: generated names are compared
/// only by their text.
fn generated(name: &str, table: &str) -> bool {
    let Some(rest) = name.strip_prefix(table).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    let rest = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    ["fkey", "key", "check", "idx", "excl"]
        .iter()
        .any(|suffix| rest == *suffix || rest.ends_with(&format!("_{suffix}")))
}

fn name(text: String, table: &str) -> Name {
    if generated(&text, table) {
        Name::generated(Some(text))
    } else {
        Name::given(text)
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
    for (oid, table_name) in tables {
        let mut table = Table::default();
        for row in sqlx::query(
            "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS ty, \
             NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS dflt, \
             a.attidentity::text AS identity \
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
            let identity: String = row.get("identity");
            table.columns.push(Column {
                name: row.get("name"),
                default: if identity.is_empty() {
                    normalise_default(default.as_deref(), &logical, Backend::Postgres)
                } else {
                    Some(AUTO_INCREMENT.to_owned())
                },
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
                "f" => table.add_foreign_key(ForeignKey {
                    name: name(constraint, &table_name),
                    columns,
                    ref_table: row.get("ref_table"),
                    ref_columns: row.get("ref_cols"),
                    on_delete: action(&row.get::<String, _>("on_delete")),
                    on_update: action(&row.get::<String, _>("on_update")),
                }),
                "c" => {
                    // `CHECK ((a > 0))`, `… NOT VALID` while not yet validated.
                    let def: String = row.get("def");
                    let expression = def
                        .strip_prefix("CHECK ")
                        .unwrap_or(&def)
                        .trim_end_matches(" NOT VALID");
                    table.add_check(name(constraint, &table_name), expression, Backend::Postgres);
                }
                _ => {} // unique constraints show up as their indexes
            }
        }
        for row in sqlx::query(
            "SELECT i.relname::text AS name, ix.indisunique AS uniq, \
             ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k.n, true) \
                   FROM generate_series(1, ix.indnkeyatts::int) k(n) ORDER BY k.n) AS parts, \
             ARRAY(SELECT CASE WHEN oc.opcdefault THEN '' ELSE ' ' || oc.opcname::text END \
                   || CASE WHEN pg_index_column_has_property(ix.indexrelid, k.n, 'desc') \
                      THEN ' DESC' ELSE '' END \
                   FROM generate_series(1, ix.indnkeyatts::int) k(n) \
                   JOIN pg_opclass oc ON oc.oid = ix.indclass[k.n - 1] ORDER BY k.n) AS suffixes, \
             pg_get_expr(ix.indpred, ix.indrelid, true) AS predicate \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
             WHERE ix.indrelid = $1::bigint::oid AND NOT ix.indisprimary",
        )
        .bind(oid)
        .fetch_all(pool)
        .await?
        {
            let parts: Vec<String> = row.get("parts");
            let suffixes: Vec<String> = row.get("suffixes");
            let predicate: Option<String> = row.get("predicate");
            table.add_index(Index {
                name: name(row.get("name"), &table_name),
                columns: parts
                    .iter()
                    .zip(&suffixes)
                    .map(|(part, suffix)| {
                        format!("{}{suffix}", expression::normalise(part, Backend::Postgres))
                    })
                    .collect(),
                unique: row.get("uniq"),
                predicate: predicate.map(|p| expression::normalise(&p, Backend::Postgres)),
                implicit: false,
            });
        }
        schema.tables.insert(table_name, table);
    }
    Ok(schema)
}

/// What `EXPLAIN (FORMAT JSON)` answers for `explain`, as the text [`crate::plans`] reads.
pub(super) async fn plan_text(
    pool: &PgPool,
    explain: sqlx::AssertSqlSafe<String>,
) -> Result<String, sqlx::Error> {
    let plan: serde_json::Value = sqlx::query_scalar(explain).fetch_one(pool).await?;
    Ok(plan.to_string())
}

/// Reads PostgreSQL's `EXPLAIN (FORMAT JSON)` into a [`Plan`].
pub(super) fn parse_plan(output: &str) -> Result<Plan, PlanError> {
    let doc: serde_json::Value =
        serde_json::from_str(output).map_err(|e| PlanError::NotJson(e.to_string()))?;
    let root = doc
        .get(0)
        .and_then(|d| d.get("Plan"))
        .ok_or(PlanError::NoPlan)?;
    let mut accesses = Vec::new();
    postgres_node(root, None, &mut accesses);
    Ok(Plan { accesses })
}

fn postgres_node(node: &serde_json::Value, parent_relation: Option<&str>, out: &mut Vec<Access>) {
    let method = node["Node Type"].as_str().unwrap_or_default();
    let relation = node["Relation Name"].as_str().or(parent_relation);
    let index = node["Index Name"].as_str();
    let reads_table = node.get("Relation Name").is_some() || index.is_some();
    // A Bitmap Heap Scan is reported through its Bitmap Index Scan child, which names the index.
    if reads_table && method != "Bitmap Heap Scan" {
        out.push(Access {
            table: relation.unwrap_or_default().to_owned(),
            method: method.to_owned(),
            index: index.map(str::to_owned),
            rows: node["Plan Rows"].as_f64(),
        });
    }
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            postgres_node(child, relation, out);
        }
    }
}

/// A result column's type as `compat` compares it: the name the database gives.
pub(super) fn result_type(ty: &sqlx::postgres::PgTypeInfo) -> String {
    sqlx::TypeInfo::name(ty).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_postgresql_makes_up_are_told_from_given_ones() {
        for made in [
            "tasks_project_id_fkey",
            "users_email_key",
            "users_email_key1",
            "items_check",
            "items_price_check",
            "tasks_lower_idx",
        ] {
            assert!(generated(made, made.split('_').next().unwrap()), "{made}");
        }
        for given in [
            "fk_tasks_project",
            "idx_tasks_project_id",
            "tasks_unique_title",
        ] {
            assert!(!generated(given, "tasks"), "{given}");
        }
    }

    #[test]
    fn postgres_bitmap_scans_report_their_index_and_table() {
        let doc = r#"[{"Plan": {"Node Type": "Limit", "Plan Rows": 10, "Plans": [
            {"Node Type": "Bitmap Heap Scan", "Relation Name": "a", "Plan Rows": 100, "Plans": [
                {"Node Type": "Bitmap Index Scan", "Index Name": "idx_a_s", "Plan Rows": 100}]}]}}]"#;
        let plan = parse_plan(doc).unwrap();
        assert_eq!(
            plan.accesses,
            [Access {
                table: "a".into(),
                method: "Bitmap Index Scan".into(),
                index: Some("idx_a_s".into()),
                rows: Some(100.0)
            }]
        );
        let seq =
            r#"[{"Plan": {"Node Type": "Seq Scan", "Relation Name": "a", "Plan Rows": 5000}}]"#;
        assert!(parse_plan(seq).unwrap().accesses[0].is_full_scan());
    }
}
