//! MySQL protocol: a container (official `mysql:8.4`, or the local MariaDB 10.11 image — the
//! harness prints which), databases made with `CREATE DATABASE`, introspection through
//! `information_schema`.
//!
//! MariaDB spells JSON as `longtext` with a `json_valid(col)` check it adds itself; that check
//! spells the column's type, like SQLite's, and the column reads as JSON. Names InnoDB and
//! MariaDB make up for unnamed constraints (`t_ibfk_1`, `t_chk_1`, `CONSTRAINT_1`, a column
//! check named after its column, an index named after its first column) are marked generated,
//! and the index InnoDB adds to back a foreign key is marked implicit.

use sqlx::{MySqlPool, Row};
use testcontainers::core::{ContainerPort, Mount};

use super::{Backend, DataSql, ServerSpec};
use crate::images::{ImageChoice, ServerImage};
use crate::plans::{Access, Plan, PlanError};
use crate::schema::{
    AUTO_INCREMENT, Column, ForeignKey, Index, Logical, Name, Schema, Table, normalise_default,
};

pub const IMAGE: ImageChoice = ImageChoice {
    official: ("mysql", "8.4"),
    local: ("didhub/mariadb", "10.11-local"),
    variable: "DIDHUB_TEST_MYSQL_IMAGE",
};
const PASSWORD: &str = "harness";

/// How the MySQL-protocol server is found or started.
pub(super) fn spec() -> ServerSpec {
    ServerSpec {
        url_variable: "DIDHUB_TEST_MYSQL_URL",
        choice: &IMAGE,
        image: |name, tag| ServerImage {
            name,
            tag,
            env: vec![("MYSQL_ROOT_PASSWORD".into(), PASSWORD.into())],
            data: vec![Mount::tmpfs_mount("/var/lib/mysql")],
            scratch: vec![Mount::tmpfs_mount("/tmp")],
            cmd: [
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
            ]
            .map(String::from)
            .to_vec(),
            ports: vec![ContainerPort::Tcp(3306)],
        },
        fast: &["--skip-log-bin", "--innodb-flush-log-at-trx-commit=0"],
        admin_url: |at| format!("mysql://root:{PASSWORD}@{}:{}/mysql", at.host, at.port),
        version_sql: "SELECT CAST(VERSION() AS CHAR)",
    }
}

pub(super) fn create_database_sql(name: &str) -> String {
    format!("CREATE DATABASE `{name}`")
}

/// A migrated database's tables, ready to be copied into fresh databases: MySQL has no
/// template databases, and migrating every test database again costs seconds. The copy replays
/// each table's `SHOW CREATE TABLE` (columns, keys, indexes, checks, foreign keys, options such
/// as `AUTO_INCREMENT`) and copies the rows of the tables that hold any (the migration history
/// among them), all in one round trip.
#[derive(Debug)]
pub(super) struct Blueprint {
    /// `CREATE TABLE` for every table, as the server spells it.
    creates: Vec<String>,
    /// `INSERT INTO … SELECT …` from the source database for every table that holds rows.
    copies: Vec<String>,
}

/// The blueprint of the database `pool` is connected to, or `None` when it holds what a table
/// copy would miss (views, triggers, routines, events): such a database is migrated instead.
pub(super) async fn blueprint(pool: &MySqlPool) -> Result<Option<Blueprint>, sqlx::Error> {
    let others: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_type <> 'BASE TABLE') \
              + (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE()) \
              + (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = DATABASE()) \
              + (SELECT COUNT(*) FROM information_schema.events WHERE event_schema = DATABASE())",
    )
    .fetch_one(pool)
    .await?;
    if others > 0 {
        return Ok(None);
    }
    let source: String = sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)")
        .fetch_one(pool)
        .await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    let mut blueprint = Blueprint {
        creates: Vec::new(),
        copies: Vec::new(),
    };
    for table in tables {
        let show = sqlx::AssertSqlSafe(format!("SHOW CREATE TABLE {}", quote(&table)));
        let row = sqlx::query(show).fetch_one(pool).await?;
        let create: String = row.try_get(1).or_else(|_| {
            row.try_get::<Vec<u8>, _>(1)
                .map(|b| String::from_utf8_lossy(&b).into())
        })?;
        blueprint.creates.push(create);

        let count = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", quote(&table)));
        let rows: i64 = sqlx::query_scalar(count).fetch_one(pool).await?;
        if rows == 0 {
            continue;
        }
        // Generated columns compute themselves and refuse a value.
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? \
             AND extra NOT LIKE '%VIRTUAL%' AND extra NOT LIKE '%STORED%' \
             AND extra NOT LIKE '%PERSISTENT%' ORDER BY ordinal_position",
        )
        .bind(&table)
        .fetch_all(pool)
        .await?;
        let columns = columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        blueprint.copies.push(format!(
            "INSERT INTO {table} ({columns}) SELECT {columns} FROM {source}.{table}",
            table = quote(&table),
            source = quote(&source),
        ));
    }
    Ok(Some(blueprint))
}

impl Blueprint {
    /// The script that makes database `name` a copy. Foreign key checks are off while it runs,
    /// so tables and rows can come in any order; `USE` makes the foreign keys, which
    /// `SHOW CREATE TABLE` spells without a database, point into the copy.
    pub(super) fn copy_sql(&self, name: &str) -> String {
        let mut sql = format!(
            "CREATE DATABASE {db}; USE {db}; SET FOREIGN_KEY_CHECKS = 0;\n",
            db = quote(name)
        );
        for statement in self.creates.iter().chain(&self.copies) {
            sql.push_str(statement);
            sql.push_str(";\n");
        }
        sql.push_str("SET FOREIGN_KEY_CHECKS = 1;");
        sql
    }
}

pub(super) const DATA_SQL: DataSql = DataSql {
    quote,
    read: read_expr,
    write: write_expr,
};

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Any value as text; a DATETIME(6) (which holds UTC) in the canonical RFC 3339 spelling.
fn read_expr(column: &Column) -> String {
    let name = quote(&column.name);
    match column.logical {
        Logical::Timestamp => format!("DATE_FORMAT({name}, '%Y-%m-%dT%H:%i:%s.%fZ')"),
        _ => format!("CAST({name} AS CHAR)"),
    }
}

/// MySQL converts a text parameter to the column's type itself.
fn write_expr(_position: usize, _column: &Column) -> String {
    "?".to_owned()
}

/// A canonical timestamp as DATETIME(6) input: without the `T` and the `Z` (the column holds UTC
/// without a zone).
pub(super) fn datetime_input(canonical: &str) -> String {
    canonical.trim_end_matches('Z').replacen('T', " ", 1)
}

fn logical(native: &str) -> Logical {
    let base = native.split_whitespace().next().unwrap_or_default();
    let name = base.split('(').next().unwrap_or_default();
    let length = || {
        base.split_once('(')
            .and_then(|(_, n)| n.strip_suffix(')'))
            .and_then(|n| n.parse().ok())
    };
    match name {
        // `CHAR(36)` is a uuid in every dialect (see `Logical::Uuid`); MariaDB 10.7 added `UUID`.
        "char" if base == "char(36)" => Logical::Uuid,
        "uuid" => Logical::Uuid,
        "tinyint" if base == "tinyint(1)" => Logical::Boolean,
        "text" | "mediumtext" | "tinytext" | "longtext" => Logical::LongText,
        "json" => Logical::Json,
        "tinyint" | "smallint" => Logical::SmallInt,
        "int" | "mediumint" => Logical::Integer,
        "bigint" => Logical::BigInt,
        "float" => Logical::Float,
        "double" => Logical::Double,
        "decimal" | "numeric" => Logical::decimal(base),
        "date" => Logical::Date,
        "datetime" | "timestamp" => Logical::Timestamp,
        "time" => Logical::Time,
        "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary" => Logical::Blob,
        "varchar" | "char" => Logical::ShortText(length()),
        _ => Logical::Other(base.to_owned()),
    }
}

/// Whether InnoDB or MariaDB made `name` up for an unnamed constraint of `table`.
fn generated_constraint(name: &str, table: &Table, table_name: &str) -> bool {
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    numbered(&format!("{table_name}_ibfk_"))
        || numbered(&format!("{table_name}_chk_"))
        || numbered("CONSTRAINT_")
        || table.columns.iter().any(|c| c.name == name)
}

/// Whether MySQL named an index after its first column, as it does for an unnamed one
/// (`email`, then `email_2`).
fn generated_index(name: &str, first_column: &str) -> bool {
    let column = first_column.split('(').next().unwrap_or_default();
    name == column
        || name
            .strip_prefix(column)
            .and_then(|n| n.strip_prefix('_'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

fn text(row: &sqlx::mysql::MySqlRow, column: &str) -> Result<String, sqlx::Error> {
    row.try_get(column)
}

pub(super) async fn introspect(pool: &MySqlPool) -> Result<Schema, sqlx::Error> {
    // Each table with its collation, which its text columns use unless they name another.
    let tables: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(table_collation AS CHAR) \
         FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    // MariaDB quotes a string default and reports the text `NULL` for a nullable column with no
    // default; MySQL 8 reports no default as SQL NULL and a string unquoted, so there the text
    // `NULL` is the string 'NULL'.
    let mariadb: i64 = sqlx::query_scalar("SELECT VERSION() LIKE '%MariaDB%'")
        .fetch_one(pool)
        .await?;
    let mut schema = Schema::default();
    // Each `information_schema` table is filtered on its own schema (and table) columns, in a
    // derived table where a join would carry the filter over: MariaDB reads only the databases a
    // table's own conditions name, and a join condition names none, so it opened every table of
    // every database on the server (`EXPLAIN`: "Scanned all databases"). On a test server holding
    // a few hundred databases that made each step of the MySQL staircase ten times slower.
    for (name, table_collation) in tables {
        let mut table = Table::default();

        for row in sqlx::query(
            "SELECT CAST(column_name AS CHAR) AS name, CAST(column_type AS CHAR) AS ty, \
             CAST(is_nullable AS CHAR) AS nullable, CAST(column_default AS CHAR) AS dflt, \
             CAST(extra AS CHAR) AS extra, CAST(collation_name AS CHAR) AS collation \
             FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? \
             ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?
        {
            let column = text(&row, "name")?;
            let mut native = text(&row, "ty")?.to_lowercase();
            let logical = logical(&native);
            // A text column compared under another collation than its table's (`utf8mb4_bin`
            // in a `_ci` table: equal, unique and sorted byte for byte) says so in its type, as
            // MySQL's own `SHOW CREATE TABLE` does; the logical type, which parity compares,
            // stays the same.
            let collation: Option<String> = row.try_get("collation")?;
            if let Some(collation) = collation
                && table_collation.as_deref() != Some(collation.as_str())
            {
                native = format!("{native} collate {}", collation.to_lowercase());
            }
            let mut default: Option<String> = row.try_get("dflt")?;
            let extra = text(&row, "extra")?.to_lowercase();
            // MySQL 8 reports a literal string default unquoted (an expression is marked
            // DEFAULT_GENERATED), MariaDB quoted: quote MySQL's. MariaDB prints an expression
            // (`uuid()`) unquoted, and it stays one.
            let generated = extra.contains("default_generated");
            if let Some(d) = &default
                && mariadb == 0
                && !generated
                && matches!(
                    logical,
                    Logical::ShortText(_)
                        | Logical::LongText
                        | Logical::Uuid
                        | Logical::Date
                        | Logical::Time
                )
            {
                default = Some(format!("'{}'", d.replace('\'', "''")));
            }
            table.columns.push(Column {
                name: column,
                default: if extra.contains("auto_increment") {
                    Some(AUTO_INCREMENT.to_owned())
                } else {
                    normalise_default(default.as_deref(), &logical, Backend::MySql)
                },
                native_type: native,
                logical,
                nullable: text(&row, "nullable")? == "YES",
            });
        }

        for row in sqlx::query(
            "SELECT CAST(cc.constraint_name AS CHAR) AS name, CAST(cc.check_clause AS CHAR) AS clause \
             FROM (SELECT constraint_name, check_clause FROM information_schema.check_constraints \
                   WHERE constraint_schema = DATABASE()) cc \
             JOIN information_schema.table_constraints tc ON tc.constraint_name = cc.constraint_name \
             WHERE tc.table_schema = DATABASE() AND tc.table_name = ? AND tc.constraint_type = 'CHECK'",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?
        {
            let constraint = text(&row, "name")?;
            let check_name = if generated_constraint(&constraint, &table, &name) {
                Name::generated(Some(constraint))
            } else {
                Name::given(constraint)
            };
            table.add_check(check_name, &text(&row, "clause")?, Backend::MySql);
        }

        let mut fks: std::collections::BTreeMap<String, ForeignKey> = Default::default();
        for row in sqlx::query(
            "SELECT CAST(k.constraint_name AS CHAR) AS name, CAST(k.column_name AS CHAR) AS col, \
             CAST(k.referenced_table_name AS CHAR) AS ref_table, \
             CAST(k.referenced_column_name AS CHAR) AS ref_col, \
             CAST(r.delete_rule AS CHAR) AS on_delete, CAST(r.update_rule AS CHAR) AS on_update \
             FROM information_schema.key_column_usage k \
             JOIN (SELECT constraint_name, delete_rule, update_rule \
                   FROM information_schema.referential_constraints \
                   WHERE constraint_schema = DATABASE() AND table_name = ?) r \
               ON r.constraint_name = k.constraint_name \
             WHERE k.table_schema = DATABASE() AND k.table_name = ? AND k.referenced_table_name IS NOT NULL \
             ORDER BY k.constraint_name, k.ordinal_position",
        )
        .bind(&name)
        .bind(&name)
        .fetch_all(pool)
        .await?
        {
            let constraint = text(&row, "name")?;
            let fk = fks
                .entry(constraint.clone())
                .or_insert_with(|| ForeignKey {
                    name: if generated_constraint(&constraint, &table, &name) {
                        Name::generated(Some(constraint))
                    } else {
                        Name::given(constraint)
                    },
                    columns: Vec::new(),
                    ref_table: String::new(),
                    ref_columns: Vec::new(),
                    on_delete: String::new(),
                    on_update: String::new(),
                });
            fk.columns.push(text(&row, "col")?);
            fk.ref_columns.push(text(&row, "ref_col")?);
            fk.ref_table = text(&row, "ref_table")?;
            fk.on_delete = text(&row, "on_delete")?;
            fk.on_update = text(&row, "on_update")?;
        }

        let mut indexes: std::collections::BTreeMap<String, (bool, Vec<String>)> =
            Default::default();
        for row in sqlx::query(
            "SELECT CAST(index_name AS CHAR) AS name, non_unique = 0 AS uniq, \
             CAST(CONCAT(COALESCE(column_name, '(expression)'), \
                         IF(sub_part IS NULL, '', CONCAT('(', sub_part, ')')), \
                         IF(`collation` = 'D', ' DESC', '')) AS CHAR) AS col \
             FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? \
             ORDER BY index_name, seq_in_index",
        )
        .bind(&name)
        .fetch_all(pool)
        .await?
        {
            let index = text(&row, "name")?;
            let column = text(&row, "col")?;
            if index == "PRIMARY" {
                table.primary_key.push(column);
                continue;
            }
            let unique: i64 = row.try_get("uniq")?;
            indexes
                .entry(index)
                .or_insert_with(|| (unique == 1, Vec::new()))
                .1
                .push(column);
        }
        for (index, (unique, columns)) in indexes {
            let generated = generated_index(&index, &columns[0]);
            // InnoDB adds an index for a foreign key whose columns no index starts with, named
            // after the key (or, for an unnamed key, its first column).
            let implicit = !unique
                && fks.values().any(|fk| {
                    fk.columns == columns
                        && (fk.name.text.as_deref() == Some(index.as_str()) || generated)
                });
            table.add_index(Index {
                name: if generated || implicit {
                    Name::generated(Some(index))
                } else {
                    Name::given(index)
                },
                columns,
                unique,
                predicate: None,
                implicit,
            });
        }
        for fk in fks.into_values() {
            table.add_foreign_key(fk);
        }
        schema.tables.insert(name, table);
    }
    Ok(schema)
}

/// What `EXPLAIN FORMAT=JSON` answers for `explain`, as the text [`crate::plans`] reads.
pub(super) async fn plan_text(
    pool: &MySqlPool,
    explain: sqlx::AssertSqlSafe<String>,
) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(explain).fetch_one(pool).await
}

/// Reads MySQL's and MariaDB's `EXPLAIN FORMAT=JSON` into a [`Plan`].
pub(super) fn parse_plan(output: &str) -> Result<Plan, PlanError> {
    let doc: serde_json::Value =
        serde_json::from_str(output).map_err(|e| PlanError::NotJson(e.to_string()))?;
    let mut accesses = Vec::new();
    mysql_tables(&doc, &mut accesses);
    Ok(Plan { accesses })
}

/// Every `table` object with a `table_name`, in document order (subqueries and derived tables
/// nest deeper; recursing into every value finds them).
fn mysql_tables(value: &serde_json::Value, out: &mut Vec<Access>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(table) = map.get("table").filter(|t| t.get("table_name").is_some()) {
                let access_type = table["access_type"].as_str().unwrap_or_default();
                out.push(Access {
                    table: table["table_name"].as_str().unwrap_or_default().to_owned(),
                    method: access_type.to_owned(),
                    index: table["key"]
                        .as_str()
                        .filter(|_| access_type != "ALL")
                        .map(str::to_owned),
                    rows: table["rows"]
                        .as_f64()
                        .or_else(|| table["rows_examined_per_scan"].as_f64()),
                });
            }
            map.values().for_each(|child| mysql_tables(child, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| mysql_tables(v, out)),
        _ => {}
    }
}

/// A result column's type as `compat` compares it. MySQL flags a text column with a binary
/// collation (`utf8mb4_bin`) BINARY, and sqlx names it after the flag (`VARBINARY`, `BLOB`),
/// while it reads it as text all the same: such a column keeps its text type's name, so that
/// making a comparison case-sensitive is not reported as a change of type.
pub(super) fn result_type(ty: &sqlx::mysql::MySqlTypeInfo) -> String {
    let name = sqlx::TypeInfo::name(ty);
    if !<str as sqlx::Type<sqlx::MySql>>::compatible(ty) {
        return name.to_owned();
    }
    match name {
        "VARBINARY" => "VARCHAR",
        "BINARY" => "CHAR",
        "TINYBLOB" => "TINYTEXT",
        "BLOB" => "TEXT",
        "MEDIUMBLOB" => "MEDIUMTEXT",
        "LONGBLOB" => "LONGTEXT",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_tables_are_found_wherever_they_nest() {
        let doc = r#"{"query_block": {"nested_loop": [{"read_sorted_file": {"filesort": {"table": {
            "table_name": "a", "access_type": "ref", "key": "idx_a_s", "rows": 100}}}}]}}"#;
        let plan = parse_plan(doc).unwrap();
        assert!(plan.uses_index("a", "idx_a_s"));
        let all = r#"{"query_block": {"table": {"table_name": "a", "access_type": "ALL", "rows": 9000}}}"#;
        assert!(parse_plan(all).unwrap().accesses[0].is_full_scan());
    }
}
