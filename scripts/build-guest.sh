#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the tiny Linux guest used by the integration tests and the demo:
#   OUTDIR/vmlinuz         Debian "cloud" kernel (stock, unmodified)
#   OUTDIR/initramfs.img   busybox-static + virtio/virtio_net modules + init
#
# The kernel package is fetched with `apt-get download` into OUTDIR/cache and
# unpacked with dpkg-deb -x; nothing is installed on the host.  The result is
# cached: running the script again is a no-op unless the init script, this
# script or the kernel package changed.
#
# Usage: scripts/build-guest.sh [OUTDIR]     (default: $NVH_BUILD_DIR/guest,
#                                              else build/guest in the repo)
# Needs: apt-get, dpkg-deb, cpio, gzip, busybox-static.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${1:-${NVH_BUILD_DIR:-$repo/build}/guest}
init_src=$repo/tests/integration/guest/init

# Modules in load order (the package ships no modules.dep).
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"

log() { echo "build-guest: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for t in apt-get apt-cache dpkg-deb cpio gzip; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done
busybox=""
for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! LC_ALL=C ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[ -n "$busybox" ] || die "a statically linked busybox is needed (package busybox-static)"

mkdir -p "$out/cache"
out=$(cd "$out" && pwd)

# Which kernel image does linux-image-cloud-amd64 point at?
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
      sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
    # No package lists (apt-get update not run): fall back to a cached package.
    deb=$(ls -1 "$out"/cache/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort | tail -n1 || true)
    [ -n "$deb" ] || die "cannot resolve linux-image-cloud-amd64 (run apt-get update)"
    log "package lists unavailable, using cached $(basename "$deb")"
else
    deb=$(ls -1 "$out"/cache/"${pkg}"_*.deb 2>/dev/null | sort | tail -n1 || true)
    if [ -z "$deb" ]; then
        log "downloading $pkg"
        (cd "$out/cache" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >&2) ||
            die "apt-get download $pkg failed"
        deb=$(ls -1 "$out"/cache/"${pkg}"_*.deb | sort | tail -n1)
    fi
fi

stamp_val="$(basename "$deb") $(cksum < "$init_src") $(cksum < "$0")"
if [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.img" ] && [ -f "$out/stamp" ] &&
   [ "$(cat "$out/stamp")" = "$stamp_val" ]; then
    log "up to date: $out"
    exit 0
fi

work=$(mktemp -d "$out/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "unpacking $(basename "$deb")"
dpkg-deb -x "$deb" "$work/pkg"
kver=$(ls -1 "$work/pkg/lib/modules" | head -n1)
[ -n "$kver" ] || die "no modules directory in $(basename "$deb")"
moddir=$work/pkg/lib/modules/$kver/kernel

root=$work/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$init_src" "$root/init"
: > "$root/etc/nvh-modules"
for m in $modules; do
    f=$(find "$moddir" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n1)
    [ -n "$f" ] || die "module $m not found in $kver"
    case "$f" in
        # busybox insmod does not decompress everywhere: store plain .ko files.
        *.ko.xz)  xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
        *.ko.gz)  gzip -dc "$f" > "$root/lib/modules/$m.ko" ;;
        *)        cp "$f" "$root/lib/modules/$m.ko" ;;
    esac
    echo "$m" >> "$root/etc/nvh-modules"
done

(cd "$root" && find . -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc --quiet --owner=0:0) | gzip -9 > "$work/initramfs.img"
cp "$work/pkg/boot/vmlinuz-$kver" "$work/vmlinuz"
mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initramfs.img" "$out/initramfs.img"
echo "$stamp_val" > "$out/stamp"
log "built $out/vmlinuz ($kver) and $out/initramfs.img"
