//! `MY004`: a CHECK constraint on a column that a foreign key of the same table changes by its
//! action (CASCADE, SET NULL, SET DEFAULT), which MySQL and MariaDB refuse.

use std::collections::BTreeSet;

use super::{
    Context, Hit, Rule, constraint_name, parenthesized, says, split_commas, table_definition,
};
use crate::sql::Token;
use didhub_migrations::Backend;

pub(super) const RULE: Rule = Rule {
    id: "MY004",
    dialects: &[Backend::MySql],
    in_down: true,
    title: "CHECK on a column a foreign key's action changes",
    reason: "MySQL refuses a CHECK constraint on a column that a foreign key of the same \
             table changes by its ON DELETE / ON UPDATE action, CASCADE, SET NULL or SET \
             DEFAULT (error 3823), and MariaDB one on a SET NULL column (error 1901): the \
             migration fails there. Make the foreign key's action RESTRICT or NO ACTION, or \
             leave the CHECK out on MySQL (enforce it in the server, and record the \
             difference in the parity allow-list, as DIDHub's 0012 does).",
    check: mysql_check_on_fk_action_column,
};

/// A foreign key of a table definition: its name, its columns (lower-cased, as MySQL compares
/// them), and the actions that change them (`ON DELETE CASCADE`, `ON UPDATE SET NULL`, …;
/// RESTRICT and NO ACTION change nothing).
struct ForeignKey {
    name: Option<String>,
    columns: Vec<String>,
    actions: Vec<String>,
}

fn foreign_key(element: &[Token]) -> Option<ForeignKey> {
    let (name, rest) = constraint_name(element);
    if !rest.first()?.is("FOREIGN") {
        return None;
    }
    let open = rest.iter().position(|t| *t == Token::Symbol('('))?;
    let columns = split_commas(parenthesized(&rest[open..])?)
        .into_iter()
        .filter_map(|part| Some(part.first()?.ident()?.to_lowercase()))
        .collect();
    let word = |i: usize| rest.get(i).filter(|t| matches!(t, Token::Word(_)));
    let actions = (open..rest.len())
        .filter(|&i| rest[i].is("ON"))
        .filter_map(|i| {
            let event = word(i + 1).filter(|t| t.is("DELETE") || t.is("UPDATE"))?;
            let action = match word(i + 2)? {
                t if t.is("CASCADE") => "CASCADE",
                t if t.is("SET") && word(i + 3)?.is("NULL") => "SET NULL",
                t if t.is("SET") && word(i + 3)?.is("DEFAULT") => "SET DEFAULT",
                _ => return None,
            };
            Some(format!("ON {} {action}", event.ident()?.to_uppercase()))
        })
        .collect();
    Some(ForeignKey {
        name: name.and_then(Token::ident),
        columns,
        actions,
    })
}

fn mysql_check_on_fk_action_column(cx: &Context<'_>) -> Vec<Hit> {
    let Some(definition) = table_definition(cx.statement()) else {
        return Vec::new();
    };
    // Each CHECK: its `CHECK` token and the names its expression uses.
    let checks = definition
        .elements
        .iter()
        .map(|element| constraint_name(element).1)
        .chain(definition.columns.iter().filter_map(|column| {
            says(column.definition, "CHECK").map(|at| &column.definition[at..])
        }))
        .filter(|rest| rest.first().is_some_and(|t| t.is("CHECK")))
        .filter_map(|rest| {
            let names: BTreeSet<String> = parenthesized(&rest[1..])?
                .iter()
                .filter_map(|t| Some(t.ident()?.to_lowercase()))
                .collect();
            Some((&rest[0], names))
        });
    let checks: Vec<_> = checks.collect();
    if checks.is_empty() {
        return Vec::new();
    }
    // The table's foreign keys anywhere in the file: MySQL refuses the pair in either order.
    let keys: Vec<ForeignKey> = cx
        .statements
        .iter()
        .filter_map(table_definition)
        .filter(|other| other.table == definition.table)
        .flat_map(|other| other.elements.into_iter().filter_map(foreign_key))
        .filter(|key| !key.actions.is_empty())
        .collect();
    let mut hits = Vec::new();
    for (check, names) in &checks {
        for key in &keys {
            for column in key.columns.iter().filter(|c| names.contains(*c)) {
                hits.push(cx.hit_at(
                    check,
                    format!(
                        "CHECK on {}.{column}, which foreign key {} changes {}",
                        definition.table,
                        key.name.as_deref().unwrap_or("(unnamed)"),
                        key.actions.join(" ")
                    ),
                ));
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{NONE, details, down, silenced, up};
    use crate::migration_file::Direction;
    use didhub_migrations::Backend;

    #[test]
    fn my004_flags_a_check_on_a_column_a_foreign_key_cascades_or_nulls() {
        let sql = "CREATE TABLE links (\n    alter_id CHAR(36) NOT NULL,\n    \
                   related_id CHAR(36),\n    kind VARCHAR(16) NOT NULL,\n    \
                   CONSTRAINT fk_links_alter FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE CASCADE,\n    \
                   CONSTRAINT fk_links_related FOREIGN KEY (related_id) REFERENCES alters (id) ON UPDATE SET NULL,\n    \
                   CONSTRAINT ck_links_distinct CHECK (alter_id <> related_id),\n    \
                   CONSTRAINT ck_links_kind CHECK (kind IN ('partner', 'parent'))\n);\n\
                   ALTER TABLE links ADD COLUMN note TEXT CHECK (`ALTER_ID` IS NOT NULL);\n";
        assert_eq!(up(Backend::MySql, "MY004", sql), [7, 7, 10]);
        assert_eq!(down(Backend::MySql, "MY004", sql), [7, 7, 10]);
        silenced(Backend::MySql, "MY004", sql);
        assert_eq!(up(Backend::Sqlite, "MY004", sql), NONE);
        let details = details(Backend::MySql, Direction::Up, sql);
        assert_eq!(
            details,
            [
                "CHECK on links.alter_id, which foreign key fk_links_alter changes ON DELETE CASCADE",
                "CHECK on links.related_id, which foreign key fk_links_related changes ON UPDATE SET NULL",
                "CHECK on links.alter_id, which foreign key fk_links_alter changes ON DELETE CASCADE",
            ]
        );
    }

    #[test]
    fn my004_passes_a_check_on_a_column_whose_foreign_key_restricts() {
        let sql = "CREATE TABLE links (\n    alter_id CHAR(36) NOT NULL CHECK (alter_id <> ''),\n    \
                   other_id CHAR(36),\n    \
                   FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE RESTRICT ON UPDATE NO ACTION,\n    \
                   CONSTRAINT fk_other FOREIGN KEY (other_id) REFERENCES others (id) ON DELETE CASCADE,\n    \
                   CHECK (alter_id <> 'x')\n);\n";
        assert_eq!(up(Backend::MySql, "MY004", sql), NONE);
    }
}
