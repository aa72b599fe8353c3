#!/usr/bin/env python3
"""The HTTP layer's own limits, checked with tools no one here wrote: h2load (nghttp2-client)
with many HTTP/2 streams per connection, one run with a window of 0 (streams that can never
finish) and one that reads; slowhttptest in its slow-headers, slow-body and slow-read modes.

Each case starts a fresh server (SQLite, the timeouts below), runs the tool against it while a
probe asks GET /health on a new connection every 250 ms, and reports the server's peak memory
growth (VmHWM) and the slowest /health. A case passes when the growth stays under
MEMORY_BUDGET_KIB and every /health answered 200 within HEALTH_BUDGET; the script exits 1
otherwise, after printing every case.

    cargo build --release -p didhub-server
    python3 scripts/http-limits.py --binary target/release/didhub-server

Needs `h2load` and `slowhttptest` (Debian: nghttp2-client, slowhttptest; `just http-limits`
installs them). Every tool runs under a timeout; the server is killed at the end of its case.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from exhaustion import HEALTH, Server, request

MEMORY_BUDGET_KIB = 128 * 1024
HEALTH_BUDGET = 1.0  # seconds

# Short enough that every case sees its connections closed within its run.
CONFIG = {
    "server": {
        "header_timeout_secs": 5,
        "body_timeout_secs": 5,
        "idle_timeout_secs": 5,
        "write_timeout_secs": 5,
        "http2_max_streams": 100,
    }
}


def cases(port, seconds):
    base = f"http://127.0.0.1:{port}"
    slow = ["slowhttptest", "-c", "500", "-r", "250", "-i", "1", "-l", str(seconds), "-p", "2"]
    return [
        (
            "h2load: 1,000 streams of /api/docs on 1 connection, window 0",
            ["h2load", "-n", "1000", "-c", "1", "-m", "1000", "-w", "0",
             "-T", f"{seconds}s", f"{base}/api/docs"],
        ),
        (
            "h2load: 4 connections x 100 streams of /api/openapi.json, 4,000 requests",
            ["h2load", "-n", "4000", "-c", "4", "-m", "100", "-T", f"{seconds}s",
             f"{base}/api/openapi.json"],
        ),
        ("slowhttptest -H: 500 slow request heads", slow + ["-H", "-u", f"{base}/health"]),
        (
            "slowhttptest -B: 500 slow login bodies",
            slow + ["-B", "-s", "8192", "-t", "POST", "-f", "application/json",
                    "-u", f"{base}/api/auth/login"],
        ),
        (
            "slowhttptest -X: 500 slow readers of /api/docs",
            slow + ["-X", "-k", "3", "-n", "1", "-w", "1", "-y", "64", "-z", "32",
                    "-u", f"{base}/api/docs"],
        ),
    ]


def probe(port, stop, answers):
    while not stop.is_set():
        answers.append(request(port, HEALTH, timeout=10))
        time.sleep(0.25)


def summary(output):
    """The tool's own last word: h2load's request counts, slowhttptest's final state."""
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)  # slowhttptest colours its report
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    wanted = [l for l in lines if l.startswith("requests:")]
    wanted += [l for l in lines if "service available" in l][-1:]
    wanted += [l for l in lines if l.startswith(("closed:", "pending:", "connected:"))][-3:]
    return "; ".join(wanted) or (lines[-1] if lines else "no output")


def run_case(binary, name, command_for, seconds):
    server = Server(binary, CONFIG)
    try:
        request(server.port, HEALTH)
        hwm_before = server.status("VmHWM")
        stop, answers = threading.Event(), []
        prober = threading.Thread(target=probe, args=(server.port, stop, answers))
        prober.start()
        command = command_for(server.port)
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=seconds + 30
            )
            said = summary(done.stdout + done.stderr)
        except subprocess.TimeoutExpired as e:
            said = f"timed out after {e.timeout} s"
        stop.set()
        prober.join()
        growth = server.status("VmHWM") - hwm_before
        failed = [a for a in answers if a[0] != 200]
        slowest = max((a[2] for a in answers), default=0.0)
        ok = growth <= MEMORY_BUDGET_KIB and not failed and slowest <= HEALTH_BUDGET
        print(
            f"{'ok  ' if ok else 'FAIL'} {name}\n"
            f"     peak memory +{growth / 1024:.1f} MiB (budget {MEMORY_BUDGET_KIB // 1024}); "
            f"/health {len(answers)} probes, slowest {slowest:.3f} s (budget {HEALTH_BUDGET} s), "
            f"{len(failed)} not 200{': ' + repr(failed[:3]) if failed else ''}\n"
            f"     {command[0]}: {said}",
            flush=True,
        )
        return ok
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/didhub-server")
    parser.add_argument("--seconds", type=int, default=20, help="each case's length")
    args = parser.parse_args()
    missing = [t for t in ("h2load", "slowhttptest") if shutil.which(t) is None]
    if missing:
        sys.exit(f"not installed: {', '.join(missing)} (Debian: nghttp2-client, slowhttptest)")
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary}: no server binary (cargo build --release -p didhub-server)")
    names = [name for name, _ in cases(0, args.seconds)]
    results = []
    for index, name in enumerate(names):
        command_for = lambda port, i=index: cases(port, args.seconds)[i][1]  # noqa: E731
        results.append(run_case(args.binary, name, command_for, args.seconds))
    print(f"http-limits: {sum(results)} of {len(results)} cases within their budgets")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
