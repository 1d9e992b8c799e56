#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ovn_multichassis: OVN binds logical switch ports to vhost-user interfaces on
# two chassis, and QEMU guests on both talk through Geneve tunnels of the
# userspace datapath.
#
#   central     OVN NB and SB databases, ovn-northd (lib/ovn.sh)
#   nvh-ch1     ovsdb-server, ovs-vswitchd (DPDK, PMD on CPU 0) and
#               ovn-controller in a network namespace; tunnel endpoint
#               172.31.0.1 on br-phy; ports of type $NVH_PORT_TYPE
#   nvh-ch2     the same on CPU 1, 172.31.0.2; ports created as
#               dpdkvhostuserclient, served by netdev-vhost through
#               other_config:vhost-backend=netdev-vhost (when the type under
#               test is vhostuserclient; by DPDK's vhost library when it is
#               dpdkvhostuserclient, as a reference)
#
# Logical topology: ls1 10.0.1.0/24 and ls2 10.0.2.0/24 joined by router lr1.
#   vm1  ls1 10.0.1.11  nvh-ch1  answers
#   vm2  ls1 10.0.1.12  nvh-ch2  pings vm1 every 0.1 s: switched, Geneve
#   vm3  ls2 10.0.2.13  nvh-ch2  pings vm1 every 0.1 s: routed, Geneve
#
# Phases:
#   bind     "ovn-sbctl show" lists each port under its chassis; both pings
#            answered; the datapath flows of each chassis push and pop
#            Geneve headers; the ports are ready and say which backend
#            serves them.
#   acl      an ACL on ls1 that drops ICMP stops both pings; removing it
#            lets them through again.
#   counters over 5 s of pings, each port's rx and tx packets (on both
#            chassis) grow by what the pings through it say.
#   move     vm2 stops; its Interface goes from nvh-ch2 to nvh-ch1 with the
#            same iface-id and the guest starts again there: the binding
#            moves, and vm2 now pings vm3 (routed,
#            Geneve from nvh-ch1 to nvh-ch2) and is answered; the
#            counters agree again.
source "$(dirname "$0")/lib.sh"

BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-120}
RESUME_TIMEOUT=${NVH_OVN_RESUME_TIMEOUT:-60}
INTERVAL=0.1
# shellcheck disable=SC2034  # read by lib/guest.sh
NVH_PING_INTERVAL=$INTERVAL
BEFORE=20        # answers each pinger gets before the ACL
AFTER=20         # answers after each change
GUEST_LIFETIME=900

TYPE1=$NVH_PORT_TYPE
TYPE2=dpdkvhostuserclient
BACKEND2=()
EXPECT_BACKEND=netdev-vhost
if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
    BACKEND2=(vhost-backend=netdev-vhost)
elif [ "$NVH_PORT_TYPE" = dpdkvhostuserclient ]; then
    EXPECT_BACKEND=dpdk
else
    nvh_skip "no OVN deployment for port type $NVH_PORT_TYPE"
fi

declare -A IP=([vm1]=10.0.1.11 [vm2]=10.0.1.12 [vm3]=10.0.2.13)
declare -A MAC=([vm1]=52:54:00:00:01:11 [vm2]=52:54:00:00:01:12 [vm3]=52:54:00:00:02:13)
declare -A GW=([vm1]=10.0.1.1 [vm2]=10.0.1.1 [vm3]=10.0.2.1)
declare -A LS=([vm1]=ls1 [vm2]=ls1 [vm3]=ls2)

# Two ovs-vswitchd with DPDK: a share of the hugepages each.
NVH_SOCKET_MEM=${NVH_SOCKET_MEM:-512}
nvh_setup_guest_test
nvh_require_hugepages $((2 * NVH_SOCKET_MEM))
nvh_require_cmd ip ovn-northd ovn-controller

# ---- Central and chassis ---------------------------------------------------
nvh_ovn_central_start
nvh_ovn_link 1 172.31.0.1 2 172.31.0.2
nvh_ovn_chassis_start 1 172.31.0.1 0x1 pmd-maxsleep=200
nvh_ovn_chassis_start 2 172.31.0.2 0x2 pmd-maxsleep=200 "${BACKEND2[@]}"
nvh_ovn_wait_chassis nvh-ch1 nvh-ch2

# ---- Logical topology ------------------------------------------------------
nbctl ls-add ls1 -- ls-add ls2 -- lr-add lr1 \
    -- lrp-add lr1 lr1-ls1 00:00:00:00:ff:01 10.0.1.1/24 \
    -- lrp-add lr1 lr1-ls2 00:00:00:00:ff:02 10.0.2.1/24 \
    -- lsp-add ls1 ls1-lr1 -- lsp-set-type ls1-lr1 router \
    -- lsp-set-addresses ls1-lr1 router -- lsp-set-options ls1-lr1 router-port=lr1-ls1 \
    -- lsp-add ls2 ls2-lr1 -- lsp-set-type ls2-lr1 router \
    -- lsp-set-addresses ls2-lr1 router -- lsp-set-options ls2-lr1 router-port=lr1-ls2 ||
    nvh_fail "cannot create the logical topology"
for vm in vm1 vm2 vm3; do
    nbctl lsp-add "${LS[$vm]}" "$vm" \
        -- lsp-set-addresses "$vm" "${MAC[$vm]} ${IP[$vm]}" \
        -- lsp-set-port-security "$vm" "${MAC[$vm]} ${IP[$vm]}" ||
        nvh_fail "cannot add logical port $vm"
done

# plug N VM [GUEST-NAME]: VM's Interface on chassis N (bound through
# external_ids:iface-id, as nova and os-vif do) and its guest, started with
# the remaining arguments.
declare -A ON=()   # VM -> chassis number
plug() {
    local n=$1 vm=$2 guest=$3 type sock
    shift 3
    type=$TYPE1
    [ "$n" = 2 ] && type=$TYPE2
    sock=$(nvh_sock "$guest")
    nvh_ch "$n" vsctl add-port br-int "$vm" -- set Interface "$vm" type="$type" \
        options:vhost-server-path="$sock" external_ids:iface-id="$vm" \
        external_ids:attached-mac="${MAC[$vm]}" external_ids:iface-status=active ||
        nvh_fail "cannot plug $vm on chassis $n"
    nvh_guest_start "$guest" "$sock" "${MAC[$vm]}" "nvh.ip=${IP[$vm]}/24" \
        "nvh.gw=${GW[$vm]}" "nvh.timeout=$GUEST_LIFETIME" "$@"
    ON[$vm]=$n
}
ping_args() { echo nvh.role=ping-stream "nvh.interval=$INTERVAL" "nvh.peer=$1" \
    "nvh.count=$((GUEST_LIFETIME * 10))"; }

# shellcheck disable=SC2046  # ping_args prints words.
{
    plug 1 vm1 vm1 nvh.role=answer
    plug 2 vm2 vm2 $(ping_args "${IP[vm1]}")
    plug 2 vm3 vm3 $(ping_args "${IP[vm1]}")
}

# ---- bind ------------------------------------------------------------------
for vm in vm1 vm2 vm3; do
    nvh_ch "${ON[$vm]}" nvh_wait_port_ready "$vm" "$BOOT_TIMEOUT" ||
        nvh_fail "$vm not ready on nvh-ch${ON[$vm]}"
    nvh_ovn_wait_bound "$vm" "nvh-ch${ON[$vm]}" || nvh_fail "$vm not bound to nvh-ch${ON[$vm]}"
done
nvh_ping_streams_up "$BOOT_TIMEOUT" "$BEFORE" vm2 vm3
sbctl show | sed 's/^/  sb: /'
for vm in vm1 vm2 vm3; do
    nvh_check_eq "bind: ovn-sbctl show lists $vm under" "nvh-ch${ON[$vm]}" "$(nvh_ovn_bound_to "$vm")"
done

for vm in vm1 vm2 vm3; do
    nvh_check_eq "bind: $vm on nvh-ch${ON[$vm]} (type $(nvh_ch "${ON[$vm]}" nvh_iface_get "$vm" type)) served by" \
        "$EXPECT_BACKEND" "$(nvh_ch "${ON[$vm]}" nvh_served_by "$vm")"
done
# Geneve in the userspace datapath: pushed on the way out, popped on the way
# in, on both chassis.
for n in 1 2; do
    flows=$(nvh_ch "$n" appctl dpctl/dump-flows)
    nvh_check_match "bind: nvh-ch$n datapath pushes Geneve" 'tnl_push\(tnl_port\([0-9]+\),header\(.*geneve' \
        "$(grep -m1 -o 'tnl_push(tnl_port([0-9]*),header(.*geneve' <<<"$flows")"
    nvh_check_match "bind: nvh-ch$n datapath pops Geneve" 'tnl_pop\([0-9]+\)' \
        "$(grep -m1 -o 'tnl_pop([0-9]*)' <<<"$flows")"
    nvh_log "nvh-ch$n: $(nvh_ch "$n" appctl tnl/neigh/show | grep -c br-phy) neighbour(s) on br-phy," \
        "tunnel port(s): $(nvh_ch "$n" vsctl --bare --columns=name find Interface type=geneve | xargs)"
done

# ---- acl -------------------------------------------------------------------
declare -A last=()
mark() { local g; for g in "$@"; do last[$g]=$(nvh_ping_last "$g"); done; }

nbctl --wait=hv acl-add ls1 to-lport 1001 icmp4 drop || nvh_fail "cannot add the ACL"
# Requests already past the ACL may still be answered; then nothing.
sleep 1
mark vm2 vm3
sleep 3
for g in vm2 vm3; do
    nvh_check_eq "acl: $g's pings answered while ICMP is dropped" \
        "${last[$g]}" "$(nvh_ping_last "$g")"
done
mark vm2 vm3
nbctl --wait=hv acl-del ls1 to-lport 1001 icmp4 || nvh_fail "cannot remove the ACL"
nvh_ping_streams_resumed acl-removed "$RESUME_TIMEOUT" "$AFTER" last vm2 vm3

# ---- statistics --------------------------------------------------------------
# answers GUEST: the echo replies on GUEST's console so far.
answers() { nvh_console "$1" | grep -c '^[0-9]* bytes from '; }

# counters N PORT: "RX TX" packets of PORT on chassis N, read live from the
# port (ovs-ofctl dump-ports: the netdev's own counters, not the Interface
# column written every 5 seconds).
counters() {
    nvh_ch "$1" ofctl dump-ports br-int "$2" | awk '
        $1 == "port" { rx = $4 } $1 == "tx" { tx = $2 }
        END { sub(/pkts=/, "", rx); sub(/,/, "", rx); sub(/pkts=/, "", tx); sub(/,/, "", tx)
              print rx + 0, tx + 0 }'
}

# check_counters PHASE STREAM...: while the pings run, each port's counters
# agree with them over a window of WINDOW seconds.  A STREAM is
# "GUEST N1:PORT1 N2:PORT2": GUEST pings from PORT1 on chassis N1 to PORT2 on
# chassis N2.  Each answer GUEST got in the window is one packet received
# and one sent on each of the two ports (request and reply), so every
# port's rx and tx grow by the sum of the answers of the streams it is on;
# up to COUNT_SLACK more (ARP, IPv6 ND) or COUNT_SKEW fewer (requests on
# their way when the window opens or closes).  The pings go on while the
# counters and the consoles are read, so the answers are read just before
# and just after each port's counters: the port's window lies between the
# two, and so does what the pings say of it.
WINDOW=5
COUNT_SLACK=8
COUNT_SKEW=3
check_counters() {
    local phase=$1 st g p1 p2 p
    shift
    local -A guests=() before0=() after0=() rx0=() tx0=() ans0=()
    for st in "$@"; do
        read -r g p1 p2 <<<"$st"
        guests[$p1]+=" $g"
        guests[$p2]+=" $g"
    done
    for p in "${!guests[@]}"; do
        before0[$p]=$(port_answers "${guests[$p]}")
        read -r "rx0[$p]" "tx0[$p]" <<<"$(counters "${p%%:*}" "${p#*:}")"
        after0[$p]=$(port_answers "${guests[$p]}")
    done
    for st in "$@"; do read -r g _ <<<"$st"; ans0[$g]=$(answers "$g"); done
    sleep "$WINDOW"
    for st in "$@"; do
        read -r g _ <<<"$st"
        [ $(( $(answers "$g") - ans0[$g] )) -gt 0 ] ||
            nvh_check_eq "$phase: $g got answers in ${WINDOW}s" yes no
    done
    for p in "${!guests[@]}"; do
        local rx tx before after
        before=$(port_answers "${guests[$p]}")
        read -r rx tx <<<"$(counters "${p%%:*}" "${p#*:}")"
        after=$(port_answers "${guests[$p]}")
        # At least the answers between the two inner reads, at most those
        # between the two outer ones.
        agrees "$phase: nvh-ch${p%%:*} ${p#*:} rx" $((rx - rx0[$p])) \
            $((before - after0[$p])) $((after - before0[$p]))
        agrees "$phase: nvh-ch${p%%:*} ${p#*:} tx" $((tx - tx0[$p])) \
            $((before - after0[$p])) $((after - before0[$p]))
    done
}
# port_answers GUESTS: the answers the GUESTS got so far, in all.
port_answers() {
    local g n=0
    for g in $1; do n=$((n + $(answers "$g"))); done
    echo "$n"
}
# agrees WHAT PACKETS LOW HIGH: LOW - COUNT_SKEW <= PACKETS <= HIGH +
# COUNT_SLACK.
agrees() {
    local want=$3
    [ "$3" = "$4" ] || want="$3-$4"
    if [ "$2" -ge $(($3 - COUNT_SKEW)) ] && [ "$2" -le $(($4 + COUNT_SLACK)) ]; then
        nvh_log "ok: $1 packets in ${WINDOW}s: $2, pings say $want"
    else
        nvh_log "MISMATCH: $1 packets in ${WINDOW}s: $2, pings say $want" \
            "(-$COUNT_SKEW/+$COUNT_SLACK allowed)"
        NVH_FAILURES=$((NVH_FAILURES + 1))
    fi
}

check_counters before-move "vm2 2:vm2 1:vm1" "vm3 2:vm3 1:vm1"

# ---- move --------------------------------------------------------------------
nvh_guest_stop vm2
nvh_ch 2 nvh_wait_port_down vm2 30 || nvh_fail "vm2 on nvh-ch2 still up"
nvh_ch 2 vsctl del-port br-int vm2 || nvh_fail "cannot unplug vm2 from nvh-ch2"
# shellcheck disable=SC2046  # ping_args prints words.
plug 1 vm2 vm2-moved $(ping_args "${IP[vm3]}")
nvh_ch 1 nvh_wait_port_ready vm2 "$BOOT_TIMEOUT" || nvh_fail "vm2 not ready on nvh-ch1"
nvh_ovn_wait_bound vm2 nvh-ch1 || nvh_fail "vm2's binding did not move to nvh-ch1"
nvh_ping_streams_up "$BOOT_TIMEOUT" "$AFTER" vm2-moved
nvh_check_eq "move: ovn-sbctl show lists vm2 under" nvh-ch1 "$(nvh_ovn_bound_to vm2)"
nvh_check_eq "move: vm2 on nvh-ch1 served by" "$EXPECT_BACKEND" "$(nvh_ch 1 nvh_served_by vm2)"
nvh_check_eq "move: vm2 left nvh-ch2's database" "" \
    "$(nvh_ch 2 vsctl --bare --columns=name find Interface name=vm2)"
mark vm3
nvh_ping_streams_resumed move "$RESUME_TIMEOUT" "$AFTER" last vm3
check_counters after-move "vm2-moved 1:vm2 2:vm3" "vm3 2:vm3 1:vm1"

# ---- end ---------------------------------------------------------------------
for n in 1 2; do
    for p in $(nvh_ch "$n" vsctl --bare --columns=name find Interface "type!=geneve" "type!=internal" "type!=system"); do
        nvh_log "nvh-ch$n $p: Interface statistics rx_packets=$(nvh_ch "$n" nvh_iface_stat "$p" rx_packets)" \
            "tx_packets=$(nvh_ch "$n" nvh_iface_stat "$p" tx_packets)" \
            "rx_dropped=$(nvh_ch "$n" nvh_iface_stat "$p" rx_dropped)" \
            "tx_dropped=$(nvh_ch "$n" nvh_iface_stat "$p" tx_dropped)"
    done
    nvh_check_eq "nvh-ch$n ovs-vswitchd still runs" yes \
        "$(nvh_alive "$(cat "$NVH_WORK/ch$n/run/ovs-vswitchd.pid")" && echo yes)"
done
nvh_finish
