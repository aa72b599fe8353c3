#!/usr/bin/env python3
"""Injected defects on real projects: how many of them `didhub-harness check` reports.

Each defect is one edit a developer could make by mistake, in one dialect of a project in
../shared/peers (a nullability, an ON DELETE action, a type or a default changed; a down that
forgets an index or a column). For each, the project is copied to a temporary folder (the peers
are read in place, never changed), the edit is made there, and `check --db all --format json`
runs on the copy and on an unchanged copy. A defect counts as reported when the copy has a
finding the unchanged one does not (compared by what it names: step, backend, version, file,
rule, table, column, object, aspect, values, not by its wording) about the table the edit
touched.

    cargo build -p didhub-harness
    python3 scripts/peer-defects.py [--binary target/debug/didhub-harness] [ID ...]

Needs Docker (PostgreSQL and MariaDB containers, as `check` does). Prints one line per defect
and the total; exits 0 (a figure, not a verdict).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "..", "shared", "peers")
# How vaultwarden's own runner runs its MySQL migrations (foreign key checks off).
SETTINGS = {"vaultwarden": os.path.join(ROOT, "fixtures", "peers", "vaultwarden.toml")}

# id, project, file in its corpus, text replaced, replacement, table the edit touches.
DEFECTS = [
    ("atuin-1", "atuin", "sqlite/20231203124112_create-store.sql",
     "\thost text not null,", "\thost text,", "store"),
    ("atuin-2", "atuin", "sqlite/20231203124112_create-store.sql",
     "\ttag text not null,", "\ttag integer not null,", "store"),
    ("atuin-3", "atuin", "postgres/20231202170508_create-store.sql",
     "\tcreated_at timestamp not null default current_timestamp",
     "\tcreated_at timestamp not null default '1970-01-01 00:00:00'", "store"),
    ("atuin-4", "atuin", "sqlite/20240621110731_create-user-verification-token.sql",
     "user_id bigint unique references users(id),",
     "user_id bigint unique references users(id) on delete cascade,", "user_verification_token"),
    ("atuin-5", "atuin", "postgres/20210425153745_create_history.sql",
     "\thostname text not null,", "\thostname text,", "history"),
    ("plume-1", "plume", "sqlite/20220104122156_create_email_signups_table.up.sql",
     "  token VARCHAR NOT NULL,", "  token VARCHAR,", "email_signups"),
    ("plume-2", "plume", "postgres/20190620145757_timeline.up.sql",
     "blog_id integer REFERENCES blogs ON DELETE CASCADE,",
     "blog_id integer REFERENCES blogs ON DELETE SET NULL,", "list_elems"),
    ("plume-3", "plume", "postgres/20210223153402_medias_index_file_path.down.sql",
     "DROP INDEX medias_index_file_path;", "-- This file should undo anything in `up.sql`",
     "medias"),
    ("plume-4", "plume", "sqlite/20190604102747_create_password_reset_requests_table.up.sql",
     "  expiration_date DATETIME NOT NULL", "  expiration_date INTEGER NOT NULL",
     "password_reset_requests"),
    ("plume-5", "plume", "sqlite/20200105232816_add_blocklist.up.sql",
     "notify_user BOOLEAN DEFAULT FALSE,", "notify_user BOOLEAN DEFAULT TRUE,", "email_blocklist"),
    ("vaultwarden-1", "vaultwarden", "mysql/20260309005927_add_archives.up.sql",
     "REFERENCES ciphers (uuid) ON DELETE CASCADE", "REFERENCES ciphers (uuid)", "archives"),
    ("vaultwarden-2", "vaultwarden", "sqlite/20260309005927_add_archives.up.sql",
     "archived_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,",
     "archived_at DATETIME NOT NULL DEFAULT (datetime('now', 'localtime')),", "archives"),
    ("vaultwarden-3", "vaultwarden", "mysql/20260425120000_sso_auth_binding.down.sql",
     "ALTER TABLE sso_auth DROP COLUMN binding_hash;",
     "-- This file should undo anything in `up.sql`", "sso_auth"),
    ("vaultwarden-4", "vaultwarden", "sqlite/20240904091351_use_device_type_for_mails.down.sql",
     "ALTER TABLE `twofactor_incomplete` DROP COLUMN `device_type`;",
     "-- This file should undo anything in `up.sql`", "twofactor_incomplete"),
    ("vaultwarden-5", "vaultwarden", "postgres/20191010083032_add_column_to_twofactor.up.sql",
     "last_used INTEGER NOT NULL DEFAULT 0", "last_used SMALLINT NOT NULL DEFAULT 0", "twofactor"),
]

KEY = ("check", "backend", "version", "file", "rule", "table", "column", "object", "aspect")


def copy(project, into):
    shutil.copytree(os.path.join(PEERS, project, "corpus"), into)
    if project in SETTINGS:
        shutil.copy(SETTINGS[project], os.path.join(into, "didhub-harness.toml"))


def findings(binary, folder):
    done = subprocess.run(
        [binary, "check", "--db", "all", "--migrations", folder, "--format", "json"],
        capture_output=True, text=True, timeout=900,
    )
    report = json.loads(done.stdout)
    errors = [e["message"] for e in report["entries"] if e["status"] == "error"]
    if errors:
        sys.exit(f"{folder}: a check could not run: {errors}")
    return Counter(
        tuple(json.dumps(f.get(k), sort_keys=True) for k in KEY + ("values",))
        for e in report["entries"]
        for f in e.get("findings", [])
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "didhub-harness"))
    parser.add_argument("ids", nargs="*", help="defects to run (default: all)")
    args = parser.parse_args()
    chosen = [d for d in DEFECTS if not args.ids or d[0] in args.ids]
    baselines = {}
    caught = 0
    with tempfile.TemporaryDirectory() as work:
        for ident, project, path, old, new, table in chosen:
            if project not in baselines:
                base = os.path.join(work, project)
                copy(project, base)
                baselines[project] = findings(args.binary, base)
            folder = os.path.join(work, ident)
            copy(project, folder)
            target = os.path.join(folder, path)
            with open(target) as f:
                text = f.read()
            if text.count(old) != 1:
                sys.exit(f"{ident}: {path} no longer holds the text to change once")
            with open(target, "w") as f:
                f.write(text.replace(old, new))
            added = findings(args.binary, folder) - baselines[project]
            about = [k for k in added if json.loads(k[KEY.index("table")]) == table]
            caught += bool(about)
            said = "; ".join(
                " ".join(str(json.loads(v)) for v in k if json.loads(v) is not None)
                for k in about[:2]
            )
            print(f"{'reported' if about else 'missed  '} {ident}: {path}: {said}", flush=True)
    print(f"peer-defects: {caught} of {len(chosen)} reported")


if __name__ == "__main__":
    main()
