//! What a backup's rows must keep before they are restored: the rules the API keeps when it
//! writes them, by calling the API's own checks (usernames, names, interests, relationship
//! types, request statuses, settings), and the references between rows (a member's group and
//! alter belong to one system; so do a relationship's two alters).
//!
//! The schema holds only part of these rules (NOT NULL, CHECK, foreign keys), and not the same
//! part on every backend; a restore must not load what the API could never have stored and
//! would then fail to read (an alter whose interests are an object makes every alter list
//! answer 500) or would never allow (another user's alter in a group). Each refusal names the
//! table, the row (its index in the document) and the column; NOT NULL and value types are
//! checked earlier, while the document is read (`backup::check`).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{TABLES, Table};
use crate::accounts::normalize_username;
use crate::auth::stored_hash_problem;
use crate::db::{Arg, Id};
use crate::error::ApiError;
use crate::fields::{interests, required};
use crate::settings;
use crate::store::relationships::{Canonical, RelationshipType};
use crate::store::system_requests::RequestStatus;

/// A value a restore refuses: where it is in the document, and why.
#[derive(Debug, thiserror::Error)]
#[error("{table}, row {row}, column {column}: {problem}")]
pub struct Refused {
    pub table: &'static str,
    /// The row's index in its table.
    pub row: usize,
    pub column: &'static str,
    pub problem: String,
}

/// Checks every row of a document, given table by table in [`TABLES`] order.
pub fn check(tables: &[Vec<Vec<Arg>>]) -> Result<(), Refused> {
    let mut known = Known::default();
    for (&table, rows) in TABLES.iter().zip(tables) {
        for (index, values) in rows.iter().enumerate() {
            known.check(&Row {
                table,
                index,
                values,
            })?;
        }
    }
    Ok(())
}

/// The rows checked so far, which later rows may refer to (parents come first in [`TABLES`]).
#[derive(Default)]
struct Known {
    users: HashSet<Id>,
    systems: HashSet<Id>,
    /// Each alter's system.
    alters: HashMap<Id, Id>,
    /// Each group's system.
    groups: HashMap<Id, Id>,
    /// Each subsystem's system.
    subsystems: HashMap<Id, Id>,
}

impl Known {
    fn check(&mut self, row: &Row) -> Result<(), Refused> {
        match row.table.name {
            "users" => {
                let username = row.text("username");
                match normalize_username(username) {
                    Err(refused) => return Err(row.refused("username", refused)),
                    Ok(stored) if stored != username => {
                        return Err(row.fail(
                            "username",
                            format!(
                                "{username:?} is not a username as the API stores it \
                                 ({stored:?}: lowercase, without surrounding spaces)"
                            ),
                        ));
                    }
                    Ok(_) => {}
                }
                if let Some(problem) = stored_hash_problem(row.text("password_hash")) {
                    return Err(row.fail("password_hash", problem));
                }
                self.users.insert(row.id("id"));
            }
            "systems" => {
                row.refers("user_id", "user", |id| self.users.contains(&id))?;
                row.name()?;
                self.systems.insert(row.id("id"));
            }
            "alters" => {
                let system = row.refers("system_id", "system", |id| self.systems.contains(&id))?;
                row.name()?;
                let given = row.json("interests");
                let list: Vec<String> = serde_json::from_value(given.clone()).map_err(|_| {
                    row.fail(
                        "interests",
                        format!("must be a list of strings, found {given}"),
                    )
                })?;
                match interests(list.clone()) {
                    Err(refused) => return Err(row.refused("interests", refused)),
                    Ok(stored) if stored != list => {
                        return Err(row.fail(
                            "interests",
                            "must not hold blank interests or surrounding spaces, as the API \
                             stores them",
                        ));
                    }
                    Ok(_) => {}
                }
                self.alters.insert(row.id("id"), system);
            }
            "audit_logs" => {
                row.refers_if_set("user_id", "user", |id| self.users.contains(&id))?;
                let metadata = row.json("metadata");
                if !metadata.is_object() {
                    return Err(row.fail(
                        "metadata",
                        format!("must be a JSON object, found {metadata}"),
                    ));
                }
            }
            "alter_groups" | "subsystems" => {
                let system = row.refers("system_id", "system", |id| self.systems.contains(&id))?;
                row.name()?;
                let groupings = match row.table.name {
                    "alter_groups" => &mut self.groups,
                    _ => &mut self.subsystems,
                };
                groupings.insert(row.id("id"), system);
            }
            "alter_group_members" | "subsystem_members" => {
                let (column, what, groupings) = match row.table.name {
                    "alter_group_members" => ("group_id", "group", &self.groups),
                    _ => ("subsystem_id", "subsystem", &self.subsystems),
                };
                let grouping = row.refers(column, what, |id| groupings.contains_key(&id))?;
                let alter = row.refers("alter_id", "alter", |id| self.alters.contains_key(&id))?;
                if self.alters[&alter] != groupings[&grouping] {
                    return Err(row.fail(
                        "alter_id",
                        format!(
                            "alter {alter} belongs to another system than {what} {grouping}; \
                             only alters of its own system can join it"
                        ),
                    ));
                }
            }
            "alter_relationships" => {
                let stored = row.text("relationship_type");
                let kind = RelationshipType::try_from(stored.to_owned())
                    .map_err(|unknown| row.fail("relationship_type", unknown.to_string()))?;
                let alter = row.refers("alter_id", "alter", |id| self.alters.contains_key(&id))?;
                let related = row.refers("related_alter_id", "alter", |id| {
                    self.alters.contains_key(&id)
                })?;
                if alter == related {
                    return Err(
                        row.fail("related_alter_id", "an alter cannot be related to itself")
                    );
                }
                if self.alters[&alter] != self.alters[&related] {
                    return Err(row.fail(
                        "related_alter_id",
                        format!(
                            "alter {related} belongs to another system than alter {alter}; only \
                             alters of the same system can be related"
                        ),
                    ));
                }
                let canonical = Canonical::new(alter, kind, related).stored();
                if canonical != (alter, related, stored) {
                    return Err(row.fail(
                        "relationship_type",
                        format!(
                            "not in the stored form: ({alter}, {related}, {stored:?}) is stored \
                             as {canonical:?}"
                        ),
                    ));
                }
            }
            "settings" => {
                let name = row.text("name");
                let setting = settings::find(name)
                    .ok_or_else(|| row.fail("name", settings::unknown(name)))?;
                setting
                    .validate(row.json("value").clone())
                    .map_err(|refused| row.refused("value", refused))?;
            }
            "system_requests" => {
                row.refers("user_id", "user", |id| self.users.contains(&id))?;
                RequestStatus::try_from(row.text("status").to_owned())
                    .map_err(|unknown| row.fail("status", unknown.to_string()))?;
                row.refers_if_set("decided_by", "user", |id| self.users.contains(&id))?;
            }
            "password_reset_tokens" => {
                row.refers("user_id", "user", |id| self.users.contains(&id))?;
            }
            other => unreachable!("the rules do not know table {other}"),
        }
        Ok(())
    }
}

/// A row of a table, read by column name. Values have their column's kind, and NOT NULL
/// columns hold a value (both checked when the document was read).
struct Row<'a> {
    table: Table,
    index: usize,
    values: &'a [Arg],
}

impl Row<'_> {
    /// The column's registered name and the row's value in it.
    fn value(&self, column: &str) -> (&'static str, &Arg) {
        let position = self
            .table
            .columns
            .iter()
            .position(|c| c.name == column)
            .unwrap_or_else(|| panic!("{} has no column {column}", self.table.name));
        (self.table.columns[position].name, &self.values[position])
    }

    fn fail(&self, column: &str, problem: impl Into<String>) -> Refused {
        Refused {
            table: self.table.name,
            row: self.index,
            column: self.value(column).0,
            problem: problem.into(),
        }
    }

    /// The API's refusal, told about this row.
    fn refused(&self, column: &str, refused: ApiError) -> Refused {
        self.fail(column, refused.message)
    }

    fn optional_id(&self, column: &str) -> Option<Id> {
        match self.value(column).1 {
            Arg::Id(id) => *id,
            other => panic!("{}.{column} is not an id: {other:?}", self.table.name),
        }
    }

    fn id(&self, column: &str) -> Id {
        self.optional_id(column)
            .unwrap_or_else(|| panic!("{}.{column} is NOT NULL", self.table.name))
    }

    fn text(&self, column: &str) -> &str {
        match self.value(column).1 {
            Arg::Text(Some(text)) => text,
            other => panic!(
                "{}.{column} is not NOT NULL text: {other:?}",
                self.table.name
            ),
        }
    }

    fn json(&self, column: &str) -> &Value {
        match self.value(column).1 {
            Arg::Json(value) => value,
            other => panic!("{}.{column} is not JSON: {other:?}", self.table.name),
        }
    }

    /// `name`, which the API never stores blank.
    fn name(&self) -> Result<(), Refused> {
        required("name", self.text("name").to_owned())
            .map(|_| ())
            .map_err(|refused| self.refused("name", refused))
    }

    /// The id in `column`, which must name a `what` in the backup.
    fn refers(&self, column: &str, what: &str, known: impl Fn(Id) -> bool) -> Result<Id, Refused> {
        let id = self.id(column);
        if !known(id) {
            return Err(self.fail(
                column,
                format!("refers to {what} {id}, which is not in the backup"),
            ));
        }
        Ok(id)
    }

    /// As [`Row::refers`], for a column that may be NULL.
    fn refers_if_set(
        &self,
        column: &str,
        what: &str,
        known: impl Fn(Id) -> bool,
    ) -> Result<(), Refused> {
        if self.optional_id(column).is_some() {
            self.refers(column, what, known)?;
        }
        Ok(())
    }
}
