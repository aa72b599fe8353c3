//! `alters`: the identities of a system.

use poem_openapi::Object;
use serde_json::json;
use sqlx::FromRow;

use super::{ListQuery, Window, like_contains, like_prefix};
use crate::db::{Db, Id, Spelling, Stmt, Timestamp, Tx};

#[derive(Debug, Clone, PartialEq, Object, FromRow)]
pub struct Alter {
    pub id: Id,
    pub system_id: Id,
    pub name: String,
    pub pronouns: Option<String>,
    pub description: Option<String>,
    pub age: Option<String>,
    pub gender: Option<String>,
    pub birthday: Option<String>,
    pub species: Option<String>,
    pub alter_type: Option<String>,
    #[sqlx(json)]
    pub interests: Vec<String>,
    pub is_host: bool,
    pub is_dormant: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The descriptive fields, as written by create and update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlterFields {
    pub name: String,
    pub pronouns: Option<String>,
    pub description: Option<String>,
    pub age: Option<String>,
    pub gender: Option<String>,
    pub birthday: Option<String>,
    pub species: Option<String>,
    pub alter_type: Option<String>,
    pub interests: Vec<String>,
    pub is_host: bool,
    pub is_dormant: bool,
}

/// Which alters a list shows.
#[derive(Debug, Clone, Default)]
pub struct AlterFilter {
    /// Only alters of this owner's systems (`None`: everyone's).
    pub owner: Option<Id>,
    pub system_id: Option<Id>,
    /// Case-insensitive name prefix.
    pub name_prefix: Option<String>,
    /// Case-insensitive text contained in the name or description.
    pub text: Option<String>,
}

macro_rules! alter_columns {
    () => {
        "alters.id, alters.system_id, alters.name, alters.pronouns, alters.description, \
         alters.age, alters.gender, alters.birthday, alters.species, alters.alter_type, \
         alters.interests, alters.is_host, alters.is_dormant, alters.created_at, alters.updated_at"
    };
}
// Also selected by queries that return alters with more columns (members of a grouping).
pub(crate) use alter_columns;

/// One alter by id.
pub fn by_id(id: Id) -> Stmt {
    Stmt::new(concat!(
        "SELECT ",
        alter_columns!(),
        " FROM alters WHERE alters.id = ?"
    ))
    .bind(id)
}

pub async fn get(db: &Db, id: Id) -> Result<Option<Alter>, sqlx::Error> {
    db.conn().fetch_optional(by_id(id)).await
}

/// One alter by id, when its system belongs to `owner` (any alter when `owner` is `None`): the
/// ownership check and the read in one statement.
pub async fn get_owned(db: &Db, id: Id, owner: Option<Id>) -> Result<Option<Alter>, sqlx::Error> {
    let Some(owner) = owner else {
        return get(db, id).await;
    };
    let stmt = Stmt::new(concat!(
        "SELECT ",
        alter_columns!(),
        " FROM alters JOIN systems ON systems.id = alters.system_id \
         WHERE alters.id = ? AND systems.user_id = ?"
    ))
    .bind(id)
    .bind(owner);
    db.conn().fetch_optional(stmt).await
}

/// A case-insensitive name prefix, spelled so that `idx_alters_name` (migration 0011) serves it.
const NAME_STARTS_WITH: Spelling = Spelling {
    // LIKE ignores ASCII case; the index is on `name COLLATE NOCASE`, which LIKE can use.
    sqlite: " AND alters.name LIKE ? ESCAPE '!'",
    // The index is on `lower(name) text_pattern_ops`.
    postgres: " AND LOWER(alters.name) LIKE LOWER(?) ESCAPE '!'",
    // The column's `_ci` collation makes LIKE case-insensitive; the index is on `name`.
    mysql: " AND alters.name LIKE ? ESCAPE '!'",
};

/// The query behind [`list`].
pub fn list_query(filter: &AlterFilter, window: Window) -> ListQuery {
    let mut from = Stmt::new(" FROM alters");
    if let Some(owner) = filter.owner {
        from.push_bind(
            " JOIN systems s ON s.id = alters.system_id AND s.user_id = ?",
            owner,
        );
    }
    from.push(" WHERE 1 = 1");
    if let Some(system) = filter.system_id {
        from.push_bind(" AND alters.system_id = ?", system);
    }
    if let Some(prefix) = &filter.name_prefix {
        from.push_bind_spelled(NAME_STARTS_WITH, like_prefix(prefix));
    }
    if let Some(text) = &filter.text {
        let pattern = like_contains(text);
        from.push_bind(
            " AND (LOWER(alters.name) LIKE LOWER(?) ESCAPE '!'",
            pattern.clone(),
        )
        .push_bind(
            " OR LOWER(alters.description) LIKE LOWER(?) ESCAPE '!')",
            pattern,
        );
    }

    ListQuery::new(
        "SELECT COUNT(*)",
        concat!("SELECT ", alter_columns!()),
        from,
        " ORDER BY alters.name, alters.id",
        window,
    )
}

/// Alters matching the filter, by name, and how many match in all.
pub async fn list(
    db: &Db,
    filter: &AlterFilter,
    window: Window,
) -> Result<(Vec<Alter>, i64), sqlx::Error> {
    list_query(filter, window).fetch(db).await
}

/// Inserts an alter and returns it as stored, without reading it back.
pub async fn insert(tx: &mut Tx, system_id: Id, fields: AlterFields) -> Result<Alter, sqlx::Error> {
    let id = Id::new();
    let now = Timestamp::now();
    let alter = Alter::written(id, system_id, fields.clone(), now, now);
    tx.conn()
        .execute(
            Stmt::new(
                "INSERT INTO alters (id, system_id, name, pronouns, description, age, gender, \
                 birthday, species, alter_type, interests, is_host, is_dormant, created_at, \
                 updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(system_id)
            .bind(fields.name)
            .bind(fields.pronouns)
            .bind(fields.description)
            .bind(fields.age)
            .bind(fields.gender)
            .bind(fields.birthday)
            .bind(fields.species)
            .bind(fields.alter_type)
            .bind(json!(fields.interests))
            .bind(fields.is_host)
            .bind(fields.is_dormant)
            .bind(now)
            .bind(now),
        )
        .await?;
    Ok(alter)
}

/// Replaces the descriptive fields of `previous` and returns the alter as stored, without
/// reading it back; `None` when it no longer exists.
pub async fn update(
    tx: &mut Tx,
    previous: &Alter,
    fields: AlterFields,
) -> Result<Option<Alter>, sqlx::Error> {
    let now = Timestamp::now();
    let alter = Alter::written(
        previous.id,
        previous.system_id,
        fields.clone(),
        previous.created_at,
        now,
    );
    let updated = tx
        .conn()
        .execute(
            Stmt::new(
                "UPDATE alters SET name = ?, pronouns = ?, description = ?, age = ?, gender = ?, \
                 birthday = ?, species = ?, alter_type = ?, interests = ?, is_host = ?, \
                 is_dormant = ?, updated_at = ? WHERE id = ?",
            )
            .bind(fields.name)
            .bind(fields.pronouns)
            .bind(fields.description)
            .bind(fields.age)
            .bind(fields.gender)
            .bind(fields.birthday)
            .bind(fields.species)
            .bind(fields.alter_type)
            .bind(json!(fields.interests))
            .bind(fields.is_host)
            .bind(fields.is_dormant)
            .bind(now)
            .bind(previous.id),
        )
        .await?;
    Ok((updated > 0).then_some(alter))
}

pub async fn delete(tx: &mut Tx, id: Id) -> Result<(), sqlx::Error> {
    tx.conn()
        .execute(Stmt::new("DELETE FROM alters WHERE id = ?").bind(id))
        .await?;
    Ok(())
}

impl Alter {
    /// The alter a write of `fields` stores.
    fn written(
        id: Id,
        system_id: Id,
        fields: AlterFields,
        created_at: Timestamp,
        updated_at: Timestamp,
    ) -> Alter {
        let AlterFields {
            name,
            pronouns,
            description,
            age,
            gender,
            birthday,
            species,
            alter_type,
            interests,
            is_host,
            is_dormant,
        } = fields;
        Alter {
            id,
            system_id,
            name,
            pronouns,
            description,
            age,
            gender,
            birthday,
            species,
            alter_type,
            interests,
            is_host,
            is_dormant,
            created_at,
            updated_at,
        }
    }
}

impl From<Alter> for AlterFields {
    fn from(a: Alter) -> Self {
        AlterFields {
            name: a.name,
            pronouns: a.pronouns,
            description: a.description,
            age: a.age,
            gender: a.gender,
            birthday: a.birthday,
            species: a.species,
            alter_type: a.alter_type,
            interests: a.interests,
            is_host: a.is_host,
            is_dormant: a.is_dormant,
        }
    }
}
