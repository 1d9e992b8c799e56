#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""check_layers.py [SRC_DIR]: the core's include rule, checked.

The core (netdev-vhost/src/) has one folder per layer.  A file includes only
from its own layer or a layer below it, always through the folder name
(`#include "ring/split_ring.h"`); the public C ABI
(`netdev-vhost/nvh.h`) may be included anywhere, and no OVS header anywhere.
Exits 1, naming each offending line, when a file breaks the rule.

--self-test builds a small tree with one allowed and four forbidden
includes and checks that exactly the forbidden ones are reported.
"""
import os
import re
import sys
import tempfile

# Bottom to top (docs/architecture.md).
LAYERS = ["base", "memory", "ring", "net", "vhost_user", "device", "api"]
PUBLIC = ("netdev-vhost/",)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
OVS = re.compile(r'^\s*#\s*include\s+[<"](openvswitch/|lib/|dp-packet|netdev)')


def check(src):
    errors = []
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".h", ".cpp")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)
            layer = rel.split(os.sep)[0]
            if layer not in LAYERS or os.sep not in rel:
                errors.append(f"{rel}: not inside a layer folder ({', '.join(LAYERS)})")
                continue
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m and m.group(1).startswith(PUBLIC):
                        continue
                    if OVS.match(line):
                        errors.append(f"{rel}:{n}: the core includes no OVS header")
                        continue
                    if not m:
                        continue
                    target = m.group(1).split("/")[0]
                    if target not in LAYERS or "/" not in m.group(1):
                        errors.append(f"{rel}:{n}: include \"{m.group(1)}\" names no layer")
                    elif LAYERS.index(target) > LAYERS.index(layer):
                        errors.append(f"{rel}:{n}: {layer}/ includes \"{m.group(1)}\" "
                                      f"from {target}/, a layer above it")
    return errors


def self_test():
    files = {
        "ring/ok.h": '#include "memory/low.h"\n#include "netdev-vhost/nvh.h"\n',
        "memory/low.h": "",
        "memory/up.h": '#include "net/high.h"\n',       # upwards
        "net/high.h": '#include "high2.h"\n',            # no layer
        "net/ovs.h": '#include "openvswitch/vlog.h"\n',  # OVS
        "stray.h": "",                                   # outside layers
    }
    with tempfile.TemporaryDirectory() as d:
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w", encoding="utf-8") as f:
                f.write(text)
        errors = check(d)
    expected = {"memory/up.h", "net/high.h", "net/ovs.h", "stray.h"}
    found = {e.split(":")[0] for e in errors}
    if found != expected:
        print(f"self-test: expected reports for {sorted(expected)}, got {errors}")
        return 1
    print("self-test: the four forbidden includes were reported")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "netdev-vhost", "src")
    errors = check(src)
    for e in errors:
        print(e)
    if errors:
        return 1
    print(f"layers: every include in {os.path.normpath(src)} points down or sideways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
