//! Groupings: the named sets of alters within one system that have members and leaders —
//! groups (affiliations, `alter_groups`, migration 0006) and subsystems (`subsystems`, 0007).
//!
//! The two have the same shape and the same rules, so their queries are written once here,
//! parameterised by a [`Kind`] that names the tables. Table and column names come only from the
//! two `const` kinds below, never from input, so the statements stay built from `&'static str`
//! fragments like every other query.

use poem_openapi::Object;
use sqlx::FromRow;

use super::alters::{Alter, alter_columns};
use super::{ListQuery, Window, WriteError};
use crate::db::{Db, Id, Stmt, Timestamp, Tx};

/// What tells one kind of grouping from the other: its name and its tables.
#[derive(Debug)]
pub struct Kind {
    /// The singular noun, as messages and the audit log's `entity_type` use it.
    pub entity: &'static str,
    pub table: &'static str,
    pub member_table: &'static str,
    /// The member table's column that refers to `table`.
    pub member_key: &'static str,
}

/// Groups (affiliations). `groups` is reserved in MySQL 8, hence `alter_groups`.
pub const GROUPS: Kind = Kind {
    entity: "group",
    table: "alter_groups",
    member_table: "alter_group_members",
    member_key: "group_id",
};

pub const SUBSYSTEMS: Kind = Kind {
    entity: "subsystem",
    table: "subsystems",
    member_table: "subsystem_members",
    member_key: "subsystem_id",
};

/// A group or a subsystem.
#[derive(Debug, Clone, PartialEq, Object, FromRow)]
pub struct Grouping {
    pub id: Id,
    /// The system it belongs to; only alters of that system can be members.
    pub system_id: Id,
    /// Unique within the system.
    pub name: String,
    pub description: Option<String>,
    pub created_at: Timestamp,
    /// Also moves when a member joins, leaves or changes leadership.
    pub updated_at: Timestamp,
}

/// An alter as a member of a grouping.
#[derive(Debug, Clone, PartialEq, Object, FromRow)]
pub struct Member {
    #[oai(flatten)]
    #[sqlx(flatten)]
    pub alter: Alter,
    pub is_leader: bool,
    /// When the alter joined.
    pub joined_at: Timestamp,
}

/// Which groupings a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupingFilter {
    /// Only groupings of this owner's systems (`None`: everyone's).
    pub owner: Option<Id>,
    pub system_id: Option<Id>,
}

/// A statement from static fragments, such as SQL around a [`Kind`]'s table names.
fn sql(fragments: &[&'static str]) -> Stmt {
    let (&first, rest) = fragments.split_first().expect("at least one fragment");
    let mut stmt = Stmt::new(first);
    for &fragment in rest {
        stmt.push(fragment);
    }
    stmt
}

const SELECT_GROUPINGS: &str = "SELECT g.id, g.system_id, g.name, g.description, g.created_at, \
                                g.updated_at";

pub async fn get(db: &Db, kind: &Kind, id: Id) -> Result<Option<Grouping>, sqlx::Error> {
    db.conn()
        .fetch_optional(
            sql(&[SELECT_GROUPINGS, " FROM ", kind.table, " g WHERE g.id = ?"]).bind(id),
        )
        .await
}

/// The query behind [`list`].
pub fn list_query(kind: &Kind, filter: GroupingFilter, window: Window) -> ListQuery {
    let mut from = sql(&[" FROM ", kind.table, " g"]);
    if let Some(owner) = filter.owner {
        from.push_bind(
            " JOIN systems s ON s.id = g.system_id AND s.user_id = ?",
            owner,
        );
    }
    from.push(" WHERE 1 = 1");
    if let Some(system) = filter.system_id {
        from.push_bind(" AND g.system_id = ?", system);
    }
    ListQuery::new(
        "SELECT COUNT(*)",
        SELECT_GROUPINGS,
        from,
        " ORDER BY g.name, g.id",
        window,
    )
}

/// Groupings matching the filter, by name, and how many match in all.
pub async fn list(
    db: &Db,
    kind: &Kind,
    filter: GroupingFilter,
    window: Window,
) -> Result<(Vec<Grouping>, i64), sqlx::Error> {
    list_query(kind, filter, window).fetch(db).await
}

/// [`WriteError::Duplicate`] when the system already has one of that name.
pub async fn insert(
    tx: &mut Tx,
    kind: &Kind,
    system_id: Id,
    name: String,
    description: Option<String>,
) -> Result<Id, WriteError> {
    let id = Id::new();
    let now = Timestamp::now();
    let stmt = sql(&[
        "INSERT INTO ",
        kind.table,
        " (id, system_id, name, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    ])
    .bind(id)
    .bind(system_id)
    .bind(name)
    .bind(description)
    .bind(now)
    .bind(now);
    tx.conn().execute(stmt).await?;
    Ok(id)
}

/// Changes the fields given (`Some`) and `updated_at`; returns whether the grouping exists.
/// [`WriteError::Duplicate`] when the new name is taken in the system.
pub async fn update(
    tx: &mut Tx,
    kind: &Kind,
    id: Id,
    name: Option<String>,
    description: Option<Option<String>>,
) -> Result<bool, WriteError> {
    Ok(changed(tx, kind, id, name, description).await?)
}

/// [`update`], as the database answers it.
async fn changed(
    tx: &mut Tx,
    kind: &Kind,
    id: Id,
    name: Option<String>,
    description: Option<Option<String>>,
) -> Result<bool, sqlx::Error> {
    let mut stmt = sql(&["UPDATE ", kind.table, " SET updated_at = ?"]).bind(Timestamp::now());
    if let Some(name) = name {
        stmt.push_bind(", name = ?", name);
    }
    if let Some(description) = description {
        stmt.push_bind(", description = ?", description);
    }
    stmt.push_bind(" WHERE id = ?", id);
    Ok(tx.conn().execute(stmt).await? > 0)
}

/// Marks the grouping as changed at the start of a membership change; returns whether it exists.
///
/// Updating the row also locks it until the transaction ends (PostgreSQL, MySQL; SQLite has a
/// single writer anyway), so concurrent changes to one grouping's members run one after the
/// other: "is the alter a member yet?" is then answered reliably, and the grouping cannot be
/// deleted halfway through.
pub async fn touch(tx: &mut Tx, kind: &Kind, id: Id) -> Result<bool, sqlx::Error> {
    changed(tx, kind, id, None, None).await
}

/// Deletes a grouping and, by cascade, its memberships.
pub async fn delete(tx: &mut Tx, kind: &Kind, id: Id) -> Result<(), sqlx::Error> {
    tx.conn()
        .execute(sql(&["DELETE FROM ", kind.table, " WHERE id = ?"]).bind(id))
        .await?;
    Ok(())
}

const SELECT_MEMBERS: &str = concat!(
    "SELECT ",
    alter_columns!(),
    ", m.is_leader, m.created_at AS joined_at"
);

/// `FROM` the member table joined to the alters, for one grouping.
fn members_of(kind: &Kind, grouping: Id) -> Stmt {
    sql(&[
        " FROM ",
        kind.member_table,
        " m JOIN alters ON alters.id = m.alter_id WHERE m.",
        kind.member_key,
        " = ?",
    ])
    .bind(grouping)
}

/// The query behind [`members`].
pub fn members_query(kind: &Kind, grouping: Id, window: Window) -> ListQuery {
    ListQuery::new(
        "SELECT COUNT(*)",
        SELECT_MEMBERS,
        members_of(kind, grouping),
        " ORDER BY m.is_leader DESC, alters.name, alters.id",
        window,
    )
}

/// A grouping's members, leaders first, then by name; and how many there are.
pub async fn members(
    db: &Db,
    kind: &Kind,
    grouping: Id,
    window: Window,
) -> Result<(Vec<Member>, i64), sqlx::Error> {
    members_query(kind, grouping, window).fetch(db).await
}

/// One membership, with the alter.
pub async fn member(
    db: &Db,
    kind: &Kind,
    grouping: Id,
    alter: Id,
) -> Result<Option<Member>, sqlx::Error> {
    let mut stmt = Stmt::new(SELECT_MEMBERS);
    stmt.append(members_of(kind, grouping))
        .push_bind(" AND m.alter_id = ?", alter);
    db.conn().fetch_optional(stmt).await
}

/// Whether the alter leads the grouping: `None` when it is not a member.
pub async fn leadership(
    tx: &mut Tx,
    kind: &Kind,
    grouping: Id,
    alter: Id,
) -> Result<Option<bool>, sqlx::Error> {
    let stmt = sql(&[
        "SELECT is_leader FROM ",
        kind.member_table,
        " WHERE ",
        kind.member_key,
        " = ? AND alter_id = ?",
    ])
    .bind(grouping)
    .bind(alter);
    let row: Option<(bool,)> = tx.conn().fetch_optional(stmt).await?;
    Ok(row.map(|(is_leader,)| is_leader))
}

/// Fails with a unique violation when the alter is a member already.
pub async fn add_member(
    tx: &mut Tx,
    kind: &Kind,
    grouping: Id,
    alter: Id,
    is_leader: bool,
) -> Result<(), sqlx::Error> {
    let stmt = sql(&[
        "INSERT INTO ",
        kind.member_table,
        " (",
        kind.member_key,
        ", alter_id, is_leader, created_at) VALUES (?, ?, ?, ?)",
    ])
    .bind(grouping)
    .bind(alter)
    .bind(is_leader)
    .bind(Timestamp::now());
    tx.conn().execute(stmt).await?;
    Ok(())
}

pub async fn set_leader(
    tx: &mut Tx,
    kind: &Kind,
    grouping: Id,
    alter: Id,
    is_leader: bool,
) -> Result<(), sqlx::Error> {
    let stmt = sql(&[
        "UPDATE ",
        kind.member_table,
        " SET is_leader = ? WHERE ",
        kind.member_key,
        " = ? AND alter_id = ?",
    ])
    .bind(is_leader)
    .bind(grouping)
    .bind(alter);
    tx.conn().execute(stmt).await?;
    Ok(())
}

/// Returns whether the alter was a member.
pub async fn remove_member(
    tx: &mut Tx,
    kind: &Kind,
    grouping: Id,
    alter: Id,
) -> Result<bool, sqlx::Error> {
    let stmt = sql(&[
        "DELETE FROM ",
        kind.member_table,
        " WHERE ",
        kind.member_key,
        " = ? AND alter_id = ?",
    ])
    .bind(grouping)
    .bind(alter);
    Ok(tx.conn().execute(stmt).await? > 0)
}
