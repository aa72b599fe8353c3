//! The queries an application sends, which `compat` prepares on every schema version: a
//! folder of `.sql` files, or sqlx's offline data (`.sqlx/query-*.json`, what `cargo sqlx
//! prepare` writes for every `query!` macro).
//!
//! In a folder, the `.sql` files directly in it hold statements every backend must take, and
//! `<backend>/*.sql` (`postgres/`, `mysql/`, `sqlite/`) those of one backend, as a project keeps
//! a query per dialect. A comment right above a statement may name it (`-- name: find_user`)
//! and say from which migration version on it is sent (`-- since: 12`); unnamed, a statement
//! is named by its file and line. sqlx's data records, for each query, the result columns with
//! their types and the parameters' types as the database described them when it was prepared:
//! `compat` holds each version's description to that record.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::backend::{Backend, Shape};
use crate::sql;

/// One statement of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `-- name:`, or `file:line`.
    pub name: String,
    /// The file it is read from, relative to the corpus.
    pub file: String,
    pub line: usize,
    pub sql: String,
    /// The backends that send it (all, for a shared file).
    pub backends: Vec<Backend>,
    /// The first version it is sent at (`-- since:`); every version when absent.
    pub since: Option<i64>,
    /// What sqlx recorded of it when it was prepared.
    pub recorded: Option<Shape>,
}

/// Why a corpus cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", .path.display())]
pub struct CorpusError {
    pub path: PathBuf,
    pub reason: String,
}

fn error(path: &Path, reason: impl ToString) -> CorpusError {
    CorpusError {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Reads the corpus at `path`: a `.sqlx` folder (or one holding `query-*.json` files), a folder
/// of `.sql` files, or one `.sql` file.
pub fn load(path: &Path) -> Result<Vec<Query>, CorpusError> {
    if path.is_file() {
        return statements(path, path, &Backend::ALL);
    }
    let entries = sorted(path)?;
    let sqlx: Vec<&PathBuf> = entries
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("query-") && name.ends_with(".json")
        })
        .collect();
    if !sqlx.is_empty() {
        return sqlx.into_iter().map(|p| recorded(path, p)).collect();
    }
    let mut queries = Vec::new();
    for entry in &entries {
        if entry.is_dir() {
            let name = entry.file_name().unwrap_or_default().to_string_lossy();
            if let Some(kind) = Backend::ALL.into_iter().find(|b| b.name() == name) {
                for file in sorted(entry)?.iter().filter(|f| is_sql(f)) {
                    queries.extend(statements(path, file, &[kind])?);
                }
            }
        } else if is_sql(entry) {
            queries.extend(statements(path, entry, &Backend::ALL)?);
        }
    }
    if queries.is_empty() {
        return Err(error(
            path,
            "no statement: a folder of .sql files, or sqlx's .sqlx folder, was expected",
        ));
    }
    Ok(queries)
}

fn is_sql(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "sql")
}

fn sorted(dir: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let read = std::fs::read_dir(dir).map_err(|e| error(dir, e))?;
    let mut entries: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    Ok(entries)
}

/// `file` relative to the corpus `root`; a corpus of one file is named by the file's name.
fn relative(root: &Path, file: &Path) -> String {
    let relative = file
        .strip_prefix(root)
        .ok()
        .filter(|p| !p.as_os_str().is_empty());
    relative
        .or(file.file_name().map(Path::new))
        .unwrap_or(file)
        .display()
        .to_string()
}

/// The statements of one `.sql` file, each with the markers of the comments right above it.
fn statements(root: &Path, file: &Path, backends: &[Backend]) -> Result<Vec<Query>, CorpusError> {
    let text = std::fs::read_to_string(file).map_err(|e| error(file, e))?;
    // Split as the first backend reads it: a shared file must read the same in every dialect.
    let kind = backends[0];
    let script = sql::split(&text, kind).map_err(|e| error(file, e))?;
    let name = relative(root, file);
    let mut queries = Vec::new();
    let mut after = 0;
    for statement in &script.statements {
        let mut query = Query {
            name: format!("{name}:{}", statement.line),
            file: name.clone(),
            line: statement.line,
            sql: statement.text.clone(),
            backends: backends.to_vec(),
            since: None,
            recorded: None,
        };
        let above = script
            .comments
            .iter()
            .filter(|c| c.line > after && c.line < statement.line);
        for comment in above {
            let text = comment.text.trim();
            if let Some(value) = text.strip_prefix("name:") {
                query.name = value.trim().to_owned();
            } else if let Some(value) = text.strip_prefix("since:") {
                let version = value.trim().parse().map_err(|_| {
                    error(
                        file,
                        format!(
                            "line {}: `-- since:` takes a migration version, not {value:?}",
                            comment.line
                        ),
                    )
                })?;
                query.since = Some(version);
            }
        }
        after = statement.line + statement.text.lines().count().saturating_sub(1);
        queries.push(query);
    }
    Ok(queries)
}

/// One query of sqlx's offline data: its SQL, the backend it was prepared on, and what that
/// backend described.
fn recorded(root: &Path, file: &Path) -> Result<Query, CorpusError> {
    let text = std::fs::read_to_string(file).map_err(|e| error(file, e))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| error(file, e))?;
    let sql = doc["query"]
        .as_str()
        .ok_or_else(|| error(file, "no \"query\""))?
        .to_owned();
    let kind = match doc["db_name"].as_str() {
        Some("PostgreSQL") => Backend::Postgres,
        Some("MySQL") => Backend::MySql,
        Some("SQLite") => Backend::Sqlite,
        other => {
            return Err(error(
                file,
                format!("db_name {other:?} is none of PostgreSQL, MySQL, SQLite"),
            ));
        }
    };
    let describe = &doc["describe"];
    let columns = describe["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_owned();
            (name, type_name(&c["type_info"]))
        })
        .collect();
    let parameters = match &describe["parameters"] {
        Value::Object(p) if p.contains_key("Left") => p["Left"]
            .as_array()
            .into_iter()
            .flatten()
            .map(type_name)
            .collect(),
        Value::Object(p) if p.contains_key("Right") => {
            vec!["?".to_owned(); p["Right"].as_u64().unwrap_or(0) as usize]
        }
        _ => Vec::new(),
    };
    let name = relative(root, file);
    Ok(Query {
        name: name.clone(),
        file: name,
        line: 1,
        sql,
        backends: vec![kind],
        since: None,
        recorded: Some(Shape {
            parameters,
            columns,
        }),
    })
}

/// A type as sqlx's offline data writes it, in the words sqlx's `TypeInfo::name` gives:
/// PostgreSQL `"Text"`, `{"Custom": {"name": "mood", …}}`; MySQL `{"type": "VarString", …}`;
/// SQLite `"Text"`.
fn type_name(info: &Value) -> String {
    match info {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            if let Some(custom) = o.get("Custom") {
                custom["name"].as_str().unwrap_or_default().to_owned()
            } else if let Some(t) = o.get("type") {
                t.as_str().unwrap_or_default().to_owned()
            } else {
                o.keys().next().cloned().unwrap_or_default()
            }
        }
        other => other.to_string(),
    }
}

/// The previous release's queries: `from` is a corpus on disk, or else a git reference (`v1.4`,
/// `HEAD~3`) at which the corpus at `queries` is read with `git show`. Each query is named as the
/// previous release's (`previous v1.4: find_user`), so that a break says whose query it is.
pub fn previous(from: &str, queries: &Path) -> Result<Vec<Query>, CorpusError> {
    let on_disk = Path::new(from);
    let (loaded, label) = if on_disk.exists() {
        (load(on_disk)?, format!("previous ({from})"))
    } else {
        let copy = tempfile::tempdir().map_err(|e| error(queries, e))?;
        let root = at_reference(from, queries, copy.path())?;
        (load(&root)?, format!("previous {from}"))
    };
    Ok(loaded
        .into_iter()
        .map(|q| Query {
            name: format!("{label}: {}", q.name),
            file: format!("{label}: {}", q.file),
            ..q
        })
        .collect())
}

/// Writes the files under `queries` as they were at git reference `reference` into `into`;
/// the corpus's root there.
fn at_reference(reference: &str, queries: &Path, into: &Path) -> Result<PathBuf, CorpusError> {
    let absolute = std::path::absolute(queries).map_err(|e| error(queries, e))?;
    // The repository is found from the nearest folder that exists (the corpus itself may be
    // gone), its path as git spells it (symbolic links resolved).
    let start = absolute
        .ancestors()
        .find(|p| p.is_dir())
        .unwrap_or(Path::new("/"));
    let rest = absolute.strip_prefix(start).unwrap_or(Path::new(""));
    let start = start.canonicalize().map_err(|e| error(queries, e))?;
    let git = |dir: &Path, args: &[&str]| -> Result<String, CorpusError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .map_err(|e| error(queries, format!("git: {e}")))?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            return Err(error(
                queries,
                format!("`git {}`: {}", args.join(" "), said.trim()),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let top = PathBuf::from(git(&start, &["rev-parse", "--show-toplevel"])?.trim());
    let prefix = start.join(rest);
    let prefix = prefix.strip_prefix(&top).map_err(|_| {
        error(
            queries,
            format!("is not inside the repository at {}", top.display()),
        )
    })?;
    let prefix = prefix.display().to_string();
    let listed = git(
        &top,
        &["ls-tree", "-r", "--name-only", reference, "--", &prefix],
    )?;
    if listed.trim().is_empty() {
        return Err(error(queries, format!("holds no file at {reference}")));
    }
    for file in listed.lines() {
        let text = git(&top, &["show", &format!("{reference}:{file}")])?;
        let target = into.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| error(&target, e))?;
        }
        std::fs::write(&target, text).map_err(|e| error(&target, e))?;
    }
    Ok(into.join(prefix))
}
