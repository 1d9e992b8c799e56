#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deb_install: the package netdev-vhost-switch on the host's own Open
# vSwitch (docs/install.md), from installation to removal.
#
# It installs a package and runs Debian's switch on the system's paths
# (/var/run/openvswitch, /etc/openvswitch/conf.db, /var/log/openvswitch):
# for a machine prepared by scripts/setup.sh where nothing else uses Open
# vSwitch (a test machine; it fails rather than touch a running system
# switch).  In the suite as integration.deb_install; by hand, as root:
#
#   sudo bash tests/integration/deb_install.sh        # builds the package
#   sudo NVH_DEB=path/to/netdev-vhost-switch_*.deb bash tests/integration/deb_install.sh
#
# 1. Debian's openvswitch-switch-dpdk must be installed, this package not,
#    and no system ovsdb-server or ovs-vswitchd may run (the test fails
#    rather than touch one it did not start).  The DPDK binary is selected
#    by hand, as Debian's README.Debian says.
# 2. The package is installed with dpkg, service start-up forbidden
#    (policy-rc.d answering 101): /usr/sbin/ovs-vswitchd must be ours.
# 3. Debian's ovs-ctl starts the switch (its defaults: --mlockall,
#    --monitor), DPDK configured in the database before ovs-vswitchd starts;
#    the running binary is ours, it loaded the plugin, iface_types lists
#    vhostuserclient.  Two vhostuserclient ports, two QEMU guests pinging
#    each other through actions=NORMAL; vhostuserclient/show lists both.
#    ovs-vswitchd's memory is printed (VmRSS, RssAnon, RssShmem, VmLck,
#    HugetlbPages) and its private resident memory (RssAnon) must stay under
#    NVH_DEB_MAX_ANON_MB (default 512: with --mlockall everything of its own
#    is resident), its resident shared memory (RssShmem) under
#    NVH_DEB_MAX_SHMEM_MB (default 64): the guests' 2 x 256 MB of memfd
#    memory, which it maps, is not faulted in by --mlockall.
# 4. "ovs-ctl restart": the ports resume their connections (handed over,
#    status:resumes 1, connects 1), the guests' pings resume, the ports are ready
#    again, the binary is still ours; memory printed and checked again.
#    Then "ovs-ctl --ovs-user=nvh-ovs:nvh-ovs restart" (a user created for
#    it, owning OVS's directories, allowed on the guests' sockets): the
#    switch runs as that user, under --mlockall, and the pings resume.
# 5. "dpkg -r": /usr/sbin/ovs-vswitchd is Debian's DPDK binary again (the
#    selection made by hand is restored), the database still has the bridge
#    and both ports with their type and options.  "ovs-ctl restart" runs
#    Debian's binary, which cannot open vhostuserclient ports (their error
#    column says so) but keeps them.  "dpkg -P": the database is untouched.
#
# Afterwards the host is as it was: the switch is stopped, the package
# purged, the ovs-vswitchd alternatives as they were, a database that
# existed before put back (one the test created removed), and the logs the
# test's switch wrote are moved into the work directory.
source "$(dirname "$0")/lib.sh"

BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
RESUME_TIMEOUT=${NVH_RESTART_RESUME_TIMEOUT:-60}
MAX_ANON_MB=${NVH_DEB_MAX_ANON_MB:-512}
MAX_SHMEM_MB=${NVH_DEB_MAX_SHMEM_MB:-64}   # two guests of 256 MB: 512 if mapped whole
AFTER=20                       # replies that must follow each restart
INTERVAL=0.1
IP1=198.18.0.1
IP2=198.18.0.2

PKG=netdev-vhost-switch
OURS=/usr/lib/netdev-vhost/sbin/ovs-vswitchd
DPDK=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
CTL=/usr/share/openvswitch/scripts/ovs-ctl
RUNDIR=/var/run/openvswitch
LOGDIR=/var/log/openvswitch
DB=/var/lib/openvswitch/conf.db     # /etc/openvswitch/conf.db links here
POLICY=/usr/sbin/policy-rc.d

# Debian's tools (lib/ovs.sh's vsctl, appctl and ofctl use $NVH_PREFIX/bin).
NVH_PREFIX=/usr
export NVH_PREFIX

OVS_USER=nvh-ovs        # for "ovs-ctl --ovs-user", created and removed here
# What ovs-ctl --ovs-user needs to own (it creates only missing directories).
OVS_DIRS=("$RUNDIR" "$LOGDIR" "$(dirname "$DB")" /etc/openvswitch)

DEB_STARTED=""          # set once this test started the system switch
DEB_USER_ADDED=""       # set once this test created OVS_USER
DEB_INSTALLED=""        # set once this test installed the package
DEB_DB_SAVED=""         # a database that existed before, moved aside
DEB_ALT_MODE="" DEB_ALT_VALUE=""
DEB_LOGS_BEFORE=""
SYSTEM_ID=""
nvh_deb_rc=0            # the exit status, kept across deb_cleanup

# ---- Clean-up: the host as it was -------------------------------------------
# shellcheck disable=SC2317  # Called from the EXIT trap.
deb_cleanup() {
    local f
    set +e
    if [ -n "$DEB_STARTED" ]; then
        "$CTL" stop >/dev/null 2>&1
    fi
    if [ -n "$DEB_USER_ADDED" ]; then
        chown -R root:root "${OVS_DIRS[@]}" 2>/dev/null
        userdel "$OVS_USER" >/dev/null 2>&1
    fi
    if [ -n "$DEB_INSTALLED" ] && dpkg-query -W "$PKG" >/dev/null 2>&1; then
        deb_with_policy dpkg -P "$PKG" >/dev/null 2>&1
    fi
    case "$DEB_ALT_MODE" in
        auto) update-alternatives --auto ovs-vswitchd >/dev/null 2>&1 ;;
        manual) update-alternatives --set ovs-vswitchd "$DEB_ALT_VALUE" >/dev/null 2>&1 ;;
    esac
    if [ -n "$DEB_STARTED" ]; then
        rm -f "$DB" "$(dirname "$DB")/.conf.db.~lock~"
        [ -n "$DEB_DB_SAVED" ] && mv -f "$DEB_DB_SAVED" "$DB"
        mkdir -p "$NVH_WORK/system-logs"
        for f in "$LOGDIR"/*.log; do
            [ -e "$f" ] || continue
            grep -qxF "$f" <<<"$DEB_LOGS_BEFORE" && continue
            mv -f "$f" "$NVH_WORK/system-logs/"
        done
    fi
}

# deb_with_policy COMMAND...: runs it with a policy-rc.d that forbids every
# service start (exit 101) in place of any other, put back afterwards.
deb_with_policy() {
    local saved="" rc
    if [ -e "$POLICY" ]; then
        saved=$NVH_WORK/policy-rc.d.saved
        cp -a "$POLICY" "$saved"
    fi
    printf '#!/bin/sh\nexit 101\n' > "$POLICY"
    chmod 755 "$POLICY"
    DEBIAN_FRONTEND=noninteractive "$@"
    rc=$?
    if [ -n "$saved" ]; then mv -f "$saved" "$POLICY"; else rm -f "$POLICY"; fi
    return $rc
}

alt_value() { update-alternatives --query ovs-vswitchd | sed -n 's/^Value: //p'; }
alt_mode()  { update-alternatives --query ovs-vswitchd | sed -n 's/^Status: //p'; }
sbin_target() { readlink -f /usr/sbin/ovs-vswitchd; }

# The system switch's ovs-vswitchd (the --monitor child: its pidfile).
vswitchd_pid() { cat "$RUNDIR/ovs-vswitchd.pid" 2>/dev/null; }
vswitchd_exe() { readlink "/proc/$(vswitchd_pid)/exe"; }

# deb_ctl ARGS...: Debian's ovs-ctl; the system ID is given, so that it
# writes no /etc/openvswitch/system-id.conf.
deb_ctl() {
    "$CTL" --system-id="$SYSTEM_ID" "$@" >>"$NVH_WORK/ovs-ctl.log" 2>&1
}

# deb_vswitchd_up: waits for DPDK in a new ovs-vswitchd and points the
# library's bookkeeping at it (its PID, for the memory checks).
deb_vswitchd_up() {
    local what=$1
    nvh_wait_for 60 "ovs-vswitchd's pidfile" test -s "$RUNDIR/ovs-vswitchd.pid" ||
        nvh_fail "$what: ovs-vswitchd did not start (see ovs-ctl.log)"
    NVH_VSWITCHD_PID=$(vswitchd_pid)
    nvh_wait_for 60 "DPDK initialisation" deb__dpdk_initialized ||
        nvh_fail "$what: ovs-vswitchd did not initialise DPDK"
    nvh_log "$what: ovs-vswitchd pid $NVH_VSWITCHD_PID runs $(vswitchd_exe)," \
        "command line: $(tr '\0' ' ' < "/proc/$NVH_VSWITCHD_PID/cmdline")"
}
deb__dpdk_initialized() {
    [ "$(vsctl get Open_vSwitch . dpdk_initialized 2>/dev/null)" = true ]
}

# deb_memory WHAT: prints ovs-vswitchd's memory, checks RssAnon and RssShmem.
deb_memory() {
    local what=$1 status anon shmem
    status=/proc/$NVH_VSWITCHD_PID/status
    nvh_log "$what: ovs-vswitchd memory:" \
        "$(grep -E '^(VmRSS|RssAnon|RssFile|RssShmem|VmLck|HugetlbPages):' "$status" | xargs)"
    anon=$(awk '/^RssAnon:/ { print int($2 / 1024) }' "$status")
    [ "$anon" -le "$MAX_ANON_MB" ] ||
        nvh_check_eq "$what: ovs-vswitchd RssAnon <= $MAX_ANON_MB MB" yes "no ($anon MB)"
    # The guests' memory (memfd, 256 MB each) is shared memory: were it
    # populated under --mlockall it would all be in RssShmem.
    shmem=$(awk '/^RssShmem:/ { print int($2 / 1024) }' "$status")
    [ "$shmem" -le "$MAX_SHMEM_MB" ] ||
        nvh_check_eq "$what: ovs-vswitchd RssShmem <= $MAX_SHMEM_MB MB (guest memory not faulted in)" \
            yes "no ($shmem MB)"
    nvh_check_eq "$what: ovs-vswitchd runs with --mlockall" yes \
        "$(tr '\0' '\n' < "/proc/$NVH_VSWITCHD_PID/cmdline" | grep -qx -- --mlockall && echo yes)"
}

# ---- 1. Preconditions -------------------------------------------------------
NVH_PING_INTERVAL=$INTERVAL
nvh_setup_guest_test
# After nvh_init's trap: the switch is stopped and the host put back first,
# then the library ends the guests and removes the work directory.
trap 'nvh_deb_rc=$?; deb_cleanup; (exit $nvh_deb_rc); nvh_cleanup' EXIT
nvh_require_cmd dpkg dpkg-query update-alternatives uuidgen
[ -x "$CTL" ] || nvh_fail "$CTL missing: install openvswitch-switch-dpdk (scripts/setup.sh)"
[ "$(dpkg-query -W -f='${Status}' openvswitch-switch-dpdk 2>/dev/null)" = "install ok installed" ] ||
    nvh_fail "openvswitch-switch-dpdk is not installed (scripts/setup.sh)"
! dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'installed' ||
    nvh_fail "$PKG is already installed: this test installs and removes it"
for d in ovsdb-server ovs-vswitchd; do
    if [ -s "$RUNDIR/$d.pid" ] && nvh_alive "$(cat "$RUNDIR/$d.pid")"; then
        nvh_fail "a system $d is running (pid $(cat "$RUNDIR/$d.pid")): not touching it"
    fi
done

if [ -z "${NVH_DEB:-}" ]; then
    nvh_log "building the package (scripts/build-deb.sh)"
    NVH_DEB=$("$NVH_REPO/scripts/build-deb.sh" 2>"$NVH_WORK/build-deb.log" | tail -n 1) ||
        { tail -n 30 "$NVH_WORK/build-deb.log"; nvh_fail "scripts/build-deb.sh failed"; }
fi
[ -f "$NVH_DEB" ] || nvh_fail "no package '$NVH_DEB'"
nvh_log "package $NVH_DEB"

SYSTEM_ID=$(uuidgen)
DEB_ALT_MODE=$(alt_mode)
DEB_ALT_VALUE=$(alt_value)
DEB_LOGS_BEFORE=$(ls "$LOGDIR"/*.log 2>/dev/null)
nvh_log "ovs-vswitchd alternatives before: $DEB_ALT_MODE, $DEB_ALT_VALUE"
update-alternatives --set ovs-vswitchd "$DPDK" >/dev/null ||
    nvh_fail "cannot select $DPDK"
nvh_assert_eq "before: /usr/sbin/ovs-vswitchd" "$DPDK" "$(sbin_target)"

# ---- 2. Install ---------------------------------------------------------------
DEB_INSTALLED=1
deb_with_policy dpkg -i "$NVH_DEB" >"$NVH_WORK/dpkg-install.log" 2>&1 ||
    { cat "$NVH_WORK/dpkg-install.log"; nvh_fail "dpkg -i failed"; }
nvh_check_eq "installed: /usr/sbin/ovs-vswitchd" "$OURS" "$(sbin_target)"
update-alternatives --display ovs-vswitchd | sed 's/^/    /'
for d in ovsdb-server ovs-vswitchd; do
    [ -s "$RUNDIR/$d.pid" ] && nvh_alive "$(cat "$RUNDIR/$d.pid")" &&
        nvh_fail "installing the package started $d"
done

# ---- 3. Start with Debian's ovs-ctl -------------------------------------------
if [ -e "$DB" ]; then
    DEB_DB_SAVED=$NVH_WORK/conf.db.saved
    mv "$DB" "$DEB_DB_SAVED"
fi
DEB_STARTED=1
deb_ctl --no-ovs-vswitchd start || nvh_fail "ovs-ctl --no-ovs-vswitchd start failed"
nvh_ovs_configure_dpdk deb
deb_ctl --no-ovsdb-server start || nvh_fail "ovs-ctl --no-ovsdb-server start failed"
deb_vswitchd_up start
nvh_check_eq "start: running binary" "$OURS" "$(vswitchd_exe)"
nvh_check_match "start: plugin loaded" \
    "plugin /usr/lib/netdev-vhost/lib/openvswitch/plugins/netdev-vhost.so loaded" \
    "$(grep 'plugins|' "$LOGDIR/ovs-vswitchd.log")"
nvh_check_match "start: iface_types" "vhostuserclient" \
    "$(vsctl get Open_vSwitch . iface_types)"

nvh_two_port_bridge "actions=NORMAL"
ping_args=(nvh.role=ping-stream "nvh.interval=$INTERVAL" nvh.count=6000 nvh.timeout=600)
nvh_guest_start g1 "$(nvh_sock vhu0)" 52:54:00:00:00:01 nvh.ip=$IP1/24 nvh.peer=$IP2 "${ping_args[@]}"
nvh_guest_start g2 "$(nvh_sock vhu1)" 52:54:00:00:00:02 nvh.ip=$IP2/24 nvh.peer=$IP1 "${ping_args[@]}"
nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready"
nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready"
nvh_ping_streams_up "$BOOT_TIMEOUT" "$AFTER" g1 g2
show=$(appctl vhostuserclient/show)
sed 's/^/    /' <<<"$show"
nvh_check_match "vhostuserclient/show lists vhu0" "vhu0" "$show"
nvh_check_match "vhostuserclient/show lists vhu1" "vhu1" "$show"
deb_memory start

# ---- 4. ovs-ctl restart -------------------------------------------------------
# shellcheck disable=SC2034  # read by nvh_ping_streams_resumed
declare -A last=([g1]=$(nvh_ping_last g1) [g2]=$(nvh_ping_last g2))
deb_ctl restart || nvh_fail "ovs-ctl restart failed"
deb_vswitchd_up restart
nvh_check_eq "restart: running binary" "$OURS" "$(vswitchd_exe)"
for p in vhu0 vhu1; do
    nvh_wait_port_ready $p "$RESUME_TIMEOUT" || nvh_fail "restart: $p not ready again"
    # ovs-ctl stops with "ovs-appctl exit": the connection is handed over.
    nvh_check_eq "restart: $p status:resumes" 1 "$(nvh_iface_status $p resumes)"
    nvh_check_eq "restart: $p status:connects" 1 "$(nvh_iface_status $p connects)"
done
nvh_ping_streams_resumed restart "$RESUME_TIMEOUT" "$AFTER" last g1 g2
deb_memory restart

# ---- 4b. ovs-ctl --ovs-user -----------------------------------------------------
# The switch as a user of its own, as ovs-ctl's --ovs-user (OVS_CTL_OPTS)
# runs it: ovsdb-server and ovs-vswitchd drop root, ovs-vswitchd keeping
# CAP_IPC_LOCK (--mlockall) and the network capabilities.  What an operator
# does for it is done here: the user owns OVS's directories, and it may
# connect to the guests' vhost-user sockets (libvirt: a group both share).
id "$OVS_USER" >/dev/null 2>&1 && nvh_fail "user $OVS_USER exists already"
useradd --system --no-create-home --shell /usr/sbin/nologin "$OVS_USER" ||
    nvh_fail "cannot create user $OVS_USER"
DEB_USER_ADDED=1
chown -R "$OVS_USER:$OVS_USER" "${OVS_DIRS[@]}" || nvh_fail "cannot chown OVS's directories"
chmod 755 "$NVH_WORK"
chmod 666 "$(nvh_sock vhu0)" "$(nvh_sock vhu1)"
# shellcheck disable=SC2034  # read by nvh_ping_streams_resumed
declare -A last=([g1]=$(nvh_ping_last g1) [g2]=$(nvh_ping_last g2))
deb_ctl --ovs-user="$OVS_USER:$OVS_USER" restart || nvh_fail "ovs-ctl --ovs-user restart failed"
deb_vswitchd_up ovs-user
nvh_check_eq "ovs-user: ovs-vswitchd's user" "$OVS_USER" \
    "$(ps -o user= -p "$NVH_VSWITCHD_PID" | tr -d ' ')"
nvh_check_eq "ovs-user: running binary" "$OURS" "$(vswitchd_exe)"
for p in vhu0 vhu1; do
    nvh_wait_port_ready $p "$RESUME_TIMEOUT" || nvh_fail "ovs-user: $p not ready again"
    # Handed over from root to the new user's ovs-vswitchd (the keeper's
    # socket belongs to the run directory's owner).
    nvh_check_eq "ovs-user: $p status:resumes" 1 "$(nvh_iface_status $p resumes)"
done
nvh_ping_streams_resumed ovs-user "$RESUME_TIMEOUT" "$AFTER" last g1 g2
deb_memory ovs-user
# Back to root for the rest (Debian's binary, as by default).
chown -R root:root "${OVS_DIRS[@]}" || nvh_fail "cannot give OVS's directories back to root"

# ---- 5. Remove, purge ---------------------------------------------------------
before_ports=$(vsctl --bare --columns=name,type,options list Interface | sort)
deb_with_policy dpkg -r "$PKG" >"$NVH_WORK/dpkg-remove.log" 2>&1 ||
    { cat "$NVH_WORK/dpkg-remove.log"; nvh_fail "dpkg -r failed"; }
nvh_check_eq "removed: /usr/sbin/ovs-vswitchd" "$DPDK" "$(sbin_target)"
nvh_check_eq "removed: alternatives mode" manual "$(alt_mode)"
nvh_check_eq "removed: ports in the database" "$before_ports" \
    "$(vsctl --bare --columns=name,type,options list Interface | sort)"

deb_ctl restart || nvh_fail "ovs-ctl restart (Debian's binary) failed"
deb_vswitchd_up "Debian's binary"
nvh_check_eq "after removal: running binary" "$DPDK" "$(vswitchd_exe)"
for p in vhu0 vhu1; do
    nvh_check_match "after removal: $p error column" "could not open" "$(nvh_iface_get $p error)"
done
nvh_check_eq "after removal: ports in the database" "$before_ports" \
    "$(vsctl --bare --columns=name,type,options list Interface | sort)"

deb_with_policy dpkg -P "$PKG" >"$NVH_WORK/dpkg-purge.log" 2>&1 ||
    { cat "$NVH_WORK/dpkg-purge.log"; nvh_fail "dpkg -P failed"; }
nvh_check_eq "purged: ports in the database" "$before_ports" \
    "$(vsctl --bare --columns=name,type,options list Interface | sort)"
nvh_check_eq "purged: /usr/sbin/ovs-vswitchd" "$DPDK" "$(sbin_target)"

nvh_finish
