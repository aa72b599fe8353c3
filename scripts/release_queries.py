#!/usr/bin/env python3
"""The statements an earlier release of DIDHub's server sent, as a compat corpus
(fixtures/compat/releases/<version>/<backend>/server.sql), so that `didhub-harness compat`
can prove each later schema still serves that release during a rolling deploy.

  release_queries.py COMMIT VERSION [OUT]

COMMIT is the last commit whose newest migration is VERSION (the release that ran on it).
Where that commit holds the server's own corpus (fixtures/compat/didhub, kept by `just
server-queries`), it is copied from there. Before the server recorded its statements, the
release's API tests are run from a git worktree on each backend with a recorder added
(scripts/release_queries/record_statements.rs: every statement sqlx logs).

Kept: what the server sent. Left out: the migrations the test harness applied (whole files,
and sqlx's `_sqlx_migrations` bookkeeping), statements written literally in the release's
tests or harness (the tests' own probes), CREATE/DROP DATABASE, the benches' EXPLAIN, and
sqlx's own transaction control, session settings and pings.
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).parent))
import server_queries  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
RECORDER = pathlib.Path(__file__).parent / "release_queries" / "record_statements.rs"
TARGET = pathlib.Path(tempfile.gettempdir()) / "didhub-release-target"


def run(*args, **kwargs):
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run(args, check=True, **kwargs)


def worktree(commit):
    path = pathlib.Path(tempfile.gettempdir()) / f"didhub-release-{commit}"
    if not path.exists():
        run("git", "-C", ROOT, "worktree", "add", "--detach", path, commit)
    run("git", "-C", path, "checkout", "--force", commit)
    return path


def patch(tree, commit):
    """Adds the recorder to the release's API tests; fails naming the file when the release's
    test support has a shape this does not know."""
    api = tree / "server" / "tests" / "api"
    (api / "record_statements.rs").write_text(RECORDER.read_text())
    main = api / "main.rs"
    main.write_text(main.read_text() + "\nmod record_statements;\n")
    support = api / "support.rs"
    text = support.read_text()
    if "set_global_default(subscriber)" in text:
        # The release installs its own subscriber (warnings of failed tests): the recorder is
        # added beside it, and sqlx's statements let through its filter.
        patched = text.replace('EnvFilter::new("info")', 'EnvFilter::new("info,sqlx::query=debug")')
        patched = patched.replace(
            ".with(warnings);", ".with(warnings)\n.with(crate::record_statements::Recorder::from_env());"
        )
        expected = 2
    else:
        start = "pub async fn start(backend: Backend) -> TestApp {"
        patched = text.replace(start, start + "\ncrate::record_statements::install();")
        expected = 1
    changed = sum(1 for a, b in zip(text.splitlines(), patched.splitlines()) if a != b)
    if changed < expected:
        sys.exit(f"{commit}: {support} has no place known to add the recorder to")
    support.write_text(patched)


def normal(sql):
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").strip()


def left_out(tree):
    """Normalized texts that are not the server's: migration files, the tests' and harness's
    literal SQL (as one normalized text each, searched for each statement)."""
    migrations = set()
    for file in tree.glob("migrations/**/*.sql"):
        migrations.add(normal(file.read_text()))
    sources = " ".join(
        normal(f.read_text()) for d in ("server/tests", "harness/src") for f in (tree / d).glob("**/*.rs")
    )
    return migrations, sources


# The test harness reading the schema: catalogs, never the server's.
CATALOGS = re.compile(
    r"\b(pg_attribute|pg_constraint|pg_class|pg_index|pg_namespace|pg_type|information_schema|"
    r"sqlite_master|sqlite_schema|pragma_\w+|current_database|current_setting)\b",
    re.I,
)


def dialect_of(sql):
    """`postgres` for $n placeholders, `?` for the others, None for a statement without any."""
    outside = re.sub(r"'[^']*'", "''", sql)
    if re.search(r"\$\d", outside):
        return "postgres"
    if "?" in outside:
        return "?"
    return None


def servers(sql, backend, migrations, sources):
    text = normal(sql)
    placeholders = dialect_of(text)
    return not (
        # A test named for one backend that also opens another (a copy from SQLite) sends that
        # one's statements too: a statement in another dialect's placeholders is not this one's.
        (placeholders == "postgres") != (backend == "postgres") and placeholders is not None
        or CATALOGS.search(text)
        or text in migrations
        or "_sqlx_migrations" in text
        or re.match(r"(CREATE|DROP) DATABASE\b", text, re.I)
        # sqlx's own: transaction control, session settings at connect and the pool's ping;
        # none of them reads the schema.
        or re.match(r"(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|PRAGMA)\b|SELECT 1$", text, re.I)
        or (len(text) > 12 and text in sources)
    )


def record(tree, recording):
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    # The target folder is shared by the releases for their dependencies; the workspace's own
    # crates, the same names at other paths, are built again for each release (cargo's
    # freshness check can take one release's build for another's).
    members = [a for m in ("didhub-server", "didhub-harness", "didhub-migrations") for a in ("-p", m)]
    run("cargo", "clean", "--quiet", *members, cwd=tree, env=env)
    for backend in server_queries.BACKENDS:
        others = [b for b in server_queries.BACKENDS if b != backend]
        env.update(DIDHUB_RECORD_STATEMENTS=str(recording), DIDHUB_RECORD_BACKEND=backend)
        # Tests whose names hold two backends (copies between them) are left out: their
        # statements could not be told apart.
        filter_args = [backend] + [a for o in others for a in ("--skip", o)]
        result = subprocess.run(
            ["cargo", "test", "--quiet", "-p", "didhub-server", "--all-features", "--test", "api", "--", *filter_args],
            cwd=tree,
            env=env,
        )
        if result.returncode != 0:
            print(f"{backend}: some of the release's tests failed here; what they sent is recorded", flush=True)


def kept_by_server(commit, out):
    """Copies the corpus the server kept at `commit`; False where it kept none."""
    kept = {}
    for backend in server_queries.BACKENDS:
        path = f"fixtures/compat/didhub/{backend}/server.sql"
        shown = subprocess.run(
            ["git", "-C", ROOT, "show", f"{commit}:{path}"], capture_output=True, text=True
        )
        if shown.returncode != 0:
            return False
        kept[backend] = shown.stdout
    for backend, text in kept.items():
        (out / backend).mkdir(parents=True, exist_ok=True)
        (out / backend / "server.sql").write_text(text)
    print(f"copied {commit}'s own corpus into {out}")
    return True


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__)
        return 2
    commit, version = sys.argv[1], sys.argv[2]
    out = pathlib.Path(sys.argv[3] if len(sys.argv) == 4 else ROOT / "fixtures/compat/releases") / version
    full = run("git", "-C", ROOT, "rev-parse", commit, capture_output=True, text=True).stdout.strip()
    if kept_by_server(commit, out):
        return 0
    tree = worktree(commit)
    patch(tree, commit)
    # Kept between runs: what is left out can be changed without running the tests again.
    recording = pathlib.Path(tempfile.gettempdir()) / f"didhub-release-{commit}.jsonl"
    if not recording.exists():
        record(tree, recording.with_suffix(".partial"))
        recording.with_suffix(".partial").rename(recording)
    migrations, sources = left_out(tree)
    kept = {b: set() for b in server_queries.BACKENDS}
    dropped = 0
    for line in recording.read_text().splitlines():
        entry = json.loads(line)
        if servers(entry["sql"], entry["backend"], migrations, sources):
            kept[entry["backend"]].update(server_queries.statements(entry["sql"]))
        else:
            dropped += 1
    print(f"{dropped} recorded statements were not the server's")
    header = (
        "-- Every statement the release of DIDHub's server at {commit} (newest migration {version})\n"
        "-- prepared on {backend} during its own API tests: scripts/release_queries.py {short} {version}.\n\n"
    )
    server_queries.write(kept, out, lambda backend: header.format(commit=full, version=version, backend=backend, short=commit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
