//! An INSERT of the corpus run with generated values, in a transaction rolled back: what a
//! release's writes meet on a schema, beyond whether they prepare.
//!
//! The statement's placeholders in `VALUES` are replaced by a value of the column they fill
//! (of its type at this version, as the impact fill generates them), through sqlparser's tree;
//! foreign keys are not enforced on the session (the rows they would need are not there), so
//! what refuses the row is the table itself: a NOT NULL column left out, a type, a check.

use didhub_migrations::sql::ast::{
    Expr, ObjectNamePart, SetExpr, Statement as Ast, TableObject, Value,
};

use super::Query;
use crate::HarnessError;
use crate::backend::{Backend, Pool};
use crate::impact::fill::{table_named, value};
use crate::schema::Schema;
use crate::sql;

/// Whether the query is an INSERT the harness can fill.
pub(super) fn is_insert(query: &Query, kind: Backend) -> bool {
    parsed(query, kind).is_some()
}

fn parsed(query: &Query, kind: Backend) -> Option<Ast> {
    let script = sql::split(&query.sql, kind).ok()?;
    let [statement] = &script.statements[..] else {
        return None;
    };
    match statement.parse(kind).ok()? {
        ast @ Ast::Insert(_) => Some(ast),
        _ => None,
    }
}

/// The database's own words for what it refused.
fn words(e: HarnessError) -> String {
    match e {
        HarnessError::Database {
            source: sqlx::Error::Database(db),
            ..
        } => db.message().to_owned(),
        e => e.to_string(),
    }
}

/// One connection on which foreign keys are not enforced.
pub(super) struct Session {
    pool: Pool,
}

impl Session {
    pub(super) async fn open(kind: Backend, url: &str) -> Result<Session, HarnessError> {
        let pool = Pool::connect_one(kind, url)
            .await
            .map_err(|e| HarnessError::database(kind, e))?;
        let off = match kind {
            Backend::Sqlite => "PRAGMA foreign_keys = OFF",
            Backend::Postgres => "SET session_replication_role = replica",
            Backend::MySql => "SET FOREIGN_KEY_CHECKS = 0",
        };
        pool.execute(off).await?;
        Ok(Session { pool })
    }

    /// Runs the INSERT with generated values, rolled back; the database's words if it refuses.
    pub(super) async fn try_insert(&self, query: &Query, schema: &Schema) -> Result<(), String> {
        let kind = self.pool.kind();
        let Some(Ast::Insert(mut insert)) = parsed(query, kind) else {
            return Err("not an INSERT".to_owned());
        };
        let TableObject::TableName(name) = &insert.table else {
            return Err("an INSERT into a table function".to_owned());
        };
        let spelled = name.to_string();
        let table = table_named(schema, &spelled).map(|(_, t)| t);
        let columns: Vec<String> = insert
            .columns
            .iter()
            .map(|c| match c.0.last() {
                Some(ObjectNamePart::Identifier(ident)) => ident.value.clone(),
                _ => c.to_string(),
            })
            .collect();
        if let Some(SetExpr::Values(values)) = insert.source.as_mut().map(|q| q.body.as_mut()) {
            for (n, row) in values.rows.iter_mut().enumerate() {
                for (j, expr) in row.content.iter_mut().enumerate() {
                    if let Expr::Value(v) = expr
                        && matches!(v.value, Value::Placeholder(_))
                    {
                        let column = columns.get(j).and_then(|c| {
                            table?
                                .columns
                                .iter()
                                .find(|col| col.name.eq_ignore_ascii_case(c))
                        });
                        let text = column.map_or_else(
                            || format!("v{}", n + 1),
                            |c| value(&c.logical, n as u64 + 1),
                        );
                        v.value = Value::SingleQuotedString(text);
                    }
                }
            }
        }
        let sql = Ast::Insert(insert).to_string();
        self.pool.execute("BEGIN").await.map_err(words)?;
        let ran = self.pool.execute(&sql).await.map_err(words);
        self.pool.execute("ROLLBACK").await.map_err(words)?;
        ran
    }

    pub(super) async fn close(self) {
        self.pool.close().await;
    }
}
