#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# qemu_migration: live migration of a running QEMU guest from one vhost-user
# client port to another on the same bridge (actions=NORMAL).
#
#   g2  (vhu0, ofport 1)  pings g1 every 0.1 s, printing every reply
#   g1  (vhu1, ofport 2)  the source QEMU
#   g1' (vhu2, ofport 3)  the destination QEMU: same command line, its own
#                         socket, "-incoming defer", started up front
#
# g1 is migrated over a unix socket (QMP) while g2 pings it.  g1 itself only
# answers, so g2's requests reach it on vhu2 only once MAC learning has moved
# g1's MAC there: the guest's announcement (GUEST_ANNOUNCE) or the RARP QEMU
# asks the backend for (SEND_RARP).  QEMU migrates only if the backend logs
# the pages it writes (VHOST_F_LOG_ALL).
#
# NVH_MIGRATION_SRC_TYPE / NVH_MIGRATION_DST_TYPE: the types of vhu1 and
# vhu2 (default NVH_PORT_TYPE), to migrate between the two backends.
#
# Checks: the migration completes; the source port goes down once the
# source QEMU quits; the migrated guest's kernel reports no error (a ring
# page the port wrote but did not log would arrive stale: "not a head");
# the destination port becomes ready, g1's MAC is learned on it and its
# counters move; g2's pings are answered again after the migration, and at
# most NVH_MIGRATION_MAX_LOST (default 50, i.e. 5 s) of them were lost in
# all.  Prints QEMU's downtime and total time and the
# measured gap (longest run of unanswered pings).
source "$(dirname "$0")/lib.sh"

BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
MIGRATION_TIMEOUT=${NVH_MIGRATION_TIMEOUT:-120}
MAX_LOST=${NVH_MIGRATION_MAX_LOST:-50}
# Migration bandwidth (bytes/s): low enough that RAM takes a few seconds to
# copy, during which the port writes guest memory (receive buffers, used
# ring) with dirty-page logging on.
BANDWIDTH=${NVH_MIGRATION_BANDWIDTH:-33554432}
INTERVAL=0.1
BEFORE=20   # replies seen before the migration starts
AFTER=50    # replies required after the migration
IP1=198.18.0.1
IP2=198.18.0.2
MAC1=52:54:00:00:00:01
MAC2=52:54:00:00:00:02

[ -x /usr/bin/python3 ] || nvh_skip "/usr/bin/python3 missing (QMP client)"
nvh_setup_guest_test

nvh_ovs_start
nvh_add_bridge br0
s0=$(nvh_sock vhu0)
s1=$(nvh_sock vhu1)
s2=$(nvh_sock vhu2)
nvh_add_port br0 vhu0 "$s0" 1
NVH_PORT_TYPE=${NVH_MIGRATION_SRC_TYPE:-$NVH_PORT_TYPE} nvh_add_port br0 vhu1 "$s1" 2
NVH_PORT_TYPE=${NVH_MIGRATION_DST_TYPE:-$NVH_PORT_TYPE} nvh_add_port br0 vhu2 "$s2" 3
nvh_log "source port vhu1: $(nvh_iface_get vhu1 type), destination port vhu2: $(nvh_iface_get vhu2 type)"
nvh_flows br0 "actions=NORMAL"

# replies_seen: the sequence numbers of g2's answered pings so far, sorted.
replies_seen() {
    tr -d '\r' <"${NVH_GUEST_CONSOLE[g2]}" |
        sed -n 's/^[0-9]* bytes from .*: seq=\([0-9]*\) .*/\1/p' | sort -n -u
}
last_reply() { replies_seen | tail -n1; }
nvh__replies_at_least() { [ "$(replies_seen | wc -l)" -ge "$1" ]; }
nvh__reply_beyond() { local l; l=$(last_reply); [ -n "$l" ] && [ "$l" -ge "$1" ]; }
nvh__qmp_up() { nvh_qmp "$1" query-status >/dev/null 2>&1; }

g1_args=(nvh.ip=$IP1/24 nvh.peer=$IP2 nvh.role=answer nvh.timeout=300)
nvh_guest_start g1 "$s1" $MAC1 "${g1_args[@]}"
NVH_GUEST_QEMU_ARGS="-incoming defer" nvh_guest_start g1-dst "$s2" $MAC1 "${g1_args[@]}"
nvh_guest_start g2 "$s0" $MAC2 nvh.ip=$IP2/24 nvh.peer=$IP1 nvh.role=ping-stream \
    nvh.count=3000 nvh.interval=$INTERVAL nvh.timeout=300

nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready"
nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready"
nvh_guest_wait g1 '^NVH-READY' "$BOOT_TIMEOUT" >/dev/null || nvh_fail "guest g1 did not come up"
nvh_guest_wait g2 '^NVH-PINGING' "$BOOT_TIMEOUT" >/dev/null || nvh_fail "g2 never reached g1"
nvh_wait_for 60 "$BEFORE replies before the migration" nvh__replies_at_least $BEFORE ||
    nvh_fail "g2's pings are not answered before the migration"
nvh_wait_for 30 "the destination's monitor" nvh__qmp_up g1-dst ||
    nvh_fail "destination QEMU has no monitor"
nvh_wait_for 30 "the source's monitor" nvh__qmp_up g1 || nvh_fail "source QEMU has no monitor"

# Migrate g1 -> g1-dst.
uri="unix:$NVH_WORK/migrate.sock"
nvh_qmp g1-dst migrate-incoming "{\"uri\": \"$uri\"}" >/dev/null ||
    nvh_fail "migrate-incoming failed on the destination"
nvh_qmp g1 migrate-set-parameters "{\"max-bandwidth\": $BANDWIDTH}" >/dev/null ||
    nvh_fail "migrate-set-parameters failed"
seq_start=$(last_reply)
nvh_log "migrating g1 (vhu1) to g1-dst (vhu2), g2's last answered ping: seq=$seq_start"
nvh_qmp g1 migrate "{\"uri\": \"$uri\"}" >/dev/null ||
    nvh_fail "migrate refused by the source QEMU (see $NVH_WORK/g1.qemu.log)"
status=""
deadline=$((SECONDS + MIGRATION_TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
    status=$(nvh_qmp g1 query-migrate --field status) || status="?"
    case "$status" in completed|failed|cancelled) break ;; esac
    sleep 0.2
done
info=$(nvh_qmp g1 query-migrate)
seq_done=$(last_reply)
nvh_log "query-migrate: $info"
if [ "$status" != completed ]; then
    nvh_log "error-desc: $(nvh_qmp g1 query-migrate --field error-desc)"
    nvh_fail "migration did not complete within ${MIGRATION_TIMEOUT}s (status '$status')"
fi
downtime=$(nvh_qmp g1 query-migrate --field downtime)
total=$(nvh_qmp g1 query-migrate --field total-time)
ram=$(nvh_qmp g1 query-migrate --field ram.transferred)
nvh_log "migration completed: downtime ${downtime} ms, total time ${total} ms, $ram bytes of RAM sent"
nvh_check_eq "destination QEMU state" running "$(nvh_qmp g1-dst query-status --field status)"

# The source QEMU has handed over: it quits and its port goes down.
nvh_qmp g1 quit >/dev/null
nvh_guest_stop g1
nvh_wait_port_down vhu1 30 || nvh_check_eq "vhu1 down after the source QEMU quit" yes no
nvh_wait_port_ready vhu2 30 || nvh_check_eq "vhu2 ready after the migration" yes no

# g2's pings are answered again, now through vhu2.
nvh_wait_for 60 "answers beyond seq=$((seq_done + AFTER))" \
    nvh__reply_beyond $((seq_done + AFTER)) ||
    nvh_fail "g2's pings are not answered after the migration (last answered seq=$(last_reply), at completion: seq=$seq_done)"

# The loss window: every ping from the first answered one to the last.
seqs=$(replies_seen)
read -r first last got lost gap gap_after <<<"$(echo "$seqs" | awk '
    NR == 1 { first = $1 }
    NR > 1 && $1 - prev - 1 > gap { gap = $1 - prev - 1; after = prev }
    { prev = $1; n++ }
    END { print first, prev, n, prev - first + 1 - n, gap + 0, after + 0 }')"
nvh_log "g2 pinged every ${INTERVAL}s: seq $first..$last, $got answered, $lost lost;" \
    "longest gap $gap pings (~$(awk -v g="$gap" -v i="$INTERVAL" 'BEGIN { printf "%.1f", g * i }') s)" \
    "after seq=$gap_after; migration from seq=${seq_start:-?} to seq=${seq_done:-?}"
[ "$lost" -le "$MAX_LOST" ] ||
    nvh_check_eq "pings lost (at most $MAX_LOST)" "<= $MAX_LOST" "$lost"

# The migrated guest's kernel (quiet: errors only) printed nothing on the
# destination's console; a stale ring would make virtio_net complain.
errs=$(grep -aivE '^(NVH-|$)' "${NVH_GUEST_CONSOLE[g1-dst]}" | tr -d '\r' | head -n 5)
nvh_check_eq "kernel messages of g1 after the migration" "" "$errs"

# Neither QEMU refused its backend's features ("vhost lacks feature mask ...
# for backend", hw/net/vhost_net.c): the destination port offers what the
# guest acked on the source port, whichever backend serves each.
for g in g1 g1-dst; do
    nvh_check_eq "$g: no feature error in QEMU's log" "" \
        "$(grep -iE 'lacks feature|feature.*(mismatch|not supported)|vhost_net.*fail|failed to init vhost' \
            "$NVH_WORK/$g.qemu.log")"
done

# MAC learning followed g1 to vhu2 (ofport 3).
appctl fdb/show br0 | sed 's/^/    /'
nvh_check_eq "port of g1's MAC in br0's table" 3 \
    "$(appctl fdb/show br0 | awk -v m=$MAC1 '$3 == m { print $1 }')"

# vhu2 carried the traffic (the statistics column lags by up to 5 s).
nvh__stat_at_least() { [ "$(nvh_iface_stat "$1" "$2")" -ge "$3" ]; }
for k in rx_packets tx_packets; do
    nvh_wait_for 15 "vhu2 $k >= $AFTER" nvh__stat_at_least vhu2 $k $AFTER >/dev/null
    v=$(nvh_iface_stat vhu2 $k)
    [ "$v" -ge "$AFTER" ] || nvh_check_eq "vhu2 statistics:$k >= $AFTER" yes "no ($v)"
    nvh_log "vhu2 statistics:$k = $v"
done
vsctl get Interface vhu2 status | sed 's/^/    vhu2 status: /'

nvh_finish
