#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The patched QEMU lists the vrc device, documents its properties and refuses
# bad options with a clear message (TAP output).
set -uo pipefail

qemu=${1:-build/qemu-system-x86_64}
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

[ -x "$qemu" ] || { echo "Bail out! no QEMU at $qemu"; exit 1; }

out=$("$qemu" -device help 2>&1)
check "-device help lists vrc" 'grep -q "name \"vrc\"" <<<"$out"'

help=$("$qemu" -device vrc,help 2>&1)
for p in peer ifname socket transport rc-id completion-timeout mtu mps mrrs poll-us secret \
         keepalive ack-delay configd configd-slot; do
    check "vrc,help documents $p" 'grep -qE "^  $p=<[^>]+> +- [a-zA-Z]" <<<"$help"'
done

# expect_error NAME DEVICE-OPTS REGEX: QEMU must exit non-zero, printing REGEX.
expect_error() {
    local out rc
    out=$(timeout 30 "$qemu" -machine q35 -accel tcg -nodefaults -display none \
          -S -device "$2" 2>&1 </dev/null)
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qE "$3" <<<"$out"; then
        ok "$1"
    else
        not_ok "$1 (exit $rc: $out)"
    fi
}
expect_error "no transport" "vrc" "exactly one of 'ifname'.*'socket'"
expect_error "two transports" "vrc,ifname=lo,socket=/tmp/x,peer=02:00:00:00:00:01" \
    "exactly one of"
expect_error "ifname and transport" "vrc,ifname=lo,transport=udp:127.0.0.1:5551" \
    "exactly one of 'ifname'.*'socket'.*'transport'"
expect_error "unknown transport" "vrc,transport=tcp:x" \
    "transport 'tcp:x': not pcap:IFNAME, packet:IFNAME, unix:PATH or udp:HOST:PORT"
expect_error "IPv6 address without brackets" "vrc,transport=udp:fd00::1:5551" \
    "put an IPv6 address in brackets"
# Raw Ethernet without a peer: an empty slot, filled later (vrc-attach).
for opts in "transport=pcap:lo" "ifname=lo"; do
    sout=$(printf '%s\n' '{"execute": "qmp_capabilities"}' '{"execute": "query-vrc"}' \
           '{"execute": "vrc-attach", "arguments": {"id": "v0"}}' '{"execute": "quit"}' |
           timeout 30 "$qemu" -machine q35 -accel tcg -nodefaults -display none -S \
           -qmp stdio -device "vrc,id=v0,$opts" 2>&1)
    check "$opts without peer starts with an empty slot" \
        'grep -q "\"state\": \"empty\"" <<<"$sout"'
    check "...and vrc-attach asks which endpoint" \
        'grep -q "which endpoint?  Give .peer." <<<"$sout"'
done
expect_error "configd over a unix socket" "vrc,socket=/tmp/x,configd=/tmp/c.sock" \
    "configd assigns endpoints by MAC address"
expect_error "configd-slot out of range" "vrc,ifname=lo,configd=/tmp/c.sock,configd-slot=64" \
    "'configd-slot' must be 0..63"
expect_error "keepalive out of range" "vrc,socket=/tmp/x,keepalive=5" \
    "'keepalive' must be 0 \(off\) or 10..60000 ms"
expect_error "ack-delay out of range" "vrc,socket=/tmp/x,ack-delay=20000" \
    "'ack-delay' must be 10..10000 us, not 20000"
expect_error "multicast peer" "vrc,ifname=lo,peer=01:00:5e:00:00:01" "unicast"
expect_error "bad mac syntax" "vrc,ifname=lo,peer=zz:00" "peer"
expect_error "mps not a multiple of 64" "vrc,socket=/tmp/x,mps=300" "'mps' must be a multiple of 64"
expect_error "mps too big for mtu" "vrc,socket=/tmp/x,mps=4096" "does not fit in a frame of MTU 1500"
expect_error "mrrs out of range" "vrc,socket=/tmp/x,mrrs=64" "'mrrs' must be"
expect_error "mtu out of range" "vrc,socket=/tmp/x,mtu=100" "'mtu' must be between"
expect_error "timeout zero" "vrc,socket=/tmp/x,completion-timeout=0" "'completion-timeout'"
expect_error "poll-us out of range" "vrc,socket=/tmp/x,poll-us=5000" "'poll-us' must be 0..1000"
expect_error "no endpoint at the socket" "vrc,socket=/tmp/vrc-none-$$.sock" \
    "cannot connect to /tmp/vrc-none-$$.sock: No such file or directory$"
expect_error "secret that does not exist" "vrc,socket=/tmp/x,secret=nokey" \
    "'secret': .*nokey"
kout=$(timeout 30 "$qemu" -machine q35 -accel tcg -nodefaults -display none -S \
      -object secret,id=k0,data=0123456789 -device vrc,socket=/tmp/x,secret=k0 2>&1 </dev/null)
check "a key too short for a session is refused" \
    'grep -qE "the key of .k0. is 10 bytes; a session key is 16 to 256 bytes" <<<"$kout"'

# The endpoint machine refuses what could not work, before it waits for a vrc.
ep_expect_error() {
    local out rc
    out=$(timeout 30 "$qemu" -machine "vrc-endpoint,$2" -nodefaults -display none \
          -monitor none $3 2>&1 </dev/null)
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qE "$4" <<<"$out"; then
        ok "$1"
    else
        not_ok "$1 (exit $rc: $out)"
    fi
}
ep_expect_error "endpoint without transport" "" "" "exactly one of 'ifname'"
ep_expect_error "endpoint: mtu out of range" "socket=/tmp/vrc-never.sock,mtu=100" "" \
    "vrc-endpoint: 'mtu' must be between 576 and 9000, not 100"
ep_expect_error "endpoint: disc-interval out of range" "socket=/tmp/vrc-never.sock,disc-interval=50" "" \
    "'disc-interval' must be 0 \(no discovery\) or 100..60000 ms"
ep_expect_error "endpoint: request-credit out of range" "socket=/tmp/vrc-never.sock,request-credit=70000" "" \
    "'request-credit' must be 0 \(no limit\) or 1..65536 requests, not 70000"
ep_expect_error "endpoint: poll-us out of range" "socket=/tmp/vrc-never.sock,poll-us=2000" "" \
    "vrc-endpoint: 'poll-us' must be 0..1000, not 2000"
ep_expect_error "endpoint: ack-delay out of range" "socket=/tmp/vrc-never.sock,ack-delay=5" "" \
    "vrc-endpoint: 'ack-delay' must be 10..10000 us, not 5"
ep_expect_error "endpoint: mrrs not a power of two" "socket=/tmp/vrc-never.sock,mrrs=1000" "" \
    "vrc-endpoint: 'mrrs' must be a power of two"
ep_expect_error "endpoint: read-ahead not on or off" "socket=/tmp/vrc-never.sock,read-ahead=maybe" "" \
    "read-ahead"
ep_expect_error "endpoint: read-ahead window not a power of two" \
    "socket=/tmp/vrc-never.sock,x-read-ahead-window=300" "" \
    "'x-read-ahead-window' must be a power of two"
ep_expect_error "endpoint: virtio without iommu_platform" "socket=/tmp/vrc-never.sock" \
    "-device virtio-net-pci,iommu_platform=off,romfile=" "iommu_platform=off would send its DMA nowhere"
ep_expect_error "endpoint: key too short" "socket=/tmp/vrc-never.sock,secret=k0" \
    "-object secret,id=k0,data=0123456789" "vrc-endpoint: 'secret': the key of 'k0' is 10 bytes"
# Models that hold maps of the VM's memory across requests are refused with
# the reason (docs/design.md, docs/compatibility.md).
ep_expect_error "endpoint refuses ich9-ahci" "socket=/tmp/vrc-never.sock" "-device ich9-ahci" \
    "ich9-ahci cannot be hosted: it keeps each port's command list"
ep_expect_error "endpoint refuses megasas" "socket=/tmp/vrc-never.sock" "-device megasas" \
    "megasas cannot be hosted: it writes each command's status"
ep_expect_error "endpoint refuses virtio-scsi-pci" "socket=/tmp/vrc-never.sock" \
    "-device virtio-scsi-pci" "virtio-scsi-pci cannot be hosted: it keeps each request's buffers"
check "-device help lists vrc-dma-bench" 'grep -q "name \"vrc-dma-bench\"" <<<"$out"'

echo "1..$n"
[ $fails -eq 0 ]
