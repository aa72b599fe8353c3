//! `SQ001`: an ALTER TABLE form SQLite does not have, as SQLite itself says when asked
//! ([`crate::lint::sqlite`]), not as a keyword list guesses.

use super::{Context, Hit, Rule, alter_table};
use crate::lint::sqlite::{self, Unasked};
use crate::lint::squawk::one_line;
use didhub_migrations::Backend;

pub(super) const RULE: Rule = Rule {
    id: "SQ001",
    dialects: &[Backend::Sqlite],
    in_down: true,
    title: "an ALTER TABLE form SQLite does not have",
    reason: "SQLite's ALTER TABLE only renames a table or a column, adds a column (not \
             PRIMARY KEY or UNIQUE, not NOT NULL without a default, with a constant default) \
             and drops a column, one change per statement; anything else fails (SQLite \
             itself was asked: its words are above). Rebuild the table instead: create the \
             new one, copy the rows, drop the old one, rename the new one \
             (https://www.sqlite.org/lang_altertable.html#otheralter).",
    check: sqlite_unsupported_alter,
};

fn sqlite_unsupported_alter(cx: &Context<'_>) -> Vec<Hit> {
    if alter_table(cx.statement()).is_none() {
        return Vec::new();
    }
    let said = match cx.sqlite_refusal() {
        Ok(None) => return Vec::new(),
        Ok(Some(message)) => format!("SQLite says: {message}"),
        // Not a pass: a statement SQLite was not asked about is not one it takes.
        Err(unasked) => unasked.to_string(),
    };
    let statement = one_line(cx.statement().text.trim_end_matches(';'), 80);
    vec![cx.hit(format!("{statement}: {said}"))]
}

impl Context<'_> {
    /// What SQLite says of this statement when it is an ALTER TABLE: its message when it does
    /// not have the form. Every ALTER TABLE of the file is asked at once, the first time.
    fn sqlite_refusal(&self) -> Result<Option<&str>, &Unasked> {
        let answers = self.sqlite.get_or_init(|| {
            let alters: Vec<(usize, String)> = (self.statements.iter().enumerate())
                .filter_map(|(i, s)| alter_table(s).map(|alter| (i, alter.table)))
                .collect();
            let asked: Vec<sqlite::Alter<'_>> = alters
                .iter()
                .map(|(i, table)| sqlite::Alter {
                    table,
                    sql: &self.statements[*i].text,
                })
                .collect();
            let mut all = vec![None; self.statements.len()];
            for ((i, _), answer) in alters.iter().zip(sqlite::refusals(&asked)?) {
                all[*i] = answer;
            }
            Ok(all)
        });
        match answers {
            Ok(all) => Ok(all[self.index].as_deref()),
            Err(unasked) => Err(unasked),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{NONE, details, down, silenced, up};
    use crate::migration_file::Direction;
    use didhub_migrations::Backend;

    #[test]
    fn sq001_flags_alter_table_forms_sqlite_does_not_have() {
        let sql = "ALTER TABLE users ALTER COLUMN name SET NOT NULL;\n\
                   ALTER TABLE users ADD CONSTRAINT ck_x CHECK (x > 0);\n\
                   ALTER TABLE users DROP CONSTRAINT ck_x;\n\
                   ALTER TABLE users ADD COLUMN code TEXT UNIQUE;\n\
                   ALTER TABLE users ADD COLUMN n INTEGER PRIMARY KEY;\n\
                   ALTER TABLE users ADD COLUMN m INTEGER NOT NULL;\n\
                   ALTER TABLE users ADD COLUMN t TEXT DEFAULT CURRENT_TIMESTAMP;\n\
                   ALTER TABLE users ADD COLUMN a TEXT, ADD COLUMN b TEXT;\n\
                   ALTER TABLE users ADD COLUMN ok TEXT NOT NULL DEFAULT 'x' CHECK (ok <> '');\n\
                   ALTER TABLE users RENAME COLUMN a TO b;\n\
                   ALTER TABLE users DROP COLUMN b;\n";
        assert_eq!(
            up(Backend::Sqlite, "SQ001", sql),
            (1..=8).collect::<Vec<_>>()
        );
        silenced(Backend::Sqlite, "SQ001", sql);
        let details = details(Backend::Sqlite, Direction::Down, sql);
        assert_eq!(
            details[..2],
            [
                "ALTER TABLE users ALTER COLUMN name SET NOT NULL: SQLite says: near \"ALTER\": \
                 syntax error",
                "ALTER TABLE users ADD CONSTRAINT ck_x CHECK (x > 0): SQLite says: near \
                 \"CONSTRAINT\": syntax error",
            ]
        );
        assert!(
            details[5]
                .ends_with("SQLite says: Cannot add a NOT NULL column with default value NULL"),
            "{details:?}"
        );
    }

    #[test]
    fn sq001_passes_what_sqlite_takes_though_a_keyword_list_would_not() {
        // `key` and `action` are keywords SQLite lets a column be named by; a type of several
        // words is a type; a REFERENCES column with a NULL default may be added.
        let sql = "ALTER TABLE attachments\n    ADD COLUMN\n    key TEXT;\n\
                   ALTER TABLE attachments ADD action TEXT;\n\
                   ALTER TABLE users ADD COLUMN bio VARYING CHARACTER(40);\n\
                   ALTER TABLE users ADD COLUMN org TEXT REFERENCES orgs (id) ON DELETE SET NULL;\n\
                   ALTER TABLE users RENAME TO people;\n";
        assert_eq!(up(Backend::Sqlite, "SQ001", sql), NONE);
        assert_eq!(down(Backend::Sqlite, "SQ001", sql), NONE);
    }
}
