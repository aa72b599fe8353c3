//! What SQLite itself says of an `ALTER TABLE`: whether it has the form, asked of a real SQLite
//! (the one sqlx bundles) instead of read off a keyword list that SQLite's grammar outgrows.
//!
//! Each statement runs on an in-memory database, in a transaction that is rolled back, against
//! a one-row stand-in for the table it alters. The stand-in matters twice: on a database without
//! the table, SQLite's parser stops at "no such table" before it reads the column's definition;
//! and some refusals ("Cannot add a NOT NULL column with default value NULL") are only made when
//! the table holds rows. Errors about the stand-in itself ("no such column" for a rename or a
//! drop) are not about the form, and pass.

use sqlx::{AssertSqlSafe, Connection, SqliteConnection};

/// SQLite could not be asked (it could not start, or stopped answering).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQLite could not be asked: {0}")]
pub struct Unasked(String);

/// One ALTER TABLE to ask about: the table it alters (its last name part, as the lint read
/// it) and the statement as it would run.
pub struct Alter<'a> {
    pub table: &'a str,
    pub sql: &'a str,
}

/// SQLite's answer to each of `alters`, in order: `None` where it takes the statement (or the
/// error is not about its form), SQLite's own message where it does not have the form.
pub fn refusals(alters: &[Alter<'_>]) -> Result<Vec<Option<String>>, Unasked> {
    if alters.is_empty() {
        return Ok(Vec::new());
    }
    // A thread of its own with a runtime of its own: the lint is synchronous and is called from
    // inside the CLI's runtime too, where a runtime cannot be blocked on.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Unasked(e.to_string()))?;
                runtime.block_on(ask(alters))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

async fn ask(alters: &[Alter<'_>]) -> Result<Vec<Option<String>>, Unasked> {
    let unasked = |e: sqlx::Error| Unasked(e.to_string());
    let mut connection = SqliteConnection::connect("sqlite::memory:")
        .await
        .map_err(unasked)?;
    let mut answers = Vec::with_capacity(alters.len());
    for alter in alters {
        let mut tx = connection.begin().await.map_err(unasked)?;
        let table = format!("\"{}\"", alter.table.replace('"', "\"\""));
        let stand_in = format!(
            "CREATE TABLE {table} (didhub_lint_stand_in INTEGER); INSERT INTO {table} VALUES (1);"
        );
        // A name SQLite keeps for itself (`sqlite_…`) has no stand-in; the statement is then
        // asked of a database without the table, which still finds what its parser refuses
        // before the name.
        let _ = sqlx::raw_sql(AssertSqlSafe(stand_in))
            .execute(&mut *tx)
            .await;
        let answer = match sqlx::raw_sql(AssertSqlSafe(alter.sql))
            .execute(&mut *tx)
            .await
        {
            Ok(_) => None,
            Err(sqlx::Error::Database(e)) => refused(e.message()),
            Err(other) => return Err(unasked(other)),
        };
        tx.rollback().await.map_err(unasked)?;
        answers.push(answer);
    }
    Ok(answers)
}

/// SQLite's message, when it says that SQLite does not have the form: its parser's ("near
/// \"ALTER\": syntax error", "incomplete input", "unrecognized token") or ALTER TABLE's own
/// refusals ("Cannot add a UNIQUE column", "cannot add a STORED column", …). Anything else
/// ("no such column", "duplicate column name") is about the stand-in or the data, not the form.
fn refused(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let refused = lower.contains("syntax error")
        || lower.contains("incomplete input")
        || lower.contains("unrecognized token")
        || lower.starts_with("cannot add");
    refused.then(|| message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(table: &str, sql: &str) -> Option<String> {
        refusals(&[Alter { table, sql }]).unwrap().remove(0)
    }

    #[test]
    fn sqlite_takes_the_forms_it_has() {
        for sql in [
            "ALTER TABLE t ADD COLUMN key TEXT",
            "ALTER TABLE t ADD key TEXT",
            "ALTER TABLE t ADD COLUMN n INTEGER NOT NULL DEFAULT 0 CHECK (n >= 0)",
            "ALTER TABLE t ADD COLUMN u TEXT REFERENCES users (id)",
            "ALTER TABLE t RENAME TO u",
            "ALTER TABLE t RENAME COLUMN a TO b",
            "ALTER TABLE t DROP COLUMN a",
            "ALTER TABLE main.t ADD COLUMN x TEXT",
        ] {
            assert_eq!(answer("t", sql), None, "{sql}");
        }
    }

    #[test]
    fn sqlite_refuses_the_forms_it_lacks_in_its_own_words() {
        let cases = [
            (
                "ALTER TABLE t ALTER COLUMN x TYPE int",
                "near \"ALTER\": syntax error",
            ),
            (
                "ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0)",
                "syntax error",
            ),
            (
                "ALTER TABLE t ADD COLUMN a TEXT, ADD COLUMN b TEXT",
                "near \",\": syntax error",
            ),
            (
                "ALTER TABLE t ADD COLUMN u TEXT UNIQUE",
                "Cannot add a UNIQUE column",
            ),
            (
                "ALTER TABLE t ADD COLUMN p INTEGER PRIMARY KEY",
                "Cannot add a PRIMARY KEY column",
            ),
            (
                "ALTER TABLE t ADD COLUMN m INTEGER NOT NULL",
                "Cannot add a NOT NULL column with default value NULL",
            ),
            (
                "ALTER TABLE t ADD COLUMN d TEXT DEFAULT CURRENT_TIMESTAMP",
                "Cannot add a column with non-constant default",
            ),
        ];
        for (sql, said) in cases {
            let answer = answer("t", sql).unwrap_or_else(|| panic!("{sql} passed"));
            assert!(answer.contains(said), "{sql}: {answer}");
        }
    }

    #[test]
    fn the_stand_in_has_the_altered_tables_name_and_a_row() {
        // Refused only where the table holds rows: without a stand-in named as the statement
        // names it, this would pass as "no such table".
        let not_null = "ADD COLUMN m INTEGER NOT NULL";
        let answers = refusals(&[
            Alter {
                table: "Odd \"name\"",
                sql: &format!("ALTER TABLE \"Odd \"\"name\"\"\" {not_null}"),
            },
            Alter {
                table: "users",
                sql: &format!("ALTER TABLE main.users {not_null}"),
            },
        ])
        .unwrap();
        for answer in answers {
            assert_eq!(
                answer.as_deref(),
                Some("Cannot add a NOT NULL column with default value NULL")
            );
        }
    }
}
