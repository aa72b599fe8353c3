//! `didhub-harness`: checks a project's per-driver migration folders on real databases.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use didhub_harness::backend::{Backend, Selection};
use didhub_harness::check::{self, CheckOptions, CheckReport};
use didhub_harness::lint;
use didhub_harness::lock::{self, LockError, Relock};
use didhub_harness::migrations::MigrationSet;
use didhub_harness::project::{Layout, Project, Settings};
use didhub_harness::report::{EXIT_CANNOT_CHECK, EXIT_FINDINGS, EXIT_OK};
use didhub_harness::staircase::{self, StaircaseError};
use didhub_harness::{compat, html, impact, parity, scaffold};

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
    /// The migrations folder: it holds sqlite/, postgres/, mysql/ (or migrations/,
    /// migrations_postgres/, migrations_mysql/, or what its didhub-harness.toml names), and
    /// its settings file.
    #[arg(long, default_value = "migrations")]
    migrations: PathBuf,
}

impl Target {
    /// The backends asked for: `all` is every backend the project has a folder for.
    fn backends(&self) -> Vec<Backend> {
        match self.db {
            Selection::All => Layout::of(&self.migrations)
                .map(|layout| layout.backends())
                .unwrap_or_else(|_| Backend::ALL.to_vec()),
            one => one.backends(),
        }
    }
}

/// The exit status contract, after each checking command's example.
macro_rules! exit_status {
    () => {
        "Exit status: 0 every check passed; 1 a check found something; 2 usage error, or a \
         check could not run (no Docker daemon, a server that does not start, an unreadable \
         migrations folder or settings file)."
    };
}
const EXIT_STATUS: &str = exit_status!();

/// `--help`'s example for a command, and the exit status where it checks.
macro_rules! example {
    ($($line:literal),+ ; checks) => {
        concat!("Examples:\n", $("  ", $line, "\n",)+ "\n", exit_status!())
    };
    ($($line:literal),+) => {
        concat!("Examples:\n", $("  ", $line, "\n",)+)
    };
}

/// How to print a report.
#[derive(Args)]
struct Output {
    /// `human` text; `json`, one document with `ok` and every entry; `junit`, JUnit XML for CI
    /// test reports; `html`, one self-contained page (rendered from the json document). With
    /// json, junit and html, stdout holds only the report.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Writes the report to FILE instead of stdout (its folder is made if need be).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
    Html,
}

/// How parity reads names and SQLite's types, on top of the settings file's `[parity]`.
#[derive(Args)]
struct ParityArgs {
    /// Constraint and index names must agree across dialects where a migration gave one
    /// (also `names = true` under [parity] in the settings file).
    #[arg(long)]
    name_parity: bool,
    /// What SQLite's declared types must say: `affinity` lets TEXT hold uuids, timestamps and
    /// decimals, INTEGER booleans, REAL floats; `declared` wants the type named (also
    /// `sqlite_types` under [parity] in the settings file).
    #[arg(long, value_enum, default_value = "affinity")]
    sqlite_types: parity::SqliteTypes,
}

impl ParityArgs {
    fn rules(&self) -> parity::Rules {
        parity::Rules {
            names: self.name_parity,
            sqlite_types: self.sqlite_types,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Integrity of the folders, the lock file and the lint; the up/down staircase and the data
    /// staircase on each backend; parity across them.
    #[command(after_help = example!(
        "didhub-harness check --migrations src --db sqlite      # no Docker needed",
        "didhub-harness check --migrations migrations           # every backend it has",
        "didhub-harness check --format junit > harness-report.xml";
        checks
    ))]
    Check {
        #[command(flatten)]
        target: Target,
        /// A parity allow-list file ([[allow]] entries) used instead of the settings file's
        /// [[parity.allow]].
        #[arg(long)]
        allow: Option<PathBuf>,
        #[command(flatten)]
        parity: ParityArgs,
        /// The data fixtures folder (vNNNN/<table>.json), instead of the settings file's
        /// `fixtures`; with neither, the data staircase is skipped.
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// A lint allow-list file ([[allow]] entries) used instead of the settings file's
        /// [[lint.allow]].
        #[arg(long)]
        lint_allow: Option<PathBuf>,
        /// Also walks the PostgreSQL staircase on a primary with a streaming replica of it
        /// (containers of the local image): after each step the replica must hold the
        /// primary's schema; each step's write-ahead log and the replica's catch-up are shown.
        #[arg(long)]
        replica: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Flags statements that lock or rewrite big tables, lose data, are not atomic or do not
    /// exist in the dialect (no database needed).
    #[command(after_help = example!(
        "didhub-harness lint --migrations migrations --db postgres",
        "didhub-harness lint --migrations migrations --explain   # every rule, on or off here, and why";
        checks
    ))]
    Lint {
        #[command(flatten)]
        target: Target,
        /// A lint allow-list file ([[allow]] entries) used instead of the settings file's
        /// [[lint.allow]].
        #[arg(long)]
        lint_allow: Option<PathBuf>,
        /// Lints nothing: prints every rule, whether it runs by default and for this project
        /// (its settings' [lint]), why, and where it is documented.
        #[arg(long)]
        explain: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Only parity: walks each backend's staircase and compares the schemas.
    #[command(after_help = example!(
        "didhub-harness parity --migrations migrations --name-parity";
        checks
    ))]
    Parity {
        #[command(flatten)]
        target: Target,
        /// A parity allow-list file ([[allow]] entries) used instead of the settings file's
        /// [[parity.allow]].
        #[arg(long)]
        allow: Option<PathBuf>,
        #[command(flatten)]
        parity: ParityArgs,
        #[command(flatten)]
        output: Output,
    },
    /// What each migration does to a database under load: it fills the tables a migration
    /// touches, runs reads and writes against them, and measures each statement's duration,
    /// locks and rewrites and how long the traffic waited, against the budgets of `[impact]`.
    #[command(after_help = example!(
        "didhub-harness impact --migrations migrations --db postgres --rows 200000",
        "didhub-harness impact --db mysql --version 5 --format json > impact.json";
        checks
    ))]
    Impact {
        #[command(flatten)]
        target: Target,
        /// Rows in each table a migration touches (default: the settings' `[impact] rows`, else
        /// 200000).
        #[arg(long)]
        rows: Option<u64>,
        /// Only this version (repeatable; default every version).
        #[arg(long = "version", value_name = "VERSION")]
        versions: Vec<i64>,
        /// Keeps a transaction that read each touched table open this long while the migration
        /// starts, as a long report query would: shows the lock queue behind a waiting migration.
        #[arg(long, value_name = "MS")]
        hold_transaction_ms: Option<u64>,
        /// How long the workload runs alone before each migration, its baseline (default: the
        /// settings' `[impact] baseline_ms`, else 1000).
        #[arg(long, value_name = "MS")]
        baseline_ms: Option<u64>,
        /// The data fixtures folder (vNNNN/<table>.json) whose rows are scaled to fill a table,
        /// instead of the settings file's `fixtures`.
        #[arg(long)]
        fixtures: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Prepares every query the application sends at every migration version on each backend:
    /// which migration breaks which query, and which changes what a query returns.
    #[command(after_help = example!(
        "didhub-harness compat --migrations migrations --queries queries --db all",
        "didhub-harness compat --queries .sqlx --db postgres --since 12 --format json";
        checks
    ))]
    Compat {
        #[command(flatten)]
        target: Target,
        /// The queries: a folder of .sql files (those in it go to every backend, those in
        /// <backend>/ to one), one .sql file, or sqlx's offline data (.sqlx).
        #[arg(long, value_name = "PATH")]
        queries: PathBuf,
        /// Check from this version on (default: every version).
        #[arg(long, value_name = "VERSION")]
        since: Option<i64>,
        /// The previous release's queries, which must prepare on the new schema as well (a
        /// rolling deploy runs both): a corpus on disk, or a git reference at which the
        /// --queries corpus is read (`v1.4`, `HEAD~1`).
        #[arg(long, value_name = "PATH|GIT-REF")]
        previous: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Prints the normalised schema of each backend after the migrations (up to --version).
    #[command(after_help = example!("didhub-harness snapshot --migrations migrations --db sqlite --version 3"))]
    Snapshot {
        #[command(flatten)]
        target: Target,
        /// Stop at this version (default: every migration).
        #[arg(long)]
        version: Option<i64>,
    },
    /// Records the SHA-384 of every migration file in migrations.lock: adds new versions, and
    /// refuses to rewrite a released (locked) file that changed unless told to.
    #[command(after_help = example!(
        "didhub-harness lock --migrations migrations",
        "didhub-harness lock --migrations migrations --update 0014_add_pronouns"
    ))]
    Lock {
        /// The migrations folder (its lock file is migrations.lock there).
        #[arg(long, default_value = "migrations")]
        migrations: PathBuf,
        /// Re-lock this version as it is now (`0014_add_pronouns` or `14`); only for a migration
        /// that nobody has applied yet. Repeatable.
        #[arg(long, value_name = "NAME")]
        update: Vec<String>,
        /// Re-lock every file as it is now.
        #[arg(long)]
        force: bool,
    },
    /// One HTML page from saved JSON reports (`check`, `parity` or `lint --format json`, and
    /// `impact --format json`), rendered as `--format html` renders each.
    #[command(after_help = example!(
        "didhub-harness check --db all --format json > check.json",
        "didhub-harness impact --db all --rows 2000 --format json > impact.json",
        "didhub-harness report --check check.json --impact impact.json --output report/index.html"
    ))]
    Report {
        /// A `check`, `parity` or `lint --format json` document.
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
        /// An `impact --format json` document.
        #[arg(long, value_name = "FILE")]
        impact: Option<PathBuf>,
        /// A `plans --format json` document (`just plans`, the benches' query plans).
        #[arg(long, value_name = "FILE")]
        plans: Option<PathBuf>,
        /// The page's title.
        #[arg(long, default_value = "didhub-harness report")]
        title: String,
        /// What the reports are about (the migrations folder), shown under the title.
        #[arg(long)]
        source: Option<String>,
        /// Writes the page to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Also writes a PNG of the page's top (1280 × 3000 pixels), taken in headless
        /// chromium; needs --output.
        #[arg(long, value_name = "FILE", requires = "output")]
        screenshot: Option<PathBuf>,
    },
    /// Creates the up and down files of the next version in every driver folder.
    #[command(after_help = example!("didhub-harness new-migration add_alter_colour --migrations migrations"))]
    NewMigration {
        /// The migration's name, lower-case snake_case (e.g. add_alter_colour).
        name: String,
        /// The migrations folder.
        #[arg(long, default_value = "migrations")]
        migrations: PathBuf,
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
    match command {
        Command::Check {
            target,
            allow,
            parity,
            fixtures,
            lint_allow,
            replica,
            output,
        } => {
            let options = CheckOptions {
                allow_list: allow,
                fixtures,
                lint_allow,
                parity: parity.rules(),
                replica,
                ..CheckOptions::new(&target.migrations, &target.backends())
            };
            let checking = format!("checking {}", options.migrations.display());
            match output.format {
                Format::Human => println!("{checking}"),
                // stdout holds only the report.
                Format::Json | Format::Junit | Format::Html => eprintln!("{checking}"),
            }
            let report = Box::pin(check::run(&options)).await;
            output.print(&report, "check", &options.migrations)
        }
        Command::Parity {
            target,
            allow,
            parity,
            output,
        } => {
            let options = CheckOptions {
                allow_list: allow,
                parity: parity.rules(),
                ..CheckOptions::new(&target.migrations, &target.backends())
            };
            let report = Box::pin(check::parity(&options)).await;
            output.print(&report, "parity", &options.migrations)
        }
        Command::Lint {
            target,
            lint_allow,
            explain,
            output,
        } => {
            let (root, kinds) = (&target.migrations, target.backends());
            if explain {
                let policy = Settings::load(root)
                    .and_then(|settings| settings.lint_policy(root, lint_allow.as_deref()));
                return match policy {
                    Ok(policy) => (EXIT_OK, lint::explain(&policy)),
                    Err(e) => (EXIT_CANNOT_CHECK, format!("lint: {e}")),
                };
            }
            if output.format != Format::Human {
                let report = check::lint(root, &kinds, lint_allow.as_deref());
                return output.print(&report, "lint", root);
            }
            match check::run_lint(root, &kinds, lint_allow.as_deref()) {
                Ok(report) if report.is_ok() => (EXIT_OK, format!("lint: {report}")),
                Ok(report) => (EXIT_FINDINGS, format!("lint failed:{report}")),
                Err(e) if e.cannot_check() => (EXIT_CANNOT_CHECK, format!("lint: {e}")),
                Err(e) => (EXIT_FINDINGS, format!("lint: {e}")),
            }
        }
        Command::Impact {
            target,
            rows,
            versions,
            hold_transaction_ms,
            baseline_ms,
            fixtures,
            output,
        } => {
            let root = &target.migrations;
            let project = match Project::open(root) {
                Ok(project) => project,
                Err(e) => return (EXIT_CANNOT_CHECK, format!("impact: {e}")),
            };
            let origin = root.join(didhub_harness::project::SETTINGS_FILE);
            let mut options =
                match impact::Options::new(&project.settings.impact, &origin.display().to_string())
                {
                    Ok(options) => options,
                    Err(e) => return (EXIT_CANNOT_CHECK, format!("impact: {e}")),
                };
            options.rows = rows.unwrap_or(options.rows);
            options.versions = versions;
            options.hold_transaction = hold_transaction_ms.map(std::time::Duration::from_millis);
            options.fixtures = fixtures;
            if let Some(ms) = baseline_ms {
                options.baseline = std::time::Duration::from_millis(ms);
            }
            let backends = target.backends();
            // Ctrl-C ends the run here: the workload's tasks end with the process and the
            // containers' reaper removes the servers.
            let report = tokio::select! {
                report = Box::pin(impact::run(&project, &backends, &options)) => report,
                _ = tokio::signal::ctrl_c() => {
                    return (130, "impact: interrupted".to_owned());
                }
            };
            let text = match output.format {
                Format::Human => Ok(report.human()),
                Format::Json => Ok(report.json()),
                Format::Junit => Ok(report.check_report().junit("didhub-harness impact")),
                Format::Html => html::Page {
                    title: "didhub-harness impact".to_owned(),
                    source: Some(root.display().to_string()),
                    check: None,
                    impact: serde_json::from_str(&report.json()).ok(),
                    plans: None,
                }
                .render(),
            };
            output.emit(report.exit_code(), text)
        }
        Command::Report {
            check,
            impact,
            plans,
            title,
            source,
            output,
            screenshot,
        } => {
            let read = |path: Option<PathBuf>| -> Result<Option<serde_json::Value>, String> {
                let Some(path) = path else { return Ok(None) };
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("report: cannot read {}: {e}", path.display()))?;
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| format!("report: {} is not a JSON report: {e}", path.display()))
            };
            if check.is_none() && impact.is_none() && plans.is_none() {
                return (
                    EXIT_CANNOT_CHECK,
                    "report: nothing to show: give --check, --impact or --plans FILE".to_owned(),
                );
            }
            let page = match (read(check), read(impact), read(plans)) {
                (Ok(check), Ok(impact), Ok(plans)) => html::Page {
                    title,
                    source,
                    check,
                    impact,
                    plans,
                },
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    return (EXIT_CANNOT_CHECK, e);
                }
            };
            let output = Output {
                format: Format::Html,
                output,
            };
            let (status, text) = output.emit(EXIT_OK, page.render());
            match (&output.output, screenshot) {
                (Some(page), Some(png)) if status == EXIT_OK => {
                    match html::browser::screenshot(page, &png, 1280, 3000) {
                        Ok(()) => (status, format!("{text}; its picture to {}", png.display())),
                        Err(e) => (EXIT_CANNOT_CHECK, format!("report: {e}")),
                    }
                }
                _ => (status, text),
            }
        }
        Command::Compat {
            target,
            queries,
            since,
            previous,
            output,
        } => {
            let root = &target.migrations;
            let project = match Project::open(root) {
                Ok(project) => project,
                Err(e) => return (EXIT_CANNOT_CHECK, format!("compat: {e}")),
            };
            let read = compat::corpus::load(&queries).and_then(|mut corpus| {
                if let Some(previous) = &previous {
                    corpus.extend(compat::corpus::previous(previous, &queries)?);
                }
                Ok(corpus)
            });
            let corpus = match read {
                Ok(corpus) => corpus,
                Err(e) => return (EXIT_CANNOT_CHECK, format!("compat: {e}")),
            };
            let options = compat::Options { since };
            let report =
                Box::pin(compat::run(&project, &target.backends(), &corpus, &options)).await;
            output.print(&report, "compat", root)
        }
        Command::Snapshot { target, version } => {
            let mut text = String::new();
            for kind in target.backends() {
                let schema = match MigrationSet::load(&target.migrations, kind).await {
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
        } => {
            let written = Project::open(&migrations)
                .map_err(LockError::from)
                .and_then(|project| lock::write(&project, &Relock { update, force }));
            match written {
                Ok(written) => (EXIT_OK, written.to_string()),
                Err(e) => (EXIT_FINDINGS, e.to_string()),
            }
        }
        Command::NewMigration { name, migrations } => {
            match scaffold::new_migration(&migrations, &name) {
                Ok(made) => (EXIT_OK, made.to_string()),
                Err(e) => (EXIT_FINDINGS, e.to_string()),
            }
        }
    }
}

impl Output {
    /// The report in the chosen format, and the exit status it calls for.
    fn print(&self, report: &CheckReport, command: &str, source: &Path) -> (u8, String) {
        let text = match self.format {
            Format::Human => report.human(),
            Format::Json => report.json(),
            Format::Junit => report.junit(&format!("didhub-harness {command}")),
            Format::Html => {
                let page = html::Page {
                    title: format!("didhub-harness {command}"),
                    source: Some(source.display().to_string()),
                    check: serde_json::from_str(&report.json()).ok(),
                    impact: None,
                    plans: None,
                };
                return self.emit(report.exit_code(), page.render());
            }
        };
        self.emit(report.exit_code(), Ok(text))
    }

    /// What to print, having written the report to `--output` where one is given.
    fn emit(&self, status: u8, text: Result<String, html::HtmlError>) -> (u8, String) {
        let text = match text {
            Ok(text) => text,
            Err(e) => return (EXIT_CANNOT_CHECK, e.to_string()),
        };
        let Some(path) = &self.output else {
            return (status, text);
        };
        let written = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, text));
        match written {
            Ok(()) => (status, format!("report written to {}", path.display())),
            Err(e) => (
                EXIT_CANNOT_CHECK,
                format!("cannot write the report to {}: {e}", path.display()),
            ),
        }
    }
}
