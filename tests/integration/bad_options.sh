#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bad_options: vhostuserclient ports with a missing, an empty and a too long
# (200 bytes) vhost-server-path each get a clear error in the Interface
# "error" column and in the ovs-vswitchd log, and the switch keeps running:
# "ovs-vsctl show" works and two good ports still forward (exact counts).  A
# path whose socket does not exist yet is not an error: the port waits.  A bad
# port given a valid path recovers.
#
# The error reporting checked here is that of the vhostuserclient type; under
# another type the test is skipped (set NVH_FORCE_BAD_OPTIONS=1 to run the
# type-neutral parts anyway: the switch survives, a missing socket means
# status=disconnected).
source "$(dirname "$0")/lib.sh"

BURSTS=${NVH_BURSTS:-4}
N=$((BURSTS * 32))

if [ "${NVH_FORCE_BAD_OPTIONS:-0}" != 1 ]; then
    nvh_require_port_type vhostuserclient
fi
ours=0
[ "$NVH_PORT_TYPE" = vhostuserclient ] && ours=1

nvh_setup_testpmd_test

nvh_ovs_start
nvh_two_port_testpmd tp

long=$NVH_WORK/$(printf 'x%.0s' $(seq 1 200))
long=${long:0:200}

# add_bad PORT [OPTION...]: adds the port; prints what ovs-vsctl said.
add_bad() {
    local port=$1 out rc
    shift
    out=$(vsctl add-port br0 "$port" -- set Interface "$port" type="$NVH_PORT_TYPE" "$@" 2>&1)
    rc=$?
    nvh_log "ovs-vsctl add-port $port $*: exit $rc${out:+, said: $out}"
}

# has_error PORT / no_error PORT: whether the Interface error column is set
# (read anew at every call, so nvh_wait_for can poll them).
error_of() { nvh_iface_get "$1" error | sed 's/^\[\]$//'; }
has_error() { [ -n "$(error_of "$1")" ]; }
no_error() { [ -z "$(error_of "$1")" ]; }

# check_error PORT REGEX: the Interface error column and the log.
check_error() {
    local port=$1 re=$2 err
    [ $ours = 1 ] && nvh_wait_for 10 "$port error column" has_error "$port" >/dev/null
    err=$(nvh_iface_get "$port" error | sed 's/^\[\]$//')
    if [ $ours = 1 ]; then
        nvh_check_match "$port Interface error" "$re" "$err"
        if grep -F "$port" "$NVH_WORK/ovs/log/ovs-vswitchd.log" | grep -qE "$re"; then
            nvh_log "ok: the ovs-vswitchd log explains the error of $port"
        else
            nvh_check_eq "ovs-vswitchd log has /$re/ for $port" yes no
        fi
    else
        nvh_log "$port ($NVH_PORT_TYPE) Interface error: '${err:-<none>}' (not checked)"
    fi
}

add_bad pmiss
add_bad pempty 'options:vhost-server-path=""'
add_bad plong options:vhost-server-path="$long"
check_error pmiss  'vhost-server-path.*required'
check_error pempty 'vhost-server-path.*required'
check_error plong  'vhost-server-path.*200'

# A socket that does not exist yet: no error, the port waits.
add_bad pwait options:vhost-server-path="$NVH_WORK/nobody-here.sock"
sleep 1
err=$(nvh_iface_get pwait error | sed 's/^\[\]$//')
nvh_check_eq "pwait Interface error" "" "$err"
if [ $ours = 1 ]; then
    nvh_check_match "pwait status:state" '^waiting' "$(nvh_iface_status pwait state)"
fi
nvh_check_eq "pwait status:status" disconnected "$(nvh_iface_status pwait status)"

# The switch is still alive and still forwards.
nvh_ovs_alive || nvh_fail "ovs-vswitchd died"
vsctl show >"$NVH_WORK/show.txt" 2>&1 || nvh_fail "ovs-vsctl show failed"
sed 's/^/    /' "$NVH_WORK/show.txt"
nvh_tp_send tp "$BURSTS" 64
nvh_tp_wait_rx tp 1 "$N" >/dev/null
nvh_tp_wait_rx tp 0 "$N" >/dev/null
stats=$(nvh_tp_stats tp)
nvh_tp_run tp stop
for p in 0 1; do
    read -r _ rxp _ txp _ <<<"$(echo "$stats" | awk -v p=$p '$1 == p')"
    nvh_check_eq "testpmd port $p TX-packets beside the bad ports" "$N" "${txp:-?}"
    nvh_check_eq "testpmd port $p RX-packets beside the bad ports" "$N" "${rxp:-?}"
done

# A bad port recovers once given a valid path: the error goes, it waits.
vsctl set Interface pmiss options:vhost-server-path="$NVH_WORK/pmiss.sock" ||
    nvh_fail "cannot fix pmiss"
nvh_wait_for 10 "pmiss error to clear" no_error pmiss >/dev/null
nvh_check_eq "pmiss Interface error after the fix" "" "$(nvh_iface_get pmiss error | sed 's/^\[\]$//')"
if [ $ours = 1 ]; then
    nvh_wait_status pmiss state 'waiting*' 10 >/dev/null
    nvh_check_match "pmiss status:state after the fix" '^waiting' "$(nvh_iface_status pmiss state)"
fi
nvh_ovs_alive || nvh_fail "ovs-vswitchd died"
nvh_finish
