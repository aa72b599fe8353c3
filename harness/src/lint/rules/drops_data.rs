//! `ALL001`, data loss: a table or a column dropped by an up migration on SQLite or MySQL,
//! unless the file first copies its rows (or the column's values) somewhere it keeps, as a
//! table rebuild does. On PostgreSQL squawk's `ban-drop-table` and `ban-drop-column` say it.

use super::{
    AlterTable, Context, Hit, Rule, alter_table, created_table, name_at, names_a_column,
    skip_words, split_commas,
};
use crate::sql::{Statement, Token};
use didhub_migrations::Backend;

pub(super) const RULE: Rule = Rule {
    id: "ALL001",
    dialects: &[Backend::Sqlite, Backend::MySql],
    in_down: false,
    title: "drops a table or a column",
    reason: "DROP TABLE and DROP COLUMN throw data away for good, and no down migration can \
             bring it back. Keep what must survive (copy it to a new table or column first, \
             in the same file: a table rebuilt by copying its rows is no loss), and say that \
             the loss is intended.",
    check: drops_data,
};

fn drops_data(cx: &Context<'_>) -> Vec<Hit> {
    if cx.statement().starts_with(&["DROP"]) {
        return dropped_tables(cx.statement())
            .into_iter()
            .filter(|name| !cx.created_here(name) && !cx.rows_copied(name))
            .map(|name| cx.hit(format!("DROP TABLE {name}")))
            .collect();
    }
    let Some(alter) = cx.altered_existing_table() else {
        return Vec::new();
    };
    alter
        .actions
        .iter()
        .filter(|a| a.first().is_some_and(|t| t.is("DROP")))
        .filter_map(|action| {
            let at = skip_words(action, 1, &["COLUMN"]);
            names_a_column(action.get(at)).then_some(())?;
            let at = skip_words(action, at, &["IF", "EXISTS"]);
            let column = action.get(at)?.ident()?;
            (!cx.column_copied(&alter.table, &column)).then_some(())?;
            Some(cx.hit(format!("ALTER TABLE {} DROP COLUMN {column}", alter.table)))
        })
        .collect()
}

impl Context<'_> {
    /// The statement as an `ALTER TABLE` of a table that existed before this file (one the file
    /// created holds no rows yet, so changing it locks or rewrites nothing).
    fn altered_existing_table(&self) -> Option<AlterTable<'_>> {
        alter_table(self.statement()).filter(|alter| !self.created_here(&alter.table))
    }

    /// Whether an earlier statement of the same file creates `table` (so it holds no rows yet).
    fn created_here(&self, table: &str) -> bool {
        self.statements[..self.index]
            .iter()
            .any(|s| created_table(s).is_some_and(|(name, _)| name == table))
    }

    /// Whether the rows `table` holds before this statement were copied by an earlier one into
    /// a table that keeps them: the rebuild (`INSERT INTO new … SELECT … FROM old`, then `DROP
    /// TABLE old`), and its variant that renames the old table away first.
    fn rows_copied(&self, table: &str) -> bool {
        self.copies_between(0, self.index, |query| reads(query, table))
    }

    /// Whether `column` of `table` was copied before this statement into a table that keeps
    /// it: by an `INSERT … SELECT` (or `CREATE TABLE … AS SELECT`) reading `table` that names
    /// the column (or `*`), or by an `UPDATE` that reads it into another column.
    fn column_copied(&self, table: &str, column: &str) -> bool {
        let by_query = self.copies_between(0, self.index, |query| {
            reads(query, table) && names_column(query, column, false)
        });
        by_query
            || self.statements[..self.index]
                .iter()
                .enumerate()
                .any(|(i, statement)| {
                    updated(statement).is_some_and(|target| {
                        (same_table(&target, table) || reads(&statement.tokens, table))
                            && names_column(&statement.tokens, column, true)
                            && self.kept(&target, i)
                    })
                })
    }

    /// Whether a statement between `from` and `to` (exclusive) copies rows whose query passes
    /// `copied` into another table that keeps them to the end of the file.
    fn copies_between(&self, from: usize, to: usize, copied: impl Fn(&[Token]) -> bool) -> bool {
        (from..to).any(|i| {
            copy(&self.statements[i]).is_some_and(|(target, query)| {
                copied(query) && !reads(query, &target) && self.kept(&target, i)
            })
        })
    }

    /// Whether the rows `table` holds after statement `at` are still somewhere when the file
    /// ends: no later statement drops it, or its rows are copied on before one does.
    fn kept(&self, table: &str, at: usize) -> bool {
        let drop = (at + 1..self.statements.len()).find(|&i| {
            dropped_tables(&self.statements[i])
                .iter()
                .any(|d| same_table(d, table))
        });
        drop.is_none_or(|drop| self.copies_between(at + 1, drop, |query| reads(query, table)))
    }
}

/// Whether two table names name the same table: SQLite compares names without regard to
/// case, and so does a MySQL server that lower-cases its table names.
fn same_table(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A statement that copies rows: `INSERT [OR …|IGNORE] INTO target … SELECT …`, `REPLACE INTO
/// target … SELECT …` or `CREATE TABLE target AS SELECT …`; the target and the query, from its
/// `SELECT`.
fn copy(statement: &Statement) -> Option<(String, &[Token])> {
    let tokens = &statement.tokens;
    let select = tokens.iter().position(|t| t.is("SELECT"))?;
    let target = if statement.starts_with(&["INSERT"]) || statement.starts_with(&["REPLACE"]) {
        let into = tokens[..select].iter().position(|t| t.is("INTO"))?;
        name_at(tokens, into + 1)?.0
    } else {
        created_table(statement)?.0
    };
    Some((target, &tokens[select..]))
}

/// The table an `UPDATE [OR …] table …` changes.
fn updated(statement: &Statement) -> Option<String> {
    if !statement.starts_with(&["UPDATE"]) {
        return None;
    }
    let tokens = &statement.tokens;
    let at = skip_words(tokens, 1, &["LOW_PRIORITY", "IGNORE", "ONLY"]);
    let at = if tokens.get(at).is_some_and(|t| t.is("OR")) {
        at + 2
    } else {
        at
    };
    Some(name_at(tokens, at)?.0)
}

/// Whether `tokens` read `table`: name it after a `FROM` or a `JOIN` (a subquery's too).
fn reads(tokens: &[Token], table: &str) -> bool {
    (0..tokens.len()).any(|i| {
        (tokens[i].is("FROM") || tokens[i].is("JOIN"))
            && name_at(tokens, i + 1).is_some_and(|(name, _)| same_table(&name, table))
    })
}

/// Whether `tokens` name `column` (or select `*`), other than as what an UPDATE's `SET column =`
/// assigns when `update`.
fn names_column(tokens: &[Token], column: &str, update: bool) -> bool {
    (0..tokens.len()).any(|i| {
        let before = i.checked_sub(1).map(|b| &tokens[b]);
        if tokens[i] == Token::Symbol('*') {
            return !update
                && before.is_some_and(|b| {
                    b.is("SELECT") || matches!(b, Token::Symbol(',') | Token::Symbol('.'))
                });
        }
        let assigned = update
            && tokens.get(i + 1) == Some(&Token::Symbol('='))
            && before.is_some_and(|b| b.is("SET") || *b == Token::Symbol(','));
        !assigned
            && tokens[i]
                .ident()
                .is_some_and(|name| name.eq_ignore_ascii_case(column))
    })
}

/// The tables a `DROP [TEMPORARY] TABLE [IF EXISTS] a, b` drops.
fn dropped_tables(statement: &Statement) -> Vec<String> {
    let tokens = &statement.tokens;
    if !statement.starts_with(&["DROP"]) {
        return Vec::new();
    }
    let Some(at) = tokens.iter().position(|t| t.is("TABLE")) else {
        return Vec::new();
    };
    if !tokens[1..at].iter().all(|t| t.is("TEMPORARY")) {
        return Vec::new();
    }
    let at = skip_words(tokens, at + 1, &["IF", "EXISTS"]);
    split_commas(&tokens[at..])
        .into_iter()
        .filter_map(|part| name_at(part, 0))
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{NONE, down, silenced, up};
    use didhub_migrations::Backend;

    #[test]
    fn all001_flags_dropped_tables_and_columns_in_up_migrations() {
        let sql = "DROP TABLE IF EXISTS notes, tags;\nALTER TABLE users DROP COLUMN avatar;\n\
                   ALTER TABLE users DROP email;\nDROP INDEX idx_users_email;\n\
                   ALTER TABLE users DROP CONSTRAINT ck_users;\n";
        for kind in [Backend::Sqlite, Backend::MySql] {
            assert_eq!(up(kind, "ALL001", sql), [1, 1, 2, 3], "{kind}");
            silenced(kind, "ALL001", sql);
            // Down migrations drop what their up created.
            assert_eq!(down(kind, "ALL001", sql), NONE, "{kind}");
        }
        // A table created and dropped by the same file held nothing.
        let tmp = "CREATE TABLE tmp (a TEXT);\nDROP TABLE tmp;";
        assert_eq!(up(Backend::Sqlite, "ALL001", tmp), NONE);
        // On PostgreSQL, squawk's ban-drop-table and ban-drop-column say it, once.
        assert_eq!(up(Backend::Postgres, "ALL001", sql), NONE);
        assert_eq!(up(Backend::Postgres, "ban-drop-table", sql), [1]);
    }

    #[test]
    fn all001_passes_a_table_rebuilt_by_copying_its_rows() {
        // SQLite's way to change a table: a new one, the rows copied, the old one dropped.
        let rebuilt = "CREATE TABLE posts2 (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n\
                       INSERT INTO posts2 SELECT * FROM posts;\nDROP TABLE posts;\n\
                       ALTER TABLE posts2 RENAME TO posts;\n";
        // The variant that renames the old table away first.
        let renamed = "ALTER TABLE ciphers RENAME TO oldCiphers;\n\
                       CREATE TABLE ciphers (uuid TEXT PRIMARY KEY, name TEXT);\n\
                       INSERT INTO ciphers (uuid, name)\nSELECT uuid, name FROM oldCiphers;\n\
                       DROP TABLE oldciphers;\n";
        // Through a table of the file's own, copied on before it goes.
        let through = "CREATE TABLE tmp AS SELECT * FROM seers;\nDROP TABLE seers;\n\
                       CREATE TABLE seers (id INTEGER PRIMARY KEY);\n\
                       INSERT INTO seers (id) SELECT s.id FROM tmp AS s WHERE s.id NOT NULL;\n\
                       DROP TABLE tmp;\n";
        // A column whose values a new table keeps (vaultwarden's favorites).
        let moved = "CREATE TABLE favorites (user_uuid CHAR(36), cipher_uuid CHAR(36));\n\
                     INSERT INTO favorites (user_uuid, cipher_uuid)\n\
                     SELECT user_uuid, uuid FROM ciphers WHERE favorite = TRUE;\n\
                     ALTER TABLE ciphers DROP COLUMN favorite;\n";
        // A column copied into another column first.
        let copied = "ALTER TABLE users ADD COLUMN display_name TEXT;\n\
                      UPDATE users SET display_name = username;\n\
                      ALTER TABLE users DROP COLUMN username;\n";
        for kind in [Backend::Sqlite, Backend::MySql] {
            for sql in [rebuilt, renamed, through, moved, copied] {
                assert_eq!(up(kind, "ALL001", sql), NONE, "{kind}: {sql}");
            }
        }
    }

    #[test]
    fn all001_flags_a_drop_whose_rows_are_not_copied_elsewhere() {
        let cases = [
            // Copied after the drop: too late.
            "DROP TABLE posts;\nCREATE TABLE posts2 (id INTEGER);\n\
             INSERT INTO posts2 SELECT * FROM posts;\n",
            // Copied into a table the file drops too, without copying it on.
            "CREATE TABLE keep AS SELECT * FROM posts;\nDROP TABLE posts;\nSELECT 1;\n\
             DROP TABLE keep;\n",
            // Rows of another table copied; the dropped one's not.
            "CREATE TABLE posts2 (id INTEGER);\nINSERT INTO posts2 SELECT * FROM drafts;\n\
             DROP TABLE posts;\n",
            // A copy that does not name the dropped column.
            "CREATE TABLE favorites (user_uuid CHAR(36));\n\
             INSERT INTO favorites (user_uuid) SELECT user_uuid FROM ciphers;\n\
             ALTER TABLE ciphers DROP COLUMN favorite;\n",
            // An UPDATE that only assigns the column before dropping it.
            "UPDATE users SET username = NULL;\nALTER TABLE users DROP COLUMN username;\n",
        ];
        for kind in [Backend::Sqlite, Backend::MySql] {
            for sql in cases {
                assert_eq!(up(kind, "ALL001", sql).len(), 1, "{kind}: {sql}");
            }
        }
    }
}
