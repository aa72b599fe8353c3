#!/usr/bin/env python3
"""The table locks `didhub-harness impact` read on PostgreSQL, statement by statement, against
what eugene (crates.io `eugene`, `eugene trace`) reports for the same statements.

    didhub-harness impact --migrations ROOT --db postgres --rows 1000 --format json > ours.json
    python3 scripts/eugene_compare.py --migrations ROOT \\
        --url postgres://postgres:pw@127.0.0.1:55432/postgres --ours ours.json \\
        [--eugene /path/to/eugene] [--show all|disagree]

ROOT is a migrations root as the harness takes it: a folder with `postgres/` in it (or the one
its didhub-harness.toml names under [folders]), or the PostgreSQL folder itself. The up files
are traced in version order, each in its own `eugene trace --commit` run on one scratch
database that this script creates on the server of --url and drops at the end, so each
migration sees the schema of the ones before it, as the harness's does.

For each statement of each up migration: the file, its line, our modes per table, eugene's
modes per table, and AGREE / DISAGREE / N/A (not comparable, with why). Only tables are
compared (relkind r and p in schema --schema), as the harness reads only those; eugene's locks
on indexes, sequences, TOAST tables and views are printed after `+` and counted apart. A
disagreement gets the likely reason where one of the known ones fits (docs/impact-vs-eugene.md).

eugene 0.8.3 builds with `cargo install eugene --locked --root DIR` once libclang-dev and
protobuf-compiler are installed (its pg_query dependency runs bindgen and prost). Any
PostgreSQL 15 server will do for --url, e.g. `docker run -d --name eugene-pg -e
POSTGRES_PASSWORD=pw -e POSTGRES_HOST_AUTH_METHOD=trust -p 127.0.0.1:55432:5432
didhub/postgres:15-local`. `just eugene-compare` (if the justfile has it) does all of this.

Exits 0 when the comparison ran (it is a report, not a verdict), 2 when it could not run.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import urllib.parse
from collections import Counter, defaultdict

TABLE_KINDS = {"Table", "PartitionedTable"}


class CannotRun(Exception):
    """The comparison cannot run at all (exit 2)."""


# --- A minimal PostgreSQL client: enough to create and drop the scratch database. ----------

class Pg:
    """Simple-query protocol over TCP; trust, cleartext, md5 and SCRAM-SHA-256 logins."""

    def __init__(self, host, port, user, password, database):
        self.sock = socket.create_connection((host, port), timeout=30)
        params = b"".join(
            k.encode() + b"\0" + v.encode() + b"\0"
            for k, v in (("user", user), ("database", database))
        ) + b"\0"
        self._send_raw(struct.pack("!ii", 8 + len(params), 196608) + params)
        self._login(user, password)

    def _send_raw(self, data):
        self.sock.sendall(data)

    def _send(self, kind, payload):
        self._send_raw(kind + struct.pack("!i", len(payload) + 4) + payload)

    def _read_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise CannotRun("PostgreSQL closed the connection")
            out += chunk
        return out

    def _recv(self):
        head = self._read_exact(5)
        kind, length = head[:1], struct.unpack("!i", head[1:])[0]
        return kind, self._read_exact(length - 4)

    @staticmethod
    def _error(payload):
        fields = dict(
            (f[:1].decode(), f[1:].decode(errors="replace"))
            for f in payload.split(b"\0") if f
        )
        return fields.get("M", "error") + (f" ({fields['C']})" if "C" in fields else "")

    def _login(self, user, password):
        scram = None
        while True:
            kind, payload = self._recv()
            if kind == b"E":
                raise CannotRun("PostgreSQL refused the login: " + self._error(payload))
            if kind == b"Z":
                return
            if kind != b"R":
                continue
            code = struct.unpack("!i", payload[:4])[0]
            if code == 3:
                self._send(b"p", password.encode() + b"\0")
            elif code == 5:
                salt = payload[4:8]
                inner = hashlib.md5((password + user).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + salt).hexdigest()
                self._send(b"p", b"md5" + outer.encode() + b"\0")
            elif code == 10:
                nonce = base64.b64encode(os.urandom(18)).decode()
                first_bare = f"n=,r={nonce}"
                message = ("n,," + first_bare).encode()
                self._send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(message)) + message)
                scram = (nonce, first_bare)
            elif code == 11:
                nonce, first_bare = scram
                server_first = payload[4:].decode()
                attrs = dict(a.split("=", 1) for a in server_first.split(","))
                if not attrs["r"].startswith(nonce):
                    raise CannotRun("SCRAM: the server's nonce does not extend ours")
                salted = hashlib.pbkdf2_hmac(
                    "sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
                )
                client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
                stored = hashlib.sha256(client_key).digest()
                final_bare = f"c=biws,r={attrs['r']}"
                auth = f"{first_bare},{server_first},{final_bare}".encode()
                signature = hmac.new(stored, auth, hashlib.sha256).digest()
                proof = bytes(a ^ b for a, b in zip(client_key, signature))
                self._send(b"p", f"{final_bare},p={base64.b64encode(proof).decode()}".encode())
            elif code in (0, 12):
                continue
            else:
                raise CannotRun(f"unsupported PostgreSQL authentication (code {code})")

    def run(self, sql):
        """Runs `sql`; the error message, or None."""
        self._send(b"Q", sql.encode() + b"\0")
        error = None
        while True:
            kind, payload = self._recv()
            if kind == b"E":
                error = self._error(payload)
            elif kind == b"Z":
                return error

    def close(self):
        try:
            self._send(b"X", b"")
        finally:
            self.sock.close()


def parse_url(url):
    u = urllib.parse.urlparse(url)
    if u.scheme not in ("postgres", "postgresql"):
        raise CannotRun(f"{url}: not a postgres:// URL")
    return {
        "host": u.hostname or "localhost",
        "port": u.port or 5432,
        "user": urllib.parse.unquote(u.username or "postgres"),
        "password": urllib.parse.unquote(u.password or ""),
        "database": (u.path or "/").lstrip("/") or "postgres",
    }


# --- The migrations. -------------------------------------------------------------------------

def postgres_folder(root):
    """The folder of PostgreSQL migrations under `root`."""
    settings = os.path.join(root, "didhub-harness.toml")
    if os.path.exists(settings):
        with open(settings, encoding="utf-8") as f:
            in_folders = False
            for line in f:
                stripped = line.split("#", 1)[0].strip()
                if stripped.startswith("["):
                    in_folders = stripped == "[folders]"
                elif in_folders:
                    m = re.match(r'postgres\s*=\s*"([^"]+)"', stripped)
                    if m:
                        return os.path.join(root, m.group(1))
    for name in ("postgres", "postgresql"):
        if os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    if os.path.isdir(root) and any(f.endswith(".sql") for f in os.listdir(root)):
        return root
    raise CannotRun(f"{root}: no PostgreSQL migrations folder")


def up_files(folder):
    """(version, path) of each up migration, in version order."""
    out = []
    for name in os.listdir(folder):
        if not name.endswith(".sql") or name.endswith(".down.sql"):
            continue
        m = re.match(r"(\d+)_", name)
        if m:
            out.append((int(m.group(1)), os.path.join(folder, name)))
    return sorted(out)


def no_transaction(path):
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    return first.strip().lower().startswith("-- no-transaction")


# --- eugene. ---------------------------------------------------------------------------------

def trace(eugene, conn, path):
    """eugene's JSON trace of one file, committed; or (None, why)."""
    cmd = [
        eugene, "trace", "--disable-temporary", "--commit", "--extra", "--accept-failures",
        "--format", "json", "--sort-mode", "none",
        "-U", conn["user"], "-d", conn["database"], "-H", conn["host"], "-p", str(conn["port"]),
        path,
    ]
    env = dict(os.environ, PGPASS=conn["password"] or "unused")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        why = (done.stderr.strip() or done.stdout.strip()).splitlines()
        return None, " ".join(why)[:300] or f"exit {done.returncode}"
    try:
        return json.loads(done.stdout), None
    except json.JSONDecodeError as e:
        return None, f"unreadable output: {e}"


def eugene_locks(statement, schema):
    """({table: {modes}}, [other relation locks]) of one traced statement."""
    tables, others = defaultdict(set), []
    for lock in statement.get("new_locks_taken", []):
        if lock["relkind"] in TABLE_KINDS and lock["schema"] == schema:
            tables[lock["object_name"]].add(lock["mode"])
        else:
            others.append(f"{lock['schema']}.{lock['object_name']} ({lock['relkind']}) "
                          f"{lock['mode']}")
    return dict(tables), sorted(others)


def our_locks(statement):
    tables = defaultdict(set)
    for lock in statement.get("locks", []):
        tables[lock["table"]].add(lock["mode"])
    return dict(tables)


def show(tables):
    if not tables:
        return "-"
    return "; ".join(f"{t}: {','.join(sorted(m))}" for t, m in sorted(tables.items()))


# --- Why two readings differ. ----------------------------------------------------------------

RENAME = re.compile(r"\bRENAME\s+TO\s+\"?(\w+)\"?", re.I)
DROP_TABLE = re.compile(r"^\s*DROP\s+TABLE\b", re.I)
DML = re.compile(r"^\s*(WITH\b.*\b)?(INSERT|UPDATE|DELETE)\b", re.I | re.S)


def pairs(tables):
    return {(t, m) for t, ms in tables.items() for m in ms}


def reasons(ours, theirs, sql, file_text, sampled, earlier, created):
    """The known reasons that fit a disagreement, by the shape of the difference. `earlier`:
    the (table, mode) pairs ours listed on the migration's earlier statements; `created`: the
    tables eugene saw this statement or an earlier one of the file create."""
    out = []
    new = pairs(ours) - earlier
    if new == pairs(theirs):
        return ["ours also lists what an earlier statement took on a table this one names; "
                "eugene lists only locks taken anew"]
    only_ours = pairs(ours) - pairs(theirs)
    only_theirs = pairs(theirs) - pairs(ours)
    renamed = {n.lower() for n in RENAME.findall(file_text)}
    if any(t in created for t, _ in only_ours):
        out.append("table dropped and created again in the file: ours keys tables by name, "
                   "eugene by oid (the new table is not one it tracks)")
    if any(t.lower() in renamed for t, _ in only_theirs):
        out.append("renamed table: ours keys tables by name and drops the new name")
    if sampled:
        out.append("ours sampled from another connection (no-transaction file)")
    if DML.match(sql) and (only_ours or only_theirs):
        out.append("row-dependent locks (foreign key checks, triggers): ours runs on filled "
                   "tables, eugene on empty ones")
    if not out:
        out.append("unexplained")
    return out


# --- The comparison. -------------------------------------------------------------------------

def compare(args):
    with open(args.ours, encoding="utf-8") as f:
        report = json.load(f)
    ours = {
        m["version"]: m for m in report.get("migrations", [])
        if m.get("backend") == "postgres" and m.get("direction") == "up"
    }
    unmeasured = {
        e.get("version"): e.get("error", "") for e in report.get("errors", [])
        if e.get("backend") == "postgres"
    }
    folder = postgres_folder(args.migrations)
    files = up_files(folder)
    if not files:
        raise CannotRun(f"{folder}: no up migrations")
    eugene = args.eugene or shutil.which("eugene")
    if not eugene or not os.path.exists(eugene):
        raise CannotRun("eugene not found (--eugene PATH, or on PATH)")

    conn = parse_url(args.url)
    scratch = f"eugene_compare_{os.getpid()}"
    try:
        admin = Pg(conn["host"], conn["port"], conn["user"], conn["password"], conn["database"])
    except OSError as e:
        raise CannotRun(f"cannot reach PostgreSQL at {conn['host']}:{conn['port']}: {e}")
    error = admin.run(f'CREATE DATABASE "{scratch}"')
    if error:
        raise CannotRun(f"cannot create the scratch database: {error}")
    counts = Counter()
    why_na = Counter()
    why_disagree = Counter()
    non_table = Counter()
    try:
        target = dict(conn, database=scratch)
        eugene_failed = None
        for version, path in files:
            name = os.path.relpath(path, args.migrations)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            traced, why = trace(eugene, target, path)
            mine = ours.get(version)
            print(f"== {name}")
            if traced is None:
                eugene_failed = eugene_failed or name
                counts["eugene_failed_files"] += 1
                print(f"   eugene failed: {why}")
            our_statements = [] if mine is None else [s for s in mine["statements"] if s["line"]]
            their_statements = [] if traced is None else traced.get("statements", [])
            concurrent = traced is not None and their_statements and all(
                not s.get("locks_at_start") and not s.get("new_locks_taken")
                and "concurrently" in s["sql"].lower() for s in their_statements
            ) and all("concurrently" in s["sql"].lower() for s in their_statements)
            by_line = {s["line_number"]: s for s in their_statements}
            lines = sorted({s["line"] for s in our_statements} | set(by_line))
            sampled = no_transaction(path)
            ours_by_line = {s["line"]: s for s in our_statements}
            earlier, created = set(), set()
            failed_at = None
            if mine is not None and mine.get("failed"):
                m = re.match(r"line (\d+):", mine["failed"])
                failed_at = int(m.group(1)) if m else 0
            for line in lines:
                o, t = ours_by_line.get(line), by_line.get(line)
                sql = (o or {}).get("sql") or " ".join((t or {}).get("sql", "").split())[:80]
                na = None
                if mine is None:
                    na = "not measured by ours: " + (unmeasured.get(version) or "absent")[:120]
                elif mine.get("locks_unread"):
                    na = "ours could not read locks: " + mine["locks_unread"]
                elif failed_at is not None and line >= failed_at and o is None:
                    na = "ours failed before it: " + mine["failed"][:120]
                elif traced is None:
                    na = "eugene failed on the file" + (
                        f" (after {eugene_failed} failed)" if eugene_failed != name else "")
                elif concurrent:
                    na = "eugene does not trace an all-CONCURRENTLY file (runs it outside a " \
                         "transaction and reads no locks)"
                elif o is None or t is None:
                    na = "statement on one side only (" + ("eugene" if o is None else "ours") + \
                         " split the file differently)"
                if na:
                    counts["na"] += 1
                    why_na[na.split(":")[0].split(" (")[0]] += 1
                    if args.show == "all":
                        print(f"   line {line:>4}  N/A      {sql}\n              why: {na}")
                        if o is not None:
                            print(f"              ours:   {show(our_locks(o))}")
                        if t is not None:
                            print(f"              eugene: {show(eugene_locks(t, args.schema)[0])}")
                    continue
                mine_tables = our_locks(o)
                their_tables, others = eugene_locks(t, args.schema)
                before, earlier = set(earlier), earlier | pairs(mine_tables)
                created |= {x["object_name"] for x in t.get("new_objects", [])
                            if x.get("relkind") in TABLE_KINDS}
                counts["compared"] += 1
                agree = mine_tables == their_tables
                counts["agree" if agree else "disagree"] += 1
                if others:
                    counts["eugene_non_table"] += 1
                    for other in others:
                        kind = re.search(r"\((\w+)\)", other).group(1)
                        non_table[kind] += 1
                if agree and args.show == "disagree":
                    continue
                blind = DROP_TABLE.match(o.get("sql", "")) is not None
                counts["drop_table"] += blind
                word = "AGREE" if agree else "DISAGREE"
                print(f"   line {line:>4}  {word:<8} {sql}")
                print(f"              ours:   {show(mine_tables)}")
                print(f"              eugene: {show(their_tables)}")
                if others:
                    print(f"              + eugene on non-tables: {'; '.join(others)}")
                if blind:
                    print("              note: eugene misses the dropped table's AccessExclusiveLock "
                          "(its pg_class row is gone when pg_locks is read); ours reads locks "
                          "by oid")
                if not agree:
                    for r in reasons(mine_tables, their_tables, o.get("sql", ""), text, sampled,
                                     before, created):
                        why_disagree[r] += 1
                        print(f"              why: {r}")
    finally:
        admin.run(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.close()

    if counts["eugene_failed_files"] == len(files):
        raise CannotRun("eugene failed on every file (see above)")
    print()
    print(f"summary for {args.migrations}")
    print(f"  migrations (up): {len(files)}")
    print(f"  statements compared: {counts['compared']}")
    print(f"  agreeing: {counts['agree']}")
    print(f"  disagreeing: {counts['disagree']}")
    for r, n in why_disagree.most_common():
        print(f"    {n} {r}")
    print(f"  not comparable: {counts['na']}")
    for r, n in why_na.most_common():
        print(f"    {n} {r}")
    print(f"  DROP TABLE statements, where eugene misses the dropped table's lock: "
          f"{counts['drop_table']}")
    print(f"  statements where eugene also reports locks on non-tables: "
          f"{counts['eugene_non_table']} ({', '.join(f'{k} {n}' for k, n in non_table.most_common()) or 'none'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--migrations", required=True, help="migrations root (or its postgres folder)")
    parser.add_argument("--url", required=True, help="postgres://user:password@host:port/db for eugene")
    parser.add_argument("--ours", required=True, help="`didhub-harness impact --format json` report")
    parser.add_argument("--eugene", help="the eugene binary (default: on PATH)")
    parser.add_argument("--schema", default="public", help="the schema the harness reads (default public)")
    parser.add_argument("--show", choices=["all", "disagree"], default="all")
    args = parser.parse_args()
    try:
        compare(args)
    except CannotRun as e:
        print(f"eugene_compare: {e}", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError, KeyError) as e:
        print(f"eugene_compare: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
