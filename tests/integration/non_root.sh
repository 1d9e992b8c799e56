#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# non_root: a run without root fails, saying so, instead of ending green
# with every integration test skipped.
#
# Copies scripts/test.sh and the integration library with one test script
# into a directory any user can read, and runs them as user nobody
# (setpriv): each must exit non-zero (not 77, ctest's "skipped") and say
# that root is needed.  scripts/test.sh must refuse before it builds
# anything.  Starts no daemon.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
failures=0
[ "$(id -u)" -eq 0 ] || { echo "FAIL: non_root: must itself run as root (to become nobody)"; exit 1; }
command -v setpriv >/dev/null || { echo "FAIL: non_root: setpriv (util-linux) missing"; exit 1; }

dir=$(mktemp -d /tmp/nvh-nonroot.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/scripts" "$dir/tests/integration"
cp "$repo/scripts/test.sh" "$dir/scripts/"
cp -r "$repo/tests/integration/lib.sh" "$repo/tests/integration/lib" \
    "$repo/tests/integration/qemu_ping.sh" "$repo/tests/integration/testpmd_forward.sh" \
    "$dir/tests/integration/"
chmod -R a+rX "$dir"
# nobody may write there, so that a test.sh that went on to build would
# leave $dir/build behind (checked below).
chown nobody "$dir"

as_nobody() {
    (cd "$dir" && setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$dir" TMPDIR=/tmp \
        NVH_BUILD_DIR="$dir/build" "$@")
}

check() {   # NAME COMMAND...: non-zero, not 77, output says root is needed
    local name=$1 out rc
    shift
    out=$(as_nobody "$@" 2>&1)
    rc=$?
    printf '%s\n' "$out" | sed "s/^/    $name: /"
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
        echo "MISMATCH: $name as nobody: exit status $rc, expected a failure"
        failures=$((failures + 1))
    elif ! printf '%s\n' "$out" | grep -q 'needs root'; then
        echo "MISMATCH: $name as nobody: does not say that root is needed"
        failures=$((failures + 1))
    else
        echo "ok: $name as nobody fails (status $rc) and says root is needed"
    fi
}

check test.sh bash scripts/test.sh
[ -e "$dir/build" ] && { echo "MISMATCH: test.sh built something before refusing"; failures=$((failures + 1)); }
check qemu_ping bash tests/integration/qemu_ping.sh
check testpmd_forward bash tests/integration/testpmd_forward.sh

[ "$failures" -eq 0 ] || { echo "FAIL: non_root: $failures check(s) failed"; exit 1; }
echo "PASS: non_root"
