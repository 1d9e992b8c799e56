# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Integration-test library, the libvirt part: a libvirtd of the test's own
# and guests defined and started through it (virsh), with a
# <interface type='vhostuser'> on a vhost-user socket.
# Sourced by ../lib.sh (which the test scripts source), not on its own.
#
# The daemon is a privileged libvirtd (the QEMU driver of qemu:///system)
# that sees nothing of the host's libvirt: it runs in a mount namespace of
# its own (unshare -m) in which the directories a privileged libvirtd uses
# (/etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt,
# /var/cache/libvirt) are bind mounts of directories in the work directory,
# $NVH_WORK/libvirt/{etc,run,lib,log,cache}.  Its sockets are there too
# (unix_sock_dir); virsh reaches it with qemu:///system?socket=...  A
# libvirtd of the host, if any, is neither used nor disturbed.  The daemon
# and the QEMU processes it starts are ended by PID; the namespace goes with
# them.
#
# libvirt reads the statistics of a vhostuser interface by running ovs-vsctl
# (found in PATH) on the Interface the socket belongs to: the daemon's PATH
# starts with the build's $NVH_PREFIX/bin and its environment has the
# sandbox's OVS_RUNDIR, so that is the sandboxed OVS.  Start it after
# nvh_ovs_start.

NVH_LIBVIRT_DIR=""      # the daemon's directories: $NVH_WORK/libvirt
NVH_LIBVIRTD_PID=""

# nvh_require_libvirt: libvirtd, its QEMU driver and virsh must be installed
# (scripts/setup.sh installs them): a missing one fails the test.
nvh_require_libvirt() {
    local c
    for c in libvirtd virsh unshare; do
        command -v "$c" >/dev/null 2>&1 ||
            nvh_fail "$c not installed (scripts/setup.sh installs libvirt)"
    done
    [ -n "$(find /usr/lib/*/libvirt/connection-driver -name 'libvirt_driver_qemu.so' 2>/dev/null)" ] ||
        nvh_fail "libvirt's QEMU driver not installed (scripts/setup.sh)"
    # A privileged QEMU driver resolves its default user and group at
    # start-up, before it reads qemu.conf.
    getent passwd libvirt-qemu >/dev/null && getent group libvirt-qemu >/dev/null ||
        nvh_fail "no user and group libvirt-qemu (scripts/setup.sh creates them)"
}

nvh_virsh() {
    timeout 120 virsh -q -c "qemu:///system?socket=$NVH_LIBVIRT_DIR/run/libvirt-sock" "$@"
}

nvh__libvirtd_answers() {
    nvh_alive "$NVH_LIBVIRTD_PID" || nvh_fail "libvirtd (pid $NVH_LIBVIRTD_PID) died"
    [ -S "$NVH_LIBVIRT_DIR/run/libvirt-sock" ] && nvh_virsh version >/dev/null 2>&1
}

# nvh__libvirt_config DIR: libvirtd.conf and qemu.conf for this container:
# no authentication on the test's socket, QEMU as root without a security
# driver, cgroups or a mount namespace of its own, its output in a plain
# file (no virtlogd).
nvh__libvirt_config() {
    local d=$1
    cat >"$d/libvirtd.conf" <<EOF
unix_sock_dir = "$d/run"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$NVH_WORK/libvirtd.log"
EOF
    cat >"$d/etc/qemu.conf" <<EOF
user = "root"
group = "root"
security_driver = "none"
dynamic_ownership = 0
remember_owner = 0
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
}

# nvh_libvirtd_start: the test's libvirtd (see above), once OVS runs.
nvh_libvirtd_start() {
    local d=$NVH_WORK/libvirt m pid
    local mounts=(/etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt)
    nvh_require_libvirt
    [ -n "${OVS_RUNDIR:-}" ] || nvh_fail "nvh_libvirtd_start before nvh_ovs_start"
    mkdir -p "$d"/etc "$d"/run "$d"/lib "$d"/log "$d"/cache
    # The mount points (empty directories; libvirt-daemon-system would
    # create them).
    for m in "${mounts[@]}"; do
        [ -d "$m" ] || mkdir -p "$m" || nvh_fail "cannot create $m"
    done
    nvh__libvirt_config "$d"
    NVH_LIBVIRT_DIR=$d
    # shellcheck disable=SC2016  # Expanded by the namespace's shell.
    env PATH="$NVH_PREFIX/bin:$PATH" unshare -m --propagation private -- sh -c '
        d=$1
        shift
        for m in etc:/etc/libvirt run:/run/libvirt lib:/var/lib/libvirt \
                 log:/var/log/libvirt cache:/var/cache/libvirt; do
            mount --bind "$d/${m%%:*}" "${m#*:}" || exit 1
        done
        exec "$@"' nvh-libvirtd "$d" \
        libvirtd --config "$d/libvirtd.conf" --pid-file "$d/run/libvirtd.pid" \
        >>"$NVH_WORK/libvirtd.log" 2>&1 &
    pid=$!
    nvh_register_pid libvirtd "$pid"
    NVH_LIBVIRTD_PID=$pid
    nvh_wait_for 90 "libvirtd to answer" nvh__libvirtd_answers ||
        nvh_fail "libvirtd (pid $pid) does not answer on $d/run/libvirt-sock"
    nvh_log "libvirtd $(libvirtd --version | awk '{print $NF}') running (pid $pid, $d)"
}

# nvh_libvirt_domain_xml NAME SOCKET MAC IFACE KERNEL-ARGS...: the domain
# XML of a guest like nvh_guest_start's: direct kernel boot of the test
# guest, memfd memory shared with the vhost-user backend, one virtio
# interface of type vhostuser whose socket QEMU serves (mode='server'; the
# OVS port is the client), its target dev the OVS Interface name, and the
# serial console in the file $NVH_WORK/NAME.console.
nvh_libvirt_domain_xml() {
    local name=$1 sock=$2 mac=$3 iface=$4 mem=${NVH_GUEST_MEM_MB:-256}
    shift 4
    cat <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$name</name>
  <memory unit='MiB'>$mem</memory>
  <vcpu>1</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$NVH_GUEST_DIR/vmlinuz</kernel>
    <initrd>$NVH_GUEST_DIR/initramfs.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 $*</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <interface type='vhostuser'>
      <mac address='$mac'/>
      <source type='unix' path='$sock' mode='server'/>
      <model type='virtio'/>
      <target dev='$iface'/>
    </interface>
    <serial type='file'>
      <source path='$NVH_WORK/$name.console'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:override>
    <qemu:device alias='net0'>
      <qemu:frontend>
        <qemu:property name='vectors' type='unsigned' value='0'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
</domain>
EOF
}

# nvh_libvirt_guest_start NAME SOCKET MAC IFACE KERNEL-ARGS...: defines the
# domain NAME (nvh_libvirt_domain_xml, kept in $NVH_WORK/NAME.xml) and
# starts it with virsh.  Its QEMU is registered like nvh_guest_start's, so
# that nvh_guest_wait reads its console; QEMU's log is $NVH_WORK/NAME.qemu.log.
nvh_libvirt_guest_start() {
    local name=$1 sock=$2 pid
    rm -f "$sock" "$NVH_WORK/$name.console"
    nvh_libvirt_domain_xml "$@" >"$NVH_WORK/$name.xml"
    nvh_virsh define "$NVH_WORK/$name.xml" >/dev/null ||
        nvh_fail "virsh define $name failed"
    ln -sf "$NVH_LIBVIRT_DIR/log/qemu/$name.log" "$NVH_WORK/$name.qemu.log"
    nvh_virsh start "$name" >/dev/null || nvh_fail "virsh start $name failed"
    pid=$(cat "$NVH_LIBVIRT_DIR/run/qemu/$name.pid" 2>/dev/null) ||
        nvh_fail "no pidfile of $name's QEMU"
    nvh_register_pid "qemu-$name" "$pid"
    NVH_GUEST_PID[$name]=$pid
    NVH_GUEST_CONSOLE[$name]=$NVH_WORK/$name.console
    shift 2
    nvh_log "libvirt domain $name started (QEMU pid $pid, $sock, $*)"
}

# nvh_libvirt_guest_stop NAME: destroys the domain (it may already be shut
# off) and undefines it.
nvh_libvirt_guest_stop() {
    local name=$1
    [ "$(nvh_virsh domstate "$1" 2>/dev/null)" = "shut off" ] ||
        nvh_virsh destroy "$name" >/dev/null || nvh_fail "virsh destroy $name failed"
    nvh_virsh undefine "$name" >/dev/null || nvh_fail "virsh undefine $name failed"
    nvh_stop_pid "qemu-$name" "${NVH_GUEST_PID[$name]}" 5
}

# nvh_domifstat DOMAIN IFACE KEY: one counter of "virsh domifstat" (rx_bytes,
# rx_packets, rx_errs, rx_drop, tx_...), or "none".  libvirt reports the
# guest's view: its rx is the OVS Interface's tx and the other way round.
nvh_domifstat() {
    nvh_virsh domifstat "$1" "$2" |
        awk -v k="$3" '$2 == k { print $3; f = 1 } END { if (!f) print "none" }'
}
