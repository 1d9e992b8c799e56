#!/usr/bin/env bash
# Builds and runs the sanitizer trees (docs/testing.md, docs/security.md);
# scripts/test.sh calls it after the main suite.  Three core-only trees next
# to the main one, each configured once and built with -j2:
#   <build>-asan  unit tests with ASan + UBSan (gcc), every unit test;
#   <build>-tsan  unit tests with TSan (gcc), only those that run threads
#                 against the control thread (tsan_files below);
#   <build>-fuzz  the libFuzzer targets (clang, ASan + UBSan), each run for
#                 NVH_FUZZ_SECONDS (default 60) from its seed corpus.
# Environment:
#   NVH_BUILD_DIR      main build tree; the others are named after it
#   NVH_SANITIZERS     which trees to run: any of "asan tsan fuzz"
#   NVH_FUZZ_SECONDS   seconds per fuzz target
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${NVH_BUILD_DIR:-$repo/build}
trees=${NVH_SANITIZERS:-asan tsan fuzz}
# The TSan tree builds only the tests that run threads against the control
# thread.
tsan_files="concurrency_test.cpp;device_test.cpp;multiqueue_test.cpp;kick_monitor_test.cpp"
timeout=${NVH_TEST_TIMEOUT:-1200}

log() { echo "test-sanitizers.sh: $*" >&2; }

# configure TREE ARGS...: one configure per tree; a second run only
# regenerates (quick) and keeps what was built.
configure() {
    local tree=$1; shift
    cmake -S "$repo" -B "$tree" -DNVH_BUILD_OVS=OFF "$@" >/dev/null
}

status=0
for t in $trees; do
    case $t in
    asan)
        log "unit tests under ASan + UBSan ($build-asan)"
        configure "$build-asan" -DNVH_SANITIZE=address,undefined
        cmake --build "$build-asan" -j2 --target nvh_unit_tests
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            ctest --test-dir "$build-asan" --output-on-failure \
                --no-tests=error --timeout "$timeout" || status=1
        ;;
    tsan)
        log "concurrency tests under TSan ($build-tsan)"
        configure "$build-tsan" -DNVH_SANITIZE=thread -DNVH_UNIT_TESTS="$tsan_files"
        cmake --build "$build-tsan" -j2 --target nvh_unit_tests
        # Kernels with more mmap randomisation than this TSan expects make it
        # fail at start ("unexpected memory mapping"): run without ASLR.
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
            setarch "$(uname -m)" -R \
            ctest --test-dir "$build-tsan" --output-on-failure \
                --no-tests=error --timeout "$timeout" || status=1
        ;;
    fuzz)
        log "fuzz targets, ${NVH_FUZZ_SECONDS:-60} s each ($build-fuzz)"
        CC=clang CXX=clang++ configure "$build-fuzz" -DNVH_FUZZ=ON \
            -DNVH_FUZZ_SECONDS="${NVH_FUZZ_SECONDS:-60}"
        cmake --build "$build-fuzz" -j2 --target nvh_fuzz_targets
        ctest --test-dir "$build-fuzz" --output-on-failure --no-tests=error \
            --timeout "$timeout" -L fuzz || status=1
        ;;
    *)
        log "unknown tree '$t' in NVH_SANITIZERS"; status=1
        ;;
    esac
done
exit $status
