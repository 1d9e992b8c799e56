#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks the plugin loader of the patched ovs-vswitchd: the plugin loads and
# its init runs, a plugin built for another Open vSwitch version is refused,
# and ovs-vswitchd keeps running either way.
#
# Usage: plugin-loader-test.sh OVS_DIR PLUGIN WRONG_VERSION_PLUGIN
#   OVS_DIR  configured and built OVS tree (vswitchd/, ovsdb/, utilities/)
set -euo pipefail

ovs=$1 plugin=$2 wrong=$3

dir=$(mktemp -d "${TMPDIR:-/tmp}/nvh-loader.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    echo "---- ovs-vswitchd.log" >&2
    cat "$dir/ovs-vswitchd.log" >&2 || true
    exit 1
}

export OVS_RUNDIR=$dir OVS_DBDIR=$dir OVS_LOGDIR=$dir OVS_SYSCONFDIR=$dir
export OVS_PKGDATADIR=$ovs/vswitchd OVS_BINDIR=$ovs/utilities
export OVS_PLUGIN_DIR=$dir/no-plugin-dir
export OVS_NETDEV_PLUGINS=$plugin:$wrong

"$ovs/ovsdb/ovsdb-tool" create "$dir/conf.db" "$ovs/vswitchd/vswitch.ovsschema"
"$ovs/ovsdb/ovsdb-server" "$dir/conf.db" --remote="punix:$dir/db.sock" \
    --detach --no-chdir --pidfile="$dir/ovsdb-server.pid" \
    --log-file="$dir/ovsdb-server.log"
pids+=("$(cat "$dir/ovsdb-server.pid")")
"$ovs/utilities/ovs-vsctl" --db="unix:$dir/db.sock" --no-wait init
"$ovs/vswitchd/ovs-vswitchd" "unix:$dir/db.sock" \
    --detach --no-chdir --pidfile="$dir/ovs-vswitchd.pid" \
    --log-file="$dir/ovs-vswitchd.log" -vconsole:off -vplugins:file:dbg
vswitchd_pid=$(cat "$dir/ovs-vswitchd.pid")
pids+=("$vswitchd_pid")

log=$dir/ovs-vswitchd.log
grep -q "plugins|INFO|plugin $plugin loaded (Open vSwitch " "$log" ||
    fail "no load line for $plugin"
grep -q "plugins|ERR|plugin $wrong refused: built for Open vSwitch '0.0.0', this is '" "$log" ||
    fail "no refusal line for $wrong"
grep -q "plugins|DBG|no plugin directory $OVS_PLUGIN_DIR" "$log" ||
    fail "no line for the missing plugin directory"

# Still alive and answering.
"$ovs/utilities/ovs-appctl" -t "$dir/ovs-vswitchd.$vswitchd_pid.ctl" version ||
    fail "ovs-vswitchd does not answer"
"$ovs/utilities/ovs-vsctl" --db="unix:$dir/db.sock" --timeout=30 \
    add-br br0 -- set bridge br0 datapath_type=netdev ||
    fail "ovs-vswitchd does not reconfigure"
"$ovs/utilities/ovs-appctl" -t "$dir/ovs-vswitchd.$vswitchd_pid.ctl" exit ||
    fail "ovs-vswitchd does not exit cleanly"
echo "plugin loader: ok"
