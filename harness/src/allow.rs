//! An allow-list: what a project accepts (a lint finding in a released file, a difference
//! between dialects), each entry with its reason, from the settings file or from a file of
//! `[[allow]]` entries (`--lint-allow F`, `--allow F`). An entry without a reason is refused, and
//! one that no longer matches anything is stale: the lint and parity report it as a failure.
//! The lint's entries ([`crate::lint::Allowed`]) and parity's ([`crate::parity::Allowed`]) are
//! two kinds of [`Entry`] of the one [`AllowList`].

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::settings_file::{SettingsError, read_toml};

/// One kind of allow-list entry.
pub trait Entry: Clone {
    /// An entry as the TOML writes it.
    type Written: DeserializeOwned;
    /// The entries a written one stands for, checked; `origin` names the file in errors.
    fn read(written: &Self::Written, origin: &str) -> Result<Vec<Self>, SettingsError>;
    /// What the entry allows, as an error names it (`MY006 mysql/0002_x.up.sql`).
    fn label(&self) -> String;
    /// Why it is allowed.
    fn reason(&self) -> &str;
}

/// The entries of one allow-list, checked: each gives a reason.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowList<E> {
    pub allow: Vec<E>,
}

impl<E> Default for AllowList<E> {
    fn default() -> Self {
        AllowList { allow: Vec::new() }
    }
}

/// A file of `[[allow]]` entries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFile<W> {
    #[serde(default = "Vec::new")]
    allow: Vec<W>,
}

impl<E: Entry> AllowList<E> {
    /// The allow-list of the file `path` (`[[allow]]` entries).
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let file: AllowFile<E::Written> = read_toml(path)?;
        Self::of(&file.allow, &path.display().to_string())
    }

    /// The list `written` states, checked; `origin` names the file in errors.
    pub fn of(written: &[E::Written], origin: &str) -> Result<Self, SettingsError> {
        let mut allow = Vec::new();
        for entry in written {
            for entry in E::read(entry, origin)? {
                if entry.reason().trim().is_empty() {
                    return Err(SettingsError::NoReason {
                        origin: origin.to_owned(),
                        entry: format!("the entry for {}", entry.label()),
                    });
                }
                allow.push(entry);
            }
        }
        Ok(AllowList { allow })
    }

    /// Starts telling which entries are used.
    pub fn uses(&self) -> Uses<'_, E> {
        Uses {
            list: self,
            used: vec![false; self.allow.len()],
        }
    }
}

/// Which entries of a list allowed something so far.
pub struct Uses<'a, E> {
    list: &'a AllowList<E>,
    used: Vec<bool>,
}

impl<'a, E> Uses<'a, E> {
    /// Whether an entry `covers`; the first that does is used.
    pub fn allows(&mut self, covers: impl Fn(&E) -> bool) -> bool {
        match self.list.allow.iter().position(covers) {
            Some(i) => {
                self.used[i] = true;
                true
            }
            None => false,
        }
    }

    /// The entries that allowed nothing.
    pub fn unused(self) -> impl Iterator<Item = &'a E> {
        self.list
            .allow
            .iter()
            .zip(self.used)
            .filter(|(_, used)| !used)
            .map(|(entry, _)| entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry that allows one word.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    struct Word {
        word: String,
        reason: String,
    }

    impl Entry for Word {
        type Written = Word;
        fn read(written: &Word, _: &str) -> Result<Vec<Word>, SettingsError> {
            Ok(vec![written.clone()])
        }
        fn label(&self) -> String {
            self.word.clone()
        }
        fn reason(&self) -> &str {
            &self.reason
        }
    }

    fn word(word: &str, reason: &str) -> Word {
        Word {
            word: word.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn an_entry_without_a_reason_is_refused_naming_it() {
        let error =
            AllowList::<Word>::of(&[word("a", "kept"), word("b", " ")], "x.toml").unwrap_err();
        assert_eq!(error.to_string(), "x.toml: the entry for b gives no reason");
        assert_eq!(
            error,
            SettingsError::NoReason {
                origin: "x.toml".into(),
                entry: "the entry for b".into()
            }
        );
    }

    #[test]
    fn entries_that_allowed_nothing_are_the_unused_ones() {
        let list =
            AllowList::<Word>::of(&[word("a", "kept"), word("b", "kept")], "x.toml").unwrap();
        let mut uses = list.uses();
        assert!(uses.allows(|w| w.word == "a"));
        assert!(!uses.allows(|w| w.word == "c"));
        let unused: Vec<&Word> = uses.unused().collect();
        assert_eq!(unused, [&word("b", "kept")]);
    }

    #[test]
    fn a_file_of_entries_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow.toml");
        std::fs::write(&path, "[[allow]]\nword = \"a\"\nreason = \"kept\"\n").unwrap();
        let list = AllowList::<Word>::load(&path).unwrap();
        assert_eq!(list.allow, [word("a", "kept")]);
        std::fs::write(&path, "[[allow]]\nword = \"a\"\nreason = \"\"\n").unwrap();
        assert!(matches!(
            AllowList::<Word>::load(&path).unwrap_err(),
            SettingsError::NoReason { .. }
        ));
        std::fs::write(&path, "[[allow]]\nwod = \"a\"\n").unwrap();
        assert!(matches!(
            AllowList::<Word>::load(&path).unwrap_err(),
            SettingsError::NotValid { path: p, .. } if p == path
        ));
    }
}
