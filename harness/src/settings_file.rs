//! Reading a checked-in settings file — a project's `didhub-harness.toml`, an allow-list — and
//! what such a file can get wrong. Every error names the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A settings file the harness cannot use, and why; a check asked this way checks nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error("cannot read {}: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{} is not valid: {reason}", .path.display())]
    NotValid { path: PathBuf, reason: String },
    /// An entry that allows or turns off something without saying why.
    #[error("{origin}: {entry} gives no reason")]
    NoReason { origin: String, entry: String },
    #[error("{origin}: {entry} names no rule {rule:?}")]
    UnknownRule {
        origin: String,
        entry: String,
        rule: String,
    },
    #[error(
        "{origin}: [lint] include names {rule:?}, which is none of squawk's rules \
         (https://squawkhq.com/docs/rules); DIDHub's own rules are always on"
    )]
    NotSquawk { origin: String, rule: String },
    #[error("{origin}: [lint] pg_version {version:?}: {reason}")]
    PgVersion {
        origin: String,
        version: String,
        reason: String,
    },
    #[error("{origin}: the entry for {rule} needs either `file` or `files`")]
    FileOrFiles { origin: String, rule: String },
    #[error("{origin}: [folders] names no folder")]
    NoFolders { origin: String },
    #[error(
        "{origin}: {section} names {backends} backend(s): a checkpoint names the version of each \
         dialect that is meant to agree, two or more"
    )]
    AlignTooFew {
        origin: String,
        section: String,
        backends: usize,
    },
    #[error("{origin}: {section} names {backend}, which has no migrations folder in this project")]
    NoFolderFor {
        origin: String,
        section: String,
        backend: didhub_migrations::Backend,
    },
    #[error("{origin}: {section} names version {version}, which {folder}/ does not have")]
    NoSuchVersion {
        origin: String,
        section: String,
        version: i64,
        folder: String,
    },
    #[error("{origin}: {section} has an empty statement")]
    EmptyStatement { origin: String, section: String },
}

/// The TOML file `path`, read into `T`.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Unreadable {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| SettingsError::NotValid {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// A migration's version as the settings file names it: a string of digits
/// (`"20231203124112"`, as file names spell it) or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub i64);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Version;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a version: a string of digits, e.g. \"20231203124112\"")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Version, E> {
                Ok(Version(v))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Version, E> {
                let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
                match v.parse() {
                    Ok(version) if digits => Ok(Version(version)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
