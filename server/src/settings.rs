//! The instance settings an administrator can change at run time, declared once in
//! [`REGISTRY`]: each [`Setting`] names its key, type, default, validation and meaning.
//!
//! The `settings` table holds only what an administrator has set; every other key has its
//! default. A stored value that no longer passes validation (written by hand, or by a version
//! with looser rules) is ignored in favour of the default, with a warning, so a bad row can never
//! switch a feature into an unintended state.
//!
//! Settings that change the server's behaviour: `registration.enabled` and
//! `registration.require_approval` (read by `POST /api/auth/register`) and
//! `password_reset.token_ttl_minutes` (the lifetime of new reset tokens) and `audit.retention_days`
//! (the server's retention purge, [`crate::upkeep`]; while it is null the configuration file's
//! `audit.retention_days` applies). `instance.name` is kept for clients.

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use serde_json::Value;

use crate::db::{Db, Timestamp};
use crate::error::ApiError;
use crate::store::settings as stored;

/// One known setting.
#[derive(Debug)]
pub struct Setting {
    pub key: &'static str,
    pub kind: Kind,
    pub default: Literal,
    /// What the setting means, for the API's readers.
    pub description: &'static str,
}

/// A setting's type and the values it accepts.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string, trimmed, of `min` to `max` characters.
    Text {
        min: usize,
        max: usize,
    },
    Bool,
    /// An integer from `min` to `max` (no upper bound when `None`); `null_means`, when set,
    /// allows `null` and says what it stands for.
    Integer {
        min: i64,
        max: Option<i64>,
        null_means: Option<&'static str>,
    },
}

/// A default value, spelled so that the registry can be a `static`.
#[derive(Debug, Clone, Copy)]
pub enum Literal {
    Text(&'static str),
    Bool(bool),
    Int(i64),
    Null,
}

impl Literal {
    fn to_json(self) -> Value {
        match self {
            Literal::Text(s) => Value::from(s),
            Literal::Bool(b) => Value::from(b),
            Literal::Int(i) => Value::from(i),
            Literal::Null => Value::Null,
        }
    }
}

pub static INSTANCE_NAME: Setting = Setting {
    key: "instance.name",
    kind: Kind::Text { min: 1, max: 100 },
    default: Literal::Text("DIDHub"),
    description: "The name clients show for this instance.",
};

pub static REGISTRATION_ENABLED: Setting = Setting {
    key: "registration.enabled",
    kind: Kind::Bool,
    default: Literal::Bool(true),
    description: "Whether anyone may create an account with POST /api/auth/register; \
                  administrators can always create accounts.",
};

pub static REGISTRATION_REQUIRE_APPROVAL: Setting = Setting {
    key: "registration.require_approval",
    kind: Kind::Bool,
    default: Literal::Bool(true),
    description: "Whether self-registered accounts need an administrator's approval before \
                  they can create systems.",
};

pub static AUDIT_RETENTION_DAYS: Setting = Setting {
    key: "audit.retention_days",
    kind: Kind::Integer {
        min: 1,
        // A hundred years: far more than anyone keeps, far less than the dates the server can
        // count back to.
        max: Some(36_500),
        null_means: Some("use the configuration file's audit.retention_days"),
    },
    default: Literal::Null,
    description: "How many days audit entries are kept: the server deletes older ones at \
                  startup and hourly. Null: the configuration file's audit.retention_days \
                  applies (365 days unless configured; 0 there keeps entries forever).",
};

pub static PASSWORD_RESET_TOKEN_TTL_MINUTES: Setting = Setting {
    key: "password_reset.token_ttl_minutes",
    kind: Kind::Integer {
        min: 5,
        max: Some(1440),
        null_means: None,
    },
    default: Literal::Int(60),
    description: "Minutes a password reset token stays valid after it is issued.",
};

/// Every known setting, in key order.
pub static REGISTRY: [&Setting; 5] = [
    &AUDIT_RETENTION_DAYS,
    &INSTANCE_NAME,
    &PASSWORD_RESET_TOKEN_TTL_MINUTES,
    &REGISTRATION_ENABLED,
    &REGISTRATION_REQUIRE_APPROVAL,
];

/// The setting called `key`.
pub fn find(key: &str) -> Option<&'static Setting> {
    REGISTRY.iter().copied().find(|s| s.key == key)
}

/// Why `key` was refused: it names no setting (and which ones there are).
pub fn unknown(key: &str) -> String {
    let known: Vec<_> = REGISTRY.iter().map(|s| s.key).collect();
    format!(
        "unknown setting {key:?}; the known settings are {}",
        known.join(", ")
    )
}

impl Kind {
    /// The JSON type, as the API reports it.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Text { .. } => "string",
            Kind::Bool => "boolean",
            Kind::Integer { .. } => "integer",
        }
    }

    /// What the setting accepts, in words: the second half of every validation message.
    pub fn expects(self) -> String {
        match self {
            Kind::Text { min, max } => format!("a string of {min} to {max} characters"),
            Kind::Bool => "true or false".to_owned(),
            Kind::Integer {
                min,
                max,
                null_means,
            } => {
                let range = match max {
                    Some(max) => format!("an integer from {min} to {max}"),
                    None => format!("an integer of at least {min}"),
                };
                match null_means {
                    Some(meaning) => format!("{range}, or null to {meaning}"),
                    None => range,
                }
            }
        }
    }

    /// What the setting accepts, as an OpenAPI schema: the rules of [`Kind::accept`].
    pub fn schema(self) -> MetaSchemaRef {
        let schema = match self {
            Kind::Text { min, max } => MetaSchema {
                min_length: Some(min),
                max_length: Some(max),
                // Trimmed, it still has `min` characters: one that is not white space.
                pattern: Some(crate::fields::NOT_BLANK.to_owned()),
                ..MetaSchema::new("string")
            },
            Kind::Bool => MetaSchema::new("boolean"),
            Kind::Integer {
                min,
                max,
                null_means,
            } => MetaSchema {
                minimum: Some(min as f64),
                maximum: max.map(|max| max as f64),
                nullable: null_means.is_some(),
                ..MetaSchema::new_with_format("integer", "int64")
            },
        };
        MetaSchemaRef::Inline(Box::new(schema))
    }

    /// The value to store, or why `value` is not acceptable. Strings are trimmed.
    fn accept(self, value: Value) -> Result<Value, Value> {
        match (self, value) {
            (Kind::Text { min, max }, Value::String(s)) => {
                let trimmed = s.trim();
                let len = trimmed.chars().count();
                if (min..=max).contains(&len) {
                    Ok(Value::from(trimmed))
                } else {
                    Err(Value::String(s))
                }
            }
            (Kind::Bool, value @ Value::Bool(_)) => Ok(value),
            (
                Kind::Integer {
                    null_means: Some(_),
                    ..
                },
                Value::Null,
            ) => Ok(Value::Null),
            (Kind::Integer { min, max, .. }, Value::Number(n)) => match n.as_i64() {
                Some(i) if i >= min && max.is_none_or(|max| i <= max) => Ok(Value::from(i)),
                _ => Err(Value::Number(n)),
            },
            (_, other) => Err(other),
        }
    }
}

/// Describes a refused value without echoing a long string back.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("a string of {} characters", s.trim().chars().count()),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        other => other.to_string(),
    }
}

impl Setting {
    pub fn default_value(&self) -> Value {
        self.default.to_json()
    }

    /// Checks a new value: the value to store, or 422 naming the key and what it accepts.
    pub fn validate(&self, value: Value) -> Result<Value, ApiError> {
        self.kind.accept(value).map_err(|refused| {
            ApiError::invalid(format!(
                "setting {:?} must be {} (got {})",
                self.key,
                self.kind.expects(),
                describe(&refused)
            ))
        })
    }

    /// The value in force given what is stored: the stored value when it is still valid,
    /// otherwise the default.
    pub fn in_force(&self, stored: Option<Value>) -> Value {
        match stored.map(|v| self.kind.accept(v)) {
            Some(Ok(value)) => value,
            Some(Err(bad)) => {
                tracing::warn!(
                    setting = self.key,
                    stored = %bad,
                    "stored setting is not valid; using its default"
                );
                self.default_value()
            }
            None => self.default_value(),
        }
    }

    /// The value in force now, and when an administrator last set it (`None` while the
    /// default applies).
    pub async fn current(&self, db: &Db) -> Result<(Value, Option<Timestamp>), sqlx::Error> {
        let row: Option<stored::StoredSetting> =
            db.conn().fetch_optional(stored::by_name(self.key)).await?;
        let updated_at = row.as_ref().map(|r| r.updated_at);
        Ok((self.in_force(row.map(|r| r.value)), updated_at))
    }

    /// The value in force now.
    pub async fn read(&self, db: &Db) -> Result<Value, sqlx::Error> {
        Ok(self.current(db).await?.0)
    }

    /// The value in force of a [`Kind::Bool`] setting.
    pub async fn read_bool(&self, db: &Db) -> Result<bool, sqlx::Error> {
        debug_assert!(matches!(self.kind, Kind::Bool), "{}", self.key);
        Ok(self.read(db).await? == Value::Bool(true))
    }

    /// The value in force of a non-nullable [`Kind::Integer`] setting.
    pub async fn read_int(&self, db: &Db) -> Result<i64, sqlx::Error> {
        debug_assert!(
            matches!(
                self.kind,
                Kind::Integer {
                    null_means: None,
                    ..
                }
            ),
            "{}",
            self.key
        );
        let value = self.read(db).await?;
        Ok(value
            .as_i64()
            .or_else(|| self.default_value().as_i64())
            .unwrap_or_default())
    }
}

/// Every setting with its value in force, in key order.
pub async fn all_in_force(db: &Db) -> Result<Vec<(&'static Setting, Value)>, sqlx::Error> {
    let mut rows: Vec<stored::StoredSetting> = db.conn().fetch_all(stored::all()).await?;
    Ok(REGISTRY
        .iter()
        .map(|setting| {
            let row = rows
                .iter()
                .position(|r| r.name == setting.key)
                .map(|i| rows.swap_remove(i));
            (*setting, setting.in_force(row.map(|r| r.value)))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_registry_is_in_key_order_without_duplicates() {
        let keys: Vec<_> = REGISTRY.iter().map(|s| s.key).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn every_default_passes_its_own_validation() {
        for setting in REGISTRY {
            assert_eq!(
                setting.validate(setting.default_value()).unwrap(),
                setting.default_value(),
                "{}",
                setting.key
            );
        }
    }

    #[test]
    fn validation_names_the_key_and_the_expectation() {
        let message = |s: &Setting, v: Value| s.validate(v).unwrap_err().message;
        let m = message(&INSTANCE_NAME, json!("   "));
        assert!(m.contains("instance.name") && m.contains("1 to 100"), "{m}");
        let m = message(&INSTANCE_NAME, json!("x".repeat(101)));
        assert!(m.contains("got a string of 101 characters"), "{m}");
        let m = message(&REGISTRATION_ENABLED, json!("yes"));
        assert!(m.contains("true or false"), "{m}");
        let m = message(&PASSWORD_RESET_TOKEN_TTL_MINUTES, json!(4));
        assert!(m.contains("from 5 to 1440") && m.contains("got 4"), "{m}");
        message(&PASSWORD_RESET_TOKEN_TTL_MINUTES, json!(1441));
        message(&PASSWORD_RESET_TOKEN_TTL_MINUTES, json!(60.5));
        message(&PASSWORD_RESET_TOKEN_TTL_MINUTES, Value::Null);
        let m = message(&AUDIT_RETENTION_DAYS, json!(0));
        assert!(
            m.contains("from 1 to 36500, or null to use the configuration file"),
            "{m}"
        );
    }

    #[test]
    fn accepted_values_are_normalised() {
        assert_eq!(
            INSTANCE_NAME.validate(json!("  Garden  ")).unwrap(),
            "Garden"
        );
        assert_eq!(
            AUDIT_RETENTION_DAYS.validate(Value::Null).unwrap(),
            Value::Null
        );
        assert_eq!(AUDIT_RETENTION_DAYS.validate(json!(30)).unwrap(), 30);
        assert_eq!(
            PASSWORD_RESET_TOKEN_TTL_MINUTES
                .validate(json!(1440))
                .unwrap(),
            1440
        );
    }

    #[test]
    fn an_invalid_stored_value_gives_way_to_the_default() {
        assert_eq!(REGISTRATION_ENABLED.in_force(Some(json!("no"))), true);
        assert_eq!(REGISTRATION_ENABLED.in_force(Some(json!(false))), false);
        assert_eq!(PASSWORD_RESET_TOKEN_TTL_MINUTES.in_force(None), 60);
    }
}
