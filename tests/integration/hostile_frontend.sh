#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# hostile_frontend: the catalogue of attacks on a running ovs-vswitchd.
#
# One ovs-vswitchd, three vhostuserclient ports: victim (ofport 3, frames it
# receives go back to it: actions=in_port) and good0/good1 (ofports 1 and 2,
# on one testpmd, flows between them).  tests/tools/vhost_user_attack (the
# in-tree frontend of the unit tests: real sockets, memfd guest memory)
# attacks victim, one attack per run.  For each attack:
#
#   * the expected effect: the connection closed and status:last_error
#     names the reason (message level), or the right counter of the
#     statistics column moved by exactly the expected amount, with what the
#     frontend can see in its rings checked by the tool itself (the bad
#     chain returned empty, valid frames passing before and after it);
#   * good0 <-> good1 still pass exactly 32 frames each way; for the attacks
#     that hold the port's control connection (half a header, a flood)
#     this runs while the attack is in progress, and ovs-appctl (served by
#     ovs-vswitchd's main thread) must answer meanwhile;
#   * victim recovers: a well-behaved run of the tool connects, exchanges
#     frames and stops the device;
#   * ovs-vswitchd's open fds and memfd mappings are back at the baseline,
#     exactly (the extra fds an attack sent were closed).
# At the end: fds (exactly), mappings (slack) and ovs-vswitchd's own RSS
# (bounded; without guest memory) against the baseline taken after a
# warm-up, the mappings whose RSS grew most, and a table of every attack.
#
# NVH_TSO=true enables userspace TSO, so that VIRTIO_NET_F_CSUM and
# HOST_TSO4 are offered and the checksum/GSO header attacks reach their own
# rules; by default the header attacks' guest takes HOST_ECN without CSUM
# (a port reads transmit headers only with some transmit offload), and they
# are stopped by the rule that forbids NEEDS_CSUM without VIRTIO_NET_F_CSUM,
# with the same counter.
#
# Only for the vhostuserclient type (the counters and status keys are ours).
source "$(dirname "$0")/lib.sh"

TSO=${NVH_TSO:-false}
# fds are compared exactly (after waiting for OVS to close an ovs-appctl
# connection); all mappings with connect_cycles.sh's slack (malloc arenas).
MAP_SLACK=${NVH_MAP_SLACK:-4}
# RSS of ovs-vswitchd's own memory (without guest memory, see own_rss_kb):
# measured growth over all attacks under 200 kB; checked after every attack.
RSS_SLACK_KB=${NVH_RSS_SLACK_KB:-4096}
# Its address space (VmSize), after every attack: malloc arenas come and go
# in 64 MiB steps; a guest table kept mapped would be GiBs to TiBs.
VM_SLACK_KB=${NVH_VM_SLACK_KB:-524288}

nvh_require_port_type vhostuserclient
nvh_setup_testpmd_test

TOOL=$NVH_BUILD_DIR/tests/tools/vhost_user_attack
[ -x "$TOOL" ] || nvh_fail "$TOOL missing (build the tests)"
TOOL_ARGS=()
[ "$TSO" = true ] && TOOL_ARGS=(--tso)

nvh_ovs_start "userspace-tso-enable=$TSO"
VSWITCHD=$NVH_VSWITCHD_PID
nvh_add_bridge br0
s0=$(nvh_sock good0)
s1=$(nvh_sock good1)
vsock=$(nvh_sock victim)
nvh_add_port br0 good0 "$s0" 1
nvh_add_port br0 good1 "$s1" 2
nvh_add_port br0 victim "$vsock" 3
nvh_flows br0 "in_port=1,actions=output:2" "in_port=2,actions=output:1" \
    "in_port=3,actions=in_port"
nvh_tp_start_wait tp "$s0" "$s1"

# own_rss_kb: RSS without the /memfd: mappings, i.e. without the frontends'
# guest memory (testpmd's, mapped for good0 and good1, grows as the data
# path touches more of its mbufs; DPDK's hugepage segments are memfds too).
own_rss_kb() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { m = ($6 ~ /^\/memfd:/) }
         /^Rss:/ && !m { s += $2 } END { print s }' "/proc/$VSWITCHD/smaps"
}
# rss_by_mapping: "RSS-KB NAME" per mapping (anonymous ones as [anon] with
# their start address), from /proc/PID/smaps.
rss_by_mapping() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { split($1, a, "-"); n = (NF >= 6 ? $6 : "[anon]") "@" a[1] }
         /^Rss:/ { print $2, n }' "/proc/$VSWITCHD/smaps"
}
# rss_growth BEFORE-FILE: the mappings whose RSS grew most since BEFORE-FILE.
rss_growth() {
    rss_by_mapping | awk 'NR == FNR { b[$2] = $1; next }
        { d = $1 - b[$2]; if (d > 0) print d "kB", $2 }' "$1" - | sort -rn | head -n 5 |
        paste -sd ';' - | sed 's/;/; /g'
}
# settled: ovs-vswitchd holds exactly the fds and memfd mappings of the
# baseline (waited for: an ovs-appctl connection is closed on the next poll
# loop of its server).
settled() {
    [ "$(nvh_vswitchd_memfd_maps)" -eq "$MFD0" ] && [ "$(nvh_vswitchd_fds)" -eq "$FD0" ] &&
        [ "$(hugetlb_maps)" = "$HUGE0" ]
}
# hugetlb_maps: "COUNT KB" of ovs-vswitchd's mappings of huge pages (DPDK's
# memory and any hugetlbfs guest region), from /proc/PID/smaps.
hugetlb_maps() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { s = 0 } /^Size:/ { s = $2 }
         /^KernelPageSize:/ && $2 > 4 { n++; t += s } END { print n + 0, t + 0 }' \
        "/proc/$VSWITCHD/smaps"
}
vmsize_kb() { awk '/^VmSize:/ { print $2 }' "/proc/$VSWITCHD/status"; }
hugepages_free() { awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo; }

# good_exchange: good0 and good1 each send 32 frames of 64 bytes; each must
# send and receive exactly 32.
# shellcheck disable=SC2053
last_error_is() { [[ $(nvh_iface_status victim last_error) =~ $1 ]]; }
rx_both() { nvh__tp_rx_reached tp 0 32 && nvh__tp_rx_reached tp 1 32; }
good_exchange() {
    local stats p rxp txp
    nvh_tp_send tp 1 64
    nvh_wait_for 20 "good0 and good1 to receive 32 frames each" rx_both || true
    stats=$(nvh_tp_stats tp)
    nvh_tp_run tp stop
    for p in 0 1; do
        read -r _ rxp _ txp _ <<<"$(echo "$stats" | awk -v p=$p '$1 == p')"
        nvh_check_eq "good$p sent" 32 "${txp:-?}"
        nvh_check_eq "good$p received" 32 "${rxp:-?}"
    done
}

# Expected totals of the victim's error counters (they start at 0 with the
# port and are kept across connections).
declare -A EXP=()
COUNTERS="rx_invalid_descriptors rx_undersized_frames rx_oversized_frames
tx_invalid_descriptors tx_guest_buffer_too_small rx_call_stalls tx_call_stalls
memory_faults"
for c in $COUNTERS; do EXP[$c]=0; done
counters_match() {
    local c
    for c in $COUNTERS; do
        [ "$(nvh_iface_stat victim "$c")" = "${EXP[$c]}" ] || return 1
    done
}
# check_counters NAME [COUNTER+N[;COUNTER+N...]]: adds each N to its
# COUNTER's expected total, waits for the statistics column (5 s lag) and
# checks every counter.
check_counters() {
    local c m
    local -a moves=()
    IFS=';' read -r -a moves <<<"${2:-}"
    for m in "${moves[@]}"; do
        c=${m%+*}
        EXP[$c]=$((EXP[$c] + ${m##*+}))
    done
    nvh_wait_for 15 "victim's counters" counters_match >/dev/null || true
    for c in $COUNTERS; do
        nvh_check_eq "$1: victim statistics:$c" "${EXP[$c]}" "$(nvh_iface_stat victim "$c")"
    done
}
# log_lines_since LINE REGEX: lines of ovs-vswitchd.log after line LINE
# that match REGEX.
log_lines_since() { nvh_ovs_log | tail -n +$(($1 + 1)) | grep -c -- "$2"; }

TOOL_PID=""
TOOL_LOG=""
tool_start() {
    TOOL_LOG=$NVH_WORK/attack-$1.log
    "$TOOL" "$vsock" "$1" "${TOOL_ARGS[@]}" > "$TOOL_LOG" 2>&1 &
    TOOL_PID=$!
    nvh_register_pid "attack-$1" "$TOOL_PID"
}
tool_gone() { ! nvh_alive "$TOOL_PID"; }
# tool_wait: waits for the tool to exit; its status in TOOL_RC.
tool_wait() {
    nvh_wait_for 60 "the attack tool to finish" tool_gone >/dev/null ||
        nvh_stop_pid attack "$TOOL_PID" 2
    wait "$TOOL_PID" 2>/dev/null
    TOOL_RC=$?
}
tool_says() { grep -q "$1" "$TOOL_LOG"; }
holding() { tool_says 'holding\|flooding' || tool_gone; }

ROWS=()
# attack NAME CLASS EXPECT: EXPECT is
#   close:REGEX     the port closes the connection, last_error ~ REGEX; no
#                   counter moves (close:REGEX;COUNTER+N[;COUNTER+N]: those
#                   by N)
#   hold            the port keeps the control connection open (the attack
#                   goes on); good ports and ovs-appctl must work meanwhile,
#                   no counter moves (hold;log:REGEX=MIN..MAX: MIN to MAX
#                   lines of ovs-vswitchd.log since the attack started
#                   match REGEX)
#   COUNTER+N       the counter moved by N (ring level; port keeps running)
#   COUNTER+N,broken  the same, and that queue is stopped (shown broken)
#                   while the port stays connected
#   race            every raced chain counted once: rx packets + rx errors
#                   (ovs-appctl vhostuserclient/show) grew by what was raced
attack() {
    local name=$1 class=$2 expect=${3%%;*} extra="" f0=$NVH_FAILURES observed="" rc le
    local rxp0 rxe0 rxp1 rxe1 raced c log0
    [[ $3 == *';'* ]] && extra=${3#*;}
    nvh_info "---- attack $name ($class): expect $3"
    if [ "$expect" = race ]; then
        read -r rxp0 rxe0 <<<"$(victim_rx)"
    fi
    log0=$(nvh_ovs_log | wc -l)
    tool_start "$name"
    case "$expect" in
    close:*)
        tool_wait
        rc=$TOOL_RC
        nvh_check_eq "$name: attack tool status" 0 "$rc"
        # The status column follows the port's state within a poll loop.
        nvh_wait_for 10 "victim's last_error" last_error_is "${expect#close:}" >/dev/null ||
            true
        le=$(nvh_iface_status victim last_error)
        nvh_check_match "$name: victim last_error" "${expect#close:}" "$le"
        observed="closed: $le"
        check_counters "$name" "$extra"
        for c in ${extra//;/ }; do
            observed+="; ${c%+*}=$(nvh_iface_stat victim "${c%+*}")"
        done
        good_exchange
        ;;
    *)
        nvh_wait_for 30 "the attack to be in place" holding ||
            nvh_check_eq "$name: attack in place" yes no
        if [ "$expect" = hold ]; then
            nvh_info "attack in progress: good ports must forward"
            good_exchange
            appctl vhostuserclient/show good0 >/dev/null ||
                nvh_check_eq "$name: ovs-appctl answers during the attack" yes no
            observed="good ports forwarded; appctl answered"
            check_counters "$name"
            if [ -n "$extra" ]; then
                hold_log_check "$name" "$log0" "${extra#log:}"
                observed+="; $LOG_SEEN"
            fi
        elif [ "$expect" = race ]; then
            raced=$(sed -n 's/^raced=//p' "$TOOL_LOG")
            read -r rxp1 rxe1 <<<"$(victim_rx)"
            # 2 frames before and 2 after the race pass too.
            nvh_check_eq "$name: raced chains counted once" "$((raced + 4))" \
                "$((rxp1 - rxp0 + rxe1 - rxe0))"
            observed="raced=$raced packets+$((rxp1 - rxp0)) errors+$((rxe1 - rxe0))"
            nvh_wait_for 15 "statistics:rx_errors" nvh__stat_is victim rx_errors "$rxe1" ||
                true
            for c in $COUNTERS; do EXP[$c]=$(nvh_iface_stat victim "$c"); done
        else
            local want=${expect%,broken} shown
            c=${want%+*}
            check_counters "$name" "$want"
            if [ "$want" != "$expect" ]; then
                # The queue is stopped, not the port.
                shown=$(appctl vhostuserclient/show victim | grep -c ', broken$')
                nvh_check_eq "$name: victim vrings shown broken" 1 "$shown"
                nvh_check_eq "$name: victim still connected" connected \
                    "$(nvh_iface_status victim status)"
            fi
            observed="$c=$(nvh_iface_stat victim "$c")"
        fi
        tool_gone && nvh_check_eq "$name: attack tool still connected" yes no
        appctl vhostuserclient/reconnect victim >/dev/null ||
            nvh_check_eq "$name: reconnect victim" yes no
        tool_wait
        rc=$TOOL_RC
        nvh_check_eq "$name: attack tool status" 0 "$rc"
        [ "$expect" = hold ] || good_exchange
        ;;
    esac
    [ "$rc" = 0 ] || sed 's/^/    tool: /' "$TOOL_LOG"
    nvh_ovs_alive || nvh_fail "ovs-vswitchd died during $name"
    recover "$name"
    if [ "$NVH_FAILURES" -eq "$f0" ]; then
        ROWS+=("$name|$class|$3|$observed|pass")
    else
        ROWS+=("$name|$class|$3|$observed|FAIL")
    fi
}

# hold_log_check NAME LINE REGEX=MIN..MAX: MIN to MAX lines matching REGEX
# since line LINE of ovs-vswitchd.log; what it saw in LOG_SEEN.
hold_log_check() {
    local re=${3%=*} range=${3##*=} n
    local min=${range%..*} max=${range#*..}
    n=$(log_lines_since "$2" "$re")
    [ "$n" -ge "$min" ] && [ "$n" -le "$max" ] ||
        nvh_check_eq "$1: log lines '$re' ($min..$max)" "$range" "$n"
    LOG_SEEN="$n lines '$re' ($range)"
}

# victim_rx: "RX-PACKETS RX-ERRORS" from ovs-appctl (live, no 5 s lag).
victim_rx() {
    appctl vhostuserclient/show victim |
        sed -n 's/^  rx: packets \([0-9]*\), bytes [0-9]*, errors \([0-9]*\)$/\1 \2/p'
}

# recover NAME: a well-behaved frontend connects to victim and exchanges
# frames; then ovs-vswitchd's fds and memfd mappings are back.
recover() {
    local rc
    tool_start good
    tool_wait
    rc=$TOOL_RC
    nvh_check_eq "$1: victim recovered (well-behaved frontend)" 0 "$rc"
    [ "$rc" = 0 ] || sed 's/^/    tool: /' "$TOOL_LOG"
    nvh_wait_port_down victim 30 >/dev/null || nvh_check_eq "$1: victim down" yes no
    nvh_wait_for 30 "fds, memfd and huge page mappings to settle" settled >/dev/null ||
        nvh_check_eq "$1: fds, memfd mappings, huge page mappings (count kB) back at the baseline" \
            "$FD0 $MFD0 $HUGE0" "$(nvh_vswitchd_fds) $(nvh_vswitchd_memfd_maps) $(hugetlb_maps)"
    local rss vm
    rss=$(own_rss_kb) vm=$(vmsize_kb)
    [ $((rss - RSS0)) -le "$RSS_SLACK_KB" ] ||
        nvh_check_eq "$1: own RSS growth within ${RSS_SLACK_KB}kB" "<= $RSS_SLACK_KB" "$((rss - RSS0))"
    [ $((vm - VM0)) -le "$VM_SLACK_KB" ] ||
        nvh_check_eq "$1: VmSize growth within ${VM_SLACK_KB}kB" "<= $VM_SLACK_KB" "$((vm - VM0))"
    nvh_info "after $1: fds=$(nvh_vswitchd_fds) maps=$(nvh_vswitchd_maps) memfd_maps=$(nvh_vswitchd_memfd_maps) hugetlb=$(hugetlb_maps) own_rss=${rss}kB vmsize=${vm}kB HugePages_Free=$(hugepages_free)"
}

# ---- Baseline: victim connected and released once ------------------------
tool_start good
tool_wait
[ "$TOOL_RC" = 0 ] || { cat "$TOOL_LOG"; nvh_fail "the well-behaved frontend failed"; }
nvh_wait_port_down victim 30 || nvh_fail "victim did not go down"
good_exchange
# Warm-up, as the attacks will go: malloc arenas and OVS's own buffers
# (ovsdb, unixctl, testpmd traffic) grow to their working size first.
for _ in 1 2 3 4 5 6; do
    tool_start extra_fds
    tool_wait
    tool_start good
    tool_wait
    [ "$TOOL_RC" = 0 ] || nvh_fail "the well-behaved frontend failed in the warm-up"
    good_exchange
done
nvh_wait_port_down victim 30 || nvh_fail "victim did not go down"
FD0=$(nvh_vswitchd_fds); MAP0=$(nvh_vswitchd_maps); MFD0=$(nvh_vswitchd_memfd_maps); RSS0=$(own_rss_kb)
HUGE0=$(hugetlb_maps); VM0=$(vmsize_kb); HPF0=$(hugepages_free)
rss_by_mapping > "$NVH_WORK/rss0"
nvh_info "baseline: fds=$FD0 maps=$MAP0 memfd_maps=$MFD0 hugetlb=$HUGE0 own rss=${RSS0}kB (all: $(nvh_vswitchd_rss_kb)kB) vmsize=${VM0}kB HugePages_Free=$HPF0"

# ---- Message level: the connection is closed, the port reconnects later ---
M="message"
# The port's INFO budget (20, then 10 a minute) is spent by the warm-up's
# connections: of 200 announce lines at most the burst shows.
attack log_flood "$M: log flood" 'hold;log:announce requested=0..22'
attack extra_fds "$M: fd count" 'close:unexpected file descriptors'
attack missing_fd "$M: fd count" 'close:fd count does not match'
attack mem_table_missing_fd "$M: fd count" 'close:fd count does not match its regions'
attack payload_size "$M: payload size" 'close:payload size does not match'
attack oversized_header_size "$M: header size" 'close:payload size larger than any request'
attack vring_index_32 "$M: vring index" 'close:vring index out of range'
attack vring_index_255 "$M: vring index" 'close:vring index out of range'
attack vring_index_65536 "$M: vring index" 'close:vring index out of range'
attack ring_size_100 "$M: ring size" 'close:invalid queue size'
attack ring_size_65536 "$M: ring size" 'close:invalid queue size'
attack mem_9_regions "$M: memory table" 'close:region count outside 1..8'
attack mem_9_fds "$M: fd count" 'close:more fds than any request'
attack mem_gpa_overflow "$M: memory table" 'close:SET_MEM_TABLE with an invalid region'
attack mem_offset_overflow "$M: memory table" 'close:SET_MEM_TABLE with an invalid region'
attack mem_overlap "$M: memory table" 'close:SET_MEM_TABLE with an invalid region'
attack mem_fd_too_small "$M: memory table" 'close:SET_MEM_TABLE with an invalid region'
attack ring_outside_memory "$M: ring address" 'close:ring not inside guest memory'
attack log_size_overflow "$M: dirty log" 'close:SET_LOG_BASE with an invalid log'
attack log_offset_overflow "$M: dirty log" 'close:SET_LOG_BASE with an invalid log'
attack log_fd_too_small "$M: dirty log" 'close:SET_LOG_BASE with an invalid log'
attack half_header "$M: stalled frontend" hold
attack flood_unread_replies "$M: flood" 'close:not reading its replies'
attack flood "$M: flood" hold

# ---- Vring fds and guest memory: closed, or survived ----------------------
F="fd"
attack kick_socket_rcvlowat "$F: kick not an eventfd" 'close:SET_VRING_KICK: vring fd is not an eventfd'
attack call_pipe "$F: call not an eventfd" 'close:SET_VRING_CALL: vring fd is not an eventfd'
attack kick_eventfd_drained "$F: kick drained, O_NONBLOCK flipped" hold
attack call_eventfd_full "$F: call counter full" tx_call_stalls+0
G="memory"
attack mem_sparse_huge "$G: address space" 'close:memory table larger than max-guest-memory-mb'
attack mem_hugetlb_small "$G: hugetlbfs region" hold
# The faulting read returns zeros (avail index 0, a jump back): counted.
attack mem_truncated "$G: fault (SIGBUS)" 'close:guest memory faulted \(SIGBUS\);memory_faults+1;rx_invalid_descriptors+1'
attack log_truncated "$G: dirty log fault (SIGBUS)" 'close:guest memory faulted \(SIGBUS\);memory_faults+1'

# ---- Ring level: dropped and counted, or that queue stopped ---------------
R="ring"
attack chain_loop "$R: chain" rx_invalid_descriptors+1
attack next_out_of_range "$R: chain" rx_invalid_descriptors+1
attack chain_longer_than_ring "$R: chain" rx_invalid_descriptors+1
attack buffer_partly_unmapped "$R: buffer range" rx_invalid_descriptors+1
attack indirect_len_not_16 "$R: indirect" rx_invalid_descriptors+1
attack indirect_nested "$R: indirect" rx_invalid_descriptors+1
attack indirect_too_long "$R: indirect" rx_invalid_descriptors+1
attack tx_writable_buffer "$R: direction" rx_invalid_descriptors+1
attack hdr_gso_not_negotiated "$R: net header" rx_invalid_descriptors+1
attack hdr_gso_size_zero "$R: net header" rx_invalid_descriptors+1
attack hdr_csum_past_frame "$R: net header" rx_invalid_descriptors+1
attack hdr_data_valid "$R: net header" rx_invalid_descriptors+1
attack tx_runt "$R: frame size" rx_undersized_frames+1
attack hdr_split_valid "$R: net header (valid)" rx_invalid_descriptors+0
attack avail_jump "$R: avail index (queue stopped)" rx_invalid_descriptors+1,broken
attack head_out_of_range "$R: avail entry (queue stopped)" rx_invalid_descriptors+1,broken
attack rx_readonly_buffer "$R: direction" tx_invalid_descriptors+1
attack rx_partly_unmapped "$R: buffer range" tx_invalid_descriptors+1
attack rx_too_small_for_header "$R: runt rx buffer" tx_guest_buffer_too_small+1
attack packed_bad_id "$R: packed id (queue stopped)" rx_invalid_descriptors+1,broken
attack packed_wrap_confusion "$R: packed wrap" rx_invalid_descriptors+0
attack race_len_flip "$R: rewritten descriptor" race
attack rx_invalid_amplification "$R: bounded work" tx_invalid_descriptors+7
attack packed_rearm "$R: bounded work (packed re-arm)" hold

# ---- Totals ----------------------------------------------------------------
nvh_wait_for 30 "fds and memfd mappings to settle" settled >/dev/null || true
FD1=$(nvh_vswitchd_fds); MAP1=$(nvh_vswitchd_maps); MFD1=$(nvh_vswitchd_memfd_maps); RSS1=$(own_rss_kb)
nvh_info "after ${#ROWS[@]} attacks: fds=$FD1 maps=$MAP1 memfd_maps=$MFD1 hugetlb=$(hugetlb_maps) own rss=${RSS1}kB (all: $(nvh_vswitchd_rss_kb)kB) vmsize=$(vmsize_kb)kB HugePages_Free=$(hugepages_free) (baseline $HPF0)"
nvh_check_eq "huge page mappings (count kB) after all attacks" "$HUGE0" "$(hugetlb_maps)"
nvh_check_eq "memfd mappings after all attacks" "$MFD0" "$MFD1"
nvh_check_eq "open fds after all attacks" "$FD0" "$FD1"
if nvh_within "$MAP1" "$MAP0" "$MAP_SLACK"; then
    nvh_info "ok: mappings $MAP1 within $MAP_SLACK of $MAP0"
else
    nvh_check_eq "mappings after all attacks (slack $MAP_SLACK)" "$MAP0" "$MAP1"
fi
if [ $((RSS1 - RSS0)) -le "$RSS_SLACK_KB" ]; then
    nvh_info "ok: own RSS grew by $((RSS1 - RSS0))kB (bound ${RSS_SLACK_KB}kB)"
else
    nvh_check_eq "own RSS growth within ${RSS_SLACK_KB}kB" "<= $RSS_SLACK_KB" "$((RSS1 - RSS0))"
fi
nvh_info "mappings whose RSS grew most: $(rss_growth "$NVH_WORK/rss0")"
nvh_tp_stop tp

printf '%-24s | %-36s | %-30s | %-s\n' attack class expected "observed | result"
for r in "${ROWS[@]}"; do
    IFS='|' read -r a c e o p <<<"$r"
    printf '%-24s | %-36s | %-30s | %s | %s\n' "$a" "$c" "$e" "$o" "$p"
done
nvh_finish
