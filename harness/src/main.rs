//! `didhub-harness`: checks a project's per-driver migration folders on real databases.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use didhub_harness::backend::Selection;
use didhub_harness::check::{self, CheckOptions, CheckReport};
use didhub_harness::lock::{self, Relock};
use didhub_harness::migrations::MigrationSet;
use didhub_harness::report::{EXIT_CANNOT_CHECK, EXIT_FINDINGS, EXIT_OK};
use didhub_harness::staircase::{self, StaircaseError};
use didhub_harness::{lint, parity, scaffold};

// The exit status is the contract of docs/harness.md ("Exit status and output for CI"), shown by
// `--help` of the tool and of the commands that check.
#[derive(Parser)]
#[command(version, about, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which migrations, on which backends.
#[derive(Args)]
struct Target {
    /// Which backend(s) to run.
    #[arg(long, value_enum, default_value = "all")]
    db: Selection,
    /// The folder that holds sqlite/, postgres/ and mysql/ (default: DIDHub's migrations).
    #[arg(long)]
    migrations: Option<PathBuf>,
}

impl Target {
    fn root(&self) -> PathBuf {
        self.migrations
            .clone()
            .unwrap_or_else(|| check::didhub_defaults().0)
    }

    /// `given`, or DIDHub's own file when checking DIDHub's migrations; none for another
    /// project unless given.
    fn or_didhub(&self, given: Option<PathBuf>, didhub: PathBuf) -> Option<PathBuf> {
        given.or(self.migrations.is_none().then_some(didhub))
    }
}

const EXIT_STATUS: &str = "Exit status: 0 every check passed; 1 a check found something; \
2 usage error, or a check could not run (no Docker daemon, a server that does not start, an \
unreadable migrations folder).";

/// How to print a report.
#[derive(Args)]
struct Output {
    /// `human` text; `json`, one document with `ok` and every entry; `junit`, JUnit XML for CI
    /// test reports. With json and junit, stdout holds only the report.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
}

/// How parity reads names and SQLite's types.
#[derive(Args)]
struct ParityArgs {
    /// Constraint and index names must agree across dialects where a migration gave one
    /// (always on for DIDHub's own migrations, which name everything).
    #[arg(long)]
    name_parity: bool,
    /// What SQLite's declared types must say: `affinity` lets TEXT hold uuids, timestamps and
    /// decimals, INTEGER booleans, REAL floats; `declared` wants the type named.
    #[arg(long, value_enum, default_value = "affinity")]
    sqlite_types: parity::SqliteTypes,
}

impl ParityArgs {
    fn rules(&self, target: &Target) -> parity::Rules {
        parity::Rules {
            names: self.name_parity || target.migrations.is_none() && check::didhub_parity().names,
            sqlite_types: self.sqlite_types,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Integrity of the folders, the lock file and the lint; the up/down staircase and the data
    /// staircase on each backend; parity across them.
    #[command(after_help = EXIT_STATUS)]
    Check {
        #[command(flatten)]
        target: Target,
        /// The parity allow-list (TOML); default: fixtures/parity-allow.toml for DIDHub's own
        /// migrations, none otherwise.
        #[arg(long)]
        allow: Option<PathBuf>,
        #[command(flatten)]
        parity: ParityArgs,
        /// The data fixtures folder (vNNNN/<table>.json); default: fixtures/data for DIDHub's
        /// own migrations, none otherwise.
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// The lint allow-list for released migrations (TOML); default:
        /// fixtures/lint-allow.toml for DIDHub's own migrations, none otherwise.
        #[arg(long)]
        lint_allow: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Flags statements that lock or rewrite big tables, lose data, are not atomic or do not
    /// exist in the dialect (no database needed).
    #[command(after_help = EXIT_STATUS)]
    Lint {
        #[command(flatten)]
        target: Target,
        /// The lint allow-list for released migrations (TOML); default:
        /// fixtures/lint-allow.toml for DIDHub's own migrations, none otherwise.
        #[arg(long)]
        lint_allow: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Only parity: walks each backend's staircase and compares the schemas.
    #[command(after_help = EXIT_STATUS)]
    Parity {
        #[command(flatten)]
        target: Target,
        /// The parity allow-list (TOML); default: fixtures/parity-allow.toml for DIDHub's own
        /// migrations, none otherwise.
        #[arg(long)]
        allow: Option<PathBuf>,
        #[command(flatten)]
        parity: ParityArgs,
        #[command(flatten)]
        output: Output,
    },
    /// Prints the normalised schema of each backend after the migrations (up to --version).
    Snapshot {
        #[command(flatten)]
        target: Target,
        /// Stop at this version (default: every migration).
        #[arg(long)]
        version: Option<i64>,
    },
    /// Records the SHA-384 of every migration file in migrations.lock: adds new versions, and
    /// refuses to rewrite a released (locked) file that changed unless told to.
    Lock {
        /// The folder that holds sqlite/, postgres/ and mysql/ (default: DIDHub's migrations).
        #[arg(long)]
        migrations: Option<PathBuf>,
        /// Re-lock this version as it is now (`0014_add_pronouns` or `14`); only for a migration
        /// that nobody has applied yet. Repeatable.
        #[arg(long, value_name = "NAME")]
        update: Vec<String>,
        /// Re-lock every file as it is now.
        #[arg(long)]
        force: bool,
    },
    /// Creates the up and down files of the next version in every driver folder.
    NewMigration {
        /// The migration's name, lower-case snake_case (e.g. add_alter_colour).
        name: String,
        /// The folder that holds sqlite/, postgres/ and mysql/ (default: DIDHub's migrations).
        #[arg(long)]
        migrations: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let (status, text) = run(Cli::parse().command).await;
    println!("{text}");
    ExitCode::from(status)
}

/// Runs a command: its exit status, and what to print. The long-running futures are boxed:
/// nested in one another they overflow the compiler's query depth limit when it lays out
/// `main`'s future (in release builds, and in test builds with line tables only).
async fn run(command: Command) -> (u8, String) {
    let (didhub_migrations, didhub_allow) = check::didhub_defaults();
    let root =
        |migrations: Option<PathBuf>| migrations.unwrap_or_else(|| didhub_migrations.clone());
    match command {
        Command::Check {
            target,
            allow,
            parity,
            fixtures,
            lint_allow,
            output,
        } => {
            let options = CheckOptions {
                migrations: target.root(),
                backends: target.db.kinds(),
                allow_list: target.or_didhub(allow, didhub_allow),
                fixtures: target.or_didhub(fixtures, check::didhub_fixtures()),
                lint_allow: target.or_didhub(lint_allow, check::didhub_lint_allow()),
                parity: parity.rules(&target),
            };
            let checking = format!("checking {}", options.migrations.display());
            match output.format {
                Format::Human => println!("{checking}"),
                // stdout holds only the report.
                Format::Json | Format::Junit => eprintln!("{checking}"),
            }
            output.print(&Box::pin(check::run(&options)).await, "check")
        }
        Command::Parity {
            target,
            allow,
            parity,
            output,
        } => {
            let options = CheckOptions {
                migrations: target.root(),
                backends: target.db.kinds(),
                allow_list: target.or_didhub(allow, didhub_allow),
                fixtures: None,
                lint_allow: None,
                parity: parity.rules(&target),
            };
            output.print(&Box::pin(check::parity(&options)).await, "parity")
        }
        Command::Lint {
            target,
            lint_allow,
            output,
        } => {
            let allow = target.or_didhub(lint_allow, check::didhub_lint_allow());
            let (root, kinds) = (target.root(), target.db.kinds());
            if output.format != Format::Human {
                return output.print(&check::lint(&root, &kinds, allow.as_deref()), "lint");
            }
            match lint::run(&root, &kinds, allow.as_deref()) {
                Ok(report) if report.is_ok() => (EXIT_OK, format!("lint: {report}")),
                Ok(report) => (EXIT_FINDINGS, format!("lint failed:{report}")),
                Err(e) => (EXIT_FINDINGS, format!("lint: {e}")),
            }
        }
        Command::Snapshot { target, version } => {
            let mut text = String::new();
            for kind in target.db.kinds() {
                let schema = match MigrationSet::load(&target.root(), kind).await {
                    Ok(set) => Box::pin(staircase::schema_at(&set, version)).await,
                    Err(e) => Err(e.into()),
                };
                match schema {
                    Ok(schema) => text.push_str(&format!("== {kind}\n{schema}\n")),
                    Err(e) => {
                        let status = match &e {
                            StaircaseError::Harness(h) if h.cannot_check() => EXIT_CANNOT_CHECK,
                            _ => EXIT_FINDINGS,
                        };
                        return (status, format!("{text}{e}"));
                    }
                }
            }
            (EXIT_OK, text)
        }
        Command::Lock {
            migrations,
            update,
            force,
        } => match lock::write(&root(migrations), &Relock { update, force }) {
            Ok(written) => (EXIT_OK, written.to_string()),
            Err(e) => (EXIT_FINDINGS, e.to_string()),
        },
        Command::NewMigration { name, migrations } => {
            match scaffold::new_migration(&root(migrations), &name) {
                Ok(made) => (EXIT_OK, made.to_string()),
                Err(e) => (EXIT_FINDINGS, e.to_string()),
            }
        }
    }
}

impl Output {
    /// The report in the chosen format, and the exit status it calls for.
    fn print(&self, report: &CheckReport, command: &str) -> (u8, String) {
        let text = match self.format {
            Format::Human => report.human(),
            Format::Json => report.json(),
            Format::Junit => report.junit(&format!("didhub-harness {command}")),
        };
        (report.exit_code(), text)
    }
}
