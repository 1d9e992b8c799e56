#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds everything (scripts/build.sh: configure, build, install into
# build/install) and runs every test: the core's unit tests, the plugin
# loader check and the integration tests.  The machine must have been
# prepared by scripts/setup.sh.
#
# Tests run one at a time: integration tests start ovs-vswitchd and QEMU and
# must not overlap.  Environment:
#   NVH_BUILD_DIR      build tree (default: build in the repository)
#   NVH_TEST_TIMEOUT   seconds per test without its own TIMEOUT (default 1200)
#   CTEST_ARGS         extra ctest arguments, e.g. "-R unit"
#   NVH_WERROR         ON (default here): warnings in the project's own code
#                      are errors, in every tree
#   NVH_SANITIZERS     sanitizer trees run after the main suite
#                      (scripts/test-sanitizers.sh): default "asan tsan
#                      fuzz", empty for none
set -euo pipefail

# The integration tests need root (hugepages, DPDK, QEMU, network
# namespaces).  Without it they could only be skipped, and a suite that
# skipped them would pass having shown nothing: refuse instead.
if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: needs root: the integration tests start ovs-vswitchd" \
        "with DPDK and QEMU guests on huge pages (CI runs as root)." >&2
    echo "scripts/test.sh: for the unit tests alone, without root:" \
        "scripts/build.sh && ctest --test-dir build -LE integration" >&2
    exit 1
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${NVH_BUILD_DIR:-$repo/build}
export NVH_BUILD_DIR=$build
export NVH_WERROR=${NVH_WERROR:-ON}
export NVH_CMAKE_ARGS="-DNVH_WERROR=$NVH_WERROR ${NVH_CMAKE_ARGS:-}"

"$repo/scripts/build.sh"

unset CTEST_PARALLEL_LEVEL
status=0
# shellcheck disable=SC2086  # CTEST_ARGS is a list of words.
ctest --test-dir "$build" --output-on-failure --no-tests=error \
    --timeout "${NVH_TEST_TIMEOUT:-1200}" ${CTEST_ARGS:-} || status=1

# The unit tests under ASan+UBSan and TSan, and the fuzz targets, each in
# its own core-only tree (docs/testing.md).
if [ -n "${NVH_SANITIZERS-asan tsan fuzz}" ]; then
    NVH_SANITIZERS=${NVH_SANITIZERS-asan tsan fuzz} \
        "$repo/scripts/test-sanitizers.sh" || status=1
fi
exit $status
