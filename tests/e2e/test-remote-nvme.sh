#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end with a second kind of device: an NVMe controller hosted by a
# vrc-endpoint QEMU in one network namespace, its disk a file on that host;
# the guest in the other namespace reaches it through -device vrc over veth
# and libpcap, writes 4 MiB of random data to the namespace with the stock
# nvme driver, drops its page cache and reads them back. Passes when the
# sha256 the guest wrote, the one it read back and the one of the disk file
# on the endpoint's host all match, the endpoint never had to refuse a
# re-entrant access to the controller, and the controller's maps of guest
# memory (its DMA goes through QEMU's DMA helpers, which map) were all served
# whole (query-vrc on the endpoint: maps > 0, map-limited 0). Needs root:
# fails, never skips.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
qemu=$top/build/qemu-system-x86_64
work=$(mktemp -d)
ep_pid=
# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"
cleanup() {
    [ -n "$ep_pid" ] && kill "$ep_pid" 2>/dev/null
    wait 2>/dev/null
    vrc_netns_down
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

vrc_netns_probe || { echo "test-remote-nvme: cannot create network namespaces: run as root" >&2; exit 1; }
vrc_netns_up "vrcnv$$"
truncate -s 64M "$work/disk.img"

ip netns exec "$EP_NS" "$qemu" -machine vrc-endpoint,ifname="$EP_IF" -nodefaults \
    -display none -monitor none -qmp unix:"$work/ep-qmp.sock",server=on,wait=off \
    -device nvme,serial=vrc-nvme,drive=d0 \
    -drive if=none,id=d0,file="$work/disk.img",format=raw \
    > "$work/endpoint.log" 2>&1 &
ep_pid=$!
for _ in $(seq 50); do
    ip netns exec "$EP_NS" ss -0 -p 2>/dev/null | grep -q "pid=$ep_pid" && break
    sleep 0.1
done

guest_cmd='
set -e
d=$(grep -l 0x010802 /sys/bus/pci/devices/*/class | head -1); d=${d%/class}
echo "VRC-LSPCI $(basename $d) vendor $(cat $d/vendor) device $(cat $d/device) class $(cat $d/class)"
head -c 4194304 /dev/urandom > /tmp/a
echo "VRC-WROTE $(sha256sum /tmp/a | cut -d" " -f1)"
dd if=/tmp/a of=/dev/nvme0n1 bs=65536 2>/dev/null
sync
echo 3 > /proc/sys/vm/drop_caches
dd if=/dev/nvme0n1 of=/tmp/b bs=65536 count=64 2>/dev/null
echo "VRC-READ $(sha256sum /tmp/b | cut -d" " -f1)"
'
set +e
VRC_NETNS=$VM_NS VRC_GUEST_TIMEOUT=${VRC_GUEST_TIMEOUT:-180} \
    bash "$top/scripts/guest-run.sh" "$guest_cmd" \
    -device vrc,id=vrc0,ifname="$VM_IF",peer="$EP_MAC",chassis=1 \
    > "$work/guest.log" 2>&1
rc=$?
set -e
ep_info=$(python3 "$top/scripts/qmp.py" "$work/ep-qmp.sock" query-vrc || true)
kill "$ep_pid" 2>/dev/null; wait "$ep_pid" 2>/dev/null || true
ep_pid=

field() { tr -d '\r' < "$work/guest.log" | sed -n "s/.*$1 //p" | tail -1; }
wrote=$(field VRC-WROTE)
read_back=$(field VRC-READ)
on_disk=$(head -c 4194304 "$work/disk.img" | sha256sum | cut -d' ' -f1)
echo "lspci:     $(field VRC-LSPCI)"
echo "wrote:     ${wrote:-<none>}"
echo "read back: ${read_back:-<none>}"
echo "on disk:   $on_disk (the endpoint host's file)"
maps=$(python3 -c 'import json,sys; i=json.loads(sys.argv[1])[-1]; print(i["maps"], i["map-bytes"], i["map-limited"], i["map-in-use"])' "$ep_info" 2>/dev/null || true)
echo "maps:      ${maps:-<no query-vrc answer>} (maps, bytes, limited, in use)"
if [ $rc -ne 0 ] || [ -z "$wrote" ] || [ "$wrote" != "$read_back" ] ||
   [ "$wrote" != "$on_disk" ]; then
    echo "test-remote-nvme: FAILED (guest rc $rc); guest console follows" >&2
    tail -n 30 "$work/guest.log" >&2
    cat "$work/endpoint.log" >&2
    exit 1
fi
read -r n_maps _ n_limited _ <<<"${maps:-0 0 1 0}"
if [ "$n_maps" = 0 ] || [ "$n_limited" != 0 ]; then
    echo "test-remote-nvme: FAILED: the controller's maps were not all served whole" >&2
    exit 1
fi
if grep -q "re-entrant" "$work/endpoint.log"; then
    echo "test-remote-nvme: FAILED: the endpoint entered the controller twice:" >&2
    cat "$work/endpoint.log" >&2
    exit 1
fi
echo "test-remote-nvme: OK"
