#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vrc demo. What works today: the patched QEMU with the vrc device type and the
# encap codec. This shows the device and its properties, and a frame of ours
# decoded by tshark with the vrc dissector.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
qemu=$top/build/qemu-system-x86_64
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== vrc demo =="
echo "The vrc device in the patched QEMU ($("$qemu" --version | head -1)):"
"$qemu" -device help 2>&1 | grep '"vrc"' | sed 's/^/  /'
echo
echo "Its properties (qemu-system-x86_64 -device vrc,help):"
"$qemu" -device vrc,help 2>&1 | grep -E '^  (peer|ifname|socket|rc-id|completion-timeout|mtu|mps|mrrs)=' | sed 's/^/ /'
echo
echo "A bad option is refused with a clear error:"
"$qemu" -machine q35 -nodefaults -display none -S -device vrc,socket=/tmp/x,mps=4096 2>&1 | sed 's/^/  /' || true
echo
if [ -x "$top/build/host/tools/vrc-pcapgen" ]; then
    "$top/build/host/tools/vrc-pcapgen" "$tmp/frames.pcap" >/dev/null
    echo "Frames built by encap, decoded by tshark with tools/wireshark/vrc.lua:"
    tshark -r "$tmp/frames.pcap" -X lua_script:"$top/tools/wireshark/vrc.lua" 2>/dev/null | head -20 | sed 's/^/  /'
fi
echo
echo "Not yet: the guest using a remote NIC end to end (see docs/)."
