#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the test guest: Debian's kernel and an initramfs of busybox-static,
# the driver modules of every device model the compatibility table covers
# (NICs, disks and their controllers, USB, watchdog, pvpanic, rng), vrc-regbench
# and vrc-stress (tools/) and a small /init that runs a command given on
# the kernel command line. Idempotent; reuses the downloaded package.
# Usage: build-guest.sh [OUTDIR]     (default build/guest)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/guest}
dl=$top/build/download
mkdir -p "$out" "$dl"

# Newest linux-image-6.1.0-N-amd64 apt offers; the .deb is kept in build/download.
pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' |
      awk '{print $1}' | sort -V | tail -1)
if [ -z "$pkg" ]; then
    deb=$(ls "$dl"/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
else
    deb=$(ls "$dl"/"$pkg"_*.deb 2>/dev/null | tail -1 || true)
    if [ -z "$deb" ]; then
        (cd "$dl" && apt-get download "$pkg")
        deb=$(ls "$dl"/"$pkg"_*.deb | tail -1)
    fi
fi
[ -n "$deb" ] || { echo "build-guest: no Debian kernel package available" >&2; exit 1; }

stamp="$out/.built-from"
want="$(basename "$deb") $(sha256sum "$0" | cut -c1-16) $(sha256sum /bin/busybox | cut -c1-16) $(cat "$top/tools/vrc-regbench.c" "$top/tools/vrc-stress.c" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$out/initramfs.gz" ]; then
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/k"
kver=$(ls "$work/k/lib/modules")
# The package ships no modules.dep: depmod makes it from the modules.
depmod -b "$work/k" "$kver"
cp "$work/k/boot/vmlinuz-$kver" "$out/vmlinuz"

root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules,root}
cp /bin/busybox "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done

# Our own guest-side tools: static, they need no libraries.
gcc -O2 -static -Wall -Wextra -o "$root/bin/vrc-regbench" "$top/tools/vrc-regbench.c"
gcc -O2 -static -pthread -Wall -Wextra -o "$root/bin/vrc-stress" "$top/tools/vrc-stress.c"

# The drivers, and everything they depend on, in load order.
# Module file names (some use '-'); built-in ones are skipped. Loading a driver
# for hardware that is absent costs a few milliseconds.
mods="e1000e e1000 igb 8139cp 8139too vmxnet3 virtio_pci virtio_net
      nvme virtio_blk virtio_scsi sd_mod sym53c8xx megaraid_sas
      xhci-pci ehci-pci usb-storage i6300esb pvpanic-pci virtio-rng"
# Carried but not loaded at boot (a test loads them, in the order given in
# /lib/modules/load-later): ahci would probe q35's own AHCI controller, half
# a second of every boot under TCG.
later="ahci"
moddir=$work/k/lib/modules/$kver
order=()
add_mod() {
    local name=$1 path deps d
    path=$(awk -F: -v n="/$name.ko" '{ m=$1; sub(/\.xz$/, "", m) } index(m, n) && substr(m, length(m) - length(n) + 1) == n { print $1; exit }' "$moddir/modules.dep")
    if [ -z "$path" ]; then
        grep -q "/$name.ko\$" "$moddir/modules.builtin" && return 0
        echo "build-guest: module $name not found" >&2; exit 1
    fi
    for o in "${order[@]:-}"; do [ "$o" = "$path" ] && return 0; done
    deps=$(awk -F': ' -v p="$path" '$1 == p { print $2 }' "$moddir/modules.dep")
    for d in $deps; do
        d=$(basename "$d"); d=${d%.xz}; d=${d%.ko}
        add_mod "$d"
    done
    order+=("$path")
}
for m in $mods; do add_mod "$m"; done
n_boot=${#order[@]}
for m in $later; do add_mod "$m"; done
: > "$root/lib/modules/load-order"
: > "$root/lib/modules/load-later"
for i in "${!order[@]}"; do
    p=${order[$i]}
    f=$(basename "$p")
    cp "$moddir/$p" "$root/lib/modules/$f"
    case "$f" in *.xz) xz -d "$root/lib/modules/$f"; f=${f%.xz} ;; esac
    if [ "$i" -lt "$n_boot" ]; then
        echo "$f" >> "$root/lib/modules/load-order"
    else
        echo "$f" >> "$root/lib/modules/load-later"
    fi
done

cat > "$root/init" <<'INIT'
#!/bin/sh
# Guest init: mount, load drivers, run vrc.cmd (gzip, base64) or give a shell.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done < /lib/modules/load-order
ip link set lo up
cmd=$(sed -n 's/.*vrc\.cmd=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$cmd" ]; then
    echo "$cmd" | base64 -d | gunzip > /tmp/cmd.sh
    sh /tmp/cmd.sh
    echo "VRC-GUEST-DONE rc=$?"
    poweroff -f
fi
echo "vrc guest: no vrc.cmd given; here is a shell"
exec sh
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initramfs.gz.tmp"
mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
echo "$want" > "$stamp"
echo "guest: kernel $kver, modules: $(tr '\n' ' ' < "$root/lib/modules/load-order"); loaded on demand: $(tr '\n' ' ' < "$root/lib/modules/load-later")"
