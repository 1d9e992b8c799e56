#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configure, build and install netdev-vhost together with the patched Open
# vSwitch it plugs into.  Incremental: run it again after any change.
#
#   build/                 CMake build tree (build/ovs: the patched OVS tree)
#   build/install/         sbin/ovs-vswitchd, sbin/ovsdb-server, bin/ovs-*,
#                          share/openvswitch/vswitch.ovsschema,
#                          lib/openvswitch/plugins/netdev-vhost.so
#
# Environment:
#   NVH_BUILD_DIR   build tree (default: build in the repository)
#   JOBS            parallel jobs (default: number of CPUs)
#   NVH_CMAKE_ARGS  extra arguments for the first cmake call, e.g.
#                   "-DNVH_BUILD_OVS=OFF" to build only the core and unit tests
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${NVH_BUILD_DIR:-$repo/build}
jobs=${JOBS:-$(nproc)}

# shellcheck disable=SC2086  # NVH_CMAKE_ARGS is a list of words.
cmake -S "$repo" -B "$build" ${NVH_CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"
cmake --install "$build" --prefix "$build/install"
echo "build.sh: installed into $build/install"
