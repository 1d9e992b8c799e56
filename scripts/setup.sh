#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepares a Debian 12 (bookworm) machine to build, test and demo netdev-vhost:
#   1. installs every Debian package the project needs (libvirt's daemon,
#      QEMU driver and virsh without any service, and the user libvirt-qemu
#      its QEMU driver looks up);
#   2. reserves 2 MB hugepages (NVH_HUGEPAGES, default 1024 = 2 GB; an
#      existing larger reservation is kept) and mounts hugetlbfs on
#      /dev/hugepages if nothing is mounted there.
#
# Run as root or as a user with sudo.  Non-interactive and idempotent: running
# it again changes nothing.
set -euo pipefail

hugepages=${NVH_HUGEPAGES:-1024}

packages=(
    # Build tools; autoconf/automake/libtool regenerate the patched OVS.
    build-essential cmake pkg-config autoconf automake libtool patch python3
    # Open vSwitch 3.1.0 release tarball, built by CMake with our patches.
    openvswitch-source
    # DPDK (OVS is built --with-dpdk=shared) and the PMDs the tests use.
    dpdk dpdk-dev libdpdk-dev
    librte-net-vhost23 librte-net-virtio23 librte-net-ring23
    librte-net-null23 librte-net-tap23
    # Libraries OVS and the core link with.
    libnuma-dev libcap-ng-dev libunbound-dev libunwind-dev libssl-dev
    # Unit tests.
    googletest libgtest-dev
    # Fuzz targets: clang and its libFuzzer/ASan/UBSan runtimes (gcc's
    # sanitizer runtimes, for the ASan and TSan unit test trees, come with
    # build-essential).
    clang libclang-rt-14-dev
    # Integration tests and demo: a QEMU guest with a busybox initramfs.
    qemu-system-x86 busybox-static cpio iproute2 procps
    # OVS's own system-dpdk.at tests (integration.ovs_system_dpdk): ping in a
    # network namespace, ethtool on its veth pair.
    iputils-ping ethtool
    # Benchmark (bench/): its chart, and profiles of ovs-vswitchd.
    python3-matplotlib linux-perf
)

# libvirt for the integration test libvirt_guest, which starts a libvirtd of
# its own: the daemon, its QEMU driver and virsh, without recommends and
# without libvirt-daemon-system, so that no service is installed or started.
libvirt_packages=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)

log() { echo "setup.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo -n)
    "${sudo[@]}" true 2>/dev/null ||
        die "needs root: run as root or with passwordless sudo"
else
    die "needs root: run as root (sudo is not installed)"
fi
as_root() { "${sudo[@]}" "$@"; }

# shellcheck source=/dev/null
[ -r /etc/os-release ] && . /etc/os-release
if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
    log "warning: made for Debian 12, this is ${PRETTY_NAME:-unknown}"
fi

# ---- Packages ---------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Options::=--force-confdef
          -o Dpkg::Options::=--force-confold)
log "apt-get update"
as_root env DEBIAN_FRONTEND=noninteractive apt-get -q update
log "apt-get install ${packages[*]}"
as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get "${apt_opts[@]}" install "${packages[@]}"
log "apt-get install --no-install-recommends ${libvirt_packages[*]}"
as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get "${apt_opts[@]}" --no-install-recommends install "${libvirt_packages[@]}"

# A privileged libvirtd's QEMU driver looks up its default user and group,
# libvirt-qemu, when it starts (before it reads qemu.conf, which may name
# another); libvirt-daemon-system would create them.
if ! getent group libvirt-qemu >/dev/null; then
    log "adding the system group libvirt-qemu"
    as_root groupadd --system libvirt-qemu
fi
if ! getent passwd libvirt-qemu >/dev/null; then
    log "adding the system user libvirt-qemu"
    as_root useradd --system --gid libvirt-qemu --home-dir /var/lib/libvirt \
        --no-create-home --shell /usr/sbin/nologin libvirt-qemu
fi

# ---- Hugepages --------------------------------------------------------------
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -e "$nr" ] || die "this kernel has no 2 MB hugepages ($nr)"
current=$(cat "$nr")
if [ "$current" -lt "$hugepages" ]; then
    log "reserving $hugepages 2 MB hugepages (was $current)"
    echo "$hugepages" | as_root tee "$nr" >/dev/null
    if [ "$(cat "$nr")" -lt "$hugepages" ]; then
        # Memory may be too fragmented: drop caches, compact, try again.
        echo 3 | as_root tee /proc/sys/vm/drop_caches >/dev/null || true
        echo 1 | as_root tee /proc/sys/vm/compact_memory >/dev/null || true
        echo "$hugepages" | as_root tee "$nr" >/dev/null
    fi
    current=$(cat "$nr")
    [ "$current" -ge "$hugepages" ] ||
        die "could reserve only $current of $hugepages 2 MB hugepages"
else
    log "$current 2 MB hugepages already reserved"
fi

if ! awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" { found = 1 }
          END { exit !found }' /proc/mounts; then
    log "mounting hugetlbfs on /dev/hugepages"
    as_root mkdir -p /dev/hugepages
    as_root mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
else
    log "hugetlbfs already mounted on /dev/hugepages"
fi

log "done"
