#!/usr/bin/env python3
"""Whether each vendored crate is exactly the published crate plus its patches.

vendor/patches/series names each crate, its version and the SHA-256 of the published `.crate`
file; vendor/patches/<crate>/*.patch are its patches, applied in name order. For each crate the
published file is taken from cargo's download cache, or from crates.io, its checksum checked,
unpacked into a temporary folder, and the patches applied there with `git apply`; then every
file of the result is compared with vendor/<crate>. Every difference is reported (a file changed,
missing or extra, a patch that does not apply), not only the first, and so is an `unsafe` a
patch adds without a `SAFETY:` comment in the lines just above it.

    python3 scripts/vendored.py [--vendor vendor]

Exits 0 when every crate matches, 1 otherwise.
"""

import argparse
import glob
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

# Written by `cargo package` into the published file, and not part of the build: a vendored copy
# need not carry them.
PACKAGING = {".cargo_vcs_info.json", "Cargo.toml.orig", "Cargo.lock"}
# How far above an added `unsafe` its `SAFETY:` comment may be (a multi-line comment).
SAFETY_REACH = 4


def published(name, version, sha256):
    """The published `.crate` file's bytes, checked against `sha256`."""
    cached = glob.glob(
        os.path.expanduser(f"~/.cargo/registry/cache/*/{name}-{version}.crate")
    )
    if cached:
        with open(cached[0], "rb") as f:
            data = f.read()
    else:
        url = f"https://static.crates.io/crates/{name}/{name}-{version}.crate"
        with urllib.request.urlopen(url, timeout=60) as answer:
            data = answer.read()
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise ValueError(f"{name} {version}: the published file's SHA-256 is {found}, not {sha256}")
    return data


def files(root):
    """Every file under `root`, as paths relative to it."""
    found = set()
    for folder, _, names in os.walk(root):
        for name in names:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def unexplained_unsafe(patch):
    """Lines of `patch` that add an `unsafe` without a `SAFETY:` comment just above."""
    problems = []
    lines = open(patch, encoding="utf-8").read().splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("+") or line.startswith("+++"):
            continue
        if not re.search(r"\bunsafe\b", line[1:].split("//")[0]):
            continue
        above = lines[max(0, i - SAFETY_REACH):i]
        if not any("SAFETY:" in a for a in above):
            problems.append(f"{os.path.basename(patch)}: `unsafe` without a SAFETY comment: {line[1:].strip()}")
    return problems


def check(vendor, name, version, sha256):
    """Every difference between vendor/<name> and the published crate plus its patches."""
    problems = []
    patches = sorted(glob.glob(os.path.join(vendor, "patches", name, "*.patch")))
    if not patches:
        problems.append(f"no patches in {vendor}/patches/{name}: vendor the crate only to patch it")
    with tempfile.TemporaryDirectory() as tmp:
        data = published(name, version, sha256)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(tmp, filter="data")
        expected_root = os.path.join(tmp, f"{name}-{version}")
        for patch in patches:
            applied = subprocess.run(
                ["git", "apply", "--whitespace=nowarn", os.path.abspath(patch)],
                cwd=expected_root,
                capture_output=True,
                text=True,
            )
            if applied.returncode != 0:
                problems.append(f"{patch} does not apply: {applied.stderr.strip()}")
            problems.extend(unexplained_unsafe(patch))
        expected = files(expected_root) - PACKAGING
        actual_root = os.path.join(vendor, name)
        actual = files(actual_root)
        for path in sorted(expected - actual):
            problems.append(f"vendor/{name}/{path} is missing")
        for path in sorted(actual - expected):
            problems.append(f"vendor/{name}/{path} is not in the published crate nor a patch")
        for path in sorted(expected & actual):
            with open(os.path.join(expected_root, path), "rb") as a, open(
                os.path.join(actual_root, path), "rb"
            ) as b:
                if a.read() != b.read():
                    problems.append(
                        f"vendor/{name}/{path} differs from the published crate plus its patches"
                    )
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vendor", default=os.path.join(os.path.dirname(__file__), "..", "vendor"))
    args = parser.parse_args()
    series = os.path.join(args.vendor, "patches", "series")
    failed = False
    for line in open(series, encoding="utf-8"):
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, version, sha256 = line.split()
        try:
            problems = check(args.vendor, name, version, sha256)
        except (OSError, ValueError) as error:
            problems = [f"cannot check: {error}"]
        count = len(glob.glob(os.path.join(args.vendor, "patches", name, "*.patch")))
        if problems:
            failed = True
            print(f"FAIL {name} {version}:")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(f"ok   {name} {version}: the published crate plus {count} patch(es), nothing else")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
