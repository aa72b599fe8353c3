//! `alter_relationships`: partners, parents and children among the alters of one system.
//!
//! The API speaks from one alter's point of view ("B is A's parent"); the table stores each
//! relationship once, in the canonical form of migration 0012 ([`Canonical`]), so that the same
//! relationship told from the other alter's side is the same row and the primary key refuses it
//! a second time.

use poem_openapi::Object;
use sqlx::FromRow;

use super::{ListQuery, Window, WriteError, text_enum};
use crate::db::{Db, Id, Stmt, Timestamp, Tx};

text_enum! {
    /// What the other alter is to this one.
    pub enum RelationshipType {
        Partner = "partner",
        Parent = "parent",
        Child = "child",
    }
}

impl RelationshipType {
    /// The same relationship seen from the other alter: my parent has me as their child.
    pub fn reversed(self) -> Self {
        match self {
            RelationshipType::Partner => RelationshipType::Partner,
            RelationshipType::Parent => RelationshipType::Child,
            RelationshipType::Child => RelationshipType::Parent,
        }
    }
}

/// A relationship as one alter sees it.
#[derive(Debug, Clone, PartialEq, Object, FromRow)]
pub struct Relationship {
    /// What the other alter is to this one.
    #[oai(rename = "type")]
    #[sqlx(rename = "relationship_type", try_from = "String")]
    pub kind: RelationshipType,
    /// The other alter.
    pub alter_id: Id,
    /// The other alter's name.
    pub name: String,
}

/// A relationship in its stored form: `(alter_id, related_alter_id, relationship_type)` where
/// the type is `partner` with the smaller id first, or `parent` meaning "related_alter_id is
/// alter_id's parent".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canonical {
    alter_id: Id,
    related_alter_id: Id,
    parent: bool,
}

impl Canonical {
    /// The row that records "`related` is `alter`'s `kind`".
    pub fn new(alter: Id, kind: RelationshipType, related: Id) -> Self {
        let (alter_id, related_alter_id, parent) = match kind {
            RelationshipType::Partner => (alter.min(related), alter.max(related), false),
            RelationshipType::Parent => (alter, related, true),
            RelationshipType::Child => (related, alter, true),
        };
        Canonical {
            alter_id,
            related_alter_id,
            parent,
        }
    }

    /// The row as stored: `(alter_id, related_alter_id, relationship_type)`.
    pub fn stored(self) -> (Id, Id, &'static str) {
        (self.alter_id, self.related_alter_id, self.stored_type())
    }

    fn stored_type(self) -> &'static str {
        if self.parent {
            RelationshipType::Parent.as_str()
        } else {
            RelationshipType::Partner.as_str()
        }
    }

    /// `WHERE` for exactly this row.
    fn matching(self, head: &'static str) -> Stmt {
        Stmt::new(head)
            .bind(self.alter_id)
            .bind(self.related_alter_id)
            .bind(self.stored_type())
    }
}

/// The query behind [`list`]: both sides of the table, each through its own index (the primary
/// key for `alter_id`, `idx_alter_relationships_related_alter_id` for the other side), a stored
/// `parent` read from its parent's side as `child`.
pub fn list_query(alter: Id, window: Window) -> ListQuery {
    let from = Stmt::new(
        " FROM (\
         SELECT r.relationship_type, r.related_alter_id AS alter_id, a.name \
         FROM alter_relationships r JOIN alters a ON a.id = r.related_alter_id \
         WHERE r.alter_id = ? \
         UNION ALL \
         SELECT CASE r.relationship_type WHEN 'parent' THEN 'child' ELSE r.relationship_type END, \
         r.alter_id, a.name \
         FROM alter_relationships r JOIN alters a ON a.id = r.alter_id \
         WHERE r.related_alter_id = ?\
         ) rel",
    )
    .bind(alter)
    .bind(alter);
    ListQuery::new(
        "SELECT COUNT(*)",
        "SELECT rel.relationship_type, rel.alter_id, rel.name",
        from,
        " ORDER BY rel.name, rel.alter_id, rel.relationship_type",
        window,
    )
}

/// An alter's relationships by the other alter's name, and how many there are.
pub async fn list(
    db: &Db,
    alter: Id,
    window: Window,
) -> Result<(Vec<Relationship>, i64), sqlx::Error> {
    list_query(alter, window).fetch(db).await
}

/// Whether the row is there.
pub async fn exists(tx: &mut Tx, row: Canonical) -> Result<bool, sqlx::Error> {
    let count = tx
        .conn()
        .fetch_int(row.matching(
            "SELECT COUNT(*) FROM alter_relationships \
             WHERE alter_id = ? AND related_alter_id = ? AND relationship_type = ?",
        ))
        .await?;
    Ok(count > 0)
}

/// Records the relationship; [`WriteError::Duplicate`] when it is already there.
pub async fn insert(tx: &mut Tx, row: Canonical) -> Result<(), WriteError> {
    tx.conn()
        .execute(
            Stmt::new(
                "INSERT INTO alter_relationships \
                 (alter_id, related_alter_id, relationship_type, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(row.alter_id)
            .bind(row.related_alter_id)
            .bind(row.stored_type())
            .bind(Timestamp::now()),
        )
        .await?;
    Ok(())
}

/// Deletes the relationship; false when there was none.
pub async fn delete(tx: &mut Tx, row: Canonical) -> Result<bool, sqlx::Error> {
    let deleted = tx
        .conn()
        .execute(row.matching(
            "DELETE FROM alter_relationships \
             WHERE alter_id = ? AND related_alter_id = ? AND relationship_type = ?",
        ))
        .await?;
    Ok(deleted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_relationship_has_one_row_whichever_side_tells_it() {
        let (x, y) = (Id::new(), Id::new());
        let (a, b) = (x.min(y), x.max(y));
        let partner = Canonical::new(b, RelationshipType::Partner, a);
        assert_eq!(partner, Canonical::new(a, RelationshipType::Partner, b));
        assert_eq!((partner.alter_id, partner.stored_type()), (a, "partner"));

        let b_is_as_parent = Canonical::new(a, RelationshipType::Parent, b);
        assert_eq!(
            b_is_as_parent,
            Canonical::new(b, RelationshipType::Child, a)
        );
        assert_eq!(
            (b_is_as_parent.alter_id, b_is_as_parent.related_alter_id),
            (a, b)
        );
        assert_ne!(
            b_is_as_parent,
            Canonical::new(a, RelationshipType::Child, b),
            "A's parent and A's child are different rows"
        );
    }

    #[test]
    fn the_reversed_type_tells_the_same_relationship_from_the_other_side() {
        let (a, b) = (Id::new(), Id::new());
        for kind in [
            RelationshipType::Partner,
            RelationshipType::Parent,
            RelationshipType::Child,
        ] {
            assert_eq!(
                Canonical::new(b, kind.reversed(), a),
                Canonical::new(a, kind, b)
            );
            assert_eq!(kind.reversed().reversed(), kind);
            assert_eq!(
                RelationshipType::try_from(kind.as_str().to_owned()).unwrap(),
                kind
            );
        }
        assert!(RelationshipType::try_from("sibling".to_owned()).is_err());
    }
}
