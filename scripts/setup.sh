#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepares a Debian 12 (bookworm) machine to build, test and demo netdev-vhost:
#   1. installs every Debian package the project needs (libvirt's daemon,
#      QEMU driver and virsh without any service, and the user libvirt-qemu
#      its QEMU driver looks up);
#   2. installs Debian's openvswitch-switch-dpdk (the switch the package
#      netdev-vhost-switch installs next to, docs/install.md) without letting
#      its services start or be enabled: a system ovs-vswitchd would collide
#      with the tests' own;
#   3. reserves 2 MB hugepages (NVH_HUGEPAGES, default 1024 = 2 GB; an
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
    # The Debian package (scripts/build-deb.sh, ctest package.deb):
    # dpkg-shlibdeps and dpkg-buildflags, and lintian.
    dpkg-dev lintian
)

# Debian's DPDK Open vSwitch, which the package depends on (and the package
# installation test, tests/integration/deb_install.sh, starts through its
# ovs-ctl).  Installed without starting its services, see below.
# OVN (the central databases and ovn-northd, and ovn-controller) for the
# multi-chassis test tests/integration/ovn_multichassis.sh, which starts its
# own.  Installed the same way.
ovs_packages=(openvswitch-switch-dpdk ovn-central ovn-host)
# Their services: systemd units, and the SysV init scripts.
ovs_units=(openvswitch-switch.service ovs-vswitchd.service
           ovsdb-server.service ovs-record-hostname.service
           ovn-central.service ovn-northd.service ovn-ovsdb-server-nb.service
           ovn-ovsdb-server-sb.service ovn-host.service ovn-controller.service)

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

# openvswitch-switch's postinst starts the switch (invoke-rc.d or
# deb-systemd-invoke) and enables it at boot, and OVN's packages start
# theirs.  Those services must never run on a test machine: the tests start
# their own ovsdb-server, ovs-vswitchd and OVN daemons, and two userspace
# datapaths on one host collide.  So, before
# the installation, the units are masked (systemd); during it a policy-rc.d
# that forbids every start (exit 101) stands in for any other (put back
# afterwards); after it the SysV script is disabled.  Nothing is stopped: a
# switch that was already running was not started here.
if [ "$(dpkg-query -W -f='${Status}\n' "${ovs_packages[@]}" 2>/dev/null |
       grep -cx 'install ok installed')" -ne ${#ovs_packages[@]} ]; then
    if [ -d /run/systemd/system ]; then
        log "masking ${ovs_units[*]}"
        as_root systemctl mask "${ovs_units[@]}" >/dev/null
    fi
    policy=/usr/sbin/policy-rc.d
    saved=""
    if [ -e "$policy" ]; then
        saved=$(mktemp)
        as_root cp -a "$policy" "$saved"
    fi
    restore_policy() {
        if [ -n "$saved" ]; then
            as_root mv -f "$saved" "$policy"
        else
            as_root rm -f "$policy"
        fi
    }
    trap restore_policy EXIT
    printf '#!/bin/sh\n# setup.sh: no service starts while Open vSwitch installs\nexit 101\n' |
        as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    log "apt-get install --no-install-recommends ${ovs_packages[*]} (services not started)"
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get "${apt_opts[@]}" --no-install-recommends install "${ovs_packages[@]}"
    restore_policy
    trap - EXIT
fi
for service in openvswitch-switch ovn-central ovn-host; do
    if [ ! -d /run/systemd/system ] && [ -e "/etc/init.d/$service" ] &&
       command -v update-rc.d >/dev/null &&
       ls /etc/rc[2-5].d/S*"$service" >/dev/null 2>&1; then
        log "disabling the SysV service $service at boot"
        as_root update-rc.d "$service" disable >/dev/null
    fi
done

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
