//! Using the harness from another project's own tests: `check` on a migrations folder, as a
//! library call that returns the report.
//!
//! In a project of your own, the same lines go into an integration test, e.g.
//! `tests/migrations.rs` with `didhub-harness` as a dev-dependency:
//!
//! ```ignore
//! #[tokio::test]
//! async fn migrations_walk_up_and_down_and_agree() {
//!     let options = CheckOptions::new("src", &[Backend::Sqlite]); // src/migrations*, no Docker
//!     let report = didhub_harness::check::run(&options).await;
//!     assert!(report.ok, "{}", report.text);
//! }
//! ```
//!
//! Run here: `cargo run -p didhub-harness --example check_a_project -- <folder> [sqlite|all]`.
//! Without a folder it checks a copy of DIDHub's foreign fixture `up_only` laid out as the
//! database guide lays out a project (`migrations/`, `migrations_postgres/`,
//! `migrations_mysql/`), on SQLite. The folder's `didhub-harness.toml`, if it has one, says
//! the rest (layout, allow-lists, fixtures, parity settings).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use didhub_harness::check::{self, CheckOptions};
use didhub_migrations::Backend;

/// `fixtures/foreign/up_only` copied into the guide's layout under a temporary folder.
fn guide_layout_copy() -> tempfile::TempDir {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/foreign/up_only");
    let copy = tempfile::tempdir().expect("a temporary folder");
    for (kind, folder) in [
        (Backend::Sqlite, "migrations"),
        (Backend::Postgres, "migrations_postgres"),
        (Backend::MySql, "migrations_mysql"),
    ] {
        let to = copy.path().join(folder);
        std::fs::create_dir(&to).expect("a folder");
        for entry in std::fs::read_dir(source.join(kind.name())).expect("the fixture") {
            let path = entry.expect("a file").path();
            std::fs::copy(&path, to.join(path.file_name().expect("a name"))).expect("a copy");
        }
    }
    copy
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (_copy, root): (Option<tempfile::TempDir>, PathBuf) = match args.next() {
        Some(folder) => (None, PathBuf::from(folder)),
        None => {
            let copy = guide_layout_copy();
            let root = copy.path().to_path_buf();
            (Some(copy), root)
        }
    };
    let backends = match args.next().as_deref() {
        Some("all") => Backend::ALL.to_vec(),
        _ => vec![Backend::Sqlite],
    };
    let report = check::run(&CheckOptions::new(&root, &backends)).await;
    print!("{}", report.text);
    ExitCode::from(report.exit_code())
}
