#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds and runs the sanitizer trees (docs/testing.md, docs/security.md);
# scripts/test.sh calls it after the main suite.  Three core-only trees next
# to the main one, each from its CMake preset (CMakePresets.json: asan,
# tsan, fuzz), configured once and built with -j2:
#   <build>-asan  unit tests with ASan + UBSan (gcc), every unit test;
#   <build>-tsan  unit tests with TSan (gcc), only those that run threads
#                 against the control thread (the preset's NVH_UNIT_TESTS);
#   <build>-fuzz  the libFuzzer targets (clang, ASan + UBSan), each run for
#                 NVH_FUZZ_SECONDS (default 60) from its seed corpus.
# Environment:
#   NVH_BUILD_DIR      main build tree; the others are named after it
#   NVH_SANITIZERS     which trees to run: any of "asan tsan fuzz"
#   NVH_FUZZ_SECONDS   seconds per fuzz target
#   NVH_WERROR         ON: warnings are errors (scripts/test.sh sets it)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${NVH_BUILD_DIR:-$repo/build}
trees=${NVH_SANITIZERS:-asan tsan fuzz}

log() { echo "test-sanitizers.sh: $*" >&2; }

# run_tree PRESET TREE TARGET [ctest prefix...]: configure TREE from the
# CMake preset of that name (CMakePresets.json; the tree's folder is named
# after the main build tree), build TARGET, run its tests (the sanitizer
# options are set on the tests themselves, tests/unit/CMakeLists.txt), only
# those labelled $labels if set.  A second run only regenerates (quick) and
# keeps what was built.
run_tree() {
    local preset=$1 tree=$2 target=$3; shift 3
    cmake --preset "$preset" -B "$tree" -DNVH_WERROR="${NVH_WERROR:-OFF}" \
        "${extra[@]}" >/dev/null &&
    cmake --build "$tree" -j2 --target "$target" &&
    "$@" ctest --test-dir "$tree" --output-on-failure --no-tests=error \
        --timeout "${NVH_TEST_TIMEOUT:-1200}" ${labels:+-L "$labels"}
}

status=0
for t in $trees; do
    extra=()
    labels=""
    case $t in
    asan)
        log "unit tests under ASan + UBSan ($build-asan)"
        run_tree asan "$build-asan" nvh_unit_tests || status=1
        ;;
    tsan)
        log "concurrency tests under TSan ($build-tsan)"
        # Kernels with more mmap randomisation than this TSan expects make it
        # fail at start ("unexpected memory mapping"): run without ASLR.
        run_tree tsan "$build-tsan" nvh_unit_tests setarch "$(uname -m)" -R || status=1
        ;;
    fuzz)
        log "fuzz targets, ${NVH_FUZZ_SECONDS:-60} s each ($build-fuzz)"
        extra=(-DNVH_FUZZ_SECONDS="${NVH_FUZZ_SECONDS:-60}")
        labels=fuzz
        run_tree fuzz "$build-fuzz" nvh_fuzz_targets || status=1
        ;;
    *)
        log "unknown tree '$t' in NVH_SANITIZERS"; status=1
        ;;
    esac
done
exit $status
