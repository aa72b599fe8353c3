//! `MY006`: a TIMESTAMP column, which on MySQL and MariaDB ends in January 2038.

use super::{Context, Hit, Rule, table_definition};
use didhub_migrations::Backend;

pub(super) const RULE: Rule = Rule {
    id: "MY006",
    dialects: &[Backend::MySql],
    in_down: true,
    title: "a TIMESTAMP column",
    reason: "MySQL's and MariaDB's TIMESTAMP holds 1970-01-01 to 2038-01-19 UTC only: a date \
             before 1970 (a birthday) is refused, none after January 2038 fits, and values \
             are converted through the session's time zone. Use DATETIME(6) holding UTC, as \
             DIDHub's other timestamps do.",
    check: mysql_timestamp_column,
};

fn mysql_timestamp_column(cx: &Context<'_>) -> Vec<Hit> {
    let Some(definition) = table_definition(cx.statement()) else {
        return Vec::new();
    };
    definition
        .columns
        .iter()
        .filter(|column| column.definition.first().is_some_and(|t| t.is("TIMESTAMP")))
        .map(|column| {
            cx.hit_at(
                &column.definition[0],
                format!("column {}.{} is TIMESTAMP", definition.table, column.name()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{NONE, details, down, silenced, up};
    use crate::migration_file::Direction;
    use didhub_migrations::Backend;

    #[test]
    fn my006_flags_timestamp_columns() {
        let sql = "CREATE TABLE people (\n    id INT,\n    born TIMESTAMP NULL,\n    \
                   created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)\n);\n\
                   ALTER TABLE people ADD COLUMN seen TIMESTAMP(6), MODIFY created_at timestamp;\n";
        assert_eq!(up(Backend::MySql, "MY006", sql), [3, 6, 6]);
        assert_eq!(down(Backend::MySql, "MY006", sql), [3, 6, 6]);
        silenced(Backend::MySql, "MY006", sql);
        assert_eq!(up(Backend::Sqlite, "MY006", sql), NONE);
        assert_eq!(
            details(Backend::MySql, Direction::Up, sql)[0],
            "column people.born is TIMESTAMP"
        );
    }

    #[test]
    fn my006_passes_datetime_columns_and_timestamp_defaults() {
        let sql = "CREATE TABLE people (\n    born DATETIME(6) NULL,\n    \
                   created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),\n    \
                   `timestamp` DATETIME(6)\n);\n";
        assert_eq!(up(Backend::MySql, "MY006", sql), NONE);
    }
}
