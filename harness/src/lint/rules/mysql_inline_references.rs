//! `MY002`: a column's inline `REFERENCES`, which MySQL 8 parses and ignores.

use super::{Context, Hit, Rule, name_at, says, table_definition};
use didhub_migrations::Backend;

pub(super) const RULE: Rule = Rule {
    id: "MY002",
    dialects: &[Backend::MySql],
    in_down: true,
    title: "inline REFERENCES on a column",
    reason: "MySQL 8 parses a column's inline `REFERENCES t (c) [ON DELETE …]` and ignores it: \
             no foreign key is created, and nothing says so (MariaDB 10.5+ does create one, \
             so the two servers end up with different schemas). Declare the key at table \
             level, `CONSTRAINT fk_… FOREIGN KEY (col) REFERENCES t (c) ON DELETE …`, with \
             an index on the column.",
    check: mysql_inline_references,
};

fn mysql_inline_references(cx: &Context<'_>) -> Vec<Hit> {
    let Some(definition) = table_definition(cx.statement()) else {
        return Vec::new();
    };
    definition
        .columns
        .iter()
        .filter_map(|column| {
            let at = says(column.definition, "REFERENCES")?;
            let target = name_at(column.definition, at + 1).map_or_else(String::new, |(t, _)| t);
            Some(cx.hit_at(
                &column.definition[at],
                format!(
                    "column {}.{} REFERENCES {target} inline: MySQL 8 creates no foreign key",
                    definition.table,
                    column.name()
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{NONE, details, down, silenced, up};
    use crate::migration_file::Direction;
    use didhub_migrations::Backend;

    #[test]
    fn my002_flags_inline_references_that_mysql_ignores() {
        let sql = "CREATE TABLE notes (\n    id CHAR(36) NOT NULL PRIMARY KEY,\n    \
                   user_id CHAR(36) NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n    \
                   body TEXT COMMENT 'REFERENCES users (id)' CHECK (body <> '')\n);\n\
                   ALTER TABLE notes ADD COLUMN alter_id CHAR(36) REFERENCES alters (id);\n";
        assert_eq!(up(Backend::MySql, "MY002", sql), [3, 6]);
        assert_eq!(down(Backend::MySql, "MY002", sql), [3, 6]);
        silenced(Backend::MySql, "MY002", sql);
        assert_eq!(up(Backend::Sqlite, "MY002", sql), NONE);
        assert_eq!(
            details(Backend::MySql, Direction::Up, sql)[0],
            "column notes.user_id REFERENCES users inline: MySQL 8 creates no foreign key"
        );
    }

    #[test]
    fn my002_passes_table_level_foreign_keys() {
        let sql = "CREATE TABLE notes (\n    user_id CHAR(36) NOT NULL,\n    \
                   CONSTRAINT fk_notes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,\n    \
                   FOREIGN KEY (alter_id) REFERENCES alters (id)\n);\n\
                   ALTER TABLE notes ADD CONSTRAINT fk_x FOREIGN KEY (x) REFERENCES xs (id);\n";
        assert_eq!(up(Backend::MySql, "MY002", sql), NONE);
    }
}
