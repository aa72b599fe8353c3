#!/usr/bin/env python3
"""The table of docs/migrations.md from `didhub-harness impact --format json` reports.

Usage: impact_table.py REPORT.json [REPORT.json ...]

One row per migration, backend, size and direction: its duration, the locks that kept reads
or writes waiting (mode on table), the tables it rewrote, the worst read and write the
workload saw during it against the baseline's p99, and the verdict against the budgets.
"""

import json
import sys

BACKENDS = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MariaDB"}


def blocking_locks(m):
    seen = []
    for s in m["statements"]:
        for lock in s["locks"]:
            if not (lock["blocks_reads"] or lock["blocks_writes"]):
                continue
            what = "reads, writes" if lock["blocks_reads"] and lock["blocks_writes"] else "writes"
            text = f"{lock['mode']}{' on ' + lock['table'] if lock['table'] else ''} ({what})"
            if text not in seen:
                seen.append(text)
    return "; ".join(seen) or "—"


def verdict(m):
    if m["failed"]:
        return "failed: " + m["failed"].split(":")[0]
    if m["over_budget"] and m["allowed"]:
        return "allowed"
    if m["over_budget"]:
        return "**over budget**"
    return "ok"


def main(paths):
    rows = []
    errors = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        for m in report["migrations"]:
            rewritten = sorted({t for s in m["statements"] for t in s["rewritten"]})
            rows.append((
                m["version"], list(BACKENDS).index(m["backend"]), m["rows"], m["direction"] != "up",
                f"| {m['file'].split('.')[0]} | {BACKENDS[m['backend']]} | {m['rows']:,} | {m['direction']} "
                f"| {m['duration_ms']:,.0f} | {blocking_locks(m)} | {', '.join(rewritten) or '—'} "
                f"| {m['during']['reads']['max_ms']:,.1f} ({m['baseline']['reads']['p99_ms']:.1f}) "
                f"| {m['during']['writes']['max_ms']:,.1f} ({m['baseline']['writes']['p99_ms']:.1f}) "
                f"| {verdict(m)} |",
            ))
        errors += [f"{e['backend']} version {e['version']}: {e['error']}" for e in report["errors"]]
    print("| migration | backend | rows a table | way | ms | locks that keep traffic waiting "
          "| rewrote | worst read ms (baseline p99) | worst write ms (baseline p99) | verdict |")
    print("| --- | --- | ---: | --- | ---: | --- | --- | ---: | ---: | --- |")
    for row in sorted(rows):
        print(row[-1])
    for error in errors:
        print(f"\nNot measured: {error}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
