//! `sqlx::migrate!` embeds the migration files at compile time, but cargo does not watch the
//! folders for new files on its own: without this, adding a migration would not rebuild the crate.

fn main() {
    for folder in ["sqlite", "postgres", "mysql"] {
        println!("cargo:rerun-if-changed={folder}");
    }
}
