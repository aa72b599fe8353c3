//! `MY005`: an expression (functional) index key part, which MySQL has and MariaDB does not.

use super::{Context, Hit, Rule, indexes, split_commas};
use crate::sql::Token;
use didhub_migrations::Backend;

pub(super) const RULE: Rule = Rule {
    id: "MY005",
    dialects: &[Backend::MySql],
    in_down: true,
    title: "an expression (functional) index",
    reason: "MySQL has expression key parts (`INDEX ((lower(x)))`) since 8.0.13; MariaDB has \
             none, and the statement fails there. Index a generated column instead \
             (`x_lower VARCHAR(…) AS (lower(x)) VIRTUAL`, then `INDEX (x_lower)`), which both \
             have, or, for a case-insensitive match, a plain index under a `_ci` collation.",
    check: mysql_expression_index,
};

fn mysql_expression_index(cx: &Context<'_>) -> Vec<Hit> {
    indexes(cx.statement())
        .iter()
        .flat_map(|index| {
            split_commas(index.key_parts)
                .into_iter()
                .filter(|part| part.first() == Some(&Token::Symbol('(')))
                .map(|part| {
                    let name = index.name.and_then(Token::ident);
                    cx.hit_at(
                        &part[0],
                        format!(
                            "index {} on {} has an expression key part",
                            name.as_deref().unwrap_or("(unnamed)"),
                            index.table
                        ),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{NONE, details, down, silenced, up};
    use crate::migration_file::Direction;
    use didhub_migrations::Backend;

    #[test]
    fn my005_flags_expression_indexes_mariadb_does_not_have() {
        let sql = "CREATE TABLE alters (\n    name VARCHAR(200),\n    \
                   INDEX idx_alters_lower_name ((lower(name)))\n);\n\
                   CREATE INDEX idx_alters_x ON alters (system_id, (json_value(x, '$.a')));\n\
                   ALTER TABLE alters ADD UNIQUE KEY uq_alters_name ((upper(name)));\n";
        assert_eq!(up(Backend::MySql, "MY005", sql), [3, 5, 6]);
        assert_eq!(down(Backend::MySql, "MY005", sql), [3, 5, 6]);
        silenced(Backend::MySql, "MY005", sql);
        assert_eq!(up(Backend::Sqlite, "MY005", sql), NONE);
        assert_eq!(
            details(Backend::MySql, Direction::Up, sql)[1],
            "index idx_alters_x on alters has an expression key part"
        );
    }

    #[test]
    fn my005_passes_indexes_on_plain_and_prefixed_columns() {
        let sql = "CREATE TABLE alters (\n    name VARCHAR(200),\n    \
                   INDEX idx_alters_name (name(50), system_id),\n    \
                   CHECK ((length(name)) > 0)\n);\n\
                   CREATE INDEX idx_alters_system ON alters (system_id DESC);\n";
        assert_eq!(up(Backend::MySql, "MY005", sql), NONE);
    }
}
