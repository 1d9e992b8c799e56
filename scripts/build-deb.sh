#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian package netdev-vhost-switch (docs/install.md): our
# patched ovs-vswitchd, configured with Debian's paths, and the plugin
# netdev-vhost.so, from the same openvswitch-source tarball and patches as
# scripts/build.sh, in a build tree of its own.  Incremental: run it again
# after any change.  Needs dpkg-dev (dpkg-shlibdeps; scripts/setup.sh).
#
#   build-deb/                                  CMake tree (build-deb/ovs: OVS
#                                               configured --prefix=/usr ...)
#   build-deb/package/netdev-vhost-switch_<version>_<arch>.deb
#
# The last line printed is the path of the .deb.
#
# Environment:
#   NVH_DEB_BUILD_DIR   build tree (default: build-deb in the repository)
#   JOBS                parallel jobs (default: number of CPUs)
#   NVH_DEB_CMAKE_ARGS  extra arguments for cmake, e.g. -DNVH_DEB_PRIORITY=300
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${NVH_DEB_BUILD_DIR:-$repo/build-deb}
jobs=${JOBS:-$(nproc)}

for tool in dpkg-buildflags dpkg-shlibdeps cpack; do
    command -v "$tool" >/dev/null ||
        { echo "build-deb.sh: $tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
done

# Debian's compiler and linker flags with all hardening, as Debian builds
# openvswitch (stack protector, fortify, relro, bind now), for Open vSwitch's
# configure and for CMake alike; read from the repository so that
# -ffile-prefix-map maps it to '.' whatever the caller's directory.
flags() {
    (cd "$repo" && DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1")
}
cflags="$(flags CFLAGS) $(flags CPPFLAGS)"
cxxflags="$(flags CXXFLAGS) $(flags CPPFLAGS)"
ldflags=$(flags LDFLAGS)
ovs_args="--with-dpdk=shared;PYTHON3=/usr/bin/python3;CFLAGS=$cflags;LDFLAGS=$ldflags"

# shellcheck disable=SC2086  # NVH_DEB_CMAKE_ARGS is a list of words.
cmake -S "$repo" -B "$build" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DNVH_DEB_PACKAGE=ON -DNVH_OVS_DEBIAN_PATHS=ON \
    "-DNVH_OVS_CONFIGURE_ARGS=$ovs_args" \
    "-DCMAKE_C_FLAGS=$cflags" "-DCMAKE_CXX_FLAGS=$cxxflags" \
    "-DCMAKE_MODULE_LINKER_FLAGS=$ldflags" \
    ${NVH_DEB_CMAKE_ARGS:-}
# Only what the package holds: OVS's programs and the plugin (not the unit
# tests and tools of the main tree).
cmake --build "$build" -j "$jobs" --target ovs netdev_vhost_plugin netdev_vhost_keeper

rm -rf "$build/package"
(cd "$build" && cpack -G DEB --config CPackConfig.cmake)
debs=("$build"/package/*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
    echo "build-deb.sh: expected one .deb in $build/package" >&2
    exit 1
fi
echo "build-deb.sh: built"
echo "${debs[0]}"
