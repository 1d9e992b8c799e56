# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Integration-test library, the guest part: QEMU guests with a virtio-net
# device on a vhost-user socket, and their image.
# Sourced by ../lib.sh (which the test scripts source), not on its own.

# ---------------------------------------------------------------------------
# QEMU guests (stock Debian kernel, busybox initramfs: see
# scripts/build-guest.sh and tests/integration/guest/init)
# ---------------------------------------------------------------------------

declare -A NVH_GUEST_PID=() NVH_GUEST_CONSOLE=()

# nvh_setup_guest_test: the start of a test with QEMU guests: work directory
# and clean-up (nvh_init), root, QEMU, hugepages for NVH_SOCKET_MEM (set it
# first to change it), and the guest image (nvh_guest_build).
nvh_setup_guest_test() {
    nvh_init
    nvh_require_root
    nvh_require_cmd qemu-system-x86_64
    nvh_require_hugepages "$NVH_SOCKET_MEM"
    nvh_guest_build
}

# nvh_guest_build: builds (or finds cached) the guest kernel and initramfs.
nvh_guest_build() {
    nvh_require_cmd qemu-system-x86_64 cpio dpkg-deb
    # shellcheck disable=SC2153  # NVH_GUEST_DIR: set in lib.sh.
    "$NVH_REPO/scripts/build-guest.sh" "$NVH_GUEST_DIR" >"$NVH_WORK/build-guest.log" 2>&1 || {
        tail -n 20 "$NVH_WORK/build-guest.log"
        nvh_fail "scripts/build-guest.sh failed"
    }
}

# nvh_guest_start NAME SOCKET MAC KERNEL-ARGS...: QEMU (TCG) with one
# virtio-net device on a vhost-user socket that QEMU serves (server=on,
# wait=on: QEMU waits for the port to connect before starting the guest).
# KERNEL-ARGS are nvh.* parameters of the guest init.
# NVH_GUEST_QUEUES=N (in the environment of the call) gives the device N
# queue pairs (mq=on) and the guest N CPUs, so that Linux enables all N.
# NVH_GUEST_DEVICE_ARGS: more virtio-net-pci properties (",host_mtu=9000").
# NVH_GUEST_SHARE=off (in the environment of the call) sets share=off on
# the guest memory backend (memfd's default is on): a misconfigured guest
# whose memory the switch maps but never sees change.
# NVH_GUEST_QEMU_ARGS: more QEMU arguments (words), e.g. "-incoming defer".
# Every guest has a QMP monitor on $NVH_WORK/NAME.qmp (see nvh_qmp).
nvh_guest_start() {
    local name=$1 sock=$2 mac=$3 pid console mem=${NVH_GUEST_MEM:-256M}
    local extra=()
    read -r -a extra <<<"${NVH_GUEST_QEMU_ARGS:-}"
    local share=on
    [ "${NVH_GUEST_SHARE:-on}" = off ] && share=off
    local queues=${NVH_GUEST_QUEUES:-1} mq=()
    [ "$queues" -gt 1 ] && mq=(-smp "$queues")
    shift 3
    console=$NVH_WORK/$name.console
    rm -f "$sock" "$console"
    qemu-system-x86_64 -accel tcg -nodefaults -display none -no-reboot \
        -name "$name" -m "$mem" "${mq[@]}" \
        -object memory-backend-memfd,id=mem,size="$mem",share=$share \
        -machine pc,memory-backend=mem \
        -kernel "$NVH_GUEST_DIR/vmlinuz" -initrd "$NVH_GUEST_DIR/initramfs.img" \
        -append "console=ttyS0 quiet panic=-1 $*" \
        -serial "file:$console" \
        -chardev "socket,id=c0,path=$sock,server=on,wait=on" \
        -netdev "type=vhost-user,id=n0,chardev=c0,queues=$queues" \
        -device "virtio-net-pci,netdev=n0,mac=$mac,vectors=0,mq=$([ "$queues" -gt 1 ] && echo on || echo off)${NVH_GUEST_DEVICE_ARGS:-}" \
        -qmp "unix:$NVH_WORK/$name.qmp,server=on,wait=off" "${extra[@]}" \
        >"$NVH_WORK/$name.qemu.log" 2>&1 &
    pid=$!
    nvh_register_pid "qemu-$name" "$pid"
    NVH_GUEST_PID[$name]=$pid
    NVH_GUEST_CONSOLE[$name]=$console
    nvh_log "guest $name started (pid $pid, $sock, $mac, memory share=$share, $*)"
}

# nvh_console NAME: the whole lines of guest NAME's console so far, without
# their '\r'.  QEMU writes the serial console to its file a few bytes at a
# time, so the file's last line may be half written: every whole line ends
# in "\r\n" (the tty's ONLCR), a half-written one has no '\r' yet.
nvh_console() { grep -a $'\r$' "${NVH_GUEST_CONSOLE[$1]}" 2>/dev/null | tr -d '\r'; }

# (grep reads its whole input: with pipefail, "grep -q" ending early would
# fail the pipe.)
nvh__console_has() {
    nvh_console "$1" | grep -E "$2" >/dev/null && return 0
    if ! nvh_alive "${NVH_GUEST_PID[$1]}"; then
        nvh_console "$1" | grep -E "$2" >/dev/null && return 0
        nvh_log "guest $1 exited without printing /$2/"
        return 2
    fi
    return 1
}

# nvh_guest_wait NAME EXTENDED-REGEX [TIMEOUT]: waits for a whole console
# line; prints the first matching one.
nvh_guest_wait() {
    local name=$1 re=$2 timeout=${3:-60} deadline rc
    deadline=$((SECONDS + timeout))
    while true; do
        nvh__console_has "$name" "$re"
        rc=$?
        [ $rc -eq 0 ] && break
        if [ $rc -eq 2 ] || [ $SECONDS -ge $deadline ]; then
            nvh_log "guest $name: no /$re/ on the console after ${timeout}s"
            return 1
        fi
        sleep 0.2
    done
    nvh_console "$name" | grep -E "$re" | sed -n 1p   # (reads it all: pipefail)
}

# nvh_qmp NAME COMMAND [ARGUMENTS-JSON] [--field KEY]: runs one QMP command
# on guest NAME's monitor and prints its return value (tests/integration/
# qmp.py).  The system python: its standard library is all it needs.
nvh_qmp() {
    local name=$1
    shift
    /usr/bin/python3 "$NVH_REPO/tests/integration/qmp.py" "$NVH_WORK/$name.qmp" "$@"
}

# nvh_guest_stop NAME: ends QEMU (the guest may already have powered off).
nvh_guest_stop() {
    nvh_stop_pid "qemu-$1" "${NVH_GUEST_PID[$1]}" 5
}

# ---- Guests that ping without end (nvh.role=ping-stream) -------------------
# Every answered ping prints a line "N bytes from ...: seq=S ..." on the
# guest's console.  NVH_PING_INTERVAL: the guests' nvh.interval (seconds).

# nvh_ping_replies GUEST: the sequence numbers answered so far, sorted.
nvh_ping_replies() {
    tr -d '\r' <"${NVH_GUEST_CONSOLE[$1]}" |
        sed -n 's/^[0-9]* bytes from .*: seq=\([0-9]*\) .*/\1/p' | sort -n -u
}
nvh_ping_last() { nvh_ping_replies "$1" | tail -n1; }
nvh_ping_at_least() { [ "$(nvh_ping_replies "$1" | wc -l)" -ge "$2" ]; }
# nvh_ping_beyond GUEST SEQ: a reply at or after SEQ came, and the ping still
# runs.
nvh_ping_beyond() {
    local l
    nvh__console_has "$1" '^NVH-DONE' && return 1   # ping gave up or ended
    l=$(nvh_ping_last "$1")
    [ -n "$l" ] && [ "$l" -ge "$2" ]
}
# nvh_ping_streams_up TIMEOUT N GUEST...: each GUEST reached its peer
# (NVH-PINGING) and has N answers, each within TIMEOUT.
nvh_ping_streams_up() {
    local timeout=$1 n=$2 g
    shift 2
    for g in "$@"; do
        nvh_guest_wait "$g" '^NVH-PINGING' "$timeout" >/dev/null ||
            nvh_fail "guest $g never reached its peer"
        nvh_wait_for "$timeout" "$n replies to $g" nvh_ping_at_least "$g" "$n" ||
            nvh_fail "$g's pings are not answered"
    done
}

# nvh_ping_streams_resumed PHASE TIMEOUT AFTER LAST GUEST...: LAST names an
# associative array of each GUEST's last answered seq before a change; each
# GUEST's pings are answered again up to AFTER beyond it, within TIMEOUT.
# Then each longest gap since is logged (nvh_ping_gap) and appended to
# NVH_PING_GAPS ("PHASE GUEST PINGS SECONDS SLOWEST_MS").
NVH_PING_GAPS=()
nvh_ping_streams_resumed() {
    local phase=$1 timeout=$2 after=$3 g gap t rtt
    local -n nvh__last=$4
    shift 4
    for g in "$@"; do
        nvh_wait_for "$timeout" "$g's answers beyond seq=$((nvh__last[$g] + after))" \
            nvh_ping_beyond "$g" $((nvh__last[$g] + after)) ||
            nvh_fail "$phase: $g's pings are not answered again (last answered" \
                "seq=$(nvh_ping_last "$g"), before the change: seq=${nvh__last[$g]})"
    done
    for g in "$@"; do
        read -r gap t rtt <<<"$(nvh_ping_gap "$g" "${nvh__last[$g]}")"
        nvh_log "$phase: $g: longest gap after seq=${nvh__last[$g]}: $gap pings (~$t s)," \
            "slowest answer $rtt ms, now at seq=$(nvh_ping_last "$g")"
        NVH_PING_GAPS+=("$phase $g $gap $t $rtt")
    done
}

# nvh_ping_gap GUEST FROM: "N S R" = the longest run of unanswered pings after
# seq FROM (N pings, about S seconds) and the slowest answer after it (R ms):
# a ping sent while the path was down but answered once it came back (the
# request waited in the guest's ring) is not lost but late.
nvh_ping_gap() {
    tr -d '\r' <"${NVH_GUEST_CONSOLE[$1]}" |
        sed -n 's/^[0-9]* bytes from .*: seq=\([0-9]*\) .*time=\([0-9.]*\) ms.*/\1 \2/p' |
        sort -n -u -k1,1 |
        awk -v from="$2" -v i="${NVH_PING_INTERVAL:-0.1}" '
            $1 < from { next }
            prev != "" && $1 - prev - 1 > gap { gap = $1 - prev - 1 }
            $2 + 0 > rtt { rtt = $2 + 0 }
            { prev = $1 }
            END { printf "%d %.1f %.0f\n", gap, gap * i, rtt }'
}
