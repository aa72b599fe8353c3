#!/usr/bin/env python3
"""Measures the reference server under two resource-exhaustion attacks, on a release build
over SQLite, on this machine only (127.0.0.1):

1. registrations: N concurrent POST /api/auth/register at the production Argon2 cost; reports
   the answers by status, the server's memory (VmRSS before and after, VmHWM growth) and threads.
   Run once with the per-address registration limit off (what the hashing bound alone does) and
   once with the defaults.
2. partial requests: N connections that send `GET / HTTP/1.1\\r\\nX-a: ` and never finish;
   reports when the server closed them, how long /health took meanwhile, the server's CPU time
   and its accept-error log lines.

    cargo build --release -p didhub-server
    python3 scripts/exhaustion.py [--binary target/release/didhub-server]

Every loop is bounded in count and time; the server is a child process, killed at the end.
"""

import argparse
import collections
import json
import os
import resource
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

OUTER = 60.0  # seconds: no single wait here takes longer


class Server:
    def __init__(self, binary, config):
        self.dir = tempfile.TemporaryDirectory()
        path = os.path.join(self.dir.name, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ)
        env.update(
            DIDHUB_DB=f"sqlite://{self.dir.name}/didhub.sqlite",
            PORT="0",
            NO_COLOR="1",
            RUST_LOG="warn,didhub_server=info",
        )
        self.proc = subprocess.Popen(
            [binary, "-c", path], env=env, stdout=subprocess.PIPE, text=True
        )
        self.lines = []
        self.port = None
        deadline = time.monotonic() + OUTER
        while self.port is None and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if "DIDHub listening on http://" in line:
                self.port = int(line.split("http://")[1].split()[0].rsplit(":", 1)[1])
        if self.port is None:
            sys.exit("the server did not start:\n" + "".join(self.lines))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def status(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_count(self, text):
        return sum(text in line for line in self.lines)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()


def request(port, raw, timeout=OUTER):
    """Sends raw bytes, returns (status, headers dict, seconds) or (error, {}, seconds)."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(raw)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        head = data.split(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
        headers = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in head[1:])
        )
        return int(head[0].split()[1]), headers, time.monotonic() - started
    except (OSError, IndexError, ValueError) as e:
        return type(e).__name__, {}, time.monotonic() - started


def register_raw(username):
    body = json.dumps({"username": username, "password": "correct-horse-battery-staple"})
    return (
        "POST /api/auth/register HTTP/1.1\r\nHost: didhub\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


HEALTH = b"GET /health HTTP/1.1\r\nHost: didhub\r\nConnection: close\r\n\r\n"


def registrations(binary, count, per_ip_limit):
    config = {"rate_limit": {"registrations_per_ip": per_ip_limit}}
    server = Server(binary, config)
    try:
        rss_before = server.status("VmRSS")
        hwm_before = server.status("VmHWM")
        barrier = threading.Barrier(count)
        answers = [None] * count

        def one(i):
            barrier.wait()
            answers[i] = request(server.port, register_raw(f"user{i:04d}"))

        started = time.monotonic()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(OUTER)
        elapsed = time.monotonic() - started
        statuses = collections.Counter(a[0] for a in answers if a)
        retry_after = collections.Counter(
            a[1].get("retry-after") for a in answers if a and a[0] in (429, 503)
        )
        other_5xx = sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500 and s != 503)
        label = "off" if per_ip_limit == 0 else str(per_ip_limit)
        print(f"\n## {count} concurrent registrations, registrations_per_ip = {label}")
        print(f"answers: {dict(sorted(statuses.items(), key=str))} in {elapsed:.1f} s")
        print(f"Retry-After on 429/503: {dict(retry_after)}")
        print(f"5xx other than 503: {other_5xx}")
        print(
            f"VmRSS {rss_before / 1024:.0f} MB -> {server.status('VmRSS') / 1024:.0f} MB; "
            f"VmHWM grew {(server.status('VmHWM') - hwm_before) / 1024:.0f} MB; "
            f"threads {server.status('Threads')}"
        )
        health = request(server.port, HEALTH)
        print(f"/health afterwards: {health[0]} in {health[2] * 1000:.0f} ms")
    finally:
        server.stop()


def partial_requests(binary, count):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 256)), hard))
    server = Server(binary, {})
    try:
        cpu_before = server.cpu_seconds()
        sockets = []
        started = time.monotonic()
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=OUTER)
            s.sendall(b"GET / HTTP/1.1\r\nX-a: ")
            sockets.append((s, time.monotonic()))
        opened = time.monotonic() - started
        health = request(server.port, HEALTH)
        # Wait for the server to close every partial connection (bounded by OUTER).
        open_ = {s.fileno(): (s, t) for s, t in sockets}
        closed_after = []
        poller = select.poll()
        for fd in open_:
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + OUTER
        while open_ and time.monotonic() < deadline:
            for fd, _ in poller.poll(1000):
                poller.unregister(fd)
                s, sent = open_.pop(fd)
                try:
                    data = s.recv(1)
                except OSError:
                    data = b""
                closed_after.append(time.monotonic() - sent)
                s.close()
        health_after = request(server.port, HEALTH)
        cpu = server.cpu_seconds() - cpu_before
        wall = time.monotonic() - started
        print(f"\n## {count} partial requests (`X-a: ` never finished), header_timeout 10 s")
        print(f"opened in {opened:.1f} s; /health meanwhile: {health[0]} in {health[2]:.2f} s")
        if closed_after:
            closed_after.sort()
            print(
                f"closed by the server: {len(closed_after)}/{count}; after "
                f"{closed_after[0]:.1f} s (first), {closed_after[len(closed_after) // 2]:.1f} s "
                f"(median), {closed_after[-1]:.1f} s (last); still open: {len(open_)}"
            )
        print(f"/health after: {health_after[0]} in {health_after[2] * 1000:.0f} ms")
        print(f"server CPU {cpu:.2f} s over {wall:.1f} s; threads {server.status('Threads')}")
        print(f"accept-error log lines: {server.log_count('cannot accept connections')}")
        for s, _ in open_.values():
            s.close()
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="target/release/didhub-server")
    parser.add_argument("--registrations", type=int, default=150)
    parser.add_argument("--partial", type=int, default=1100)
    args = parser.parse_args()
    registrations(args.binary, args.registrations, 0)
    registrations(args.binary, args.registrations, 10)
    partial_requests(args.binary, args.partial)


if __name__ == "__main__":
    main()
