# DIDHub database layer — entry points. CI runs `just test-all-dbs`, exactly as users do.

set shell := ["bash", "-euo", "pipefail", "-c"]

config := "fixtures/config.example.json"

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
test:
    cargo test --workspace

# Everything CI checks: formatting, lints, and every test on SQLite, PostgreSQL and MySQL
# (containers; needs Docker — `just images` first where no registry can be reached)
test-all-dbs: lint
    INSTA_UPDATE=no cargo test --workspace --all-features

# Integrity, lock file, lint, staircase and parity of the migrations (`--db sqlite|postgres|mysql|all`)
check *ARGS="--db all":
    cargo run -p didhub-harness -- check {{ARGS}}

# Scaffold the next migration: NNNN_NAME.{up,down}.sql in sqlite/, postgres/ and mysql/
new-migration NAME:
    cargo run -q -p didhub-harness -- new-migration "{{NAME}}"

# Print how each backend executes the hot queries (`--db sqlite|postgres|mysql|all --alters N`)
plans *ARGS="--db all":
    cargo run --release -p didhub-benches --bin plans -- {{ARGS}}

# criterion benchmarks: hot queries with and without their index, the pool sweep, HTTP end to end.
# `just bench sqlite 10000,100000,1000000 [criterion filter]`; reports in target/criterion
bench db="all" sizes="10000,100000" *ARGS:
    DIDHUB_BENCH_DB={{db}} DIDHUB_BENCH_SIZES={{sizes}} cargo bench -p didhub-benches --features containers -- {{ARGS}}
    cargo run --release -p didhub-benches --bin bench-report

# Concurrent writers through the HTTP API (`just load sqlite 30 64`): prints writes/s, latencies,
# errors and lost rows per backend; exits non-zero on any error or lost row
load db="all" seconds="30" writers="64":
    cargo run --release -p didhub-benches --bin writers -- --db {{db}} --seconds {{seconds}} --writers {{writers}}

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
