//! What the harness's test binaries share.

use std::path::Path;

use didhub_migrations::Backend;

/// A migrations folder with `files` in every dialect's folder (DIDHub's layout), and the
/// settings of [`plain_sql_settings`].
#[allow(
    dead_code,
    reason = "report_formats.rs, which includes this module too, writes its own sets"
)]
pub fn same_in_every_dialect(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    plain_sql_settings(dir.path());
    for kind in Backend::ALL {
        let folder = dir.path().join(kind.name());
        std::fs::create_dir(&folder).unwrap();
        for (name, text) in files {
            std::fs::write(folder.join(name), text).unwrap();
        }
    }
    dir
}

/// A temporary folder with a copy of each backend's folder of the migrations folder `from`
/// (in DIDHub's layout, `sqlite/`, `postgres/`, `mysql/`), named as `folder` says: the same
/// names, or another layout's.
#[allow(
    dead_code,
    reason = "walk_everything.rs, which includes this module too, copies nothing"
)]
pub fn copy_folders(from: &Path, folder: impl Fn(Backend) -> &'static str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for kind in Backend::ALL {
        let to = copy.path().join(folder(kind));
        std::fs::create_dir(&to).unwrap();
        for entry in std::fs::read_dir(from.join(kind.name())).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    copy
}

/// Writes settings into the migrations folder `root` for a test set of plain SQL written once for
/// every dialect: squawk's PostgreSQL rules that such SQL breaks (INTEGER keys, no `SET
/// lock_timeout`, which the other dialects do not have), and that the set is not about, are off.
#[allow(
    dead_code,
    reason = "report_formats.rs, which includes this module too, has no such set"
)]
pub fn plain_sql_settings(root: &Path) {
    std::fs::write(
        root.join(didhub_harness::project::SETTINGS_FILE),
        "[[lint.exclude]]\nrule = \"prefer-bigint-over-int\"\nreason = \"INTEGER in every dialect\"\n\
         [[lint.exclude]]\nrule = \"require-timeout-settings\"\nreason = \"SET is PostgreSQL's\"\n",
    )
    .unwrap();
}

/// How many versions a dialect's folder holds: its `.up.sql` files.
pub fn up_files(folder: &Path) -> usize {
    std::fs::read_dir(folder)
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".up.sql")
        })
        .count()
}

/// The newest version a dialect's folder holds (its files' leading numbers).
pub fn newest_version(folder: &Path) -> i64 {
    std::fs::read_dir(folder)
        .unwrap()
        .filter_map(|f| {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            name.split('_').next()?.parse::<i64>().ok()
        })
        .max()
        .unwrap()
}
