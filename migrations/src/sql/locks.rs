//! Which tables a migration's statements lock, read from sqlparser's tree of each statement.
//!
//! A database that gives up a lock wait says so ("canceling statement due to lock timeout",
//! "Lock wait timeout exceeded", "database is locked") without naming the table or the
//! statement. The migration's own SQL names them: `ALTER TABLE`, `CREATE INDEX … ON`, `CREATE
//! TRIGGER … ON`, a foreign key's `REFERENCES`, `DROP TABLE`, `DROP INDEX … ON`, `RENAME TABLE`,
//! `TRUNCATE`, `LOCK TABLE(S)`, `UPDATE`, `INSERT`/`REPLACE INTO` and `DELETE FROM` lock the
//! table they name. A table the file created before the statement is left out: nobody else
//! can hold a lock on it. A statement sqlparser cannot parse, or reads wrong ([`misread`]), is
//! read from its first words and its `REFERENCES` instead ([`fallback`]); what neither reads is
//! left out, and the message then says less, never something wrong.

use sqlparser::ast::{
    AlterTableOperation, ColumnDef, ColumnOption, FromTable, ObjectName, ObjectType,
    Statement as Tree, TableConstraint, TableFactor, TableObject, TableWithJoins,
};

use super::{Statement, Token, excerpt};
use crate::Backend;

/// A table a migration waits for when another session holds a lock on it, and the statements
/// of the file that lock it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTarget {
    /// The table as the file spells it (unquoted), e.g. `alters` or `public.alters`; for
    /// `DROP INDEX name` without its table, `the table of index name`.
    pub table: String,
    /// `(line, excerpt)` of each statement that locks it.
    pub statements: Vec<(usize, String)>,
}

/// The tables `statements` (of a file in `kind`'s dialect) lock, in the order the file first
/// names them.
pub fn lock_targets(statements: &[Statement], kind: Backend) -> Vec<LockTarget> {
    let mut created: Vec<String> = Vec::new();
    let mut targets: Vec<LockTarget> = Vec::new();
    for statement in statements {
        let (locked, creates) = match statement.parse(kind) {
            Ok(tree) if !misread(&statement.tokens) => read(&tree),
            _ => fallback(&statement.tokens),
        };
        for table in locked {
            let key = table.to_ascii_lowercase();
            if created.contains(&key) {
                continue;
            }
            let at = (statement.line, excerpt(&statement.text));
            match targets
                .iter_mut()
                .find(|t| t.table.eq_ignore_ascii_case(&table))
            {
                Some(target) if !target.statements.contains(&at) => target.statements.push(at),
                Some(_) => {}
                None => targets.push(LockTarget {
                    table,
                    statements: vec![at],
                }),
            }
        }
        created.extend(creates.into_iter().map(|c| c.to_ascii_lowercase()));
    }
    targets
}

/// A name as the file spells it, without quotes: `public.alters`.
fn spelled(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => ident.value.clone(),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The table a `FROM`/`UPDATE` clause names first.
fn relation(table: &TableWithJoins) -> Option<String> {
    match &table.relation {
        TableFactor::Table { name, .. } => Some(spelled(name)),
        _ => None,
    }
}

/// The tables a column's or a table's foreign keys refer to.
fn column_references(column: &ColumnDef) -> impl Iterator<Item = String> + '_ {
    column
        .options
        .iter()
        .filter_map(|option| match &option.option {
            ColumnOption::ForeignKey(key) => Some(spelled(&key.foreign_table)),
            _ => None,
        })
}

fn constraint_references(constraint: &TableConstraint) -> Option<String> {
    match constraint {
        TableConstraint::ForeignKey(key) => Some(spelled(&key.foreign_table)),
        _ => None,
    }
}

/// What one parsed statement locks, and the table it creates.
fn read(tree: &Tree) -> (Vec<String>, Option<String>) {
    let mut locked = Vec::new();
    let mut created = None;
    match tree {
        Tree::AlterTable(alter) => {
            locked.push(spelled(&alter.name));
            for operation in &alter.operations {
                match operation {
                    AlterTableOperation::AddConstraint { constraint, .. } => {
                        locked.extend(constraint_references(constraint));
                    }
                    AlterTableOperation::AddColumn { column_def, .. } => {
                        locked.extend(column_references(column_def));
                    }
                    _ => {}
                }
            }
        }
        Tree::CreateTable(create) => {
            let own = spelled(&create.name);
            locked.extend(
                create
                    .columns
                    .iter()
                    .flat_map(column_references)
                    .chain(create.constraints.iter().filter_map(constraint_references))
                    .filter(|r| !r.eq_ignore_ascii_case(&own)),
            );
            created = Some(own);
        }
        Tree::CreateIndex(index) => locked.push(spelled(&index.table_name)),
        Tree::CreateTrigger(trigger) => locked.push(spelled(&trigger.table_name)),
        Tree::Drop {
            object_type: ObjectType::Table,
            names,
            ..
        } => locked.extend(names.iter().map(spelled)),
        Tree::Drop {
            object_type: ObjectType::Index,
            names,
            table,
            ..
        } => match table {
            Some(table) => locked.push(spelled(table)),
            None => locked.extend(
                names
                    .iter()
                    .map(|index| format!("the table of index {}", spelled(index))),
            ),
        },
        Tree::RenameTable(renames) => locked.extend(renames.iter().map(|r| spelled(&r.old_name))),
        Tree::Truncate(truncate) => {
            locked.extend(truncate.table_names.iter().map(|t| spelled(&t.name)));
        }
        Tree::Lock(lock) => locked.extend(lock.tables.iter().map(|t| spelled(&t.name))),
        Tree::LockTables { tables } => locked.extend(tables.iter().map(|t| t.table.value.clone())),
        Tree::Update(update) => locked.extend(relation(&update.table)),
        Tree::Insert(insert) => {
            if let TableObject::TableName(name) = &insert.table {
                locked.push(spelled(name));
            }
        }
        Tree::Delete(delete) => match &delete.from {
            FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => {
                locked.extend(tables.first().and_then(relation));
            }
        },
        _ => {}
    }
    (locked, created)
}

/// Whether sqlparser reads the statement but gets its table wrong: it takes MySQL's
/// `UPDATE LOW_PRIORITY`/`UPDATE IGNORE` for a table of that name.
fn misread(t: &[Token]) -> bool {
    t.first().is_some_and(|first| first.is("UPDATE"))
        && t.get(1)
            .is_some_and(|second| second.is_any(&["LOW_PRIORITY", "IGNORE"]))
}

/// What a statement sqlparser cannot read locks, from its tokens: the table after the first
/// words of `ALTER TABLE`, `CREATE TABLE` (which it creates), `CREATE INDEX`/`TRIGGER … ON`,
/// `DROP INDEX` (its table, or the index's), `UPDATE` and `DELETE … FROM` with the modifiers
/// of every dialect, and every table named after `REFERENCES`.
fn fallback(t: &[Token]) -> (Vec<String>, Option<String>) {
    const MODIFIERS: &[&str] = &[
        "ONLINE",
        "IGNORE",
        "LOW_PRIORITY",
        "QUICK",
        "IF",
        "NOT",
        "EXISTS",
        "ONLY",
        "OR",
        "ROLLBACK",
        "ABORT",
        "REPLACE",
        "FAIL",
        "CONCURRENTLY",
    ];
    // The name after position `i`, past any modifiers.
    let table_at = |mut i: usize| {
        while t.get(i).is_some_and(|token| token.is_any(MODIFIERS)) {
            i += 1;
        }
        t.get(i).and_then(Token::name)
    };
    let position = |word: &str| t.iter().position(|token| token.is(word));
    let mut locked: Vec<String> = Vec::new();
    let mut created = None;
    let verb = t
        .first()
        .map(|first| first.name().unwrap_or_default().to_ascii_uppercase());
    let object = t
        .iter()
        .skip(1)
        .take(8)
        .find(|token| token.is_any(&["TABLE", "INDEX", "TRIGGER"]));
    match (verb.as_deref(), object) {
        (Some("ALTER"), Some(table)) if table.is("TABLE") => {
            locked.extend(position("TABLE").and_then(|i| table_at(i + 1)));
        }
        (Some("CREATE"), Some(table)) if table.is("TABLE") => {
            created = position("TABLE").and_then(|i| table_at(i + 1));
        }
        (Some("CREATE"), Some(_)) => locked.extend(position("ON").and_then(|i| table_at(i + 1))),
        (Some("DROP"), Some(index)) if index.is("INDEX") => match position("ON") {
            Some(on) => locked.extend(table_at(on + 1)),
            None => locked.extend(
                position("INDEX")
                    .and_then(|i| table_at(i + 1))
                    .map(|index| format!("the table of index {index}")),
            ),
        },
        (Some("UPDATE"), _) => locked.extend(table_at(1)),
        (Some("DELETE"), _) => locked.extend(position("FROM").and_then(|i| table_at(i + 1))),
        _ => {}
    }
    let own = created.as_deref().map(str::to_ascii_lowercase);
    locked.extend(
        (0..t.len())
            .filter(|&i| t[i].is("REFERENCES"))
            .filter_map(|i| t.get(i + 1).and_then(Token::name))
            .filter(|r| Some(r.to_ascii_lowercase()) != own),
    );
    (locked, created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::split;

    fn statements(sql: &str, backend: Backend) -> Vec<Statement> {
        split(sql, backend).unwrap().statements
    }

    fn targets(sql: &str, backend: Backend) -> Vec<String> {
        lock_targets(&statements(sql, backend), backend)
            .into_iter()
            .map(|t| t.table)
            .collect()
    }

    #[test]
    fn the_tables_after_each_locking_word_are_named() {
        let sql = "
            ALTER TABLE IF EXISTS ONLY alters ADD COLUMN colour TEXT;
            CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON ONLY systems (lower(name));
            DROP TABLE IF EXISTS old_a, \"Old B\" CASCADE;
            TRUNCATE TABLE audit_logs;
            LOCK TABLE settings, public.groups IN SHARE MODE;
            UPDATE users SET x = (SELECT 1 FROM ignored_in_subquery);
            INSERT INTO relationships (a) SELECT a FROM not_this_one;
            DELETE FROM tokens WHERE used;
            CREATE TRIGGER t AFTER INSERT ON subsystems FOR EACH ROW EXECUTE FUNCTION f();
            DROP INDEX idx_alone;
            SELECT * FROM never_locked;
        ";
        assert_eq!(
            targets(sql, Backend::Postgres),
            [
                "alters",
                "systems",
                "old_a",
                "Old B",
                "audit_logs",
                "settings",
                "public.groups",
                "users",
                "relationships",
                "tokens",
                "subsystems",
                "the table of index idx_alone",
            ]
        );
    }

    #[test]
    fn mysql_spellings_are_read() {
        let sql = "
            # a MySQL comment: ALTER TABLE not_me
            RENAME TABLE a TO b, c TO d;
            LOCK TABLES e READ, f AS ff WRITE;
            REPLACE INTO `g` VALUES ('it\\'s; ALTER TABLE not_me');
            DELETE LOW_PRIORITY QUICK FROM h;
            UPDATE IGNORE i SET x = \"ALTER TABLE not_me\";
            DROP INDEX idx_j ON j;
            ALTER ONLINE TABLE k ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES l (id);
        ";
        assert_eq!(
            targets(sql, Backend::MySql),
            ["a", "c", "e", "f", "g", "h", "i", "j", "k", "l"]
        );
    }

    #[test]
    fn tables_the_file_creates_are_not_waited_for() {
        // SQLite's table rebuild: only the old table can be held by someone else.
        let sql = "
            CREATE TABLE alters_new (id TEXT, system_id TEXT REFERENCES systems (id));
            INSERT INTO alters_new SELECT * FROM alters;
            DROP TABLE alters;
            ALTER TABLE alters_new RENAME TO alters;
            CREATE INDEX idx_alters_new ON alters_new (id);
        ";
        assert_eq!(targets(sql, Backend::Sqlite), ["systems", "alters"]);
    }

    #[test]
    fn comments_strings_and_bodies_hide_nothing_and_invent_nothing() {
        let sql = "
            -- ALTER TABLE in_a_comment ADD x;
            /* DROP TABLE in_a_block
               comment; */
            CREATE FUNCTION f() RETURNS trigger AS $body$
            BEGIN UPDATE in_a_body SET x = 1; RETURN NEW; END
            $body$ LANGUAGE plpgsql;
            UPDATE real_one SET note = E'it\\'s; DROP TABLE in_a_string' WHERE id = $1;
        ";
        assert_eq!(targets(sql, Backend::Postgres), ["real_one"]);
        let statements = statements(sql, Backend::Postgres);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert_eq!(statements[0].line, 5);
        assert_eq!(statements[1].line, 8);
        assert!(statements[1].text.starts_with("UPDATE real_one SET note"));
    }

    #[test]
    fn a_trigger_body_is_one_statement_with_its_create() {
        let sql = "
            CREATE TRIGGER trg AFTER UPDATE ON alters
            BEGIN
                UPDATE systems SET n = CASE WHEN 1 THEN 2 ELSE 3 END;
                INSERT INTO audit_logs (x) VALUES (1);
            END;
            ALTER TABLE users ADD COLUMN y TEXT;
        ";
        let statements = statements(sql, Backend::Sqlite);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert_eq!(targets(sql, Backend::Sqlite), ["alters", "users"]);
    }

    #[test]
    fn each_table_lists_the_lines_that_lock_it() {
        let sql =
            "ALTER TABLE alters ADD COLUMN colour TEXT;\n\nUPDATE alters\n  SET colour = 'red';\n";
        let found = lock_targets(&statements(sql, Backend::Sqlite), Backend::Sqlite);
        assert_eq!(
            found,
            [LockTarget {
                table: "alters".into(),
                statements: vec![
                    (1, "ALTER TABLE alters ADD COLUMN colour TEXT".into()),
                    (3, "UPDATE alters SET colour = 'red'".into()),
                ],
            }]
        );
    }

    /// Every statement the lock reading takes from the tokens rather than sqlparser's tree,
    /// and why: when sqlparser learns one, its line here fails, and the fallback can shrink.
    #[test]
    fn what_sqlparser_cannot_read_is_read_from_the_tokens() {
        let cases = [
            // PostgreSQL's ONLY before an index's table.
            (
                Backend::Postgres,
                "CREATE INDEX i ON ONLY systems (name)",
                "systems",
            ),
            // PostgreSQL's CONCURRENTLY after DROP INDEX.
            (
                Backend::Postgres,
                "DROP INDEX CONCURRENTLY IF EXISTS items_n",
                "the table of index items_n",
            ),
            // MySQL's modifiers.
            (Backend::MySql, "ALTER ONLINE TABLE k ADD COLUMN x INT", "k"),
            (Backend::MySql, "DELETE LOW_PRIORITY QUICK FROM h", "h"),
            // A column named with a reserved word, unquoted, before NOT NULL.
            (
                Backend::MySql,
                "CREATE TABLE s (key VARCHAR(9) NOT NULL, u CHAR(36) REFERENCES users (id))",
                "users",
            ),
        ];
        for (backend, sql, table) in cases {
            let statement = &statements(sql, backend)[0];
            assert!(statement.parse(backend).is_err(), "sqlparser reads {sql}");
            assert_eq!(targets(sql, backend), [table], "{sql}");
        }
        // Read, but with MySQL's IGNORE taken for the table.
        let sql = "UPDATE IGNORE i SET x = 1";
        let statement = &statements(sql, Backend::MySql)[0];
        assert!(statement.parse(Backend::MySql).is_ok() && misread(&statement.tokens));
        assert_eq!(targets(sql, Backend::MySql), ["i"]);
    }
}
