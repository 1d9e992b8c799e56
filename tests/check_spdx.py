#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""check_spdx.py [REPO]: every source, build and script file the repository
tracks names its license in one of its first two lines
(`SPDX-License-Identifier: Apache-2.0`, LICENSE).  Exits 1, naming each
file that does not.  --self-test checks that a file without it is named.
"""
import os
import subprocess
import sys
import tempfile

TAG = "SPDX-License-Identifier: Apache-2.0"
EXTENSIONS = (".c", ".h", ".cpp", ".hpp", ".cc", ".py", ".sh", ".cmake", ".mk")
NAMES = ("CMakeLists.txt", "Vagrantfile")
SKIP = ("ovs-patches/", "tests/fuzz/corpus/", "bench/results/")


def wants_tag(path):
    return (path.endswith(EXTENSIONS) or os.path.basename(path) in NAMES
            or path == ".ci/run") and not path.startswith(SKIP)


def missing(repo, files):
    out = []
    for f in files:
        if not wants_tag(f):
            continue
        with open(os.path.join(repo, f), encoding="utf-8", errors="replace") as fh:
            head = fh.readline() + fh.readline()
        if TAG not in head:
            out.append(f)
    return out


def self_test():
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "a.c"), "w", encoding="utf-8") as f:
            f.write("/* " + TAG + " */\nint a;\n")
        with open(os.path.join(d, "b.sh"), "w", encoding="utf-8") as f:
            f.write("#!/bin/sh\necho no tag\n")
        found = missing(d, ["a.c", "b.sh", "notes.md"])
    if found != ["b.sh"]:
        print(f"self-test: expected ['b.sh'], got {found}")
        return 1
    print("self-test: the file without the tag was named")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..")
    try:
        files = subprocess.check_output(["git", "-C", repo, "ls-files"], text=True,
                                        stderr=subprocess.DEVNULL).split()
    except (OSError, subprocess.CalledProcessError):   # Not a git checkout.
        files = [os.path.relpath(os.path.join(root, n), repo)
                 for root, dirs, names in os.walk(repo)
                 for n in names if "/build" not in "/" + os.path.relpath(root, repo)]
    bad = missing(repo, files)
    for f in bad:
        print(f"{f}: no '{TAG}' in its first two lines")
    if bad:
        return 1
    print("spdx: every tracked source file names its license")
    return 0


if __name__ == "__main__":
    sys.exit(main())
