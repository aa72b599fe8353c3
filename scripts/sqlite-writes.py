#!/usr/bin/env python3
"""The floor under `just load sqlite`: SQLite alone, one connection, on the database file the
API's writers used, with the server's settings (WAL, synchronous=NORMAL, a checkpoint now and
then rather than in a commit), writing what one API write writes: an alter and its audit entry,
then COMMIT, one transaction after another for SECONDS.

    python3 scripts/sqlite-writes.py DATABASE SYSTEM_ID USER_ID SECONDS

Prints one line: `transactions N seconds S` (the `writers` bench prints its ratio). Python's
sqlite3 module calls the C library directly: no driver, no thread hand-off, no HTTP. The rows it
writes are deleted at the end, in one transaction, so the file is left as it was found.
"""

import sqlite3
import sys
import time
import uuid


def main():
    path, system_id, user_id, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA wal_autocheckpoint=0")
    alter = (
        "INSERT INTO alters (id, system_id, name, description, interests, is_host, is_dormant,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, '[]', 0, 0, ?, ?)"
    )
    audit = (
        "INSERT INTO audit_logs (id, user_id, action, entity_type, entity_id, ip, metadata,"
        " created_at) VALUES (?, ?, 'alter.create', 'alter', ?, '127.0.0.1', '{}', ?)"
    )
    written = []
    started = time.perf_counter()
    deadline = started + seconds
    last_checkpoint = started
    n = 0
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        if now - last_checkpoint >= 1.0:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            last_checkpoint = now
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        alter_id, audit_id = str(uuid.uuid4()), str(uuid.uuid4())
        db.execute("BEGIN IMMEDIATE")
        db.execute(alter, (alter_id, system_id, f"anchor {n}", "written by the anchor", stamp, stamp))
        db.execute(audit, (audit_id, user_id, alter_id, stamp))
        db.execute("COMMIT")
        written.append((alter_id, audit_id))
        n += 1
    elapsed = time.perf_counter() - started
    db.execute("BEGIN IMMEDIATE")
    db.executemany("DELETE FROM audit_logs WHERE id = ?", [(a,) for _, a in written])
    db.executemany("DELETE FROM alters WHERE id = ?", [(a,) for a, _ in written])
    db.execute("COMMIT")
    db.close()
    print(f"transactions {n} seconds {elapsed:.6f}")


if __name__ == "__main__":
    main()
