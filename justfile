# DIDHub database layer — entry points. CI runs `just test-all-dbs`, exactly as users do.

set shell := ["bash", "-euo", "pipefail", "-c"]

config := "fixtures/config.example.json"

# Clippy as the compiler of the workspace's own crates (dependencies are built by rustc as
# always): one build both lints, warnings as errors, and makes the test binaries, where
# `cargo clippy` followed by `cargo test` built everything twice. This is how `cargo clippy`
# itself drives clippy-driver; `just lint` runs the plain form.
clippy_build := "RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

# Tests spend most of their time waiting for a database, so three per core keep the machine
# busy where one per core (libtest's default) left it idle; `RUST_TEST_THREADS=N just …` overrides.
export RUST_TEST_THREADS := env_var_or_default("RUST_TEST_THREADS", "6")

# List the recipes
default:
    @just --list

# Run the reference server on SQLite (data/didhub.sqlite), port 6000, with the example config
serve *ARGS:
    cargo run --release --bin didhub-server -- -c {{config}} {{ARGS}}

# Create the bootstrap admin and the demo user, system and alters (idempotent)
seed *ARGS:
    cargo run --release --bin seed -- -c {{config}} {{ARGS}}

# Fast tests: SQLite only, no Docker
test: browser
    cargo test --workspace

# Debian's chromium, in which the HTML report's tests load its pages (headless)
browser:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v chromium >/dev/null 2>&1; then
        sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    fi

# The HTML report (target/report/index.html, and a PNG of it taken in chromium) of DIDHub's
# migrations: check, impact (2,000 rows a table, a 200 ms baseline) and the hot queries' plans
# (10,000 alters) on every backend; and of vaultwarden's, read in place from ../shared/peers
# (target/report/vaultwarden/). Needs Docker.
report: browser
    #!/usr/bin/env bash
    set -euo pipefail
    # The binaries the test build makes (cargo builds a package's binaries for its integration
    # tests), built as test-all-dbs builds them (see clippy_build): after the tests, nothing is
    # built again.
    {{clippy_build}} cargo test --workspace --all-features --no-run --quiet
    bin=${CARGO_TARGET_DIR:-target}/debug
    out=${CARGO_TARGET_DIR:-target}/report
    mkdir -p "$out/vaultwarden"
    # Exit 1 is a finding, which the page shows; 2 (could not check) stops here.
    findings() { "$@" || [ $? -eq 1 ]; }
    findings "$bin/didhub-harness" check --migrations migrations --db all --format json \
        --output "$out/check.json"
    findings "$bin/didhub-harness" impact --migrations migrations --db all --rows 2000 \
        --baseline-ms 200 --format json --output "$out/impact.json"
    findings "$bin/plans" --db all --format json --output "$out/plans.json"
    "$bin/didhub-harness" report --check "$out/check.json" --impact "$out/impact.json" \
        --plans "$out/plans.json" --title "DIDHub migrations" --source migrations \
        --output "$out/index.html" --screenshot "$out/index.png"
    # vaultwarden's own runner turns MySQL's foreign key checks off: its folders, linked beside
    # those settings (the peer's folder is not ours to write to).
    corpus=$(realpath ../shared/peers/vaultwarden/corpus)
    linked=$(mktemp -d)
    trap 'rm -rf "$linked"' EXIT
    for dialect in sqlite postgres mysql; do ln -s "$corpus/$dialect" "$linked/$dialect"; done
    cp fixtures/peers/vaultwarden.toml "$linked/didhub-harness.toml"
    findings "$bin/didhub-harness" check --migrations "$linked" --db all --format json \
        --output "$out/vaultwarden/check.json"
    "$bin/didhub-harness" report --check "$out/vaultwarden/check.json" \
        --title "vaultwarden migrations" --source "$corpus" \
        --output "$out/vaultwarden/index.html" --screenshot "$out/vaultwarden/index.png"

# Needs Docker (`just images` first where no registry can be reached). One build serves clippy
# and the tests (see clippy_build).
# Everything CI checks: formatting, clippy and every test on SQLite, PostgreSQL and MySQL
test-all-dbs: fuzz-tools browser build-tests
    #!/usr/bin/env bash
    set -euo pipefail
    started=$SECONDS
    # The test binaries share their PostgreSQL and MySQL servers, removed when this shell ends.
    export DIDHUB_TEST_SESSION=${DIDHUB_TEST_SESSION:-$$}
    # Every statement the server prepares is recorded (server/src/db/record.rs), and must be in
    # the corpus `didhub-harness compat` checks (fixtures/compat/didhub).
    export DIDHUB_RECORD_STATEMENTS=$(mktemp)
    {{clippy_build}} INSTA_UPDATE=no cargo test --workspace --all-features
    python3 scripts/server_queries.py check "$DIDHUB_RECORD_STATEMENTS" fixtures/compat/didhub
    rm -f "$DIDHUB_RECORD_STATEMENTS"
    just test-pgbouncer
    echo "test-all-dbs: the tests took $((SECONDS - started)) s"

# The API suite's PostgreSQL cases again, the server reaching PostgreSQL through pgbouncer in
# transaction pooling (database.pooler = "transaction", docs/operations.md). Needs Docker.
test-pgbouncer:
    {{clippy_build}} DIDHUB_TEST_POSTGRES_POOLER=pgbouncer cargo test --workspace --all-features --test api --quiet -- postgres

# An earlier release's statements as a compat corpus (fixtures/compat/releases/VERSION): the
# corpus the server kept at COMMIT, or, for a release older than that, its own API tests run
# from a git worktree with sqlx's statement log recorded. COMMIT is the last one whose newest
# migration is VERSION; keep it before adding the next migration. Needs Docker.
release-queries COMMIT VERSION:
    python3 scripts/release_queries.py {{COMMIT}} {{VERSION}}

# The server's statements as a compat corpus (fixtures/compat/didhub): every test run on every
# backend with the server recording what it prepares. Needs Docker.
server-queries: fuzz-tools build-tests
    #!/usr/bin/env bash
    set -euo pipefail
    export DIDHUB_TEST_SESSION=${DIDHUB_TEST_SESSION:-$$}
    export DIDHUB_RECORD_STATEMENTS=$(mktemp)
    {{clippy_build}} INSTA_UPDATE=no cargo test --workspace --all-features --quiet
    python3 scripts/server_queries.py write "$DIDHUB_RECORD_STATEMENTS" fixtures/compat/didhub
    rm -f "$DIDHUB_RECORD_STATEMENTS"

# schemathesis at the version the fuzz test expects (benches/src/fuzz.rs), from PyPI
fuzz-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    version=$(sed -n 's/^pub const SCHEMATHESIS_VERSION: &str = "\(.*\)";/\1/p' benches/src/fuzz.rs)
    if ! schemathesis --version 2>/dev/null | grep -qF "$version"; then
        python3 -m pip install --quiet "schemathesis==$version"
        # pyenv reaches new scripts only through shims, written by a rehash.
        if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
    fi

# schemathesis, every check and the stateful phase, against the reference server as an
# administrator and as a user (`just fuzz sqlite 100`); exits non-zero on any failure
fuzz db="all" examples="100": fuzz-tools
    cargo run --release -p didhub-benches --bin fuzz -- --db {{db}} --examples {{examples}}

# Formatting, clippy and the test build: the first half of test-all-dbs, which needs no Docker
build-tests:
    #!/usr/bin/env bash
    set -euo pipefail
    started=$SECONDS
    cargo fmt --all -- --check
    {{clippy_build}} cargo test --workspace --all-features --no-run
    echo "build-tests: formatting, clippy and the build took $((SECONDS - started)) s"

# Prints the build's time, each test binary's, the slowest tests and the time per phase
# (container start, fresh databases, app start, requests). Arguments go to cargo test. The tool
# is run from the test build, which makes it with the tests' features: `cargo run` would
# resolve features differently and rebuild half the dependencies.
# Where the test suite's time goes (`just test-times`, or with cargo test arguments)
test-times *ARGS="--workspace --all-features":
    {{clippy_build}} cargo test -q --workspace --all-features --no-run
    {{clippy_build}} INSTA_UPDATE=no target/debug/test-times -- {{ARGS}}

# Integrity, lock file, lint, staircase and parity of the migrations (`--db sqlite|postgres|mysql|all`)
check *ARGS="--db all":
    cargo run -p didhub-harness -- check {{ARGS}}

# What each of DIDHub's migrations does under load (duration, locks, rewrites, how long reads and
# writes wait), at each size, as the table in docs/migrations.md; exits 1 when one is over budget
# What DIDHub's migrations do to a busy database (`just impact postgres 200000`)
impact db="all" rows="200000 1000000":
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release -p didhub-harness
    reports=()
    status=0
    for n in {{rows}}; do
        report="${CARGO_TARGET_DIR:-target}/impact-{{db}}-$n.json"
        "${CARGO_TARGET_DIR:-target}/release/didhub-harness" impact --migrations migrations \
            --db {{db}} --rows "$n" --format json > "$report" || status=$?
        reports+=("$report")
    done
    python3 scripts/impact_table.py "${reports[@]}"
    exit "$status"

# impact's PostgreSQL locks per statement against eugene's `trace` (docs/impact-vs-eugene.md): eugene is built from crates.io into a cache folder, with the Debian packages its build needs
eugene-compare migrations="migrations" rows="1000":
    #!/usr/bin/env bash
    set -euo pipefail
    tools="${EUGENE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/didhub/eugene}"
    if [ ! -x "$tools/bin/eugene" ]; then
        # pg_query, which eugene parses with, runs bindgen (libclang) and prost (protoc).
        if ! command -v protoc >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev protobuf-compiler >/dev/null
        fi
        nice -n 19 cargo install eugene --version 0.8.3 --locked --root "$tools"
    fi
    cargo build --release -p didhub-harness
    report="${CARGO_TARGET_DIR:-target}/impact-eugene.json"
    status=0
    "${CARGO_TARGET_DIR:-target}/release/didhub-harness" impact --migrations {{migrations}} \
        --db postgres --rows {{rows}} --format json > "$report" || status=$?
    [ "$status" -le 1 ] || exit "$status"
    name="eugene-pg-$$"
    docker run -d --rm --name "$name" -e POSTGRES_PASSWORD=pw -e POSTGRES_HOST_AUTH_METHOD=trust \
        -e POSTGRES_FAST=1 -p 127.0.0.1::5432 didhub/postgres:15-local > /dev/null
    trap 'docker rm -f "$name" > /dev/null' EXIT
    port=$(docker port "$name" 5432/tcp | head -n 1 | sed 's/.*://')
    until docker exec "$name" pg_isready -q -h 127.0.0.1; do sleep 0.5; done
    python3 scripts/eugene_compare.py --migrations {{migrations}} --ours "$report" \
        --url "postgres://postgres:pw@127.0.0.1:$port/postgres" --eugene "$tools/bin/eugene"

# Scaffold the next migration: NNNN_NAME.{up,down}.sql in sqlite/, postgres/ and mysql/
new-migration NAME:
    cargo run -q -p didhub-harness -- new-migration "{{NAME}}"

# `check --db all` on the real projects in ../shared/peers, read in place: every backend walks
# every version, and the figures (findings per check) are printed
peers:
    cargo test -p didhub-harness --features containers --test integration peers:: -- --nocapture --test-threads 1

# Fifteen defects injected one at a time into copies of the peers (a nullability, an ON DELETE, a
# type or a default changed in one dialect; a down that forgets an index or a column): which `check` reports
peer-defects:
    cargo build -p didhub-harness
    python3 scripts/peer-defects.py --binary "${CARGO_TARGET_DIR:-target}/debug/didhub-harness"

# Whether vendor/<crate> is exactly the published crate plus vendor/patches (vendor/README.md)
vendored:
    python3 scripts/vendored.py

# Print how each backend executes the hot queries (`--db sqlite|postgres|mysql|all --alters N`)
plans *ARGS="--db all":
    cargo run --release -p didhub-benches --bin plans -- {{ARGS}}

# criterion benchmarks: hot queries with and without their index, the pool sweep, HTTP end to end.
# `just bench sqlite 10000,100000,1000000 [criterion filter]`; reports in target/criterion
bench db="all" sizes="10000,100000" *ARGS:
    DIDHUB_BENCH_DB={{db}} DIDHUB_BENCH_SIZES={{sizes}} cargo bench -p didhub-benches --features containers -- {{ARGS}}
    cargo run --release -p didhub-benches --bin bench-report

# Concurrent writers through the HTTP API (`just load sqlite 30 64`): prints writes/s, latencies,
# errors and lost rows per backend; exits non-zero on any error or lost row.
# `just load postgres-replicated 10`: reads on a streaming replica against the primary alone and
# writes through pgbouncer against direct, 5 rounds each, alternated (docs/operations.md)
load db="all" seconds="30" writers="64":
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "{{db}}" = postgres-replicated ]; then
        cargo run --release -p didhub-benches --bin replicated -- --seconds {{seconds}} --writers {{writers}}
    else
        cargo run --release -p didhub-benches --bin writers -- --db {{db}} --seconds {{seconds}} --writers {{writers}}
    fi

# Interleaved round by round, so that the machine's noise falls on both sides.
# The point lookup through the store against the bare driver and pgbench (`just lookup-ratio postgres 15`)
lookup-ratio db="all" rounds="15":
    cargo run --release -p didhub-benches --bin lookup-ratio -- --db {{db}} --rounds {{rounds}}

# Resource exhaustion on a release build over SQLite: concurrent registrations (memory, answers)
# and partial requests (when they are closed, /health meanwhile, CPU, accept errors)
exhaustion registrations="150" partial="1100":
    cargo build --release -p didhub-server
    python3 scripts/exhaustion.py --binary "${CARGO_TARGET_DIR:-target}/release/didhub-server" --registrations {{registrations}} --partial {{partial}}

# h2load (many HTTP/2 streams, one run with a window of 0) and slowhttptest (slow heads, slow
# bodies, slow readers), on a release build, or on `binary` (CI: the server the tests built).
# The HTTP layer under tools no one here wrote: peak memory and /health per case, within budgets
http-limits binary="" seconds="15": http-tools
    #!/usr/bin/env bash
    set -euo pipefail
    binary="{{binary}}"
    if [ -z "$binary" ]; then
        cargo build --release -p didhub-server
        binary="${CARGO_TARGET_DIR:-target}/release/didhub-server"
    fi
    python3 scripts/http-limits.py --binary "$binary" --seconds {{seconds}}

# h2load and slowhttptest, from Debian's packages
http-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v h2load >/dev/null || ! command -v slowhttptest >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq nghttp2-client slowhttptest >/dev/null
    fi

# GET /api/alters/{id} and /health under wrk (32 connections) on a release build over SQLite
wrk:
    cargo build --release -p didhub-server
    bash scripts/wrk.sh "${CARGO_TARGET_DIR:-target}/release/didhub-server"

# Write fixtures/openapi.json, the document the server serves (a test holds the two together)
openapi:
    cargo run -q -p didhub-server --bin didhub-server -- openapi > fixtures/openapi.json

# Build the local PostgreSQL 15 and MariaDB 10.11 images (Debian packages, no registry needed)
images:
    bash fixtures/images/build.sh

# Format the code
fmt:
    cargo fmt --all

# Formatting and clippy, warnings as errors
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings
