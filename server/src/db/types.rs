//! Column types whose native spelling differs per dialect (the logical types table in
//! docs/migrations.md), encoded once here so that the queries never have to care.
//!
//! | type        | PostgreSQL  | MySQL       | SQLite                                 |
//! |-------------|-------------|-------------|----------------------------------------|
//! | [`Id`]      | UUID        | CHAR(36)    | TEXT, hyphenated                       |
//! | [`Timestamp`] | TIMESTAMPTZ | DATETIME(6) (UTC) | TEXT, `YYYY-MM-DDTHH:MM:SS.ffffffZ` |
//!
//! SQLite timestamps are written with a fixed width so that comparing the text compares the
//! instants (the audit log's `from`/`to` filters and `ORDER BY created_at` rely on it), and every
//! timestamp is truncated to microseconds, the finest precision all three backends keep, so a
//! value reads back exactly as it was written.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound, Utc};
use poem_openapi::NewType;
use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, MySql, Postgres, Sqlite, Type};
use uuid::Uuid;

/// A row id: a UUID (version 7, so new rows append to the primary-key index).
#[derive(
    NewType, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[oai(from_multipart = false, to_header = false)]
pub struct Id(pub Uuid);

impl Id {
    pub fn new() -> Self {
        Id(Uuid::now_v7())
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::new()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for Id {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Id)
    }
}

/// A UTC instant with microsecond precision.
#[derive(
    NewType, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[oai(from_multipart = false, to_header = false)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp::from(Utc::now())
    }

    /// The nearest instant every backend can store: MySQL's DATETIME holds the years 1000 to
    /// 9999 (PostgreSQL more, SQLite's fixed-width text four-digit years). A bound given by a
    /// client (`before`, `from`, `to`) beyond them means the same as the range's end, since no
    /// row lies outside it; sent as it is, PostgreSQL refused it as out of range (a 500).
    pub fn storable(self) -> Timestamp {
        let earliest = NaiveDate::from_ymd_opt(1000, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a valid date")
            .and_utc();
        let latest = NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
            .expect("a valid date")
            .and_utc();
        Timestamp(self.0.clamp(earliest, latest))
    }

    /// The fixed-width text form SQLite stores: the canonical spelling
    /// ([`didhub_migrations::canonical::timestamp`]).
    fn to_sqlite_text(self) -> String {
        didhub_migrations::canonical::timestamp(self.0)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t.trunc_subsecs(6))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sqlite_text())
    }
}

/// Implements `Type`/`Encode`/`Decode` for a dialect by converting to and from a type sqlx
/// already supports there.
macro_rules! via {
    ($ty:ty, $db:ty, $repr:ty, |$e:ident| $to:expr, |$d:ident| $from:expr) => {
        impl Type<$db> for $ty {
            fn type_info() -> <$db as Database>::TypeInfo {
                <$repr as Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as Database>::TypeInfo) -> bool {
                <$repr as Type<$db>>::compatible(ty)
            }
        }
        impl Encode<'_, $db> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <$db as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                let $e = *self;
                <$repr as Encode<$db>>::encode($to, buf)
            }
        }
        impl<'r> Decode<'r, $db> for $ty {
            fn decode(value: <$db as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let $d = <$repr as Decode<'r, $db>>::decode(value)?;
                Ok($from)
            }
        }
    };
}

via!(Id, Postgres, Uuid, |id| id.0, |u| Id(u));
via!(Id, MySql, String, |id| id.to_string(), |s| s.parse()?);
via!(Id, Sqlite, String, |id| id.to_string(), |s| s.parse()?);

via!(Timestamp, Postgres, DateTime<Utc>, |t| t.0, |t| Timestamp(
    t
));
via!(Timestamp, MySql, NaiveDateTime, |t| t.0.naive_utc(), |t| {
    Timestamp(t.and_utc())
});
via!(Timestamp, Sqlite, String, |t| t.to_sqlite_text(), |s| {
    Timestamp(DateTime::parse_from_rfc3339(&s)?.with_timezone(&Utc))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_timestamps_sort_as_text_in_time_order() {
        let a = Timestamp::from(
            DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z")
                .unwrap()
                .to_utc(),
        );
        let b = Timestamp::from(
            DateTime::parse_from_rfc3339("2024-01-02T03:04:05.000001Z")
                .unwrap()
                .to_utc(),
        );
        assert_eq!(a.to_sqlite_text(), "2024-01-02T03:04:05.000000Z");
        assert!(a.to_sqlite_text() < b.to_sqlite_text());
    }

    #[test]
    fn timestamps_keep_microseconds_only() {
        let t = DateTime::parse_from_rfc3339("2024-01-02T03:04:05.123456789Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            Timestamp::from(t).to_string(),
            "2024-01-02T03:04:05.123456Z"
        );
    }
}
