#!/usr/bin/env python3
"""DIDHub's server statements as a compat corpus (fixtures/compat/didhub/<backend>/server.sql).

The server records every statement it prepares when DIDHUB_RECORD_STATEMENTS names a file (one
JSON line per distinct statement and backend; server/src/db/record.rs).

  server_queries.py write RECORDED CORPUS   writes the corpus from a recording
  server_queries.py check RECORDED CORPUS   fails, naming them, when the recording holds a
                                            statement the corpus does not (the corpus is stale:
                                            `just server-queries` writes it again)
"""
import json
import pathlib
import re
import sys

BACKENDS = ("sqlite", "postgres", "mysql")
# Statements in a corpus file end with this: the server's own SQL holds no `;`.
END = ";\n\n"


def group_end(sql, start):
    """The index just after the parenthesised group that opens at `start`."""
    depth = 0
    quoted = False
    for i in range(start, len(sql)):
        c = sql[i]
        if c == "'":
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(sql)


def canonical(sql):
    """One spelling per statement shape: the server sends a multi-row INSERT with as many rows,
    and an IN list with as many placeholders, as it has values; the corpus keeps one row and one
    placeholder (numbered again on PostgreSQL), which prepares the same way."""
    sql = re.sub(r"\s+", " ", sql.strip().rstrip(";").strip())
    out = []
    at = 0
    for match in re.finditer(r"\bVALUES \(", sql):
        if match.start() < at:
            continue
        first = group_end(sql, match.end() - 1)
        out.append(sql[at:first])
        at = first
        while sql.startswith(", (", at):
            at = group_end(sql, at + 2)
    out.append(sql[at:])
    sql = "".join(out)
    sql = re.sub(r"\bIN \((\$\d+|\?)(?:, (?:\$\d+|\?))+\)", r"IN (\1)", sql)
    numbers = iter(range(1, 10_000))
    return re.sub(r"\$\d+", lambda _: f"${next(numbers)}", sql)


def top_level(text, separator):
    """`text` split at each `separator` outside parentheses and quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        c = text[i]
        if c == "'":
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i += len(separator)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def filters(sql):
    """A list query's filters (`WHERE 1 = 1 AND a = ? AND b >= ?`) come from the request, so
    which combinations the tests send varies: the statement without any, and with each alone,
    which prepare as any combination would. None for a statement of another shape."""
    head, found, rest = sql.partition(" WHERE 1 = 1")
    if not found:
        return None
    ends = [i for i in (rest.find(w) for w in (" ORDER BY ", " GROUP BY ", " LIMIT ")) if i >= 0]
    end = min(ends) if ends else len(rest)
    conditions = [c for c in top_level(rest[:end], " AND ") if c.strip()]
    tail = rest[end:]
    out = [f"{head}{found}{tail}"]
    out += [f"{head}{found} AND {c.strip()}{tail}" for c in conditions]
    return out


def statements(sql):
    """The corpus statements a sent statement stands for. An UPDATE's SET list is built from the
    fields a request gives, so which combinations the tests send varies; each assignment is
    kept as an UPDATE of its own (with the same WHERE), which prepares as the whole would.
    EXPLAIN and ANALYZE (the benches asking for plans) are not the application's."""
    sql = canonical(sql)
    if re.match(r"(EXPLAIN|ANALYZE)\b", sql):
        return []
    filtered = filters(sql)
    if filtered:
        return [canonical(f) for f in filtered]
    match = re.match(r"UPDATE (\S+) SET (.*)$", sql)
    if match:
        assignments_and_rest = top_level(match.group(2), " WHERE ")
        assignments = top_level(assignments_and_rest[0], ", ")
        where = " WHERE ".join(assignments_and_rest[1:])
        tail = f" WHERE {where}" if len(assignments_and_rest) > 1 else ""
        return [canonical(f"UPDATE {match.group(1)} SET {a}{tail}") for a in assignments]
    return [sql]


def recorded(path):
    out = {b: set() for b in BACKENDS}
    for line in pathlib.Path(path).read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            out[entry["backend"]].update(statements(entry["sql"]))
    return out


def corpus(root):
    out = {b: set() for b in BACKENDS}
    for backend in BACKENDS:
        file = pathlib.Path(root) / backend / "server.sql"
        if file.exists():
            text = file.read_text()
            # The header comment is not a statement.
            body = "\n".join(l for l in text.splitlines() if not l.startswith("-- "))
            out[backend] = {c for s in body.split(END) if s.strip() for c in statements(s)}
    return out


def current_header(backend):
    return (
        f"-- Every statement DIDHub's server prepared on {backend} during its API tests, "
        "recorded\n-- (DIDHUB_RECORD_STATEMENTS) and written by `just server-queries`; "
        "`just test-all-dbs`\n-- fails when the server sends one that is not here.\n\n"
    )


def write(recording, root, header=current_header):
    for backend, statements in recording.items():
        folder = pathlib.Path(root) / backend
        folder.mkdir(parents=True, exist_ok=True)
        body = "".join(s + END for s in sorted(statements))
        (folder / "server.sql").write_text(header(backend) + body)
        print(f"{backend}: {len(statements)} statements")


def check(recording, root):
    have = corpus(root)
    missing = 0
    for backend in BACKENDS:
        for sql in sorted(recording[backend] - have[backend]):
            missing += 1
            print(f"{backend}: not in {root}/{backend}/server.sql: {sql}")
        unused = len(have[backend] - recording[backend])
        sent = len(recording[backend])
        print(f"{backend}: {sent} statements sent, {unused} in the corpus the tests did not send")
    if missing:
        print(f"{missing} statement(s) the server sent are not in the corpus: run `just server-queries`")
        return 1
    return 0


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("write", "check"):
        print(__doc__)
        return 2
    recording = recorded(sys.argv[2])
    if sys.argv[1] == "write":
        write(recording, sys.argv[3])
        return 0
    return check(recording, sys.argv[3])


if __name__ == "__main__":
    sys.exit(main())
